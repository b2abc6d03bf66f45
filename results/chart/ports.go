package chart

import (
	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// PortUsage returns the port-usage chart: for each series, allocations
// per port across the range relative to an even spread (1 = every port
// used equally; reserved ports show as dips to 0), seeds merged. Runs
// whose histogram bins the range differently from the series' first run
// are left out.
func PortUsage() Chart {
	return Chart{
		Name:  "port-usage",
		Title: "Allocations across the port range",
		Caption: "Successful allocations per port across the ephemeral range relative to an even spread " +
			"(1 on the dashed line), seeds merged, one line per allocator.",
		Draw: drawPortUsage,
	}
}

func drawPortUsage(runs []results.Run) (*plot.Plot, error) {
	const name = "port-usage"
	if len(runs) == 0 {
		return nil, noData(name, "no runs")
	}
	p := newPlot("Allocations across the port range", "local port", "allocations per port ÷ even share")
	drawn := 0
	lo, hi := 0, 0
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
		pts := make(plotter.XYs, 0, len(h.Bins)+1)
		for i, c := range h.Bins {
			start := h.Lo + i*h.Width
			ports := min(h.Width, h.Hi-start+1)
			pts = append(pts, plotter.XY{X: float64(start), Y: float64(c) / float64(ports) / even})
		}
		pts = append(pts, plotter.XY{X: float64(h.Hi + 1), Y: pts[len(pts)-1].Y})
		if err := addLine(p, pts, drawn, s.name, plotter.PostStep); err != nil {
			return nil, err
		}
		if drawn == 0 {
			lo, hi = h.Lo, h.Hi+1
		}
		lo, hi = min(lo, h.Lo), max(hi, h.Hi+1)
		drawn++
	}
	if drawn == 0 {
		return nil, noData(name, "no allocations recorded in %d runs", len(runs))
	}
	if err := refLine(p, plotter.XYs{{X: float64(lo), Y: 1}, {X: float64(hi), Y: 1}}, "even spread"); err != nil {
		return nil, err
	}
	p.Y.Min = 0
	return p, nil
}
