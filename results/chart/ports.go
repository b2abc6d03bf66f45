package chart

import (
	"fmt"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// PortUsage returns the port-usage chart: for each series, allocations
// per port across its range relative to an even spread (1 = every port
// used equally; reserved ports show as dips to 0), seeds merged. The x
// axis is the position in each allocator's own range (0 its lowest
// port, 1 past its highest), so that allocators with different ranges
// line up; the legend gives each range. Runs whose histogram bins the
// range differently from the series' first run are left out.
func PortUsage() Chart {
	return Chart{
		Name:  "port-usage",
		Title: "Allocations across the port range",
		Caption: "Successful allocations per port relative to an even spread (1 on the dashed line), seeds merged, " +
			"against the position in each allocator's own range (its ports in brackets), one line per allocator.",
		Draw: drawPortUsage,
	}
}

func drawPortUsage(runs []results.Run) (*plot.Plot, error) {
	const name = "port-usage"
	if len(runs) == 0 {
		return nil, noData(name, "no runs")
	}
	p := newPlot("Allocations across the port range", "position in the range (0 = lowest port, 1 = highest)", "allocations per port ÷ even share")
	drawn := 0
	for _, s := range groupSeries(runs, nil) {
		var h results.PortHist
		for _, r := range s.runs {
			u := &r.PortUsage
			if len(u.Bins) == 0 || u.Width <= 0 {
				continue
			}
			if h.Width == 0 {
				h = results.PortHist{Lo: u.Lo, Hi: u.Hi, Width: u.Width, Bins: make([]uint64, len(u.Bins))}
			}
			h.Merge(u)
		}
		var total uint64
		for _, c := range h.Bins {
			total += c
		}
		if total == 0 {
			continue
		}
		even := float64(total) / float64(h.Hi-h.Lo+1) // allocations per port if spread evenly
		pos := func(port int) float64 { return float64(port-h.Lo) / float64(h.Hi-h.Lo+1) }
		pts := make(plotter.XYs, 0, len(h.Bins)+1)
		for i, c := range h.Bins {
			start := h.Lo + i*h.Width
			ports := min(h.Width, h.Hi-start+1)
			pts = append(pts, plotter.XY{X: pos(start), Y: float64(c) / float64(ports) / even})
		}
		pts = append(pts, plotter.XY{X: 1, Y: pts[len(pts)-1].Y})
		label := fmt.Sprintf("%s (%d–%d)", s.name, h.Lo, h.Hi)
		if err := addLine(p, pts, s.style, label, plotter.PostStep); err != nil {
			return nil, err
		}
		drawn++
	}
	if drawn == 0 {
		return nil, noData(name, "no allocations recorded in %d runs", len(runs))
	}
	if err := refLine(p, plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 1}}, "even spread"); err != nil {
		return nil, err
	}
	p.Y.Min = 0
	p.X.Min, p.X.Max = 0, 1
	return p, nil
}
