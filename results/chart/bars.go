package chart

import (
	"maps"
	"slices"
	"strconv"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// maxBarLabels is the most series whose bars carry their value as text.
const maxBarLabels = 6

// ErrorsByLabel returns the chart "errors-by-KEY": a bar chart of the
// mean number of failed allocations over seeds against the value of the
// label KEY (or, for runs without such a label, the allocator parameter
// KEY), one bar per series at each value, with the value written above
// each bar. Runs with neither are left out. Values are ordered
// numerically when they all are numbers, else as text. It draws, for
// instance, errors against the random-window size W (docs/figures.md#t1-cloudflare-2024).
func ErrorsByLabel(key string) Chart {
	return Chart{
		Name:  "errors-by-" + key,
		Title: "Failed allocations by " + key,
		Caption: "Mean number of allocations that failed for want of a port at each value of " + key +
			", over seeds, one bar per allocator.",
		Draw: func(runs []results.Run) (*plot.Plot, error) { return drawErrorsByLabel(runs, key) },
	}
}

func drawErrorsByLabel(runs []results.Run, key string) (*plot.Plot, error) {
	name := "errors-by-" + key
	keyed := results.Select(runs, func(r *results.Run) bool {
		_, ok := labelOrParam(r, key)
		return ok
	})
	if len(keyed) == 0 {
		return nil, noData(name, "none of %d runs has a label or parameter %q", len(runs), key)
	}
	valueSet := map[string]bool{}
	for i := range keyed {
		v, _ := labelOrParam(&keyed[i], key)
		valueSet[v] = true
	}
	values := sortValues(slices.Collect(maps.Keys(valueSet)))
	column := map[string]int{}
	for i, v := range values {
		column[v] = i
	}
	all := groupSeries(keyed, func(k string) bool { return k == key })

	p := newPlot("Failed allocations by "+key, key, "failed allocations (mean over seeds)")
	// Bars share about 4 inches of width: at most 0.4 inch each, a gap of
	// one bar between groups.
	width := min(4*vg.Inch/vg.Length(len(values)*(len(all)+1)), 0.4*vg.Inch)
	top := 0.0
	for si, s := range all {
		byValue := map[string][]*results.Run{}
		for _, r := range s.runs {
			v, _ := labelOrParam(r, key)
			byValue[v] = append(byValue[v], r)
		}
		offset := (vg.Length(si) - vg.Length(len(all)-1)/2) * width
		var lbl plotter.XYs
		var texts []string
		first := true
		for _, v := range values {
			rs := byValue[v]
			if len(rs) == 0 {
				continue
			}
			mean, n := meanOf(rs, func(r *results.Run) float64 { return float64(r.Failures) })
			if n == 0 {
				continue
			}
			b, err := plotter.NewBarChart(plotter.Values{mean}, width)
			if err != nil {
				return nil, err
			}
			b.XMin = float64(column[v])
			b.Offset = offset
			b.Color = seriesColor(si)
			b.LineStyle.Width = 0
			p.Add(b)
			if first {
				p.Legend.Add(s.name, b)
				first = false
			}
			lbl = append(lbl, plotter.XY{X: float64(column[v]), Y: mean})
			texts = append(texts, fmt4(mean))
			top = max(top, mean)
		}
		// Value labels on the bars are readable for a few series only;
		// beyond maxBarLabels they overlap, and the axis must do.
		if len(lbl) > 0 && len(all) <= maxBarLabels {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: lbl, Labels: texts})
			if err != nil {
				return nil, err
			}
			for i := range l.TextStyle {
				l.TextStyle[i].Font.Size = vg.Points(8)
				l.TextStyle[i].XAlign = text.XCenter
			}
			l.Offset = vg.Point{X: offset, Y: vg.Points(2)}
			p.Add(l)
		}
	}
	p.NominalX(values...)
	p.X.Min, p.X.Max = -0.5, float64(len(values))-0.5
	p.Y.Min = 0
	p.Y.Max = max(top*1.15, 1)
	return p, nil
}

// sortValues orders label values numerically when every one is a
// number, else as text.
func sortValues(vs []string) []string {
	nums := make(map[string]float64, len(vs))
	for _, v := range vs {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			slices.Sort(vs)
			return vs
		}
		nums[v] = f
	}
	slices.SortFunc(vs, func(a, b string) int {
		if nums[a] != nums[b] {
			if nums[a] < nums[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return vs
}
