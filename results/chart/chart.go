// Package chart draws the charts of a portsim report with gonum/plot. It
// is the only package of the module that imports gonum.org/v1/plot.
//
// Every chart draws from results alone — a []results.Run read back from
// runs.jsonl, or the attempts of an event log — so any chart can be
// redrawn from files (`portsim plot DIR`). Pass a subset of the runs
// (results.Select) to chart one scenario, and a base name to Render or
// Save to name the output.
//
// # Series and seeds
//
// A chart draws one series (line, bar group or curve) per distinct
// combination of
//
//   - the scenario, when the runs span more than one;
//   - the allocator with its parameters, spelled as in the report's
//     tables (results.AllocLabel: "random-window[window=500]");
//   - each label whose value varies among the runs,
//
// leaving out whatever the chart puts on its x axis (the rate label of
// failure-vs-rate, the chosen key of errors-by-KEY). Series are named
// after those parts ("random-window[window=500] ips=2") and come in the order of
// their first run. The seeds (replicates) of a series are combined:
// histograms and other distributions are merged (results.Hist.Merge) and
// scalars are averaged, skipping values undefined on a run (NaN).
//
// # Empty data
//
// A chart with nothing to draw — no runs, or no run that defines what the
// chart shows — returns an error wrapping ErrNoData, never a blank or
// broken image, so a report can leave the chart out and say why.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ErrNoData is wrapped by the error of a chart that has nothing to draw.
var ErrNoData = errors.New("no data to chart")

// Chart is a named chart drawn from runs.
type Chart struct {
	// Name identifies the chart and is its default file base name
	// ("probes-cdf").
	Name string
	// Title is the chart's title.
	Title string
	// Caption is one sentence for the report saying what the chart shows.
	Caption string
	// Sweep reports a chart with a swept setting on its x axis (the rate
	// of failure-vs-rate): it takes every run of a scenario, where a
	// chart of distributions or time series shows one sweep point.
	Sweep bool
	// Draw builds the chart from runs. It returns an error wrapping
	// ErrNoData when the runs hold nothing the chart can show.
	Draw func(runs []results.Run) (*plot.Plot, error)
	// Panels, when set, lays the chart out as small multiples of its own
	// (clash-share-vs-rate: one panel per allocator variant) in place of
	// Figure's split by palette family. It returns an error wrapping
	// ErrNoData as Draw does.
	Panels func(runs []results.Run) (Figure, error)
}

// Render draws c from runs (see Figure) and saves it in dir as base.png
// and base.svg (or the given formats; see SaveFigure). An empty base
// means c.Name.
func (c Chart) Render(runs []results.Run, dir, base string, formats ...string) error {
	f, err := c.Figure(runs)
	if err != nil {
		return err
	}
	if base == "" {
		base = c.Name
	}
	return SaveFigure(f, dir, base, formats...)
}

// Figure is a chart as one or more panels: one plot, or small multiples
// that share their axes, under one title.
type Figure struct {
	// Title is the figure's title (the panels' own titles name what
	// each shows).
	Title string
	// Panels are the plots, laid out in rows of two.
	Panels []*plot.Plot
}

// Figure draws c from runs: c.Panels when set; else one panel when the
// runs hold at most MaxSeries allocators, else one panel per Family of
// the palette (in palette order, allocators outside it last) with the
// same axis ranges, so that no panel shows more than about MaxSeries
// lines.
func (c Chart) Figure(runs []results.Run) (Figure, error) {
	if c.Panels != nil {
		return c.Panels(runs)
	}
	groups := familyGroups(runs)
	if len(groups) <= 1 {
		p, err := c.Draw(runs)
		if err != nil {
			return Figure{}, err
		}
		return Figure{Title: p.Title.Text, Panels: []*plot.Plot{p}}, nil
	}
	f := Figure{Title: c.Title}
	var lastErr error
	for _, g := range groups {
		p, err := c.Draw(g.runs)
		if errors.Is(err, ErrNoData) {
			lastErr = err
			continue
		}
		if err != nil {
			return Figure{}, err
		}
		p.Title.Text = g.name
		p.Title.TextStyle.Font.Size = vg.Points(11)
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.X.Label.TextStyle.Font.Size = vg.Points(10)
		p.Y.Label.TextStyle.Font.Size = vg.Points(10)
		f.Panels = append(f.Panels, p)
	}
	if len(f.Panels) == 0 {
		return Figure{}, lastErr
	}
	shareAxes(f.Panels)
	return f, nil
}

