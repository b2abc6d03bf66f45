package chart

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// FailureVsPrefill returns the failure-vs-prefill chart (docs/figures.md#t5-nat-port-clash-resolution):
// for each series, the mean failure fraction over seeds with its 95 %
// interval (down to a hundredth of the mean where it reaches 0) against the
// share of ports held at random from the start (Setup.Prefill), on a log
// y axis. For a series whose every failed allocation made the same number
// of probes B — a search bounded at B candidates, such as netfilter's
// 248 — a grey line gives p^B, the failure probability when each probe
// meets a taken port independently with probability p. Points with no
// failure cannot sit on a log axis; the legend counts them. Runs without
// a prefill are left out; the prefill label does not split series.
func FailureVsPrefill() Chart {
	return Chart{
		Name:  "failure-vs-prefill",
		Sweep: true,
		Title: "Failed allocations vs random occupancy",
		Caption: "Share of allocations that failed against the share p of ports held at random places, mean over seeds " +
			"with 95 % intervals, log scale, one line per allocator; grey lines give p^B for a search bounded at B probes.",
		Draw: drawFailureVsPrefill,
	}
}

func drawFailureVsPrefill(runs []results.Run) (*plot.Plot, error) {
	const name = "failure-vs-prefill"
	filled := results.Select(runs, func(r *results.Run) bool { return r.Setup.Prefill > 0 && r.Attempts > 0 })
	if len(filled) == 0 {
		return nil, noData(name, "none of %d runs has a prefill (Setup.Prefill) and attempts", len(runs))
	}
	p := newPlot("Failed allocations vs random occupancy",
		"share of ports held at random places (prefill p)", "failed allocations (fraction, log scale)")
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin := 1.0
	bounds := map[uint64]bool{}
	for _, s := range groupSeries(filled, func(k string) bool { return k == "prefill" }) {
		byP := map[float64][]*results.Run{}
		for _, r := range s.runs {
			byP[r.Setup.Prefill] = append(byP[r.Setup.Prefill], r)
		}
		var pts plotter.XYs
		var errs plotter.YErrors
		zero := 0
		for _, pf := range slices.Sorted(maps.Keys(byP)) {
			xmin, xmax = math.Min(xmin, pf), math.Max(xmax, pf)
			y, lo, hi, n := interval(byP[pf], "failure_fraction")
			if n == 0 || y <= 0 {
				zero++
				continue
			}
			pts = append(pts, plotter.XY{X: pf, Y: log10(y)})
			// On the log axis an interval reaching 0 is drawn down to a
			// hundredth of the mean.
			errs = append(errs, struct{ Low, High float64 }{log10(y) - log10(math.Max(lo, y/100)), log10(hi) - log10(y)})
			ymin = math.Min(ymin, math.Max(lo, y/100))
		}
		if b, ok := fixedFailureProbes(s.runs); ok {
			bounds[b] = true
		}
		label := s.name
		if zero > 0 {
			label = fmt.Sprintf("%s (%d with no failure not shown)", s.name, zero)
		}
		if len(pts) == 0 {
			p.Legend.Add(label, thumb(s.style.Color, s.style.Dashes))
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width, l.Dashes = s.style.Color, vg.Points(1.5), s.style.Dashes
		sc.Color, sc.Shape, sc.Radius = s.style.Color, draw.CircleGlyph{}, vg.Points(2.2)
		p.Add(l, sc)
		if err := addErrorBars(p, pts, errs, s.style); err != nil {
			return nil, err
		}
		p.Legend.Add(label, l, sc)
	}
	if xmax == xmin {
		xmin, xmax = xmin-0.01, math.Min(xmax+0.01, 1)
	}
	for _, b := range slices.Sorted(maps.Keys(bounds)) {
		const samples = 64
		var curve plotter.XYs
		for j := 0; j <= samples; j++ {
			x := xmin + (xmax-xmin)*float64(j)/samples
			y := math.Pow(x, float64(b))
			if y < ymin/10 {
				continue
			}
			curve = append(curve, plotter.XY{X: x, Y: log10(y)})
		}
		if len(curve) < 2 {
			continue
		}
		if err := refLine(p, curve, fmt.Sprintf("p^%d (%d probes, each taken with probability p)", b, b)); err != nil {
			return nil, err
		}
	}
	logAxis(&p.Y, ymin/2, 1)
	pad := (xmax - xmin) * 0.03
	p.X.Min, p.X.Max = xmin-pad, xmax+pad
	return p, nil
}

// fixedFailureProbes returns B when every failed allocation of the runs
// made exactly B probes (a bounded search spent its bound), and false
// when there were no failures or their probe counts differ.
func fixedFailureProbes(runs []*results.Run) (uint64, bool) {
	var b uint64
	seen := false
	for _, r := range runs {
		h := &r.ProbesFail
		if h.Count() == 0 {
			continue
		}
		if h.Min() != h.Max() || (seen && h.Min() != b) {
			return 0, false
		}
		b, seen = h.Min(), true
	}
	return b, seen && b > 0
}
