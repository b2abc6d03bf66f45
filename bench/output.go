package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/report"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/results/chart"
)

// Output files of a suite run, relative to its directory.
const (
	ManifestFile = "manifest.json"
	RunsFile     = "runs.jsonl"
	CSVFile      = "runs.csv"
	BenchFile    = "bench.txt"
	TimingsFile  = "timings.csv"
	ReportFile   = "report.md"
	HTMLFile     = "report.html"
	ChartsDir    = "charts"
)

// WriteOutputs writes every file of a suite run from its runs: the
// manifest, runs.jsonl, runs.csv, bench.txt, timings.csv (when timings are
// given), the charts and report.md, each atomically. It returns the files
// written, relative to out.
func WriteOutputs(out string, s *Suite, runs []results.Run, tim []Timing, commit string, start time.Time) ([]string, error) {
	var files []string
	write := func(name string, fn func(io.Writer) error) error {
		if err := results.WriteFileAtomic(filepath.Join(out, name), fn); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(out, name), err)
		}
		files = append(files, name)
		return nil
	}
	m := results.NewManifest(s.Name, s.Data, commit, start)
	m.Seeds = nil
	for r := range s.Seeds {
		ws, _ := s.seedOf(r)
		m.Seeds = append(m.Seeds, ws)
	}
	cells, _ := s.Cells()
	m.Cells = len(cells)
	m.Runs = len(runs)
	if err := write(ManifestFile, m.WriteJSON); err != nil {
		return files, err
	}
	if err := write(RunsFile, func(w io.Writer) error { return results.WriteJSONL(w, runs) }); err != nil {
		return files, err
	}
	if err := write(CSVFile, func(w io.Writer) error { return results.WriteCSV(w, runs) }); err != nil {
		return files, err
	}
	if err := write(BenchFile, func(w io.Writer) error { return results.WriteBench(w, runs) }); err != nil {
		return files, err
	}
	if len(tim) > 0 {
		if err := write(TimingsFile, func(w io.Writer) error { return writeTimings(w, tim) }); err != nil {
			return files, err
		}
	}
	charts, err := Report(out, s, runs, &m)
	files = append(files, charts...)
	if err != nil {
		return files, err
	}
	return files, nil
}

// seedOf returns the workload seed of replicate r of the first scenario,
// for the manifest.
func (s *Suite) seedOf(r int) (uint64, uint64) {
	c := Cell{Suite: s, Scenario: &s.Scenarios[0]}
	return c.Seeds(r)
}

func writeTimings(w io.Writer, tim []Timing) error {
	if _, err := fmt.Fprintln(w, "key,wall_ns,attempts,attempts_per_sec"); err != nil {
		return err
	}
	for _, t := range tim {
		rate := 0.0
		if t.WallNS > 0 {
			rate = float64(t.Attempts) / (float64(t.WallNS) / 1e9)
		}
		if _, err := fmt.Fprintf(w, "%q,%d,%d,%.0f\n", t.Key, t.WallNS, t.Attempts, rate); err != nil {
			return err
		}
	}
	return nil
}