// group is the runs of one panel.
type group struct {
	name string
	runs []results.Run
}

// familyGroups splits runs by palette family when they hold more than
// MaxSeries allocators (with parameters), else returns one group.
func familyGroups(runs []results.Run) []group {
	allocs := map[string]bool{}
	for i := range runs {
		allocs[runs[i].Allocator+"|"+fmt.Sprint(runs[i].Params)] = true
	}
	if len(allocs) <= MaxSeries {
		return []group{{runs: runs}}
	}
	st := newStyler()
	var out []group
	index := map[string]int{}
	order := map[string]int{}
	for i, f := range Palette() {
		order[f.Name] = i
	}
	order[otherFamily] = len(order)
	for i := range runs {
		f := st.family(runs[i].Allocator)
		j, ok := index[f]
		if !ok {
			j = len(out)
			index[f] = j
			out = append(out, group{name: f})
		}
		out[j].runs = append(out[j].runs, runs[i])
	}
	slices.SortStableFunc(out, func(a, b group) int { return order[a.name] - order[b.name] })
	return out
}

// shareAxes gives every panel the union of their axis ranges.
func shareAxes(ps []*plot.Plot) {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		xmin, xmax = math.Min(xmin, p.X.Min), math.Max(xmax, p.X.Max)
		ymin, ymax = math.Min(ymin, p.Y.Min), math.Max(ymax, p.Y.Max)
	}
	for _, p := range ps {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
	}
}

// Charts returns the charts drawn from runs, in report order. Each call
// returns a new slice. ErrorsByLabel builds one more per label key;
// Lookup finds either kind by name.
func Charts() []Chart {
	return []Chart{
		FailureVsRate(),
		ProbesCDF(),
		ReuseIntervalCDF(),
		ConnectLatencyCDF(),
		ClashShareVsRate(),
		Occupancy(),
		SuccDiff(),
		PortUsage(),
		FailureVsPrefill(),
	}
}

// Lookup returns the chart called name: one of Charts, or "errors-by-KEY"
// for ErrorsByLabel(KEY).
func Lookup(name string) (Chart, error) {
	all := Charts()
	for _, c := range all {
		if c.Name == name {
			return c, nil
		}
	}
	if key, ok := strings.CutPrefix(name, "errors-by-"); ok && key != "" {
		return ErrorsByLabel(key), nil
	}
	names := make([]string, 0, len(all)+1)
	for _, c := range all {
		names = append(names, c.Name)
	}
	names = append(names, "errors-by-KEY")
	return Chart{}, fmt.Errorf("unknown chart %q%s: expected one of %s", name, suggest.Hint(name, names), strings.Join(names, ", "))
}

// noData returns an error wrapping ErrNoData for chart name.
func noData(name, format string, args ...any) error {
	return fmt.Errorf("chart %s: %w: %s", name, ErrNoData, fmt.Sprintf(format, args...))
}

// series is the runs of one line of a chart, and its style.
type series struct {
	name  string
	style Style
	runs  []*results.Run
}

// groupSeries groups runs into series (see the package doc). exclude
// reports the label and parameter keys the chart puts on its x axis.
func groupSeries(runs []results.Run, exclude func(key string) bool) []series {
	if exclude == nil {
		exclude = func(string) bool { return false }
	}
	multiScenario := len(results.Scenarios(runs)) > 1
	// Labels that vary: some run lacks it or two runs differ.
	values := map[string]map[string]bool{}
	for i := range runs {
		for k, v := range runs[i].Labels {
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][v] = true
		}
	}
	var varying []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if exclude(k) {
			continue
		}
		present := 0
		for i := range runs {
			if _, ok := runs[i].Labels[k]; ok {
				present++
			}
		}
		if len(values[k]) > 1 || present < len(runs) {
			varying = append(varying, k)
		}
	}
	var out []series
	index := map[string]int{}
	st := newStyler()
	for i := range runs {
		r := &runs[i]
		var parts []string
		if multiScenario {
			parts = append(parts, r.Scenario)
		}
		params := map[string]string{}
		for k, v := range r.Params {
			if !exclude(k) {
				params[k] = v
			}
		}
		parts = append(parts, results.AllocLabel(r.Allocator, params))
		for _, k := range varying {
			if v, ok := r.Labels[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		name := strings.Join(parts, " ")
		j, ok := index[name]
		if !ok {
			j = len(out)
			index[name] = j
			out = append(out, series{name: name, style: st.style(r.Allocator)})
		}
		out[j].runs = append(out[j].runs, r)
	}
	return out
}

// labelOrParam returns the value of key in r's labels, else in its
// parameters.
func labelOrParam(r *results.Run, key string) (string, bool) {
	if v, ok := r.Labels[key]; ok {
		return v, true
	}
	v, ok := r.Params[key]
	return v, ok
}

// refColor is the colour of analytic and reference lines.
func refColor() color.Color { return color.RGBA{110, 110, 110, 255} }

// newPlot returns a plot with the project's style: title, axis labels,
// a grid and a 10-point legend.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{}
	p.X.Tick.Label.Font.Size = vg.Points(10)
	p.Y.Tick.Label.Font.Size = vg.Points(10)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.Padding = vg.Points(2)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 225}
	g.Horizontal.Color = color.Gray{Y: 225}
	p.Add(g)
	return p
}

