package chart

import (
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ProbesCDF returns the probes-cdf chart: for each series, the
// cumulative distribution of candidate ports checked per allocation (successes and
// failures, seeds merged), on a log x axis.
func ProbesCDF() Chart {
	return Chart{
		Name:  "probes-cdf",
		Title: "Candidate ports checked per allocation",
		Caption: "Cumulative distribution of the candidate ports checked per allocation (a proxy for the CPU cost " +
			"of connect()), seeds merged, one line per allocator; allocations that checked no port count at the left edge.",
		Draw: func(runs []results.Run) (*plot.Plot, error) {
			return drawCDF(runs, cdfSpec{
				name:   "probes-cdf",
				title:  "Candidate ports checked per allocation",
				xLabel: "candidate ports checked per allocation (log scale)",
				yLabel: "share of allocations ≤ x",
				hist:   func(r *results.Run) *results.Hist { return &r.Probes },
				scale:  1,
			})
		},
	}
}

// ReuseIntervalCDF returns the reuse-interval-cdf chart: for each series,
// the cumulative distribution of the time from a 4-tuple's close to its
// next allocation (seeds merged), in seconds on a log x axis, with a
// vertical line at 2·MSL (Run.PrematureNS).
func ReuseIntervalCDF() Chart {
	return Chart{
		Name:  "reuse-interval-cdf",
		Title: "Reuse interval of a 4-tuple",
		Caption: "Cumulative distribution of the time from a connection's close to the next use of the same 4-tuple, " +
			"seeds merged, one line per allocator; reuses left of the dotted 2·MSL line come before TIME_WAIT would have ended.",
		Draw: func(runs []results.Run) (*plot.Plot, error) {
			return drawCDF(runs, cdfSpec{
				name:   "reuse-interval-cdf",
				title:  "Reuse interval of a 4-tuple",
				xLabel: "time from close to reuse (s, log scale)",
				yLabel: "share of reuses ≤ x",
				hist:   func(r *results.Run) *results.Hist { return &r.ReuseInterval },
				scale:  1e-9,
				marks: func(r *results.Run) float64 {
					return float64(r.PrematureNS) / 1e9
				},
				markName: "2·MSL",
			})
		},
	}
}

// ConnectLatencyCDF returns the chart "connect-latency-cdf": the
// distribution of the time from a connection's first SYN to its
// connect() (results.Run.ConnectLatency), drawn as its tail, the share
// of connects slower than x, on log axes, so that the steps of the few
// connects that waited out a SYN retransmission (1 s, then 3 s) are as
// visible as the bulk. Seeds are merged, one line per allocator.
func ConnectLatencyCDF() Chart {
	return Chart{
		Name:  "connect-latency-cdf",
		Title: "Connect latency through the NAT",
		Caption: "Share of connects slower than x (the tail of the distribution, log scales) from a connection's first SYN " +
			"to its connect(), seeds merged, one line per allocator; a SYN dropped at a NAT clash is sent again after 1 s, " +
			"then 2 s more, so the steps at 1 s and 3 s are the connections that clashed once and twice, and their height is their share.",
		Draw: func(runs []results.Run) (*plot.Plot, error) {
			return drawTail(runs, "connect-latency-cdf", "Connect latency",
				"time from first SYN to connect (s, log scale)", "share of connects slower than x (log scale)",
				func(r *results.Run) *results.Hist {
					if r.ConnectLatency == nil {
						return &results.Hist{}
					}
					return r.ConnectLatency
				}, 1e-9)
		},
	}
}

// drawTail draws, for each series, the share of its values above x
// (1 − CDF) against x, both on log axes. The y axis reaches down to the
// decade below half of one value of the largest series, where a line
// that drops to zero ends.
func drawTail(runs []results.Run, name, title, xLabel, yLabel string, hist func(*results.Run) *results.Hist, scale float64) (*plot.Plot, error) {
	if len(runs) == 0 {
		return nil, noData(name, "no runs")
	}
	type tail struct {
		s   series
		pts plotter.XYs // x and share above x, in values (not logs)
	}
	var tails []tail
	xmin, xmax, most := math.Inf(1), math.Inf(-1), uint64(0)
	for _, s := range groupSeries(runs, nil) {
		var h results.Hist
		for _, r := range s.runs {
			h.Merge(hist(r))
		}
		if h.Count() == 0 {
			continue
		}
		most = max(most, h.Count())
		pts := tailPoints(&h, scale)
		// The 1st percentile's decade starts the x axis: below it every
		// line is at 1.
		if q := h.Quantile(0.01) * scale; q > 0 {
			xmin = math.Min(xmin, math.Pow10(int(math.Floor(math.Log10(q)))))
		}
		xmax = math.Max(xmax, pts[len(pts)-1].X)
		tails = append(tails, tail{s, pts})
	}
	if len(tails) == 0 {
		return nil, noData(name, "no values recorded in %d runs", len(runs))
	}
	if math.IsInf(xmin, 1) {
		xmin = tails[0].pts[0].X
	}
	ymin := math.Pow10(int(math.Floor(math.Log10(0.5 / float64(most)))))
	p := newPlot(title, xLabel, yLabel)
	for _, t := range tails {
		var pts plotter.XYs
		for _, pt := range t.pts {
			if pt.X < xmin {
				// Left of the axis: the line enters at its share there.
				if len(pts) == 0 {
					pts = append(pts, plotter.XY{X: log10(xmin)})
				}
				pts[0].Y = log10(math.Max(pt.Y, ymin))
				continue
			}
			pts = append(pts, plotter.XY{X: log10(pt.X), Y: log10(math.Max(pt.Y, ymin))})
		}
		if err := addLine(p, pts, t.s.style, t.s.name, plotter.PostStep); err != nil {
			return nil, err
		}
	}
	logAxis(&p.X, xmin, xmax)
	logAxis(&p.Y, ymin, 1)
	return p, nil
}

type cdfSpec struct {
	name, title, xLabel, yLabel string
	hist                        func(*results.Run) *results.Hist
	// scale converts histogram values to axis units.
	scale float64
	// marks gives the x of a vertical reference line per run (0 for
	// none), named markName in the legend.
	marks    func(*results.Run) float64
	markName string
}

func drawCDF(runs []results.Run, spec cdfSpec) (*plot.Plot, error) {
	if len(runs) == 0 {
		return nil, noData(spec.name, "no runs")
	}
	p := newPlot(spec.title, spec.xLabel, spec.yLabel)
	xmin, xmax := math.Inf(1), math.Inf(-1)
	drawn := 0
	for _, s := range groupSeries(runs, nil) {
		var h results.Hist
		for _, r := range s.runs {
			h.Merge(spec.hist(r))
		}
		if h.Count() == 0 {
			continue
		}
		pts := cdfPoints(&h, spec.scale)
		for i, pt := range pts {
			xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			pts[i].X = log10(pt.X)
		}
		if err := addLine(p, pts, s.style, s.name, plotter.PostStep); err != nil {
			return nil, err
		}
		drawn++
	}
	if drawn == 0 {
		return nil, noData(spec.name, "no values recorded in %d runs", len(runs))
	}
	if spec.marks != nil {
		set := map[float64]bool{}
		for i := range runs {
			if x := spec.marks(&runs[i]); x > 0 && !math.IsInf(x, 0) {
				set[x] = true
			}
		}
		marks := slices.Sorted(maps.Keys(set))
		var names []string
		for _, x := range marks {
			v, err := plotter.NewLine(plotter.XYs{{X: log10(x), Y: 0}, {X: log10(x), Y: 1}})
			if err != nil {
				return nil, err
			}
			v.Color, v.Width, v.Dashes = refColor(), vg.Points(1.2), []vg.Length{vg.Points(1), vg.Points(2)}
			p.Add(v)
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			names = append(names, fmt4(x))
		}
		if len(marks) > 0 {
			p.Legend.Add(spec.markName+" = "+strings.Join(names, ", ")+" s", thumb(refColor(), []vg.Length{vg.Points(1), vg.Points(2)}))
		}
	}
	logAxis(&p.X, xmin, xmax)
	p.Y.Min, p.Y.Max = 0, 1
	return p, nil
}

// tailPoints returns the steps of the share of h's values above x
// (1 − CDF), x scaled, as cdfPoints gives the CDF.
func tailPoints(h *results.Hist, scale float64) plotter.XYs {
	pts := cdfPoints(h, scale)
	for i := range pts {
		pts[i].Y = 1 - pts[i].Y
	}
	return pts
}

// cdfPoints returns the steps of h's distribution with x scaled, leaving
// out x <= 0, which a log axis cannot show: the first point shown already
// counts them. The curve starts with a rise from the share of those
// values at the first x.
func cdfPoints(h *results.Hist, scale float64) plotter.XYs {
	var pts plotter.XYs
	below := 0.0 // share of values at x <= 0
	for _, c := range h.CDF() {
		x := c.X * scale
		if x <= 0 {
			below = c.Y
			continue
		}
		if len(pts) == 0 {
			pts = append(pts, plotter.XY{X: x, Y: below})
		}
		pts = append(pts, plotter.XY{X: x, Y: c.Y})
	}
	if len(pts) == 0 { // every value is 0: show the whole mass at the smallest positive unit
		x := scale
		pts = plotter.XYs{{X: x, Y: 0}, {X: x, Y: 1}}
	}
	return pts
}