// Report draws the charts of every scenario into out/charts and writes
// out/report.md and out/report.html (the same report as one
// self-contained page, charts inlined). It needs only the runs (as read back from runs.jsonl), so
// `portsim plot` redraws a report without running anything. It returns
// the files written, relative to out.
func Report(out string, s *Suite, runs []results.Run, m *results.Manifest) ([]string, error) {
	var files []string
	rs := report.Suite{Name: s.Name, Description: s.Description, Seeds: s.Seeds, Manifest: m}
	chartDir := filepath.Join(out, ChartsDir)
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return nil, fmt.Errorf("charts directory: %w", err)
	}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		sruns := results.Select(runs, func(r *results.Run) bool { return r.Scenario == sc.Name })
		rsc := report.Scenario{
			Name: sc.Name, Description: sc.Description, Swept: sc.swept(), X: sc.X,
			Metrics: sc.Metrics, Runs: sruns,
		}
		for _, v := range append(slices.Clone(s.Defaults), sc.Settings...) {
			rsc.Settings = append(rsc.Settings, fmt.Sprintf("%s=%s", v.Key, strings.Join(v.Values, "|")))
		}
		if len(sruns) == 0 {
			rs.Scenarios = append(rs.Scenarios, rsc)
			continue
		}
		if pt := publishedTable(sc, sruns); pt != "" {
			rsc.Blocks = append(rsc.Blocks, report.Para(pt))
		}
		for _, name := range sc.Charts {
			if ac, ok := attemptChart(name); ok {
				refs, written, miss, err := attemptCharts(out, sc, sruns, ac)
				if err != nil {
					return files, err
				}
				files = append(files, written...)
				rsc.Charts = append(rsc.Charts, refs...)
				rsc.Missing = append(rsc.Missing, miss...)
				continue
			}
			c, err := chart.Lookup(name)
			if err != nil {
				return files, err
			}
			for _, cp := range chartPoints(sc, c.Sweep, sruns) {
				base := sc.Name + "-" + name + cp.suffix
				caption := c.Caption
				if cp.at != "" {
					caption = strings.TrimSuffix(caption, ".") + ", at " + cp.at + "."
				}
				fig, err := c.Figure(cp.runs)
				if err == nil {
					if cp.at != "" {
						fig.Title += " at " + cp.at
						if len(fig.Panels) == 1 {
							fig.Panels[0].Title.Text = fig.Title
						}
					}
					err = chart.SaveFigure(fig, chartDir, base)
				}
				if err != nil {
					if errors.Is(err, chart.ErrNoData) {
						rsc.Missing = append(rsc.Missing, fmt.Sprintf("%s (%v)", name, err))
						continue
					}
					return files, fmt.Errorf("chart %s of scenario %s: %w", name, sc.Name, err)
				}
				files = append(files, filepath.Join(ChartsDir, base+".png"), filepath.Join(ChartsDir, base+".svg"))
				alt := "Chart: " + c.Title
				if cp.at != "" {
					alt += " at " + cp.at
				}
				rsc.Charts = append(rsc.Charts, report.Chart{Path: ChartsDir + "/" + base + ".png", Alt: alt, Caption: caption})
			}
		}
		rs.Scenarios = append(rs.Scenarios, rsc)
	}
	doc, err := report.Compose(rs)
	if err != nil {
		return files, err
	}
	err = results.WriteFileAtomic(filepath.Join(out, ReportFile), func(w io.Writer) error { return report.WriteMarkdown(w, doc) })
	if err != nil {
		return files, fmt.Errorf("writing report: %w", err)
	}
	files = append(files, ReportFile)
	svg := func(path string) ([]byte, error) { return os.ReadFile(filepath.Join(out, filepath.FromSlash(path))) }
	err = results.WriteFileAtomic(filepath.Join(out, HTMLFile), func(w io.Writer) error { return report.WriteHTML(w, doc, svg) })
	if err != nil {
		return files, fmt.Errorf("writing report: %w", err)
	}
	return append(files, HTMLFile), nil
}

// chartPoint is the runs of one chart file and the sweep point they
// show.
type chartPoint struct {
	runs   []results.Run
	at     string // "rate=100", or "" for every run
	suffix string // file name suffix, "" or "-rate-100"
}

// chartPoints returns the charts to draw for a chart of a scenario.
// Charts with a sweep value on their x axis (sweep: chart.Chart.Sweep;
// failure-vs-rate, clash-share-vs-rate, failure-vs-prefill,
// errors-by-KEY) take every run. The others —
// distributions and time series, one line per allocator — show one sweep
// point each: the one the scenario's chart-at names (settings swept but
// not named there split the lines), else one chart per point, each
// labelled with its point.
func chartPoints(sc *Scenario, sweep bool, runs []results.Run) []chartPoint {
	swept := sc.swept()
	if len(swept) == 0 || sweep {
		return []chartPoint{{runs: runs}}
	}
	var out []chartPoint
	index := map[string]int{}
	for i := range runs {
		r := &runs[i]
		keep := true
		for k, v := range sc.ChartAt {
			if r.Labels[k] != v {
				keep = false
			}
		}
		if !keep {
			continue
		}
		point := map[string]string{}
		for _, k := range swept {
			if _, fixed := sc.ChartAt[k]; fixed || len(sc.ChartAt) == 0 {
				point[k] = r.Labels[k]
			}
		}
		at := formatLabels(point)
		j, ok := index[at]
		if !ok {
			j = len(out)
			index[at] = j
			out = append(out, chartPoint{at: at})
		}
		out[j].runs = append(out[j].runs, *r)
	}
	if len(out) > 1 {
		for i := range out {
			out[i].suffix = "-" + fileSafe(out[i].at)
		}
	}
	return out
}

// fileSafe turns a sweep point ("rate=100,sources=2") into a file name
// part ("rate-100-sources-2").
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			return r
		}
		return '-'
	}, s)
}

