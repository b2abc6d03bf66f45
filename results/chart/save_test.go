package chart

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// TestPNGCanvasMatchesVgimg checks that the PNG canvas Write draws on
// (its own drawing context on its image, written at png.BestSpeed) gives
// the pixels of vgimg's own canvas for the same plot, and that the file
// decodes to them.
func TestPNGCanvasMatchesVgimg(t *testing.T) {
	p, err := FailureVsRate().Draw(testRuns())
	if err != nil {
		t.Fatal(err)
	}
	ref := vgimg.NewWith(vgimg.UseWH(Width, Height), vgimg.UseDPI(DPI))
	drawWithLegend(p, draw.New(ref), true)

	var buf bytes.Buffer
	if err := Write(&buf, p, "png"); err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.Image()
	if got.Bounds() != want.Bounds() || got.Bounds() != image.Rect(0, 0, 1050, 675) {
		t.Fatalf("PNG of %v, vgimg's canvas %v; want both 1050x675", got.Bounds(), want.Bounds())
	}
	diff, ink := 0, 0
	for y := range 675 {
		for x := range 1050 {
			r1, g1, b1, a1 := got.At(x, y).RGBA()
			r2, g2, b2, a2 := want.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				diff++
			}
			if r2 != 0xffff || g2 != 0xffff || b2 != 0xffff {
				ink++
			}
		}
	}
	if diff > 0 || ink < 10_000 {
		t.Errorf("%d of 1050x675 pixels differ from vgimg's canvas (%d not white)", diff, ink)
	}
}
