package chart

import (
	"image/color"

	"gonum.org/v1/plot/vg"
)

// Style is how one allocator is drawn in every chart of every report: a
// colour and a dash pattern (nil for solid).
type Style struct {
	Color  color.RGBA
	Dashes []vg.Length
}

// Family is a group of allocators drawn in one panel when a chart has
// too many series for one (see MaxSeries).
type Family struct {
	// Name is the panel's title ("Linux eras").
	Name string
	// Members are the allocators of the family, with their styles.
	Members []Member
}

// Member is an allocator's fixed style.
type Member struct {
	Allocator string
	Style     Style
}

// MaxSeries is the most series a panel shows; a chart with more
// allocators is drawn as small multiples, one panel per Family, sharing
// their axes.
const MaxSeries = 8

var (
	solid   []vg.Length
	dashed  = []vg.Length{vg.Points(6), vg.Points(2)}
	dotted  = []vg.Length{vg.Points(1.5), vg.Points(2)}
	dashDot = []vg.Length{vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)}
	long    = []vg.Length{vg.Points(11), vg.Points(3)}
)

// Palette is the fixed style of every registered allocator, by family.
// Hue marks the family — blues for the Linux eras, greens for the BSDs
// and macOS, oranges and reds for the RFC 6056 algorithms, pinks for the
// netfilter NAT eras, purple, olive, black and brown for the other stacks
// — and within a family the
// shade and dash pattern tell members apart, so a line keeps its look
// from chart to chart and panel to panel:
//
//	family                 allocator      colour (RGB)     dash
//	Linux eras             linux          0,114,178        solid
//	                       linux-5.12     86,180,233       solid
//	                       linux-4.6      0,60,120         dashed
//	                       linux-4.1      60,140,200       dotted
//	                       linux-bind     20,20,110        dash-dot
//	                       linux-udp      0,160,170        long dash
//	BSDs and macOS         freebsd        0,158,115        solid
//	                       freebsd-13     0,100,60         dashed
//	                       freebsd-12     0,70,40          dotted
//	                       openbsd        110,180,50       solid
//	                       netbsd         40,130,40        dotted
//	                       macos          0,190,150        dash-dot
//	RFC 6056 algorithms    rfc6056-1      213,94,0         solid
//	                       rfc6056-2      230,159,0        solid
//	                       rfc6056-3      170,50,0         dashed
//	                       rfc6056-4      240,120,60       dotted
//	                       rfc6056-5      140,30,20        dash-dot
//	NAT gateways           netfilter      204,121,167      solid
//	                       netfilter-6.4  170,70,130       dashed
//	                       netfilter-rover 230,160,200     dotted
//	Other stacks           windows        136,34,85        solid
//	                       lwip           120,80,160       dashed
//	                       sequential     120,120,0        dashed
//	                       fifo           0,0,0            solid
//	                       random-window  140,90,40        dash-dot
//
// Allocators not listed (added from outside) take the colours of
// Okabe–Ito's palette in order of appearance, dotted.
func Palette() []Family {
	m := func(name string, r, g, b uint8, d []vg.Length) Member {
		return Member{Allocator: name, Style: Style{Color: color.RGBA{r, g, b, 255}, Dashes: d}}
	}
	return []Family{
		{Name: "Linux eras", Members: []Member{
			m("linux", 0, 114, 178, solid), m("linux-5.12", 86, 180, 233, solid), m("linux-4.6", 0, 60, 120, dashed),
			m("linux-4.1", 60, 140, 200, dotted), m("linux-bind", 20, 20, 110, dashDot), m("linux-udp", 0, 160, 170, long),
		}},
		{Name: "BSDs and macOS", Members: []Member{
			m("freebsd", 0, 158, 115, solid), m("freebsd-13", 0, 100, 60, dashed), m("freebsd-12", 0, 70, 40, dotted),
			m("openbsd", 110, 180, 50, solid),
			m("netbsd", 40, 130, 40, dotted), m("macos", 0, 190, 150, dashDot),
		}},
		{Name: "RFC 6056 algorithms", Members: []Member{
			m("rfc6056-1", 213, 94, 0, solid), m("rfc6056-2", 230, 159, 0, solid), m("rfc6056-3", 170, 50, 0, dashed),
			m("rfc6056-4", 240, 120, 60, dotted), m("rfc6056-5", 140, 30, 20, dashDot),
		}},
		{Name: "NAT gateways", Members: []Member{
			m("netfilter", 204, 121, 167, solid), m("netfilter-6.4", 170, 70, 130, dashed), m("netfilter-rover", 230, 160, 200, dotted),
		}},
		{Name: "Other stacks", Members: []Member{
			m("windows", 136, 34, 85, solid), m("lwip", 120, 80, 160, dashed),
			m("sequential", 120, 120, 0, dashed), m("fifo", 0, 0, 0, solid), m("random-window", 140, 90, 40, dashDot),
		}},
	}
}

