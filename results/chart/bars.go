package chart

import (
	"image/color"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ErrorsByLabel returns the chart "errors-by-KEY": a bar chart of the
// mean number of failed allocations over seeds against the value of the
// label KEY (or, for runs without such a label, the allocator parameter
// KEY), one bar per series at each value, with its 95 % interval and
// the value written upright above each bar. Runs with neither are left out. Values are ordered
// numerically when they all are numbers, else as text. It draws, for
// instance, errors against the random-window size W (docs/figures.md#t1-cloudflare-2024).
func ErrorsByLabel(key string) Chart {
	return Chart{
		Name:  "errors-by-" + key,
		Sweep: true,
		Title: "Failed allocations by " + key,
		Caption: "Allocations that failed for want of a port at each value of " + key +
			", mean over seeds with 95 % intervals, one bar per allocator.",
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
		first := true
		for _, v := range values {
			rs := byValue[v]
			if len(rs) == 0 {
				continue
			}
			mean, lo, hi, n := interval(rs, "failures")
			if n == 0 {
				continue
			}
			b, err := plotter.NewBarChart(plotter.Values{mean}, width)
			if err != nil {
				return nil, err
			}
			b.XMin = float64(column[v])
			b.Offset = offset
			b.Color = s.style.Color
			b.LineStyle.Width = 0
			p.Add(b)
			if first {
				p.Legend.Add(s.name, b)
				first = false
			}
			p.Add(barMark{x: float64(column[v]), off: offset, lo: lo, hi: hi, label: fmt4(mean), color: s.style.Color})
			top = max(top, hi)
		}
	}
	p.NominalX(values...)
	p.X.Min, p.X.Max = -0.5, float64(len(values))-0.5
	p.Y.Min = 0
	p.Y.Max = max(top*1.25, 1)
	return p, nil
}

// barMark draws a bar's 95 % interval and, above it, the bar's value
// turned upright, so that labels of neighbouring bars never overlap
// (each takes the width of one line of 8-point text, less than a bar).
type barMark struct {
	x      float64
	off    vg.Length
	lo, hi float64
	label  string
	color  color.Color
}

// Plot draws the mark on the plot's data canvas.
func (m barMark) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	x := trX(m.x) + m.off
	ls := draw.LineStyle{Color: color.Gray{Y: 40}, Width: vg.Points(0.8)}
	if m.hi > m.lo {
		c.StrokeLine2(ls, x, trY(m.lo), x, trY(m.hi))
		c.StrokeLine2(ls, x-vg.Points(2.5), trY(m.hi), x+vg.Points(2.5), trY(m.hi))
		c.StrokeLine2(ls, x-vg.Points(2.5), trY(m.lo), x+vg.Points(2.5), trY(m.lo))
	}
	ts := text.Style{Color: color.Black, Font: p.Legend.TextStyle.Font, Rotation: math.Pi / 2,
		XAlign: text.XLeft, YAlign: text.YCenter, Handler: p.Legend.TextStyle.Handler}
	ts.Font.Size = vg.Points(8)
	c.FillText(ts, vg.Point{X: x, Y: trY(m.hi) + vg.Points(3)}, m.label)
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
