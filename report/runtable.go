package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// RunTable writes the answer of `portsim run`: the setup of each
// allocator in one line (with the trace it replays, when trace is not
// nil), then one row per allocator of the main metrics and the extra
// ones named, averaged over the seeds runs holds (seeds of them).
func RunTable(w io.Writer, runs []results.Run, seeds int, extra []string, trace *workload.TraceStats, traceName string) {
	groups := results.Summarize(runs, func(r *results.Run) string {
		return r.AllocLabel()
	})
	for _, g := range groups {
		if trace != nil {
			fmt.Fprintf(w, "%s: %s\n", g.Key, describeTraceSetup(g.First, traceName, trace))
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", g.Key, describeSetup(g.First))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "allocator\tattempts\tfailures\tfail %\tprobes mean\tp99\tmax\treuse p1 (s)\treuse p50 (s)\tdist min\tdist mean\tDNS-OARC\t")
	for _, m := range extra {
		fmt.Fprintf(tw, "%s\t", m)
	}
	fmt.Fprintln(tw)
	for _, g := range groups {
		v := map[string]float64{}
		for _, st := range g.Stats {
			v[st.Metric] = st.Mean
		}
		oarc := v["oarc_score"]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", g.Key,
			num(v["attempts"], 0), num(v["failures"], 0), num(100*v["failure_fraction"], 2),
			num(v["probes_mean"], 1), num(v["probes_p99"], 0), num(v["probes_max"], 0),
			num(v["reuse_interval_p1_s"], 3), num(v["reuse_interval_p50_s"], 3),
			num(v["reuse_distance_min"], 0), num(v["reuse_distance_mean"], 0),
			num(oarc, 0)+" "+results.OARCClass(oarc))
		for _, m := range extra {
			fmt.Fprintf(tw, "%s\t", numAuto(v[m]))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if seeds > 1 {
		fmt.Fprintf(w, "\nmeans over %d seeds\n", seeds)
	}
}

func describeSetup(r *results.Run) string {
	su := r.Setup
	rate := ""
	if su.RatePerSec > 0 {
		rate = fmt.Sprintf(" %g/s", su.RatePerSec)
	}
	start := ""
	if su.StartEstablished+su.StartTimeWait > 0 {
		start = fmt.Sprintf("; started with %d established and %d in TIME_WAIT", su.StartEstablished, su.StartTimeWait)
	}
	return fmt.Sprintf("range %s (%d ports), TIME_WAIT %v, %s, tw_reuse %d; %s%s to %d destination(s) from %d source(s), hold %s, close %s, %s; %v simulated; knee %s%s",
		su.Range, su.Ports, time.Duration(su.TimeWaitNS), su.Scope, su.TWReuse, su.Arrivals, rate, su.Destinations, su.Sources,
		su.Hold, su.Close, su.Path, time.Duration(r.SimulatedNS), Knee(su.Bound()), start)
}

// describeTraceSetup says in one line the stack of a trace replay and
// what the trace holds: span, attempts, sources, destinations and holds,
// and whether -duration cut it.
func describeTraceSetup(r *results.Run, name string, t *workload.TraceStats) string {
	su := r.Setup
	count := func(n int) string {
		if n > workload.MaxDistinct {
			return fmt.Sprintf("more than %d", workload.MaxDistinct)
		}
		return strconv.Itoa(n)
	}
	holds := "every connection held forever"
	if finite := t.Records - t.Forever; finite > 0 {
		holds = fmt.Sprintf("holds %v to %v, mean %v", t.HoldMin, t.HoldMax, t.HoldMean.Round(time.Microsecond))
		if t.Forever > 0 {
			holds += fmt.Sprintf(", %d held forever", t.Forever)
		}
	}
	replay := "replayed whole"
	if r.Attempts < int64(t.Records) {
		replay = fmt.Sprintf("cut by -duration %v: %d of %d attempts replayed", time.Duration(r.SimulatedNS), r.Attempts, t.Records)
	}
	return fmt.Sprintf("range %s (%d ports), TIME_WAIT %v, %s, tw_reuse %d; trace %s: %d attempts over %v from %s source(s) to %s destination(s), %s, %s; %s",
		su.Range, su.Ports, time.Duration(su.TimeWaitNS), su.Scope, su.TWReuse, name, t.Records, t.Last-t.First,
		count(t.Sources), count(t.Destinations), holds, su.Path, replay)
}

// numAuto formats whole numbers as they are and others to four
// significant digits.
func numAuto(v float64) string {
	if !math.IsNaN(v) && !math.IsInf(v, 0) && v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.TrimSuffix(num(v, -1), "") // NaN, Inf
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	if math.IsInf(v, 1) {
		return "inf"
	}
	if prec < 0 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}
