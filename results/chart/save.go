package chart

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"git.sr.ht/~sbinet/gg"
	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
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
		c = newPNGCanvas(Width, Height)
	case "svg":
		c = vgsvg.New(Width, Height)
	default:
		return fmt.Errorf("chart format %q: expected png or svg", format)
	}
	drawWithLegend(p, draw.New(c), true)
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("writing %s: %w", format, err)
	}
	return nil
}

// Panel sizes of a figure of small multiples: two panels a row.
const (
	panelWidth  = 5.6 * vg.Inch
	panelHeight = 3.9 * vg.Inch
	titleHeight = 0.45 * vg.Inch
)

// FigureSize returns the size of a saved figure: Width x Height for one
// panel, else two panels of panelWidth x panelHeight a row under a title
// band.
func FigureSize(f Figure) (w, h vg.Length) {
	if len(f.Panels) <= 1 {
		return Width, Height
	}
	rows := (len(f.Panels) + 1) / 2
	return 2 * panelWidth, vg.Length(rows)*panelHeight + titleHeight
}

// SaveFigure writes f to dir as base.FORMAT for each format, "png" and
// "svg" (both when none is given), each file atomically, as Save does
// for one plot.
func SaveFigure(f Figure, dir, base string, formats ...string) error {
	if len(formats) == 0 {
		formats = []string{"png", "svg"}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving chart %s: %w", base, err)
	}
	for _, format := range formats {
		path := filepath.Join(dir, base+"."+format)
		if err := results.WriteFileAtomic(path, func(w io.Writer) error { return WriteFigure(w, f, format) }); err != nil {
			return fmt.Errorf("saving chart: %w", err)
		}
	}
	return nil
}

// WriteFigure renders f in format ("png" or "svg") to w: one panel as
// Write does, small multiples two a row under the figure's title, each
// with its legend at its right.
func WriteFigure(w io.Writer, f Figure, format string) error {
	if len(f.Panels) == 1 {
		return Write(w, f.Panels[0], format)
	}
	if len(f.Panels) == 0 {
		return fmt.Errorf("writing %s: a figure without panels", format)
	}
	width, height := FigureSize(f)
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = newPNGCanvas(width, height)
	case "svg":
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("chart format %q: expected png or svg", format)
	}
	dc := draw.New(c)
	// A white background and the title, centred in its band.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	ts := f.Panels[0].Title.TextStyle
	ts.Font.Size = vg.Points(13)
	ts.XAlign, ts.YAlign = text.XCenter, text.YCenter
	dc.FillText(ts, vg.Point{X: width / 2, Y: height - titleHeight/2}, f.Title)
	for i, p := range f.Panels {
		col, row := i%2, i/2
		x0 := vg.Length(col) * panelWidth
		y1 := height - titleHeight - vg.Length(row)*panelHeight
		sub := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x0, Y: y1 - panelHeight},
			Max: vg.Point{X: x0 + panelWidth, Y: y1},
		}}
		drawWithLegend(p, draw.Crop(sub, vg.Points(4), -vg.Points(4), vg.Points(4), -vg.Points(2)), false)
	}
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("writing %s: %w", format, err)
	}
	return nil
}

// drawWithLegend draws p on c with its legend outside the data area: in
// a column to the right, or, for a short legend of long entries (at most
// four, wider than a third of the chart), in rows below the plot.
func drawWithLegend(p *plot.Plot, c draw.Canvas, allowBelow bool) {
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
	if allowBelow && short && width > (c.Max.X-c.Min.X)/3 {
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

// pngCanvas is an image canvas whose WriteTo writes a PNG.
type pngCanvas struct{ *vgimg.Canvas }

// newPNGCanvas returns a white canvas of w x h at DPI, rounded to whole
// pixels. It makes the drawing context on the canvas's own image, set up
// as vgimg.NewWith sets up the one it makes, because vgimg.NewWith would
// copy the image (2.8 MB for a chart) into a context of its own.
func newPNGCanvas(w, h vg.Length) pngCanvas {
	px := func(l vg.Length) int { return int(l/vg.Inch*DPI + 0.5) }
	img := image.NewRGBA(image.Rect(0, 0, px(w), px(h)))
	ctx := gg.NewContextForRGBA(img)
	ctx.SetLineCapButt()
	ctx.InvertY()
	return pngCanvas{vgimg.NewWith(vgimg.UseImageWithContext(img, ctx), vgimg.UseDPI(DPI))}
}

// WriteTo writes the canvas as a PNG compressed at png.BestSpeed: on
// charts it encodes in about 30 % less time than the default level, for
// files about 3 % larger.
func (c pngCanvas) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	b := bufio.NewWriter(cw)
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(b, c.Image()); err != nil {
		return cw.n, err
	}
	err := b.Flush()
	return cw.n, err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
