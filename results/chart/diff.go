package chart

import (
	"fmt"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// SuccDiff returns the succ-diff chart: for each series, a stem at each
// difference between successive ports to one destination, from
// −results.DiffSpan to +results.DiffSpan, as high as its share of all
// differences (seeds merged); series sit side by side within ±0.4 of the
// difference, and the legend gives the share beyond the span.
func SuccDiff() Chart {
	return Chart{
		Name:  "succ-diff",
		Title: "Difference between successive ports",
		Caption: "Share of each difference between successive source ports to the same destination, seeds merged; " +
			"a tall spike means an observer can guess the next port, a flat line near zero means it cannot.",
		Draw: drawSuccDiff,
	}
}

func drawSuccDiff(runs []results.Run) (*plot.Plot, error) {
	const name = "succ-diff"
	if len(runs) == 0 {
		return nil, noData(name, "no runs")
	}
	p := newPlot("Difference between successive ports",
		"next port − previous port, to one destination", "share of differences")
	all := groupSeries(runs, nil)
	drawn := 0
	for si, s := range all {
		var d results.DiffHist
		for _, r := range s.runs {
			d.Merge(&r.SuccDiff)
		}
		total := d.Total()
		if total == 0 {
			continue
		}
		// A stem from 0 to the share of each difference seen, the series
		// side by side within ±0.4 of the difference.
		shift := 0.0
		if len(all) > 1 {
			shift = 0.8 * (float64(si)/float64(len(all)-1) - 0.5)
		}
		stems := plotter.XYs{{X: -results.DiffSpan + shift, Y: 0}}
		var tops plotter.XYs
		for x := -results.DiffSpan; x <= results.DiffSpan; x++ {
			c := d.Count(x)
			if c == 0 {
				continue
			}
			y := float64(c) / float64(total)
			xs := float64(x) + shift
			stems = append(stems, plotter.XY{X: xs, Y: 0}, plotter.XY{X: xs, Y: y}, plotter.XY{X: xs, Y: 0})
			tops = append(tops, plotter.XY{X: xs, Y: y})
		}
		stems = append(stems, plotter.XY{X: results.DiffSpan + shift, Y: 0})
		beyond := float64(d.Below+d.Above) / float64(total)
		label := fmt.Sprintf("%s (%s%% beyond ±%d)", s.name, fmt4(100*beyond), results.DiffSpan)
		l, err := plotter.NewLine(stems)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = s.style.Color, vg.Points(1)
		p.Add(l)
		if len(tops) > 0 {
			sc, err := plotter.NewScatter(tops)
			if err != nil {
				return nil, err
			}
			sc.Color, sc.Shape, sc.Radius = s.style.Color, draw.CircleGlyph{}, vg.Points(1.5)
			p.Add(sc)
			p.Legend.Add(label, l, sc)
		} else {
			p.Legend.Add(label, l)
		}
		drawn++
	}
	if drawn == 0 {
		return nil, noData(name, "no successive differences in %d runs", len(runs))
	}
	p.X.Min, p.X.Max = -results.DiffSpan-1, results.DiffSpan+1
	p.Y.Min = 0
	if p.Y.Max <= 0 {
		p.Y.Max = 1
	}
	return p, nil
}
