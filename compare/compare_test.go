package compare

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsim/portsim/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestWelchKnownValues checks Welch's test against a hand computation:
// a = {1,2,3}, b = {4,5,6}: means 2 and 5, variances 1, standard error
// √(2/3), t = 3/√(2/3) = 3.6742, Welch–Satterthwaite df = 4, two-sided
// p = 0.02131 (as scipy.stats.ttest_ind(equal_var=False) gives), and the
// interval half-width t(0.975, 4)·√(2/3) = 2.7764·0.8165 = 2.2669.
func TestWelchKnownValues(t *testing.T) {
	p, ci := Welch([]float64{1, 2, 3}, []float64{4, 5, 6})
	if math.Abs(p-0.02131) > 5e-5 {
		t.Errorf("p = %.5f, want 0.02131", p)
	}
	if math.Abs(ci-2.2669) > 5e-4 {
		t.Errorf("95%% half-width = %.4f, want 2.2669", ci)
	}
	// Unequal variances and sizes: a = {10, 12, 14, 16}, b = {11, 11.5}:
	// va = 6.6667, vb = 0.125; se² = 1.6667 + 0.0625 = 1.7292;
	// t = (11.25 − 13)/1.3150 = −1.3308; df = 1.7292² / (1.6667²/3 +
	// 0.0625²/1) = 2.9902/0.9298 = 3.2159; p ≈ 0.2684.
	p, _ = Welch([]float64{10, 12, 14, 16}, []float64{11, 11.5})
	if math.Abs(p-0.2684) > 2e-3 {
		t.Errorf("unequal variances: p = %.4f, want about 0.2684", p)
	}
}

// TestWelchDegenerate checks the exact answers without variance and the
// refusal with fewer than two values.
func TestWelchDegenerate(t *testing.T) {
	if p, ci := Welch([]float64{7, 7, 7}, []float64{7, 7}); p != 1 || ci != 0 {
		t.Errorf("equal constants: p = %v, ci = %v; want 1, 0", p, ci)
	}
	if p, _ := Welch([]float64{7, 7, 7}, []float64{8, 8, 8}); p != 0 {
		t.Errorf("different constants: p = %v, want 0", p)
	}
	if p, ci := Welch([]float64{1}, []float64{2, 3}); !math.IsNaN(p) || !math.IsNaN(ci) {
		t.Errorf("one value on a side: p = %v, ci = %v; want NaN, NaN", p, ci)
	}
}

