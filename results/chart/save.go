package chart

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart size and PNG resolution.
const (
	// Width and Height are the size of a saved chart.
	Width  = 7 * vg.Inch
	Height = 4.5 * vg.Inch
	// DPI is the resolution of PNG output (1050 x 675 pixels).
	DPI = 150
)

// Save writes p to dir as base.FORMAT for each format, "png" and "svg"
// (both when none is given), each file atomically. Charts are Width x
// Height; PNG at DPI dots per inch. The legend is drawn to the right of
// the data area, never over the data. SVG output is byte-for-byte
// reproducible; PDF is not offered because it embeds the time of
// writing. The directory is created if missing.
func Save(p *plot.Plot, dir, base string, formats ...string) error {
	if len(formats) == 0 {
		formats = []string{"png", "svg"}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving chart %s: %w", base, err)
	}
	for _, f := range formats {
		path := filepath.Join(dir, base+"."+f)
		if err := results.WriteFileAtomic(path, func(w io.Writer) error { return Write(w, p, f) }); err != nil {
			return fmt.Errorf("saving chart: %w", err)
		}
	}
	return nil
}

// Write renders p in format ("png" or "svg") to w, laid out as Save
// does.
func Write(w io.Writer, p *plot.Plot, format string) error {
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(Width, Height), vgimg.UseDPI(DPI))}
	case "svg":
		c = vgsvg.New(Width, Height)
	default:
		return fmt.Errorf("chart format %q: expected png or svg", format)
	}
	drawWithLegend(p, draw.New(c))
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("writing %s: %w", format, err)
	}
	return nil
}

// drawWithLegend draws p on c with its legend outside the data area: in
// a column to the right, or, for a short legend of long entries (at most
// four, wider than a third of the chart), in rows below the plot.
func drawWithLegend(p *plot.Plot, c draw.Canvas) {
	leg := p.Legend
	r := leg.Rectangle(c)
	width, height := r.Max.X-r.Min.X, r.Max.Y-r.Min.Y
	if width <= 0 {
		p.Draw(c)
		return
	}
	gap := vg.Points(8)
	empty := plot.NewLegend()
	empty.TextStyle = leg.TextStyle
	p.Legend = empty
	defer func() { p.Legend = leg }()
	side := leg
	side.Top, side.Left = true, true
	side.XOffs, side.YOffs = 0, 0

	short := height <= 4*(leg.TextStyle.Font.Size*1.3+leg.Padding) // at most about four entries
	if short && width > (c.Max.X-c.Min.X)/3 {
		p.Draw(draw.Crop(c, 0, 0, height+2*gap, 0))
		side.Draw(draw.Crop(c, 2*gap, 0, gap, -(c.Max.Y-c.Min.Y)+height+gap))
		return
	}
	p.Draw(draw.Crop(c, 0, -(width + 2*gap), 0, 0))
	top := vg.Length(0)
	if p.Title.Text != "" {
		top = p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
	}
	side.Draw(draw.Crop(c, c.Max.X-c.Min.X-width-gap, -gap, 0, -top-vg.Points(4)))
}
