package chart

import (
	"image/color"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Occupancy returns the occupancy chart: for each series, the 4-tuples
// established (solid) and in TIME_WAIT (dashed) over virtual time,
// averaged point by point over the seeds that share the first seed's
// sampling step, up to the shortest of them, each mean in a light band
// of its 95 % interval. Series differ by colour (the palette's).
func Occupancy() Chart {
	return Chart{
		Name:  "occupancy",
		Title: "Ports in use over time",
		Caption: "Local ports (4-tuples) held by established connections (solid) and in TIME_WAIT (dashed) " +
			"over virtual time, mean over seeds in a light band of its 95 % interval, one colour per allocator.",
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
		// The 95 % band of each mean (Student's t over the seeds, cut at
		// 0), drawn under the lines when there are two seeds or more.
		var estLo, estHi, twLo, twHi plotter.XYs
		es, ws := make([]float64, len(use)), make([]float64, len(use))
		for i := range n {
			t := float64(int64(i)*step) / 1e9
			for j, o := range use {
				es[j], ws[j] = float64(o.Established[i]), float64(o.TimeWait[i])
			}
			se, sw := results.MeanCI95(es), results.MeanCI95(ws)
			est[i] = plotter.XY{X: t, Y: se.Mean}
			tw[i] = plotter.XY{X: t, Y: sw.Mean}
			if len(use) > 1 {
				estLo = append(estLo, plotter.XY{X: t, Y: max(0, se.Mean-se.CI95)})
				estHi = append(estHi, plotter.XY{X: t, Y: se.Mean + se.CI95})
				twLo = append(twLo, plotter.XY{X: t, Y: max(0, sw.Mean-sw.CI95)})
				twHi = append(twHi, plotter.XY{X: t, Y: sw.Mean + sw.CI95})
			}
		}
		for _, b := range [][2]plotter.XYs{{estLo, estHi}, {twLo, twHi}} {
			if err := addBand(p, b[0], b[1], s.style); err != nil {
				return nil, err
			}
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

// addBand fills the area between lo and hi (the same x values) in a
// light tint of a series' colour.
func addBand(p *plot.Plot, lo, hi plotter.XYs, st Style) error {
	if len(lo) < 2 || len(lo) != len(hi) {
		return nil
	}
	ring := make(plotter.XYs, 0, 2*len(lo))
	ring = append(ring, lo...)
	for i := len(hi) - 1; i >= 0; i-- {
		ring = append(ring, hi[i])
	}
	poly, err := plotter.NewPolygon(ring)
	if err != nil {
		return err
	}
	c := st.Color
	poly.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 50}
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}