// addLine adds a line through pts in the style of a series and a legend
// entry for it.
func addLine(p *plot.Plot, pts plotter.XYs, st Style, name string, step plotter.StepKind) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = st.Color
	l.Width = vg.Points(1.5)
	l.Dashes = st.Dashes
	l.StepStyle = step
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// refLine adds a grey dashed reference line through pts, with a legend
// entry when name is not empty.
func refLine(p *plot.Plot, pts plotter.XYs, name string) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = refColor()
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// logAxis makes a a logarithmic axis over [lo, hi] (both > 0), widened
// to at least a factor of 10 so the scale is never degenerate. The axis
// itself is linear in log10 of the value: the caller plots log10(v) for
// each value v (see log10), and logTicks labels the axis with the values.
// (gonum/plot's LogScale places a centred axis label by the linear
// midpoint of the range, which shrinks the plot; it also panics on
// values <= 0, which this scheme never sees.)
func logAxis(a *plot.Axis, lo, hi float64) {
	if !(lo > 0) {
		lo = 1
	}
	if !(hi > lo) {
		hi = lo
	}
	if hi < 10*lo {
		hi = 10 * lo
	}
	a.Tick.Marker = logTicks{}
	a.Min, a.Max = math.Log10(lo), math.Log10(hi)
}

// log10 returns the position of v > 0 on an axis made by logAxis.
func log10(v float64) float64 { return math.Log10(v) }

// logTicks marks an axis made by logAxis, whose range is in log10 units:
// labels at powers of ten (and at 2 and 5 times them when the axis spans
// less than two decades), minor ticks at the other integer multiples.
type logTicks struct{}

// Ticks returns the ticks of the values 10^lo to 10^hi.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	fine := hi-lo < 2
	var ticks []plot.Tick
	for e := int(math.Floor(lo)); e <= int(math.Ceil(hi)); e++ {
		base := math.Pow10(e)
		for m := 1; m < 10; m++ {
			v := float64(m) * base
			x := math.Log10(v)
			if x < lo-1e-9 || x > hi+1e-9 {
				continue
			}
			t := plot.Tick{Value: x}
			if m == 1 || (fine && (m == 2 || m == 5)) {
				t.Label = tickLabel(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// niceTicks marks a linear axis with about six labelled ticks at a step
// of 1, 2 or 5 times a power of ten, and a minor tick between each two.
type niceTicks struct{}

// Ticks returns the ticks of [lo, hi].
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	raw := (hi - lo) / 6
	mag := math.Pow10(int(math.Floor(math.Log10(raw))))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', dec, 64)})
		if half := v + step/2; half <= hi {
			ticks = append(ticks, plot.Tick{Value: half})
		}
	}
	if len(ticks) > 0 && ticks[0].Value-step/2 >= lo {
		ticks = append(ticks, plot.Tick{Value: ticks[0].Value - step/2})
	}
	return ticks
}

// tickLabel formats a log-axis tick value: plain from 0.001 to 999999,
// otherwise as 1e6.
func tickLabel(v float64) string {
	if v >= 1e-3 && v < 1e6 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'e', -1, 64)
	s = strings.Replace(s, "e+0", "e", 1)
	s = strings.Replace(s, "e+", "e", 1)
	return strings.Replace(s, "e-0", "e-", 1)
}

// thumb returns a legend thumbnail for a line style alone.
func thumb(c color.Color, dashes []vg.Length) plot.Thumbnailer {
	return &plotter.Line{LineStyle: draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: dashes}}
}