func TestRelChange(t *testing.T) {
	for _, c := range []struct{ a, b, want float64 }{
		{2, 3, 0.5}, {-2, -3, -0.5}, {4, 1, -0.75}, {0, 0, 0}, {5, 5, 0},
		{0, 1, math.Inf(1)}, {0, -1, math.Inf(-1)},
	} {
		if got := relChange(c.a, c.b); got != c.want {
			t.Errorf("relChange(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if !math.IsNaN(relChange(math.NaN(), 1)) {
		t.Error("relChange(NaN, 1) is not NaN")
	}
}

// run makes a run of cell (scenario, rate label, allocator) with the
// given attempts and failures.
func run(scenario, rate, alloc string, seed uint64, attempts, failures int64) results.Run {
	return results.Run{
		Scenario: scenario, Labels: map[string]string{"rate": rate},
		Allocator: alloc, Seed: seed, Replicate: int(seed),
		Attempts: attempts, Successes: attempts - failures, Failures: failures,
		FirstFailureNS: -1,
	}
}

func failureOnly(t *testing.T) Options {
	t.Helper()
	m, ok := results.LookupMetric("failure_fraction")
	if !ok {
		t.Fatal("no metric failure_fraction")
	}
	return Options{Metrics: []results.Metric{m}}
}

// TestSetsVerdicts checks the verdict of each kind of cell: a clear
// improvement, noise, an identical deterministic value, a single seed,
// and cells found on one side only.
func TestSetsVerdicts(t *testing.T) {
	var old, neu []results.Run
	for s := uint64(0); s < 3; s++ {
		// Clearly better: 30 % failures down to 1 %, seeds agree closely.
		old = append(old, run("a", "700", "linux", s, 1000, 300+int64(s)))
		neu = append(neu, run("a", "700", "linux", s, 1000, 10+int64(s)))
		// Noise: the same spread on both sides, shifted by a little.
		old = append(old, run("a", "500", "linux", s, 1000, []int64{10, 40, 20}[s]))
		neu = append(neu, run("a", "500", "linux", s, 1000, []int64{30, 15, 35}[s]))
		// Deterministic and equal.
		old = append(old, run("a", "100", "linux", s, 1000, 0))
		neu = append(neu, run("a", "100", "linux", s, 1000, 0))
		// Worse, exactly reproduced on every seed.
		old = append(old, run("b", "1", "fifo", s, 1000, 0))
		neu = append(neu, run("b", "1", "fifo", s, 1000, 5))
	}
	old = append(old, run("only-old", "1", "linux", 0, 10, 0))
	neu = append(neu, run("only-new", "1", "linux", 0, 10, 0))
	res := Sets(old, neu, "old", "new", failureOnly(t))
	if len(res.Tables) != 1 {
		t.Fatalf("%d tables, want 1", len(res.Tables))
	}
	want := map[string]string{
		"a rate=700 linux": "better",
		"a rate=500 linux": "~",
		"a rate=100 linux": "~",
		"b rate=1 fifo":    "worse",
	}
	rows := res.Tables[0].Rows
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		if w, ok := want[r.Cell]; !ok || r.Verdict != w {
			t.Errorf("cell %q: verdict %q, want %q (p=%v)", r.Cell, r.Verdict, w, r.P)
		}
	}
	if got := strings.Join(res.OnlyA, ","); got != "only-old rate=1 linux" {
		t.Errorf("OnlyA = %q", got)
	}
	if got := strings.Join(res.OnlyB, ","); got != "only-new rate=1 linux" {
		t.Errorf("OnlyB = %q", got)
	}
	b, w, _, s, u := res.Tables[0].Counts()
	if b != 1 || w != 1 || s != 2 || u != 0 {
		t.Errorf("counts better %d worse %d same %d unknown %d; want 1 1 2 0", b, w, s, u)
	}
}

// TestAllocators checks the comparison of two allocators inside one
// result set, and its errors.
func TestAllocators(t *testing.T) {
	var runs []results.Run
	for s := uint64(0); s < 3; s++ {
		runs = append(runs, run("a", "700", "linux", s, 1000, 300))
		runs = append(runs, run("a", "700", "freebsd", s, 1000, 290+int64(s)*20))
		runs = append(runs, run("a", "900", "linux", s, 1000, 450))
		w := run("a", "700", "random-window", s, 1000, 400)
		w.Params = map[string]string{"window": "500"}
		runs = append(runs, w)
		w2 := w
		w2.Params = map[string]string{"window": "1000"}
		runs = append(runs, w2)
	}
	res, err := Allocators(runs, "linux", "freebsd", failureOnly(t))
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Tables[0].Rows
	if len(rows) != 1 || rows[0].Cell != "a rate=700" || rows[0].Verdict != "~" {
		t.Errorf("rows = %+v, want one row for a rate=700, ~", rows)
	}
	if len(res.OnlyA) != 1 || res.OnlyA[0] != "a rate=900" {
		t.Errorf("OnlyA = %v, want [a rate=900]", res.OnlyA)
	}
	if _, err := Allocators(runs, "linux", "random-window", failureOnly(t)); err == nil ||
		!strings.Contains(err.Error(), "several parameter sets") {
		t.Errorf("ambiguous allocator: err = %v", err)
	}
	res, err = Allocators(runs, "linux", "random-window[window=500]", failureOnly(t))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Tables[0].Rows[0]; r.Verdict != "worse" || r.P != 0 {
		t.Errorf("linux vs random-window[window=500]: %+v, want worse with p = 0", r)
	}
	if _, err := Allocators(runs, "linx", "linux", failureOnly(t)); err == nil ||
		!strings.Contains(err.Error(), `no run of allocator "linx"`) {
		t.Errorf("unknown allocator: err = %v", err)
	}
}

// TestWriteGolden compares the text and JSON forms with golden files.
func TestWriteGolden(t *testing.T) {
	var old, neu []results.Run
	for s := uint64(0); s < 3; s++ {
		old = append(old, run("a", "700", "linux", s, 1000, 300+int64(s)))
		neu = append(neu, run("a", "700", "linux", s, 1000, 10+int64(s)))
		old = append(old, run("a", "100", "linux", s, 1000, 0))
		neu = append(neu, run("a", "100", "linux", s, 1000, 0))
	}
	old = append(old, run("a", "900", "linux", 0, 1000, 7))
	neu = append(neu, run("a", "900", "linux", 0, 1000, 9))
	neu = append(neu, run("z", "1", "linux", 0, 1000, 9))
	res := Sets(old, neu, "old", "new", failureOnly(t))
	var txt, js bytes.Buffer
	if err := WriteText(&txt, res); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js.Bytes()) {
		t.Fatalf("invalid JSON:\n%s", js.Bytes())
	}
	golden(t, "sets.txt", txt.Bytes())
	golden(t, "sets.json", js.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestChartRows checks which rows a change chart shows.
func TestChartRows(t *testing.T) {
	tb := Table{Metric: "m", Better: -1}
	for i := 0; i < MaxChartRows+5; i++ {
		tb.Rows = append(tb.Rows, Row{Cell: "c", Delta: float64(i) / 100, Verdict: "worse", A: Side{Mean: 1}})
	}
	tb.Rows = append(tb.Rows, Row{Cell: "inf", Delta: math.Inf(1), Verdict: "worse"})
	tb.Rows = append(tb.Rows, Row{Cell: "same", Delta: 9, Verdict: "~"})
	rows, left := ChartRows(tb)
	if len(rows) != MaxChartRows || left != 6 {
		t.Fatalf("%d rows shown, %d left; want %d and 6", len(rows), left, MaxChartRows)
	}
	if rows[0].Delta != float64(MaxChartRows+4)/100 {
		t.Errorf("first row has delta %v, want the largest", rows[0].Delta)
	}
	if Chart(Table{Rows: []Row{{Verdict: "~"}}}, "a", "b") != nil {
		t.Error("a table without a significant change gave a chart")
	}
	p := Chart(tb, "old", "new")
	if p == nil {
		t.Fatal("no chart")
	}
	if !strings.Contains(p.Title.Text, "(6 more not shown)") {
		t.Errorf("title %q does not say 6 more are not shown", p.Title.Text)
	}
	var png bytes.Buffer
	if err := WriteChart(&png, p, len(rows), "png"); err != nil {
		t.Fatal(err)
	}
}

// TestUndefinedBothSides checks that a metric without a value on either
// side (here the premature share of runs without reuses) is said to be
// undefined, not short of seeds.
func TestUndefinedBothSides(t *testing.T) {
	m, _ := results.LookupMetric("premature_fraction")
	var a, b []results.Run
	for s := uint64(0); s < 3; s++ {
		a = append(a, run("x", "1", "linux", s, 10, 0))
		b = append(b, run("x", "1", "linux", s, 10, 0))
	}
	res := Sets(a, b, "a", "b", Options{Metrics: []results.Metric{m}})
	if v := res.Tables[0].Rows[0].Verdict; v != "undefined" {
		t.Errorf("verdict %q, want undefined", v)
	}
	var txt bytes.Buffer
	if err := WriteText(&txt, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "undefined on both sides") || !strings.Contains(txt.String(), "1 cell: 0 better, 0 worse, 0 ~, 1 undefined") {
		t.Errorf("text:\n%s", txt.String())
	}
}
