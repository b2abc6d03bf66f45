package chart

import (
	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Occupancy returns the occupancy chart: for each series, the 4-tuples
// established (solid) and in TIME_WAIT (dashed) over virtual time,
// averaged point by point over the seeds that share the first seed's
// sampling step, up to the shortest of them. Series differ by colour
// only (the palette repeats after eight).
func Occupancy() Chart {
	return Chart{
		Name:  "occupancy",
		Title: "Ports in use over time",
		Caption: "Local ports (4-tuples) held by established connections (solid) and in TIME_WAIT (dashed) " +
			"over virtual time, mean over seeds, one colour per allocator.",
		Draw: drawOccupancy,
	}
}

func drawOccupancy(runs []results.Run) (*plot.Plot, error) {
	const name = "occupancy"
	if len(runs) == 0 {
		return nil, noData(name, "no runs")
	}
	p := newPlot("Ports in use over time", "virtual time (s)", "4-tuples (mean over seeds)")
	drawn := 0
	for _, s := range groupSeries(runs, nil) {
		var use []*results.Series
		step := int64(0)
		n := 0
		for _, r := range s.runs {
			o := &r.Occupancy
			if len(o.Established) == 0 || o.StepNS <= 0 || len(o.TimeWait) != len(o.Established) {
				continue
			}
			if step == 0 {
				step, n = o.StepNS, len(o.Established)
			}
			if o.StepNS != step {
				continue
			}
			use = append(use, o)
			n = min(n, len(o.Established))
		}
		if len(use) == 0 {
			continue
		}
		est := make(plotter.XYs, n)
		tw := make(plotter.XYs, n)
		for i := range n {
			t := float64(int64(i)*step) / 1e9
			var e, w float64
			for _, o := range use {
				e += float64(o.Established[i])
				w += float64(o.TimeWait[i])
			}
			k := float64(len(use))
			est[i] = plotter.XY{X: t, Y: e / k}
			tw[i] = plotter.XY{X: t, Y: w / k}
		}
		// Colour tells series apart; the dash pattern is the state.
		e, err := plotter.NewLine(est)
		if err != nil {
			return nil, err
		}
		e.Color, e.Width = s.style.Color, vg.Points(1.5)
		p.Add(e)
		p.Legend.Add(s.name, e)
		l, err := plotter.NewLine(tw)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width, l.Dashes = s.style.Color, vg.Points(1.5), []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l)
		drawn++
	}
	if drawn == 0 {
		return nil, noData(name, "no occupancy samples in %d runs", len(runs))
	}
	black := okabeIto(6)
	p.Legend.Add("established", thumb(black, nil))
	p.Legend.Add("TIME_WAIT", thumb(black, []vg.Length{vg.Points(5), vg.Points(3)}))
	p.Y.Min = 0
	return p, nil
}
