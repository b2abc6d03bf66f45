package chart

import (
	"fmt"
	"image/color"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ClashShareVsRate returns the chart "clash-share-vs-rate" of the SNAT
// race (runs with more than one CPU translating, Setup.CPUs > 1): one
// panel per allocator variant (allocator and parameters), the share of
// SYNs that clashed at conntrack confirm (metric clash_fraction) against
// the offered rate on log–log axes, one series per setting of the other
// swept labels (CPUs and confirm delay), each point the mean over seeds
// with its 95 % interval (results.Interval95). A point where no seed saw
// a clash is drawn as an open down-pointing triangle at the upper end of
// its interval (the Wilson bound of 0 clashes in the SYNs counted): the
// share lies below it, and a log axis has no place for 0; for the same
// reason an interval that reaches 0 has its whisker run to the bottom
// edge, without a cap. The panels share their axes.
//
// Each series has its analytic line, same colour, dashed, from the
// model's mechanism (docs/allocators.md#the-snat-race). With rate λ, C
// CPUs and mean confirm delay d, a SYN's translation window overlaps
// those of x = λd(C−1)/C others' earlier windows on average (first order
// in λd), and in each overlapping pair the later confirm clashes when
// both flows chose one port, with probability p; the share drawn is x·p:
//
//   - netfilter-rover with --random (random=true): every flow to one
//     service starts its scan at one hashed offset and takes the first
//     port free among confirmed entries, so both take the same port:
//     p = 1.
//   - netfilter-rover with the default rule: a flow keeps its original
//     port when free, else scans from the shared rover, which points at
//     the port the last scan took; two overlapping scans take one port.
//     p = q², q the share of the variant's SYNs whose original port was
//     taken (counted in the same runs: those that checked more than one
//     port). Pairs in which a flow keeps its original port are left out.
//   - netfilter-rover with --random-fully, netfilter and netfilter-6.4
//     with random=true: the first free port after a uniformly random
//     offset. A free port preceded by a run of g taken ports is chosen
//     with probability (g+1)/N over N ports, so two choices meet with
//     probability Σ(g+1)²/N² = (2m − 1)/N, m the mean number of ports
//     checked per search (counted in the same runs), which is 1/N for an
//     empty range and grows as taken ports cluster.
//   - netfilter and netfilter-6.4 with the default rule: the same for the
//     pairs that both search, p = q²·(2m − 1)/N, with m counted over the
//     SYNs that searched (their ports checked less the original one);
//     pairs that keep their original ports are left out.
//
// Other allocators, and the default rules when inside hosts choose the
// original ports (Setup.InsideHosts), get no analytic line; the legend
// says so. Runs without the race, or without a rate, are left out.
func ClashShareVsRate() Chart {
	return Chart{
		Name:  "clash-share-vs-rate",
		Sweep: true,
		Title: "SNAT race: SYNs that clash at conntrack confirm",
		Caption: "Share of SYNs dropped at conntrack confirm because another CPU confirmed their tuple first, against the " +
			"offered rate, one panel per NAT variant and one colour per CPU count and confirm delay, mean over seeds with " +
			"95 % intervals (a whisker to the bottom edge where the interval reaches 0, an open triangle where no seed saw " +
			"a clash: the share lies below it), and dashed the analytic " +
			"share x·p, x = λd(C−1)/C windows overlapping per SYN at rate λ on C CPUs with mean confirm delay d and p the " +
			"variant's chance that two overlapping flows take one port (docs/allocators.md#the-snat-race).",
		Draw: func(runs []results.Run) (*plot.Plot, error) {
			d, err := clashData(runs)
			if err != nil {
				return nil, err
			}
			all := clashPanel{name: "", series: nil}
			for _, pn := range d.panels {
				all.series = append(all.series, pn.series...)
			}
			if len(d.panels) == 1 {
				all = d.panels[0]
			}
			return d.draw(all, len(d.panels) > 1)
		},
		Panels: func(runs []results.Run) (Figure, error) {
			d, err := clashData(runs)
			if err != nil {
				return Figure{}, err
			}
			f := Figure{Title: "SNAT race: SYNs that clash at conntrack confirm"}
			for _, pn := range d.panels {
				p, err := d.draw(pn, false)
				if err != nil {
					return Figure{}, err
				}
				if len(d.panels) > 1 {
					p.Title.TextStyle.Font.Size = vg.Points(11)
					p.Legend.TextStyle.Font.Size = vg.Points(8)
					p.X.Label.TextStyle.Font.Size = vg.Points(10)
					p.Y.Label.TextStyle.Font.Size = vg.Points(10)
				}
				f.Panels = append(f.Panels, p)
			}
			return f, nil
		},
	}
}

// clashPoint is one point of a clash series: the runs of one rate.
type clashPoint struct {
	rate          float64
	mean, lo, hi  float64
	clashes, syns uint64
	// analytic is x·p, NaN where there is none.
	analytic float64
}

// clashSeries is one setting of one variant.
type clashSeries struct {
	variant, setting string
	points           []clashPoint
	// formula is the analytic share in words, "" for none.
	formula string
}

// clashPanel is one variant.
type clashPanel struct {
	name   string
	series []clashSeries
	// why names the reason a variant has no analytic line.
	why string
}

// clashChart is the data of every panel and the axis ranges they share.
type clashChart struct {
	panels                 []clashPanel
	settings               []string
	colors                 map[string]color.RGBA
	rates                  []float64
	ymin, ymax, xmin, xmax float64
}

// clashData groups the race runs with a rate into panels and series and
// computes their points, analytic shares and the shared axis ranges.
func clashData(runs []results.Run) (*clashChart, error) {
	const name = "clash-share-vs-rate"
	race := results.Select(runs, func(r *results.Run) bool {
		return r.Setup.CPUs > 1 && r.Setup.RatePerSec > 0 && !math.IsInf(r.Setup.RatePerSec, 0)
	})
	if len(race) == 0 {
		return nil, noData(name, "none of %d runs has a rate and more than one CPU translating (-cpus)", len(runs))
	}
	xKeys := rateLabels(race)
	// The labels that vary among the runs, other than the rate's.
	values := map[string]map[string]bool{}
	for i := range race {
		for k, v := range race[i].Labels {
			if xKeys[k] {
				continue
			}
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][v] = true
		}
	}
	var varying []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if len(values[k]) > 1 {
			varying = append(varying, k)
		}
	}
	// CPUs first, then the confirm delay, then the rest.
	rank := func(k string) int {
		switch k {
		case "cpus":
			return 0
		case "confirm-delay":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(varying, func(a, b string) int { return rank(a) - rank(b) })
	d := &clashChart{colors: map[string]color.RGBA{}}
	var hue, tone []string
	type key struct{ variant, setting string }
	groups := map[key][]*results.Run{}
	var order []key
	rates := map[float64]bool{}
	for i := range race {
		r := &race[i]
		v := r.AllocLabel()
		s := settingName(r, varying)
		k := key{v, s}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
		if !slices.Contains(d.settings, s) {
			d.settings = append(d.settings, s)
			hue = addValue(hue, r.Labels, varying, 0)
			tone = addValue(tone, r.Labels, varying, 1)
			d.colors[s] = settingColor(r.Labels, varying, hue, tone)
		}
		rates[r.Setup.RatePerSec] = true
	}
	d.rates = slices.Sorted(maps.Keys(rates))
	panelIndex := map[string]int{}
	for _, k := range order {
		j, ok := panelIndex[k.variant]
		if !ok {
			j = len(d.panels)
			panelIndex[k.variant] = j
			d.panels = append(d.panels, clashPanel{name: k.variant})
		}
		s, why := clashSeriesOf(groups[k])
		s.variant, s.setting = k.variant, k.setting
		if len(s.points) == 0 {
			continue
		}
		d.panels[j].series = append(d.panels[j].series, s)
		if why != "" {
			d.panels[j].why = why
		}
	}
	d.panels = slices.DeleteFunc(d.panels, func(p clashPanel) bool { return len(p.series) == 0 })
	if len(d.panels) == 0 {
		return nil, noData(name, "no SYN reached conntrack confirm in %d runs", len(race))
	}
	// Axis ranges: every point and bound shown, analytic shares down to a
	// thousandth of the smallest of those (lower ones leave the axis).
	lo, hi := math.Inf(1), 0.0
	for _, pn := range d.panels {
		for _, s := range pn.series {
			for _, p := range s.points {
				if p.clashes == 0 {
					lo, hi = math.Min(lo, p.hi), math.Max(hi, p.hi)
					continue
				}
				lo, hi = math.Min(lo, p.mean), math.Max(hi, p.hi)
				if p.lo > 0 {
					lo = math.Min(lo, p.lo)
				}
			}
		}
	}
	floor := lo / 1000
	for _, pn := range d.panels {
		for _, s := range pn.series {
			for _, p := range s.points {
				if p.analytic > 0 {
					lo = math.Max(math.Min(lo, p.analytic), floor)
					hi = math.Max(hi, p.analytic)
				}
			}
		}
	}
	d.ymin = math.Pow10(int(math.Floor(math.Log10(lo))))
	d.ymax = math.Pow10(int(math.Ceil(math.Log10(hi * 1.2))))
	d.xmin, d.xmax = d.rates[0]/1.25, d.rates[len(d.rates)-1]*1.25
	return d, nil
}

// settingName names a series by the varying labels: "2 CPUs, delay
// exp:5us" for cpus and confirm-delay, "key=value" for others; with none
// varying, by the run's CPUs and confirm delay.
func settingName(r *results.Run, varying []string) string {
	var parts []string
	for _, k := range varying {
		v, ok := r.Labels[k]
		if !ok {
			continue
		}
		switch k {
		case "cpus":
			parts = append(parts, v+" CPUs")
		case "confirm-delay":
			parts = append(parts, "delay "+v)
		default:
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d CPUs, delay %s", r.Setup.CPUs, r.Setup.ConfirmDelay)
	}
	return strings.Join(parts, ", ")
}

// clashSeriesOf computes the points of one series from its runs: per
// rate, the mean clash share and its interval, and the analytic share.
// why is set when the variant has no analytic share.
func clashSeriesOf(runs []*results.Run) (s clashSeries, why string) {
	byRate := map[float64][]*results.Run{}
	for _, r := range runs {
		byRate[r.Setup.RatePerSec] = append(byRate[r.Setup.RatePerSec], r)
	}
	for _, rate := range slices.Sorted(maps.Keys(byRate)) {
		rs := byRate[rate]
		mean, lo, hi, n := interval(rs, "clash_fraction")
		if n == 0 {
			continue
		}
		pt := clashPoint{rate: rate, mean: mean, lo: lo, hi: hi, analytic: math.NaN()}
		var probes results.Hist
		for _, r := range rs {
			pt.clashes += uint64(r.Clashes)
			pt.syns += uint64(r.Clashes + r.Successes)
			probes.Merge(&r.Probes)
		}
		p, formula, reason := pairClash(rs[0], &probes)
		if reason != "" {
			why = reason
		} else {
			st := rs[0].Setup
			c := float64(st.CPUs)
			x := rate * float64(st.ConfirmDelayMeanNS) / 1e9 * (c - 1) / c
			pt.analytic = x * p
			s.formula = formula
		}
		s.points = append(s.points, pt)
	}
	return s, why
}

// pairClash returns the probability that two flows of r's variant whose
// translation windows overlap take one port (see ClashShareVsRate), from
// the probes of the variant's runs at one setting and rate, with the
// formula in words; or the reason there is none.
func pairClash(r *results.Run, probes *results.Hist) (p float64, formula, why string) {
	random := r.Params["random"] == "true"
	fully := r.Params["random-fully"] == "true"
	n := float64(r.Setup.Ports)
	total := float64(probes.Count())
	if total == 0 || n <= 0 {
		return 0, "", "no allocations counted"
	}
	// SYNs that kept their original port checked one port.
	ones := math.Round(probes.FractionBelow(2) * total)
	q := 1 - ones/total
	searchMean := func() float64 { // ports checked per search, the original port's probe left out
		searches := total - ones
		if searches == 0 {
			return 1
		}
		return (float64(probes.Sum())-ones)/searches - 1
	}
	inside := r.Setup.InsideHosts > 0
	switch r.Allocator {
	case "netfilter-rover":
		switch {
		case random:
			return 1, "x (one hashed start)", ""
		case fully:
			m := probes.Mean()
			return (2*m - 1) / n, "x·(2m−1)/N (random start)", ""
		case inside:
			return 0, "", "pods choose the original ports"
		}
		return q * q, "x·q² (shared rover)", ""
	case "netfilter", "netfilter-6.4":
		if random {
			m := probes.Mean()
			return (2*m - 1) / n, "x·(2m−1)/N (random start)", ""
		}
		if inside {
			return 0, "", "pods choose the original ports"
		}
		return q * q * (2*searchMean() - 1) / n, "x·q²·(2m−1)/N", ""
	}
	return 0, "", "no model for " + r.Allocator
}

// addValue adds the value of the i-th varying label of labels to vals
// when new.
func addValue(vals []string, labels map[string]string, varying []string, i int) []string {
	if i >= len(varying) {
		return vals
	}
	if v := labels[varying[i]]; !slices.Contains(vals, v) {
		vals = append(vals, v)
	}
	return vals
}

// settingColor is the colour of a setting: a hue of Okabe–Ito's palette
// per value of the first varying label (the CPUs), a lighter shade for
// the first value of the second (the shorter confirm delay) and darker
// ones for the further values, so that the series of one CPU count share
// a hue in every panel.
func settingColor(labels map[string]string, varying []string, hue, tone []string) color.RGBA {
	if len(varying) == 0 {
		return okabeIto(0)
	}
	c := okabeIto(slices.Index(hue, labels[varying[0]]))
	if len(varying) < 2 {
		return c
	}
	switch j := slices.Index(tone, labels[varying[1]]); j {
	case 0:
		return shade(c, 2)
	case 1:
		return c
	default:
		return shade(c, 2*j-3)
	}
}

// draw draws one panel: its series with their intervals, zero markers
// and analytic lines, on the shared axes. With named, series are named
// after their variant too (one panel holding several variants).
func (d *clashChart) draw(pn clashPanel, named bool) (*plot.Plot, error) {
	title := "SNAT race: SYNs that clash at conntrack confirm"
	if pn.name != "" {
		title = pn.name
	}
	p := newPlot(title, "offered rate λ (connections/s, log scale)", "SYNs that clashed (share, log scale)")
	bottom := log10(d.ymin)
	var ticks []plot.Tick
	for _, r := range d.rates {
		ticks = append(ticks, plot.Tick{Value: log10(r), Label: strconv.FormatFloat(r, 'f', -1, 64)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	zeros, analytic := false, ""
	for _, s := range pn.series {
		col := d.colors[s.setting]
		var line, ana plotter.XYs
		var zero plotter.XYs
		var bars errPoints
		var tails []plotter.XYs // whiskers of intervals reaching 0, down to the axis
		for _, pt := range s.points {
			x := log10(pt.rate)
			if pt.clashes == 0 {
				zero = append(zero, plotter.XY{X: x, Y: log10(pt.hi)})
			} else {
				y := log10(pt.mean)
				line = append(line, plotter.XY{X: x, Y: y})
				low := y
				if pt.lo > 0 {
					low = math.Max(bottom, log10(pt.lo))
				} else {
					tails = append(tails, plotter.XYs{{X: x, Y: y}, {X: x, Y: bottom}})
				}
				bars.XYs = append(bars.XYs, plotter.XY{X: x, Y: y})
				bars.YErrors = append(bars.YErrors, struct{ Low, High float64 }{y - low, log10(pt.hi) - y})
			}
			if pt.analytic > 0 {
				ana = append(ana, plotter.XY{X: x, Y: log10(pt.analytic)})
			}
		}
		name := s.setting
		if named {
			name = s.variant + " " + s.setting
		}
		var thumbs []plot.Thumbnailer
		if len(line) > 0 {
			l, sc, err := plotter.NewLinePoints(line)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = col, vg.Points(1.5)
			sc.Color, sc.Shape, sc.Radius = col, draw.CircleGlyph{}, vg.Points(2.2)
			p.Add(l, sc)
			e, err := plotter.NewYErrorBars(bars)
			if err != nil {
				return nil, err
			}
			e.Color, e.Width, e.CapWidth = col, vg.Points(1), vg.Points(4)
			p.Add(e)
			for _, t := range tails {
				l, err := plotter.NewLine(t)
				if err != nil {
					return nil, err
				}
				l.Color, l.Width = col, vg.Points(1)
				p.Add(l)
			}
			thumbs = append(thumbs, l, sc)
		}
		if len(zero) > 0 {
			sc, err := plotter.NewScatter(zero)
			if err != nil {
				return nil, err
			}
			sc.Color, sc.Shape, sc.Radius = col, downTriangle{}, vg.Points(3)
			p.Add(sc)
			zeros = true
			if len(thumbs) == 0 {
				thumbs = append(thumbs, sc)
			}
		}
		if len(ana) > 0 {
			l, err := plotter.NewLine(ana)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width, l.Dashes = col, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(2.5)}
			p.Add(l)
			analytic = s.formula
		}
		p.Legend.Add(name, thumbs...)
	}
	if zeros {
		p.Legend.Add("no clash seen (upper bound)", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: refColor(), Shape: downTriangle{}, Radius: vg.Points(3)}})
	}
	switch {
	case analytic != "":
		p.Legend.Add("analytic "+analytic, thumb(refColor(), []vg.Length{vg.Points(4), vg.Points(2.5)}))
	case pn.why != "":
		p.Legend.Add("no analytic line: "+pn.why, noThumb{})
	}
	// The shared ranges, set last: adding a plotter widens the axes to
	// its data, which lines below the axis would.
	logAxis(&p.Y, d.ymin, d.ymax)
	p.X.Min, p.X.Max = log10(d.xmin), log10(d.xmax)
	if analytic != "" && allBelow(pn, d.ymin) {
		p.Legend.Add(fmt.Sprintf("(analytic below %s)", tickLabel(d.ymin)), noThumb{})
	}
	return p, nil
}

// allBelow reports whether every analytic share of a panel lies below
// the axis.
func allBelow(pn clashPanel, ymin float64) bool {
	for _, s := range pn.series {
		for _, p := range s.points {
			if p.analytic >= ymin {
				return false
			}
		}
	}
	return true
}

// noThumb is a legend entry without a thumbnail: a note.
type noThumb struct{}

// Thumbnail implements plot.Thumbnailer by drawing nothing.
func (noThumb) Thumbnail(*draw.Canvas) {}

// downTriangle is an open triangle pointing down: a value at most this.
type downTriangle struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (downTriangle) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.2)})
	r := sty.Radius
	var path vg.Path
	path.Move(vg.Point{X: pt.X - r, Y: pt.Y + r*0.6})
	path.Line(vg.Point{X: pt.X + r, Y: pt.Y + r*0.6})
	path.Line(vg.Point{X: pt.X, Y: pt.Y - r*1.1})
	path.Close()
	c.Stroke(path)
}

// ClashAnalytic returns the analytic share of SYNs that clash, x·p (see
// ClashShareVsRate), for runs of one allocator variant at one setting and
// rate, with p's inputs counted over all of them; false when the variant
// has none or the runs are not of one rate with the race.
func ClashAnalytic(runs []results.Run) (float64, bool) {
	ptrs := make([]*results.Run, 0, len(runs))
	for i := range runs {
		if runs[i].Setup.CPUs <= 1 || runs[i].Setup.RatePerSec != runs[0].Setup.RatePerSec {
			return 0, false
		}
		ptrs = append(ptrs, &runs[i])
	}
	if len(ptrs) == 0 {
		return 0, false
	}
	s, _ := clashSeriesOf(ptrs)
	if len(s.points) != 1 || math.IsNaN(s.points[0].analytic) {
		return 0, false
	}
	return s.points[0].analytic, true
}
