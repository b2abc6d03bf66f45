package chart

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"html"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testRuns returns a small hand-made rate sweep: two allocators, rates
// 300 to 800 per second, two seeds, one destination with 28,232 ports
// and a 60 s TIME_WAIT (knee 470.5/s, docs/figures.md#t4-ports-per-time_wait). The failure
// fraction follows the analytic 1 − knee/λ plus a little seed noise;
// every distribution the charts read is filled.
func testRuns() []results.Run {
	var runs []results.Run
	rng := rand.New(rand.NewPCG(1, 2))
	setup := results.Setup{
		Range: "32768-60999", Ports: 28232, TimeWaitNS: int64(60 * time.Second),
		Scope: "4-tuple", Sources: 1, Destinations: 1, Path: "connect", Close: "client", Arrivals: "constant",
	}
	for _, alloc := range []string{"linux", "random"} {
		for _, rate := range []float64{300, 400, 500, 600, 700, 800} {
			for seed := range 2 {
				s := setup
				s.RatePerSec = rate
				r := results.Run{
					Suite: "t4", Scenario: "exhaustion", Labels: map[string]string{"rate": strconv.Itoa(int(rate))},
					Allocator: alloc, Seed: uint64(seed + 1), Replicate: seed, Setup: s,
					SimulatedNS: int64(600 * time.Second), FirstFailureNS: -1,
					PrematureNS: int64(60 * time.Second),
					PortUsage:   results.NewPortHist(32768, 60999, 64),
					Occupancy:   results.NewSeries(10 * time.Second),
				}
				r.Attempts = int64(rate * 600)
				ff := math.Max(0, 1-s.Bound().Rate/rate)
				if ff > 0 {
					ff += 0.01 * (rng.Float64() - 0.5)
				}
				r.Failures = int64(ff * float64(r.Attempts))
				r.Successes = r.Attempts - r.Failures
				for i := range 2000 {
					probes := uint64(1)
					if alloc == "linux" {
						probes = uint64(1 + i%7)
						if ff > 0 && i%3 == 0 {
							probes = uint64(1000 + rng.IntN(20000))
						}
					} else if ff > 0 {
						probes = uint64(1 + rng.IntN(200))
					}
					r.Probes.Record(probes)
					r.ProbesOK.Record(probes)
					port := uint16(32768 + rng.IntN(28232))
					if alloc == "linux" {
						port = uint16(32768 + (i*2)%28232)
					}
					r.PortUsage.Record(port)
					// Reuse after TIME_WAIT, and for random a few early.
					iv := 60e9 + rng.Float64()*30e9
					if alloc == "random" && i%50 == 0 {
						iv = rng.Float64() * 5e9
					}
					r.ReuseInterval.Record(uint64(iv))
					if alloc == "linux" {
						r.SuccDiff.Record(2 * (1 + rng.IntN(8)))
					} else {
						r.SuccDiff.Record(rng.IntN(28232) - 14116)
					}
				}
				for t := range 60 {
					est := uint32(20 + rng.IntN(5))
					tw := uint32(min(float64(t)*10*rate, 28232))
					r.Occupancy.Add(est, tw)
				}
				runs = append(runs, r)
			}
		}
	}
	return runs
}

// windowRuns returns runs of the random-window allocator with the window
// size as a parameter and a Linux run without it (docs/figures.md#t1-cloudflare-2024).
func windowRuns() []results.Run {
	var runs []results.Run
	for _, w := range []int{500, 1000, 5000, 10000} {
		for seed := range 3 {
			runs = append(runs, results.Run{
				Scenario: "t1", Allocator: "random-window", Params: map[string]string{"window": strconv.Itoa(w)},
				Seed: uint64(seed), Replicate: seed, Attempts: 56512,
				Failures: int64(868*500/w + seed), FirstFailureNS: -1,
			})
		}
	}
	runs = append(runs, results.Run{Scenario: "t1", Allocator: "linux", Attempts: 56512, FirstFailureNS: -1})
	return runs
}

