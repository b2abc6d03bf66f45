package chart

import (
	"fmt"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// MaxScatterPoints is the most attempts a per-attempt scatter draws;
// longer logs are thinned to every k-th attempt, and the x axis label
// says so.
const MaxScatterPoints = 20000

// AttemptChart is a named chart drawn from a per-attempt event log
// (results.ReadEvents), for the published-figure suites.
type AttemptChart struct {
	// Name identifies the chart and is its default file base name.
	Name string
	// Title is the chart's title.
	Title string
	// Caption is one sentence for the report saying what the chart shows.
	Caption string
	// Draw builds the chart from the attempts of one run, in log order.
	// It returns an error wrapping ErrNoData when there are none.
	Draw func(attempts []results.Attempt) (*plot.Plot, error)
}

// Render draws c from attempts and saves it in dir as base.png and
// base.svg (or the given formats; see Save). An empty base means c.Name.
func (c AttemptChart) Render(attempts []results.Attempt, dir, base string, formats ...string) error {
	p, err := c.Draw(attempts)
	if err != nil {
		return err
	}
	if base == "" {
		base = c.Name
	}
	return Save(p, dir, base, formats...)
}

// AttemptCharts returns the charts drawn from an event log. Each call
// returns a new slice.
func AttemptCharts() []AttemptChart {
	return []AttemptChart{ProbesByIndex()}
}

// ProbesByIndex returns the probes-by-index chart: a scatter of the
// probes of each attempt against its index in the log (from 1), on a log
// y axis, coloured by the parity of the port allocated, with failed
// attempts apart (docs/figures.md#t1-cloudflare-2024, after Cloudflare's figures 5, 7 and 8).
// Attempts with 0 probes cannot sit on a log axis; the legend counts
// them.
func ProbesByIndex() AttemptChart {
	return AttemptChart{
		Name:  "probes-by-index",
		Title: "Candidate ports checked per connection",
		Caption: "Candidate ports checked by each connection attempt in order, coloured by the parity of the port " +
			"it got (failed attempts in grey), on a log scale.",
		Draw: drawProbesByIndex,
	}
}

func drawProbesByIndex(attempts []results.Attempt) (*plot.Plot, error) {
	const name = "probes-by-index"
	if len(attempts) == 0 {
		return nil, noData(name, "no attempts in the event log")
	}
	stride := (len(attempts) + MaxScatterPoints - 1) / MaxScatterPoints
	xLabel := "connection attempt (index)"
	if stride > 1 {
		xLabel = fmt.Sprintf("connection attempt (index; every %d%s shown)", stride, ordinal(stride))
	}
	p := newPlot("Candidate ports checked per connection", xLabel, "candidate ports checked (log scale)")
	var groups [3]plotter.XYs // even, odd, failed
	var total, zero [3]int
	ymax := 1.0
	for i, a := range attempts {
		g := 2
		if a.OK {
			g = int(a.Port & 1)
		}
		total[g]++
		if a.Probes <= 0 {
			zero[g]++
			continue
		}
		if i%stride != 0 {
			continue
		}
		groups[g] = append(groups[g], plotter.XY{X: float64(i + 1), Y: log10(float64(a.Probes))})
		ymax = max(ymax, float64(a.Probes))
	}
	names := [3]string{"even port", "odd port", "failed"}
	colors := [3]int{0, 1, 7}
	for g, pts := range groups {
		if total[g] == 0 {
			continue
		}
		label := fmt.Sprintf("%s (%d)", names[g], total[g])
		if zero[g] > 0 {
			label = fmt.Sprintf("%s (%d; %d with 0 probes not shown)", names[g], total[g], zero[g])
		}
		if len(pts) == 0 {
			p.Legend.Add(label)
			continue
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		s.Color = okabeIto(colors[g])
		if g == 2 {
			s.Color = refColor()
			s.Shape = draw.CrossGlyph{}
			s.Radius = vg.Points(2)
		} else {
			s.Shape = draw.CircleGlyph{}
			s.Radius = vg.Points(1)
		}
		p.Add(s)
		// A larger glyph of the same style, so the legend stays legible.
		big := &plotter.Scatter{GlyphStyle: s.GlyphStyle}
		big.Radius = vg.Points(3)
		p.Legend.Add(label, big)
	}
	logAxis(&p.Y, 1, 1.3*ymax) // room above the highest glyph
	p.X.Min, p.X.Max = 0, float64(len(attempts)+1)
	return p, nil
}

// ordinal returns the English ordinal suffix of n ("st", "nd", "rd",
// "th").
func ordinal(n int) string {
	if n%100 >= 11 && n%100 <= 13 {
		return "th"
	}
	switch n % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}