// attemptCharts draws an event-log chart for the first replicate of every
// cell of a scenario.
func attemptCharts(out string, sc *Scenario, runs []results.Run, ac chart.AttemptChart) (refs []report.Chart, files, missing []string, err error) {
	for i := range runs {
		r := &runs[i]
		if r.Replicate != 0 {
			continue
		}
		label := r.AllocLabel()
		ev := eventsFile(sc.Name, r.Labels, label, 0)
		f, err := os.Open(filepath.Join(out, ev))
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s for %s (no event log %s)", ac.Name, label, ev))
			continue
		}
		attempts, err := results.ReadEvents(f, filepath.Join(out, ev))
		f.Close()
		if err != nil {
			return nil, nil, nil, err
		}
		base := strings.TrimSuffix(filepath.Base(ev), ".csv") + "-" + ac.Name
		if err := ac.Render(attempts, filepath.Join(out, ChartsDir), base); err != nil {
			if errors.Is(err, chart.ErrNoData) {
				missing = append(missing, fmt.Sprintf("%s for %s (%v)", ac.Name, label, err))
				continue
			}
			return nil, nil, nil, err
		}
		files = append(files, filepath.Join(ChartsDir, base+".png"), filepath.Join(ChartsDir, base+".svg"))
		caption := ac.Caption
		if l := formatLabels(r.Labels); l != "" {
			label += " at " + l
		}
		refs = append(refs, report.Chart{Path: ChartsDir + "/" + base + ".png", Alt: "Chart: " + label + ", " + ac.Name, Caption: label + ": " + caption})
	}
	return refs, files, missing, nil
}

// publishedTable compares published figures with their reproduction.
func publishedTable(sc *Scenario, runs []results.Run) string {
	if len(sc.Published) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| published figure | source | published | reproduced (mean ± 95 % CI) | agreement |\n|---|---|---|---|---|\n")
	for _, p := range sc.Published {
		c := Compare(p, runs)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", p.What, p.Source, fmtNum(p.Value), c.Reproduced(), c.Sentence())
	}
	for _, p := range sc.Published {
		if p.Cmd != "" {
			fmt.Fprintf(&b, "\nReproduce \"%s\" alone: `%s`\n", p.What, p.Cmd)
		}
	}
	return b.String()
}

// Comparison is a published figure beside its reproduction.
type Comparison struct {
	Published Published
	// N runs matched; Mean and CI95 summarise the metric over them.
	N          int
	Mean, CI95 float64
}

// Compare finds the runs a published figure refers to and summarises the
// metric over them.
func Compare(p Published, runs []results.Run) Comparison {
	match := results.Select(runs, func(r *results.Run) bool {
		if p.Allocator != "" && r.Allocator != p.Allocator {
			return false
		}
		for k, v := range p.Params {
			if r.Params[k] != v {
				return false
			}
		}
		for k, v := range p.Labels {
			if r.Labels[k] != v {
				return false
			}
		}
		return true
	})
	c := Comparison{Published: p, Mean: math.NaN(), CI95: math.NaN()}
	if len(match) == 0 {
		return c
	}
	sum := results.Summarize(match, func(*results.Run) string { return "all" })
	for _, st := range sum[0].Stats {
		if st.Metric == p.Metric {
			c.N, c.Mean, c.CI95 = st.N, st.Mean, st.CI95
		}
	}
	return c
}

// Agrees reports whether the reproduction is within the tolerance of the
// published value (relative, or absolute when the published value is 0).
func (c Comparison) Agrees() bool {
	if c.N == 0 || math.IsNaN(c.Mean) {
		return false
	}
	d := math.Abs(c.Mean - c.Published.Value)
	if c.Published.Value == 0 {
		return d <= c.Published.Tolerance
	}
	return d <= c.Published.Tolerance*math.Abs(c.Published.Value)
}

// Reproduced formats the reproduced value.
func (c Comparison) Reproduced() string {
	if c.N == 0 {
		return "no matching runs"
	}
	if math.IsNaN(c.CI95) {
		return fmtNum(c.Mean)
	}
	return fmtNum(c.Mean) + " ± " + fmtNum(c.CI95)
}

// Sentence says in one sentence whether the two agree.
func (c Comparison) Sentence() string {
	switch {
	case c.N == 0:
		return "not reproduced: no run matches"
	case c.Agrees() && c.Published.Tolerance == 0:
		return "agrees: exactly the published value"
	case c.Agrees():
		return fmt.Sprintf("agrees: within %s of the published value", fmtPct(c.Published.Tolerance, c.Published.Value))
	}
	if c.Published.Value == 0 {
		// No relative difference from 0: say it in the metric's unit.
		return fmt.Sprintf("differs by %s, beyond the %s tolerance", fmtNum(c.Mean), fmtPct(c.Published.Tolerance, c.Published.Value))
	}
	rel := (c.Mean - c.Published.Value) / c.Published.Value
	return fmt.Sprintf("differs by %+.1f %%, beyond the %s tolerance", 100*rel, fmtPct(c.Published.Tolerance, c.Published.Value))
}

func fmtPct(tol, v float64) string {
	if v == 0 {
		return fmtNum(tol)
	}
	return strconv.FormatFloat(100*tol, 'g', 3, 64) + " %"
}

// fmtNum formats a published or reproduced value: whole numbers as they
// are, from 100 up with one decimal, smaller ones to four significant
// digits.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
