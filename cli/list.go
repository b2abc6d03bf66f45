package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/portsim/portsim/sim/workload"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/results/chart"
)

const listUsage = `
Usage: portsim list [-json]

Lists what portsim can simulate: every allocator (its summary, the source
it models and the defaults of the stack it models), the workload kinds,
every setting, every metric (name, unit and meaning), the embedded suites
and the charts. -json prints the same as JSON.

Examples:

	portsim list
	portsim list -json | jq '.allocators[].name'
`

type listJSON struct {
	Allocators []allocJSON   `json:"allocators"`
	Workloads  workJSON      `json:"workloads"`
	Settings   []settingJSON `json:"settings"`
	Metrics    []metricJSON  `json:"metrics"`
	Suites     []nameDoc     `json:"suites"`
	Charts     []nameDoc     `json:"charts"`
}

// settingJSON is a setting: a suite key and a flag of run and capacity.
type settingJSON struct {
	Name      string `json:"name"`
	Arg       string `json:"arg"`
	Doc       string `json:"doc"`
	Sweepable bool   `json:"sweepable"`
}

// metricJSON is a metric of a run: a column of runs.csv.
type metricJSON struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	Doc  string `json:"doc"`
}

type allocJSON struct {
	Name       string    `json:"name"`
	Summary    string    `json:"summary"`
	Source     string    `json:"source"`
	Range      string    `json:"range"`
	TimeWait   string    `json:"time_wait"`
	Scope      string    `json:"scope"`
	TWReuse    int       `json:"tw_reuse"`
	Exhaustive bool      `json:"exhaustive"`
	Params     []nameDoc `json:"params,omitempty"`
}

type nameDoc struct {
	Name    string `json:"name"`
	Doc     string `json:"doc"`
	Default string `json:"default,omitempty"`
}

type workJSON struct {
	Arrivals []string `json:"arrivals"`
	Orders   []string `json:"dest_orders"`
	Holds    []string `json:"holds"`
	Closes   []string `json:"closes"`
	Paths    []string `json:"paths"`
}

func (a *app) listing() listJSON {
	var l listJSON
	for _, s := range a.reg.Specs() {
		a := allocJSON{
			Name: s.Name, Summary: s.Summary, Source: s.Source,
			Range: fmt.Sprintf("%d-%d", s.Profile.Range.Lo, s.Profile.Range.Hi), TimeWait: s.Profile.TimeWait.String(),
			Scope: s.Profile.Scope.String(), TWReuse: s.Profile.TWReuse, Exhaustive: s.Exhaustive,
		}
		for _, p := range s.Params {
			a.Params = append(a.Params, nameDoc{Name: p.Name, Doc: p.Doc, Default: p.Default})
		}
		l.Allocators = append(l.Allocators, a)
	}
	l.Workloads = workJSON{
		Arrivals: workload.ArrivalNames(),
		Orders:   []string{"uniform", "zipf[:S]", "round-robin"},
		Holds:    []string{"DURATION", "exp:MEAN", "lognormal:MEDIAN,SIGMA", "pareto:MIN,SHAPE", "uniform:LO,HI", "forever"},
		Closes:   []string{"client", "server", "rst"},
		Paths:    []string{"connect", "bind", "udp"},
	}
	for _, st := range bench.Settings() {
		l.Settings = append(l.Settings, settingJSON{Name: st.Name, Arg: st.Arg(), Doc: st.Usage, Sweepable: st.Sweepable})
	}
	for _, m := range results.Metrics() {
		l.Metrics = append(l.Metrics, metricJSON{Name: m.Name, Unit: m.Unit, Doc: m.Doc})
	}
	for _, n := range bench.SuiteNames() {
		doc := ""
		if s, err := bench.LoadWith(a.reg, n); err == nil {
			doc = oneLine(s.Description)
		}
		l.Suites = append(l.Suites, nameDoc{Name: n, Doc: doc})
	}
	for _, c := range chart.Charts() {
		l.Charts = append(l.Charts, nameDoc{Name: c.Name, Doc: c.Caption})
	}
	l.Charts = append(l.Charts, nameDoc{Name: "errors-by-KEY", Doc: "failures against the value of label or parameter KEY, one bar group per series"})
	return l
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) runList(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("list", listUsage, stdout)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("list: unexpected argument %q", fs.Arg(0))
	}
	l := a.listing()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALLOCATOR\tRANGE\tTIME_WAIT\tSCOPE\tSUMMARY")
	for _, a := range l.Allocators {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Range, a.TimeWait, a.Scope, a.Summary)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nSources and parameters:")
	for _, a := range l.Allocators {
		fmt.Fprintf(stdout, "  %s: %s\n", a.Name, a.Source)
		for _, p := range a.Params {
			fmt.Fprintf(stdout, "      -param %s=%s  %s\n", p.Name, p.Default, p.Doc)
		}
	}
	w := l.Workloads
	fmt.Fprintf(stdout, "\nWorkloads:\n  arrivals:    %s\n  dest-order:  %s\n  hold:        %s\n  close:       %s\n  path:        %s\n",
		strings.Join(w.Arrivals, ", "), strings.Join(w.Orders, ", "), strings.Join(w.Holds, ", "), strings.Join(w.Closes, ", "), strings.Join(w.Paths, ", "))
	fmt.Fprintln(stdout, "\nSettings (suite keys; flags of portsim run and capacity; * cannot be swept):")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, st := range l.Settings {
		mark := ""
		if !st.Sweepable {
			mark = " *"
		}
		fmt.Fprintf(tw, "  %s %s%s\t%s\n", st.Name, st.Arg, mark, st.Doc)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nMetrics (columns of runs.csv; portsim run -metrics NAME):")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tUNIT\tMEANING")
	for _, m := range l.Metrics {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Name, m.Unit, m.Doc)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nSuites (portsim bench NAME):")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, s := range l.Suites {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Doc)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nCharts:")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, c := range l.Charts {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Doc)
	}
	return tw.Flush()
}
