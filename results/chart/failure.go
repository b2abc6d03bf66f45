package chart

import (
	"maps"
	"math"
	"slices"

	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// FailureVsRate returns the failure-vs-rate chart: for each series, the
// mean failure fraction over seeds with its 95 % interval
// (results.Interval95) against the offered rate (Setup.RatePerSec), with
// the analytic steady state max(0, 1 − knee/λ) and the knee of the host
// (Setup.Bound: sources, ports, destinations and scope, mean hold
// and TIME_WAIT or its take-over) for each distinct setup. Runs without
// a rate are left out; a label in one-to-one correspondence with the rate
// is taken for the x axis and does not split series.
func FailureVsRate() Chart {
	return Chart{
		Name:  "failure-vs-rate",
		Sweep: true,
		Title: "Failed connection attempts vs offered rate",
		Caption: "Share of connection attempts that found no free port against the offered rate, mean over seeds " +
			"with 95 % intervals, one line per allocator; the grey dashed line is the analytic share max(0, 1 − knee/λ), " +
			"the dotted line the knee: source addresses × ports ÷ (mean hold + TIME_WAIT, or the tcp_tw_reuse delay " +
			"where it applies), times the destinations when ports are shared per 4-tuple.",
		Draw: drawFailureVsRate,
	}
}

func drawFailureVsRate(runs []results.Run) (*plot.Plot, error) {
	const name = "failure-vs-rate"
	rated := results.Select(runs, func(r *results.Run) bool {
		return r.Setup.RatePerSec > 0 && !math.IsInf(r.Setup.RatePerSec, 0)
	})
	if len(rated) == 0 {
		return nil, noData(name, "none of %d runs has an offered rate (Setup.RatePerSec)", len(runs))
	}
	xKeys := rateLabels(rated)
	xLabel := "offered rate λ (connections/s)"
	for i := range rated {
		if rated[i].Setup.Arrivals == "burst" {
			xLabel = "mean offered rate λ over on- and off-periods (connections/s)"
			break
		}
	}
	p := newPlot("Failed connection attempts vs offered rate", xLabel, "failed attempts (fraction, mean over seeds)")
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	drawn := 0
	for _, s := range groupSeries(rated, func(k string) bool { return xKeys[k] }) {
		byRate := map[float64][]*results.Run{}
		for _, r := range s.runs {
			byRate[r.Setup.RatePerSec] = append(byRate[r.Setup.RatePerSec], r)
		}
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, rate := range slices.Sorted(maps.Keys(byRate)) {
			y, lo, hi, n := interval(byRate[rate], "failure_fraction")
			if n == 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: rate, Y: y})
			errs = append(errs, struct{ Low, High float64 }{y - lo, hi - y})
			xmin, xmax, ymax = math.Min(xmin, rate), math.Max(xmax, rate), math.Max(ymax, hi)
		}
		if len(pts) == 0 {
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
		p.Legend.Add(s.name, l, sc)
		drawn++
	}
	if drawn == 0 {
		return nil, noData(name, "no run with an offered rate made any attempt")
	}

	// Analytic steady state and knee of each distinct setup.
	kneeSet := map[float64]bool{}
	for i := range rated {
		if k := rated[i].Setup.Bound().Rate; k > 0 && !math.IsInf(k, 0) {
			kneeSet[k] = true
		}
	}
	knees := slices.Sorted(maps.Keys(kneeSet))
	for _, k := range knees {
		for _, x := range []float64{xmin, xmax} {
			ymax = math.Max(ymax, math.Max(0, 1-k/x))
		}
	}
	top := math.Max(ymax, 0.01) * 1.08
	for _, k := range knees {
		curve := plotter.XYs{{X: xmin, Y: math.Max(0, 1-k/xmin)}}
		if k > xmin && k < xmax {
			curve = append(curve, plotter.XY{X: k, Y: 0})
		}
		from := math.Max(k, xmin)
		const samples = 64
		for j := 1; j <= samples && from < xmax; j++ {
			x := from + (xmax-from)*float64(j)/samples
			curve = append(curve, plotter.XY{X: x, Y: math.Max(0, 1-k/x)})
		}
		if len(curve) == 1 {
			curve = append(curve, plotter.XY{X: xmax, Y: math.Max(0, 1-k/xmax)})
		}
		if err := refLine(p, curve, "analytic, knee "+fmt4(k)+"/s"); err != nil {
			return nil, err
		}
		if k >= xmin && k <= xmax {
			v, err := plotter.NewLine(plotter.XYs{{X: k, Y: 0}, {X: k, Y: top}})
			if err != nil {
				return nil, err
			}
			v.Color, v.Width, v.Dashes = refColor(), vg.Points(1), []vg.Length{vg.Points(1), vg.Points(2)}
			p.Add(v)
		}
	}
	if len(knees) > 0 {
		p.Legend.Add("knee", thumb(refColor(), []vg.Length{vg.Points(1), vg.Points(2)}))
	}
	p.Y.Min, p.Y.Max = 0, top
	if xmin == xmax {
		p.X.Min, p.X.Max = xmin*0.9, xmax*1.1
	}
	return p, nil
}

// rateLabels returns the label keys whose values are in one-to-one
// correspondence with the offered rate over runs (present in every run,
// more than one value, one rate per value and one value per rate): the
// sweep coordinate that the x axis already shows.
func rateLabels(runs []results.Run) map[string]bool {
	out := map[string]bool{}
	keys := map[string]bool{}
	for i := range runs {
		for k := range runs[i].Labels {
			keys[k] = true
		}
	}
	for k := range keys {
		toRate := map[string]float64{}
		toValue := map[float64]string{}
		ok := true
		for i := range runs {
			v, has := runs[i].Labels[k]
			rate := runs[i].Setup.RatePerSec
			if !has {
				ok = false
				break
			}
			if r, seen := toRate[v]; seen && r != rate {
				ok = false
				break
			}
			if w, seen := toValue[rate]; seen && w != v {
				ok = false
				break
			}
			toRate[v], toValue[rate] = rate, v
		}
		if ok && len(toRate) > 1 {
			out[k] = true
		}
	}
	return out
}

// fmt4 formats v to four significant digits.
func fmt4(v float64) string {
	return format.Number(v)
}

// interval returns the mean of a metric over runs with its 95 %
// interval (results.Interval95) and the number of runs defining it.
func interval(runs []*results.Run, metric string) (mean, lo, hi float64, n int) {
	m, ok := results.LookupMetric(metric)
	if !ok {
		return math.NaN(), math.NaN(), math.NaN(), 0
	}
	vals := make([]float64, 0, len(runs))
	var k, trials uint64
	for _, r := range runs {
		vals = append(vals, m.Value(r))
		if m.Pooled != nil {
			a, b := m.Pooled(r)
			k, trials = k+a, trials+b
		}
	}
	st := results.MeanCI95(vals)
	lo, hi, _ = results.Interval95(m, st, k, trials)
	if math.IsNaN(lo) {
		lo, hi = st.Mean, st.Mean
	}
	return st.Mean, lo, hi, st.N
}

// errPoints are points with vertical error bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// addErrorBars draws the 95 % intervals errs around pts in a series'
// colour.
func addErrorBars(p *plot.Plot, pts plotter.XYs, errs plotter.YErrors, st Style) error {
	if len(pts) == 0 {
		return nil
	}
	e, err := plotter.NewYErrorBars(errPoints{pts, errs})
	if err != nil {
		return err
	}
	e.Color, e.Width, e.CapWidth = st.Color, vg.Points(1), vg.Points(5)
	p.Add(e)
	return nil
}
