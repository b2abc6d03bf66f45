package compare

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// MaxChartRows is the most cells one change chart shows: the largest
// significant changes first.
const MaxChartRows = 30

// ChartRows returns the rows a change chart of t shows: the significant
// changes with a finite relative change, largest magnitude first, at most
// MaxChartRows, and how many significant rows were left out (those with
// an infinite change, from a baseline of 0, and those beyond the cap).
func ChartRows(t Table) (rows []Row, left int) {
	for _, r := range t.Rows {
		if r.Verdict == "~" || r.Verdict == "?" || r.Verdict == "undefined" {
			continue
		}
		if math.IsInf(r.Delta, 0) || math.IsNaN(r.Delta) {
			left++
			continue
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return cmp.Compare(math.Abs(b.Delta), math.Abs(a.Delta)) })
	if len(rows) > MaxChartRows {
		left += len(rows) - MaxChartRows
		rows = rows[:MaxChartRows]
	}
	return rows, left
}

// Chart draws the significant changes of t: one row per cell, a dot at
// the relative change in percent with the 95 % interval of the
// difference (relative to side A's mean) as a bar, green where the
// change is better, red where it is worse, grey where the metric has no
// better direction. It returns nil when t has no significant finite
// change.
func Chart(t Table, nameA, nameB string) *plot.Plot {
	rows, left := ChartRows(t)
	if len(rows) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s vs %s, significant changes", t.Metric, nameB, nameA)
	if left > 0 {
		p.Title.Text += fmt.Sprintf(" (%d more not shown)", left)
	}
	p.X.Label.Text = "change (%) with 95 % interval"
	names := make([]string, len(rows))
	for i, r := range rows {
		// The first row at the top.
		names[len(rows)-1-i] = r.Cell
	}
	p.NominalY(names...)
	p.Y.Padding = vg.Points(4)
	p.Add(plotter.NewGrid())
	for i, r := range rows {
		y := float64(len(rows) - 1 - i)
		x := 100 * r.Delta
		half := 100 * r.DiffCI95 / math.Abs(r.A.Mean)
		col := color.RGBA{110, 110, 110, 255}
		switch r.Verdict {
		case "better":
			col = color.RGBA{0, 130, 60, 255}
		case "worse":
			col = color.RGBA{200, 30, 30, 255}
		}
		if !math.IsNaN(half) && half > 0 {
			bar, err := plotter.NewLine(plotter.XYs{{X: x - half, Y: y}, {X: x + half, Y: y}})
			if err == nil {
				bar.Color = col
				bar.Width = vg.Points(2)
				p.Add(bar)
			}
		}
		dot, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
		if err == nil {
			dot.Color = col
			dot.Shape = draw.CircleGlyph{}
			dot.Radius = vg.Points(3)
			p.Add(dot)
		}
	}
	// A vertical line at no change.
	zl, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -0.5}, {X: 0, Y: float64(len(rows)) - 0.5}})
	if err == nil {
		zl.Color = color.Black
		zl.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(zl)
	}
	return p
}

// ChartSize returns the size of a change chart of n rows: 7 inches wide,
// a quarter inch per row plus room for title and axis.
func ChartSize(n int) (w, h vg.Length) {
	return 7 * vg.Inch, vg.Length(n)*vg.Inch/4 + 1.2*vg.Inch
}

// WriteChart renders p, a change chart of n rows, as "png" (150 dpi) or
// "svg" to w.
func WriteChart(w io.Writer, p *plot.Plot, n int, format string) error {
	width, height := ChartSize(n)
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(150))}
	case "svg":
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("chart format %q: expected png or svg", format)
	}
	p.Draw(draw.New(c))
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("writing %s: %w", format, err)
	}
	return nil
}