// otherFamily is the panel of allocators outside the palette.
const otherFamily = "other allocators"

// styler hands out the styles of one chart: an allocator's palette
// style, a fallback for allocators outside it, and a different dash for
// each further series of the same allocator.
type styler struct {
	known map[string]Member
	fam   map[string]string
	extra map[string]Style
	seen  map[string]int
}

func newStyler() *styler {
	st := &styler{known: map[string]Member{}, fam: map[string]string{}, extra: map[string]Style{}, seen: map[string]int{}}
	for _, f := range Palette() {
		for _, m := range f.Members {
			st.known[m.Allocator] = m
			st.fam[m.Allocator] = f.Name
		}
	}
	return st
}

// family returns the family an allocator is drawn with.
func (st *styler) family(alloc string) string {
	if f, ok := st.fam[alloc]; ok {
		return f
	}
	return otherFamily
}

// style returns the style of the next series of alloc: its palette style
// for the first, then other hues and dashes for further series of the
// same allocator in one chart.
func (st *styler) style(alloc string) Style {
	s, ok := st.known[alloc]
	base := s.Style
	if !ok {
		b, ok := st.extra[alloc]
		if !ok {
			b = Style{Color: okabeIto(len(st.extra)), Dashes: dotted}
			st.extra[alloc] = b
		}
		base = b
	}
	n := st.seen[alloc]
	st.seen[alloc] = n + 1
	if n > 0 {
		// Further lines of one allocator (other settings) differ in
		// shade too, so that bars, which have no dashes, tell them apart;
		// the shade keeps the allocator's own hue, so variants of two
		// allocators never share a colour.
		variants := [][]vg.Length{dashed, dotted, dashDot, long, solid}
		base.Dashes = variants[(n-1)%len(variants)]
		base.Color = shade(base.Color, n)
	}
	return base
}

// shade returns variant n (from 1) of colour c: darker for odd n,
// lighter for even n, by 35 % more each pair, at most 70 %.
func shade(c color.RGBA, n int) color.RGBA {
	f := min(0.35*float64((n+1)/2), 0.7)
	mix := func(v uint8) uint8 {
		if n%2 == 1 {
			return uint8(float64(v) * (1 - f))
		}
		return uint8(float64(v) + (255-float64(v))*f)
	}
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 255}
}

// okabeIto returns colour i of the Okabe–Ito palette, which stays
// distinct for colour-blind readers, with wine for yellow.
func okabeIto(i int) color.RGBA {
	p := [...]color.RGBA{
		{0, 114, 178, 255},   // blue
		{213, 94, 0, 255},    // vermillion
		{0, 158, 115, 255},   // bluish green
		{230, 159, 0, 255},   // orange
		{204, 121, 167, 255}, // reddish purple
		{86, 180, 233, 255},  // sky blue
		{0, 0, 0, 255},       // black
		{136, 34, 85, 255},   // wine (for Okabe–Ito's yellow, too pale on white)
	}
	return p[i%len(p)]
}