// testAttempts returns a Cloudflare-style log (docs/figures.md#t1-cloudflare-2024): even
// ports first with few probes, then odd ports each probing past the
// occupied even half, then a few failures and zero-probe attempts.
func testAttempts() []results.Attempt {
	src := netip.MustParseAddr("10.0.0.1")
	dst := netip.MustParseAddrPort("192.0.2.1:80")
	var out []results.Attempt
	n := 3000
	for i := range n {
		a := results.Attempt{At: time.Duration(i) * time.Millisecond,
			Flow: allocator.Flow{Path: allocator.Connect, Src: src, Dst: dst}, OK: true}
		if i < n/2 {
			a.Port, a.Probes = uint16(10000+2*i), 1+i%3
		} else {
			a.Port, a.Probes = uint16(10001+2*(i-n/2)), n/2+i%5
		}
		out = append(out, a)
	}
	out = append(out, results.Attempt{Flow: allocator.Flow{Path: allocator.Connect}, Probes: 3000})
	out = append(out, results.Attempt{Flow: allocator.Flow{Path: allocator.Connect}, Port: 10, Probes: 0, OK: true})
	return out
}

func TestChartsRender(t *testing.T) {
	dir := t.TempDir()
	runs := testRuns()
	charts := append(Charts(), ErrorsByLabel("window"))
	// What each chart must show of testRuns (or windowRuns,
	// prefillRuns): its legend entries and axis ranges (NaN: not
	// checked).
	nan := math.NaN()
	want := map[string]struct {
		legend                 []string
		xmin, xmax, ymin, ymax float64
	}{
		"failure-vs-rate":    {[]string{"linux", "random", "analytic, knee 470.5/s", "knee"}, 300, 800, 0, nan},
		"probes-cdf":         {[]string{"linux", "random"}, 0, nan, 0, 1},
		"reuse-interval-cdf": {[]string{"linux", "random", "2·MSL = 60 s"}, nan, nan, 0, 1},
		"occupancy":          {[]string{"linux", "random"}, nan, nan, nan, nan},
		"succ-diff":          {[]string{"linux (0% beyond ±128)", "random (99.12% beyond ±128)"}, -129, 129, nan, nan},
		"port-usage":         {[]string{"linux (32768–60999)", "random (32768–60999)", "even spread"}, 0, 1, 0, nan},
		"failure-vs-prefill": {nil, nan, nan, nan, nan},
		// 99 % of connects in 50 µs, 1 % a second later after a clash:
		// x from the 1st percentile's decade (10 µs), y (the share
		// slower) from the decade below half a connect of 2,000 to 1.
		"connect-latency-cdf": {[]string{"linux", "random"}, -5, nan, -4, 0},
		"errors-by-window":    {[]string{"random-window", "869", "44"}, -0.5, 3.5, 0, nan},
		// One variant of the SNAT race (TestClashShareVsRate checks more).
		"clash-share-vs-rate": {[]string{"2 CPUs, delay exp:5us", "4 CPUs, delay exp:50us", "analytic x (one hashed start)"}, math.Log10(80), math.Log10(500), -4, -1},
	}
	for _, c := range charts {
		t.Run(c.Name, func(t *testing.T) {
			// Charts of distributions show one sweep point.
			in := results.Select(runs, func(r *results.Run) bool { return r.Labels["rate"] == "800" })
			switch {
			case c.Name == "failure-vs-rate":
				in = runs
			case strings.HasPrefix(c.Name, "errors-by-"):
				in = windowRuns()
			case c.Name == "failure-vs-prefill":
				in = prefillRuns()
			case c.Name == "clash-share-vs-rate":
				in = results.Select(raceRuns(), func(r *results.Run) bool { return r.Params["random"] == "true" && r.Allocator == "netfilter-rover" })
			case c.Name == "connect-latency-cdf":
				for i := range in {
					h := &results.Hist{}
					h.RecordN(50_000, 990)
					h.RecordN(1_000_050_000, 10)
					in[i].ConnectLatency = h
				}
			}
			f, err := c.Figure(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Panels) != 1 {
				t.Fatalf("%d panels for %d allocators, want 1", len(f.Panels), 2)
			}
			p := f.Panels[0]
			w, ok := want[c.Name]
			if !ok {
				t.Fatalf("no expectation for chart %s", c.Name)
			}
			texts := svgTexts(t, f)
			for _, l := range w.legend {
				if !slices.Contains(texts, l) {
					t.Errorf("legend lacks %q; texts %q", l, texts)
				}
			}
			for _, ax := range []struct {
				name      string
				got, want float64
			}{{"x min", p.X.Min, w.xmin}, {"x max", p.X.Max, w.xmax}, {"y min", p.Y.Min, w.ymin}, {"y max", p.Y.Max, w.ymax}} {
				if !math.IsNaN(ax.want) && math.Abs(ax.got-ax.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", ax.name, ax.got, ax.want)
				}
			}
			if err := c.Render(in, dir, "", "png", "svg"); err != nil {
				t.Fatal(err)
			}
			for _, ext := range []string{".png", ".svg"} {
				if _, err := os.Stat(filepath.Join(dir, c.Name+ext)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, c := range AttemptCharts() {
		if err := c.Render(testAttempts(), dir, ""); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	if out := os.Getenv("PORTSIM_CHART_DIR"); out != "" {
		// Keep the images to look at: PORTSIM_CHART_DIR=DIR go test.
		for _, c := range charts {
			in := runs
			if strings.HasPrefix(c.Name, "errors-by-") {
				in = windowRuns()
			}
			if c.Name == "failure-vs-prefill" {
				in = prefillRuns()
			}
			if c.Name == "clash-share-vs-rate" {
				in = raceRuns()
			}
			if err := c.Render(in, out, "", "png"); err != nil {
				t.Error(err)
			}
		}
		for _, c := range AttemptCharts() {
			if err := c.Render(testAttempts(), out, "", "png"); err != nil {
				t.Error(err)
			}
		}
	}
}

// svgTexts returns the text elements of f drawn as SVG, in order.
func svgTexts(t *testing.T, f Figure) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteFigure(&buf, f, "svg"); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(buf.String(), -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// TestSmallMultiples draws failure-vs-rate for every allocator of the
// palette: it must come as one panel per family, titled by the family,
// each listing exactly the family's allocators, with the same axis
// ranges, and each allocator in its palette colour in this chart and in
// another.
func TestSmallMultiples(t *testing.T) {
	base := results.Select(testRuns(), func(r *results.Run) bool { return r.Allocator == "linux" })
	var runs []results.Run
	for _, fam := range Palette() {
		for _, m := range fam.Members {
			for _, r := range base {
				r.Allocator = m.Allocator
				runs = append(runs, r)
			}
		}
	}
	oneRate := results.Select(runs, func(r *results.Run) bool { return r.Labels["rate"] == "800" })
	for _, c := range []Chart{FailureVsRate(), ProbesCDF()} {
		in := runs
		if c.Name == "probes-cdf" {
			in = oneRate // one line per allocator
		}
		f, err := c.Figure(in)
		if err != nil {
			t.Fatal(err)
		}
		fams := Palette()
		if len(f.Panels) != len(fams) {
			t.Fatalf("%s: %d panels, want %d (one per family)", c.Name, len(f.Panels), len(fams))
		}
		for i, p := range f.Panels {
			if p.Title.Text != fams[i].Name {
				t.Errorf("%s: panel %d titled %q, want %q", c.Name, i, p.Title.Text, fams[i].Name)
			}
			if p.X.Min != f.Panels[0].X.Min || p.X.Max != f.Panels[0].X.Max || p.Y.Min != f.Panels[0].Y.Min || p.Y.Max != f.Panels[0].Y.Max {
				t.Errorf("%s: panel %d axes [%v,%v]x[%v,%v] differ from panel 0's", c.Name, i, p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
			}
			one := Figure{Panels: []*plot.Plot{p}}
			texts := svgTexts(t, one)
			n := 0
			for _, other := range fams {
				for _, m := range other.Members {
					has := slices.Contains(texts, m.Allocator)
					if has {
						n++
					}
					if has != (other.Name == fams[i].Name) {
						t.Errorf("%s: panel %q shows %s: %v", c.Name, fams[i].Name, m.Allocator, has)
					}
				}
			}
			if n > MaxSeries {
				t.Errorf("%s: panel %q has %d series, more than %d", c.Name, fams[i].Name, n, MaxSeries)
			}
		}
		var buf bytes.Buffer
		if err := WriteFigure(&buf, f, "svg"); err != nil {
			t.Fatal(err)
		}
		for _, fam := range fams {
			for _, m := range fam.Members {
				c := m.Style.Color
				hex := fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B)
				if !strings.Contains(strings.ToUpper(buf.String()), hex) {
					t.Errorf("%s: no stroke in %s's colour %s", f.Title, m.Allocator, hex)
				}
			}
		}
	}
}

// TestChartsEmpty checks that every chart given nothing to draw — no
// runs, runs with empty histograms, runs whose metrics are all undefined
// — returns an error wrapping ErrNoData instead of panicking or drawing
// a broken image.
func TestChartsEmpty(t *testing.T) {
	empty := []results.Run{{Allocator: "a", FirstFailureNS: -1}, {Allocator: "b", FirstFailureNS: -1}}
	// Rated runs that made no attempt: the failure fraction is undefined.
	noAttempts := []results.Run{{Allocator: "a", Setup: results.Setup{RatePerSec: 100, Ports: 10, TimeWaitNS: 1e9}}}
	inputs := map[string][]results.Run{"nil": nil, "empty histograms": empty, "no attempts": noAttempts}
	charts := append(Charts(), ErrorsByLabel("window"))
	for _, c := range charts {
		for what, in := range inputs {
			p, err := c.Draw(in)
			if !errors.Is(err, ErrNoData) {
				t.Errorf("%s on %s: plot %v, error %v; want ErrNoData", c.Name, what, p != nil, err)
			} else if !strings.Contains(err.Error(), c.Name) {
				t.Errorf("%s on %s: error %q does not name the chart", c.Name, what, err)
			}
		}
	}
	for _, c := range AttemptCharts() {
		if _, err := c.Draw(nil); !errors.Is(err, ErrNoData) {
			t.Errorf("%s on no attempts: error %v, want ErrNoData", c.Name, err)
		}
	}
}

// TestChartsZeroValues checks the log-axis charts on data that is all
// zero (allocations that probed nothing, reuse at the same instant),
// which a log scale cannot show and must not panic on.
func TestChartsZeroValues(t *testing.T) {
	r := results.Run{Allocator: "fifo", FirstFailureNS: -1}
	r.Probes.RecordN(0, 10)
	r.ReuseInterval.RecordN(0, 5)
	for _, c := range []Chart{ProbesCDF(), ReuseIntervalCDF()} {
		p, err := c.Draw([]results.Run{r})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if err := Write(&bytes.Buffer{}, p, "svg"); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	var zeros []results.Attempt
	for range 10 {
		zeros = append(zeros, results.Attempt{Port: 7, OK: true})
	}
	p, err := ProbesByIndex().Draw(zeros)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(&bytes.Buffer{}, p, "png"); err != nil {
		t.Error(err)
	}
}

func TestCaptions(t *testing.T) {
	seen := map[string]bool{}
	check := func(name, title, caption string) {
		if name == "" || title == "" {
			t.Errorf("chart %q: name and title must be set", name)
		}
		if seen[name] {
			t.Errorf("chart name %q used twice", name)
		}
		seen[name] = true
		if strings.TrimSpace(caption) == "" || !strings.HasSuffix(caption, ".") || strings.Count(caption, ". ") > 0 {
			t.Errorf("chart %s: caption %q should be one sentence", name, caption)
		}
	}
	for _, c := range append(Charts(), ErrorsByLabel("window")) {
		check(c.Name, c.Title, c.Caption)
	}
	for _, c := range AttemptCharts() {
		check(c.Name, c.Title, c.Caption)
	}
}

func TestLookup(t *testing.T) {
	for _, c := range Charts() {
		got, err := Lookup(c.Name)
		if err != nil || got.Name != c.Name {
			t.Errorf("Lookup(%q) = %q, %v", c.Name, got.Name, err)
		}
	}
	if c, err := Lookup("errors-by-window"); err != nil || c.Name != "errors-by-window" {
		t.Errorf("Lookup(errors-by-window) = %q, %v", c.Name, err)
	}
	_, err := Lookup("probe-cdf")
	if err == nil || !strings.Contains(err.Error(), `did you mean "probes-cdf"`) {
		t.Errorf("Lookup(probe-cdf) error = %v, want a suggestion", err)
	}
}

// TestGroupSeries checks the series of the package doc: allocator and
// parameters, varying labels, the scenario when there are several, and
// the x-axis key left out.
func TestGroupSeries(t *testing.T) {
	runs := []results.Run{
		{Scenario: "s", Allocator: "linux", Labels: map[string]string{"rate": "100", "ips": "1"}},
		{Scenario: "s", Allocator: "linux", Labels: map[string]string{"rate": "200", "ips": "1"}, Replicate: 1},
		{Scenario: "s", Allocator: "rw", Params: map[string]string{"window": "500"}, Labels: map[string]string{"rate": "100", "ips": "1"}},
		{Scenario: "s", Allocator: "linux", Labels: map[string]string{"rate": "100", "ips": "2"}},
	}
	tests := []struct {
		name    string
		runs    []results.Run
		exclude func(string) bool
		want    []string
		sizes   []int
	}{
		{"rate excluded", runs, func(k string) bool { return k == "rate" },
			[]string{"linux ips=1", "rw[window=500] ips=1", "linux ips=2"}, []int{2, 1, 1}},
		{"all labels", runs, nil,
			[]string{"linux ips=1 rate=100", "linux ips=1 rate=200", "rw[window=500] ips=1 rate=100", "linux ips=2 rate=100"}, []int{1, 1, 1, 1}},
		{"param excluded", runs[2:3], func(k string) bool { return k == "window" }, []string{"rw"}, []int{1}},
		{"scenarios", []results.Run{{Scenario: "a", Allocator: "x"}, {Scenario: "b", Allocator: "x"}}, nil,
			[]string{"a x", "b x"}, []int{1, 1}},
	}
	for _, tt := range tests {
		got := groupSeries(tt.runs, tt.exclude)
		var names []string
		var sizes []int
		for _, s := range got {
			names = append(names, s.name)
			sizes = append(sizes, len(s.runs))
		}
		if strings.Join(names, "|") != strings.Join(tt.want, "|") || len(sizes) != len(tt.sizes) {
			t.Errorf("%s: series %q, want %q", tt.name, names, tt.want)
			continue
		}
		for i := range sizes {
			if sizes[i] != tt.sizes[i] {
				t.Errorf("%s: series %q has %d runs, want %d", tt.name, names[i], sizes[i], tt.sizes[i])
			}
		}
	}
	if keys := rateLabels(testRuns()); !keys["rate"] || len(keys) != 1 {
		t.Errorf("rateLabels = %v, want only rate", keys)
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		labels string
	}{
		{1, 100000, "1 10 100 1000 10000 100000"},
		{1, 20, "1 2 5 10 20"},
		{0.001, 0.05, "0.001 0.002 0.005 0.01 0.02 0.05"},
		{0.001, 0.1, "0.001 0.01 0.1"},
		{1e5, 1e8, "100000 1e6 1e7 1e8"},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range (logTicks{}).Ticks(math.Log10(tt.lo), math.Log10(tt.hi)) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != tt.labels {
			t.Errorf("ticks of [%v, %v] labelled %q, want %q", tt.lo, tt.hi, strings.Join(got, " "), tt.labels)
		}
	}
	if ticks := (logTicks{}).Ticks(math.Inf(-1), 1); ticks != nil {
		t.Errorf("range from 0 gave ticks %v", ticks)
	}
}

// TestFailureVsRateGolden compares the SVG of failure-vs-rate with a
// golden file; SVG output is byte-stable (gonum.org/v1/plot/vg/vgsvg writes no timestamps; only the PDF backend does).
// Regenerate with -update after a deliberate change or a gonum/plot
// upgrade, and look at the result.
func TestFailureVsRateGolden(t *testing.T) {
	p, err := FailureVsRate().Draw(testRuns())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, p, "svg"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "failure-vs-rate.svg")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("SVG differs from %s (%d bytes, want %d); rerun with -update if the change is deliberate", path, buf.Len(), len(want))
	}
	// Drawing twice gives the same bytes.
	var again bytes.Buffer
	if err := Write(&again, p, "svg"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("drawing the same plot twice gave different SVG")
	}
}

func TestSaveErrors(t *testing.T) {
	p, err := FailureVsRate().Draw(testRuns())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Save(p, dir, "x", "pdf"); err == nil || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("pdf: error = %v, want an unsupported format", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("failed save left %d files", len(entries))
	}
	if err := Save(p, dir, "x"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"x.png", "x.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("default formats: %v", err)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		labels string
	}{
		{0, 1, "0.0 0.2 0.4 0.6 0.8 1.0"},
		{0, 0.44, "0.0 0.1 0.2 0.3 0.4"},
		{300, 800, "300 400 500 600 700 800"},
		{-129, 129, "-100 -50 0 50 100"},
		{32768, 61000, "35000 40000 45000 50000 55000 60000"},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range (niceTicks{}).Ticks(tt.lo, tt.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != tt.labels {
			t.Errorf("ticks of [%v, %v] labelled %q, want %q", tt.lo, tt.hi, strings.Join(got, " "), tt.labels)
		}
	}
}

// svgText renders p as SVG and returns it, to look for legend text.
func svgText(t *testing.T, pl *plot.Plot) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, pl, "svg"); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestFailureVsRateSeries checks that a label varying apart from the
// rate splits series and that each distinct setup gets its own knee:
// one source IP gives 28232/60 = 470.5/s, two give 941.1/s (docs/figures.md#t4-ports-per-time_wait).
func TestFailureVsRateSeries(t *testing.T) {
	runs := testRuns()
	for _, r := range testRuns() {
		r.Labels = map[string]string{"rate": r.Labels["rate"], "ips": "2"}
		r.Setup.Sources = 2
		runs = append(runs, r)
	}
	for i := range runs[:len(runs)/2] {
		runs[i].Labels["ips"] = "1"
	}
	p, err := FailureVsRate().Draw(runs)
	if err != nil {
		t.Fatal(err)
	}
	svg := svgText(t, p)
	for _, want := range []string{"linux ips=1", "linux ips=2", "random ips=2", "analytic, knee 470.5/s", "analytic, knee 941.1/s", "knee"} {
		if !strings.Contains(svg, want) {
			t.Errorf("legend lacks %q", want)
		}
	}
	if strings.Contains(svg, "rate=") {
		t.Error("the rate label, already on the x axis, splits series")
	}
}

// TestErrorsByLabelSeries checks bars for two series, one of which lacks
// a value, and the numeric order of the values.
func TestErrorsByLabelSeries(t *testing.T) {
	runs := windowRuns()
	for _, w := range []string{"1000", "50"} {
		runs = append(runs, results.Run{Allocator: "other", Labels: map[string]string{"window": w}, Failures: 7})
	}
	p, err := ErrorsByLabel("window").Draw(runs)
	if err != nil {
		t.Fatal(err)
	}
	svg := svgText(t, p)
	for _, want := range []string{"random-window", "other", ">50<", ">869<", ">7<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if i, j := strings.Index(svg, ">50<"), strings.Index(svg, ">500<"); i < 0 || j < 0 || i > j {
		t.Error("window values not in numeric order")
	}
}

// TestPaletteCoversRegistry checks that every built-in allocator has its
// fixed style and family, so none falls into the fallback panel, and that
// no family has more members than a panel shows.
func TestPaletteCoversRegistry(t *testing.T) {
	st := newStyler()
	for _, s := range allocator.Registry() {
		if f := st.family(s.Name); f == otherFamily {
			t.Errorf("allocator %s has no place in Palette (results/chart/palette.go)", s.Name)
		}
	}
	for _, f := range Palette() {
		if len(f.Members) > MaxSeries {
			t.Errorf("family %q has %d members, more than a panel's %d", f.Name, len(f.Members), MaxSeries)
		}
	}
}

// TestConnectLatencyTail checks the tail the connect-latency chart draws:
// with 99 % of connects in 50 µs and 1 % after a 1 s retransmission, the
// share slower than x is 1 below 50 µs, 1 % from there to 1 s, and 0
// after the last connect.
func TestConnectLatencyTail(t *testing.T) {
	h := &results.Hist{}
	h.RecordN(50_000, 990)
	h.RecordN(1_000_050_000, 10)
	pts := tailPoints(h, 1e-9)
	at := func(x float64) float64 { // the step function's value at x
		y := 1.0
		for _, p := range pts {
			if p.X > x {
				break
			}
			y = p.Y
		}
		return y
	}
	for _, c := range []struct{ x, want float64 }{{1e-6, 1}, {1e-4, 0.01}, {0.5, 0.01}, {1.1, 0}} {
		if got := at(c.x); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("share slower than %g s = %g, want %g (points %v)", c.x, got, c.want, pts)
		}
	}
}
