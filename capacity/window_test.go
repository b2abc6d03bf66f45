package capacity

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// The tests in this file use a pool small enough to follow attempt by
// attempt: 10 ports, a TIME_WAIT of 1 s, connections closed by the client
// at once (hold 0). At a constant 20 attempts per second, attempt i comes
// at i·50 ms; attempts 0–9 take the 10 ports, attempts 10–19 find none,
// and at 1 s the ports of attempts 0–9 leave TIME_WAIT (an expiry at t
// comes before an attempt at t), so attempts 20–29 succeed and 30–39 fail.
// Every second repeats this: attempt i succeeds exactly when i mod 20 < 10.

// tinyRate is the constant rate of the tiny pool, attempts per second.
const tinyRate = 20

// TestWarmupExcluded: a warm-up of 1 s holds 10 failures of 20 attempts,
// the measurement window [1 s, 1.5 s) holds attempts 20–29, which all
// succeed. The warm-up is run (30 attempts per seed) and not counted: the
// failure fraction is exactly 0 for every seed.
func TestWarmupExcluded(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	p, err := Evaluate(context.Background(), cfg, tinyRate, Options{Seed: 5, Seeds: 3, Warmup: time.Second, Measure: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := Point{Rate: tinyRate, Fractions: []float64{0, 0, 0}, Mean: 0, Upper: 0, Sustainable: true, Attempts: 3 * 30}
	if d := cmp.Diff(want, p, ignoreMetrics); d != "" {
		t.Errorf("warm-up with failures, window without (-want +got):\n%s", d)
	}
}

// TestWarmupRun: the measurement window [1.25 s, 1.75 s) holds attempts
// 25–34; 25–29 succeed only because the ports of attempts 5–9 left
// TIME_WAIT during the warm-up, and 30–34 fail because the ports freed at
// 1 s are taken again. So the fraction is exactly 5/10 with the warm-up
// run and the attempt at exactly 1.25 s counted in the window; a run that
// started at the window would see 0, one that counted the warm-up
// (10+5)/35, one that left out the attempt at 1.25 s 5/9.
func TestWarmupRun(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	p, err := Evaluate(context.Background(), cfg, tinyRate, Options{Seed: 5, Seeds: 2, Warmup: 1250 * time.Millisecond, Measure: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := Point{Rate: tinyRate, Fractions: []float64{0.5, 0.5}, Mean: 0.5, Upper: 0.5, Sustainable: false, Attempts: 2 * 35}
	if d := cmp.Diff(want, p, ignoreMetrics); d != "" {
		t.Errorf("window after a warm-up that shaped it (-want +got):\n%s", d)
	}
}

// TestEmptyWindow: at 0.5 attempts per second the only attempt before
// 2 s comes at 0, in the warm-up; a measurement window with no attempt
// has failure fraction 0 (not NaN) and is sustainable.
func TestEmptyWindow(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	p, err := Evaluate(context.Background(), cfg, 0.5, Options{Seed: 5, Seeds: 2, Warmup: time.Second, Measure: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := Point{Rate: 0.5, Fractions: []float64{0, 0}, Mean: 0, Upper: 0, Sustainable: true, Attempts: 2}
	if d := cmp.Diff(want, p, ignoreMetrics); d != "" {
		t.Errorf("window without attempts (-want +got):\n%s", d)
	}
}

// tQuantile95Nu2 is Student's t quantile at 0.95 with 2 degrees of
// freedom, from its closed form for ν = 2, t = (2p−1)·√(2/(4p(1−p))):
// 0.9·√(2/0.19) = 2.9199855803537... (tables: 2.920). The normal
// quantile, 1.645, would be far off with 3 seeds.
var tQuantile95Nu2 = 0.9 * math.Sqrt(2/0.19)

// TestConfidenceBound checks Upper against a hand computation from the
// seeds' fractions: with 3 seeds under Poisson arrivals near the knee the
// fractions differ, and Upper = mean + t(0.95, 2)·s/√3 with s the sample
// standard deviation (n − 1 in the denominator). The bound is also the
// exact threshold of Sustainable: a target equal to Upper is met, the
// next smaller float64 is not.
func TestConfidenceBound(t *testing.T) {
	if got := tQuantile95Nu2; math.Abs(got-2.919985580353726) > 1e-12 {
		t.Fatalf("closed form of t(0.95, 2) = %v", got)
	}
	cfg := small(setup(t, "linux", workload.Poisson), 10, time.Second)
	opt := Options{Seed: 11, Seeds: 3, Warmup: 2 * time.Second, Measure: 20 * time.Second}
	p, err := Evaluate(context.Background(), cfg, 9, opt)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Fractions
	if len(f) != 3 || f[0] == f[1] && f[1] == f[2] {
		t.Fatalf("fractions %v: want 3 that differ, or the bound cannot be told from the mean", f)
	}
	mean := (f[0] + f[1] + f[2]) / 3
	ss := 0.0
	for _, x := range f {
		ss += (x - mean) * (x - mean)
	}
	s := math.Sqrt(ss / 2)
	upper := mean + tQuantile95Nu2*s/math.Sqrt(3)
	if math.Abs(p.Mean-mean) > 1e-12 || math.Abs(p.Upper-upper) > 1e-12 {
		t.Errorf("fractions %v: mean %v, upper %v; want by hand %v and %v + %v·%v/√3 = %v",
			f, p.Mean, p.Upper, mean, mean, tQuantile95Nu2, s, upper)
	}
	if p.Sustainable != (p.Upper <= DefaultTarget) {
		t.Errorf("upper %v, sustainable %v at target %v", p.Upper, p.Sustainable, DefaultTarget)
	}

	// Same seeds, same fractions: Upper itself as the target is met, and
	// a target just below it is not.
	opt.Target = p.Upper
	at, err := Evaluate(context.Background(), cfg, 9, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Target = math.Nextafter(p.Upper, 0)
	below, err := Evaluate(context.Background(), cfg, 9, opt)
	if err != nil {
		t.Fatal(err)
	}
	if at.Upper != p.Upper || !at.Sustainable || below.Sustainable {
		t.Errorf("upper %v: sustainable %v at a target equal to it, %v just below; want true, false", at.Upper, at.Sustainable, below.Sustainable)
	}
}

// TestConfidenceLevel: the bound follows Options.Confidence. At 0.5 the
// t quantile is 0 and the bound is the mean; at 0.9 with 2 seeds (ν = 1,
// Cauchy) it is mean + tan(0.4π)·s/√2.
func TestConfidenceLevel(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Poisson), 10, time.Second)
	for _, tc := range []struct {
		conf, t float64
	}{
		{0.5, 0},
		{0.9, math.Tan(0.4 * math.Pi)}, // 3.0777
	} {
		p, err := Evaluate(context.Background(), cfg, 9, Options{Seed: 11, Seeds: 2, Confidence: tc.conf, Warmup: 2 * time.Second, Measure: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f := p.Fractions
		if f[0] == f[1] {
			t.Fatalf("fractions %v: want 2 that differ", f)
		}
		mean := (f[0] + f[1]) / 2
		s := math.Abs(f[0]-f[1]) / math.Sqrt(2)
		if want := mean + tc.t*s/math.Sqrt(2); math.Abs(p.Upper-want) > 1e-9 {
			t.Errorf("confidence %v, fractions %v: upper %v, want %v", tc.conf, f, p.Upper, want)
		}
	}
}

// tinyKnee is the knee of the tiny pool, 10 ports / 1 s.
const tinyKnee = 10.0

// tinyFraction is refFraction for the tiny pool.
func tinyFraction(rate float64, warm, meas time.Duration) float64 {
	return refFraction(10, time.Second, rate, warm, meas)
}

// refFraction is a reference for a pool of ports under constant arrivals
// with hold 0: it replays attempt i at i/rate (rounded to the nanosecond)
// against the pool, where a success takes a port for tw (an allocator that
// finds any free port, as Linux does; the port used longest ago is the
// first to be free again), and returns the failure fraction of the
// attempts in [warm, warm+meas).
func refFraction(ports int, tw time.Duration, rate float64, warm, meas time.Duration) float64 {
	var busy []time.Duration // when each taken port is free again, oldest first
	var n, fails int
	for i := 0; ; i++ {
		at := time.Duration(math.Round(float64(i) * 1e9 / rate))
		if at >= warm+meas {
			break
		}
		for len(busy) > 0 && busy[0] <= at {
			busy = busy[1:]
		}
		ok := len(busy) < ports
		if ok {
			busy = append(busy, at+tw)
		}
		if at >= warm {
			n++
			if !ok {
				fails++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(fails) / float64(n)
}

// TestSearchSteps follows a search of the tiny pool under constant
// arrivals step by step. It first tries knee·(1+2·0.001)/(1−0.001), just
// above the most any allocator can sustain, which fails; then 1 % below
// the knee, which holds; then bisects the bracket until it is within
// 0.2 % of its top, but not much narrower (the last halving made it so).
// Each step's failure fraction is that of the reference pool.
func TestSearchSteps(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	r, err := Search(context.Background(), cfg, Options{Seed: 1, Seeds: 2})
	if err != nil {
		t.Fatal(err)
	}
	first := tinyKnee * (1 + 2*DefaultTarget) / (1 - DefaultTarget)
	if len(r.Steps) < 3 || r.Steps[0].Rate != first || r.Steps[0].Sustainable || r.Steps[1].Rate != 0.99*tinyKnee || !r.Steps[1].Sustainable {
		t.Fatalf("steps %+v: want %v/s unsustainable, then %v/s sustainable, then bisection", r.Steps, first, 0.99*tinyKnee)
	}
	lo, hi := r.Steps[1].Rate, r.Steps[0].Rate
	for i, s := range r.Steps {
		if i >= 2 {
			if mid := (lo + hi) / 2; s.Rate != mid {
				t.Errorf("step %d at %v/s, want the middle of [%v, %v]", i, s.Rate, lo, hi)
			}
			if s.Sustainable {
				lo = s.Rate
			} else {
				hi = s.Rate
			}
		}
		want := tinyFraction(s.Rate, 2*time.Second, 2*time.Second)
		if s.Mean != want || s.Upper != want || s.Sustainable != (want <= DefaultTarget) {
			t.Errorf("step %d at %v/s: failure fraction %v (upper %v, sustainable %v), want %v",
				i, s.Rate, s.Mean, s.Upper, s.Sustainable, want)
		}
	}
	if r.Rate != lo || r.Unsustainable != hi {
		t.Errorf("answer [%v, %v], want the last bracket [%v, %v]", r.Rate, r.Unsustainable, lo, hi)
	}
	if w := r.Unsustainable - r.Rate; !(w <= DefaultResolution*r.Unsustainable && w > DefaultResolution*r.Unsustainable/2) {
		t.Errorf("bracket width %v at %v/s, want in (0.1 %%, 0.2 %%] of it", w, r.Unsustainable)
	}
	if r.At.Rate != r.Rate || r.Runs != 2*len(r.Steps) {
		t.Errorf("answer evaluated at %v/s, %d runs for %d steps; want the answer's point and 2 runs a step", r.At.Rate, r.Runs, len(r.Steps))
	}
	var attempts int64
	for _, s := range r.Steps {
		attempts += s.Attempts
	}
	if r.Attempts != attempts {
		t.Errorf("%d attempts in the result, %d in its steps", r.Attempts, attempts)
	}
}

// TestSearchStepLimit: with a resolution far finer than float64 can
// bisect, the search stops after 40 bisection steps (after its 2
// bracketing steps).
func TestSearchStepLimit(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	r, err := Search(context.Background(), cfg, Options{Seed: 1, Seeds: 2, Resolution: 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2+40 {
		t.Errorf("%d steps, want 2 + 40", len(r.Steps))
	}
}

// TestSearchWiden: when even 32 times the bound's first guess is
// sustainable the search stops widening and reports an open bracket.
// Here the windows (1 s each) end long before a TIME_WAIT of 1,000 s
// frees a port and before any attempt fails, so every rate holds: the
// search tries the first guess and 5 doublings of it, then answers the
// last with no unsustainable rate.
func TestSearchWiden(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, 1000*time.Second)
	r, err := Search(context.Background(), cfg, Options{Seed: 1, Seeds: 2, Warmup: time.Second, Measure: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	first := 0.01 * (1 + 2*DefaultTarget) / (1 - DefaultTarget)
	var rates []float64
	for _, s := range r.Steps {
		rates = append(rates, s.Rate)
	}
	want := []float64{first, 2 * first, 4 * first, 8 * first, 16 * first, 32 * first}
	if d := cmp.Diff(want, rates); d != "" {
		t.Errorf("rates tried (-want +got):\\n%s", d)
	}
	if r.Rate != 32*first || !math.IsInf(r.Unsustainable, 1) || r.At.Rate != 32*first {
		t.Errorf("answer [%v, %v] at %v/s, want [%v, +Inf] at the last rate", r.Rate, r.Unsustainable, r.At.Rate, 32*first)
	}
}

// TestFewestSourcesDown walks down to one source: 100.02/s needs
// ⌈100.02/100⌉ = 2 sources by the bound of 1,000 ports / 10 s, but one
// source fails only the reference fraction at that rate, below 0.1 %, so
// the answer is 1 and no fewer is tried.
func TestFewestSourcesDown(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 1000, 10*time.Second)
	const rate = 100.02
	if f := refFraction(1000, 10*time.Second, rate, 20*time.Second, 20*time.Second); f > DefaultTarget {
		t.Fatalf("reference fraction %v at %v/s: the test needs one source to suffice", f, rate)
	}
	r, err := FewestSources(context.Background(), cfg, rate, Options{Seed: 1, Seeds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := stepSources(r); r.Analytic != 2 || r.Sources != 1 || !cmp.Equal(got, []int{2, 1}) {
		t.Errorf("sources %d (analytic %d) after trying %v; want 1 (analytic 2) after [2 1]", r.Sources, r.Analytic, got)
	}
	if r.Runs != 4 || r.Attempts != r.Steps[0].Point.Attempts+r.Steps[1].Point.Attempts {
		t.Errorf("%d runs, %d attempts; want 4 runs and the attempts of both steps", r.Runs, r.Attempts)
	}
}

// TestFewestSourcesStepLimit: when every number of sources sustains the
// rate (windows far shorter than the 1,000 s TIME_WAIT), the walk down
// from the analytic 20 stops after 16 steps, at 4.
func TestFewestSourcesStepLimit(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, 1000*time.Second)
	r, err := FewestSources(context.Background(), cfg, 0.2, Options{Seed: 1, Seeds: 2, Warmup: time.Second, Measure: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for k := 20; k >= 4; k-- {
		want = append(want, k)
	}
	if got := stepSources(r); r.Analytic != 20 || r.Sources != 4 || !cmp.Equal(got, want) {
		t.Errorf("sources %d (analytic %d) after trying %v; want 4 (analytic 20) after %v", r.Sources, r.Analytic, got, want)
	}
}

// TestFewestSourcesUp walks up: under Poisson arrivals the bound is
// optimistic, since bursts find every port of a pool in TIME_WAIT before
// its mean load reaches the pool's size. At 25/s the analytic ⌈25/10⌉ = 3
// sources of 10 ports (8.3/s each, near their knee of 10/s) fail far more
// than 0.1 %, so the search adds sources one at a time until a number
// sustains the rate; every number before it fails.
func TestFewestSourcesUp(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Poisson), 10, time.Second)
	r, err := FewestSources(context.Background(), cfg, 25, Options{Seed: 1, Seeds: 4, Measure: 50 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := stepSources(r)
	if r.Analytic != 3 || len(got) < 2 || r.Sources != got[len(got)-1] {
		t.Fatalf("sources %d (analytic %d) after trying %v; want a walk up from 3 ending at the answer", r.Sources, r.Analytic, got)
	}
	for i, s := range r.Steps {
		last := i == len(r.Steps)-1
		if s.Sources != 3+i || s.Point.Sustainable != last {
			t.Errorf("step %d: %d sources, sustainable %v; want %d sources, sustainable only at the last", i, s.Sources, s.Point.Sustainable, 3+i)
		}
	}
	t.Logf("25/s under Poisson arrivals needs %d sources of 10 ports", r.Sources)
}

// stepSources lists the numbers of sources a search tried.
func stepSources(r SourcesResult) []int {
	var k []int
	for _, s := range r.Steps {
		k = append(k, s.Sources)
	}
	return k
}

// TestOptionsCheck: each option at the edge of its range is accepted, and
// just past it refused with an error naming it and the expected form.
func TestOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		want string // "" for accepted
	}{
		{Options{}, ""},
		{Options{Target: 0.999, Confidence: 0.5, Seeds: 2, Resolution: 0.999, MaxAttempts: 1}, ""},
		{Options{Seeds: 1000}, ""},
		{Options{Target: -0.1}, "capacity: target -0.1: expected a failure fraction in (0, 1) such as 0.001"},
		{Options{Target: 1}, "capacity: target 1: expected a failure fraction in (0, 1) such as 0.001"},
		{Options{Confidence: 0.49}, "capacity: confidence 0.49: expected a level in [0.5, 1) such as 0.95"},
		{Options{Confidence: 1}, "capacity: confidence 1: expected a level in [0.5, 1) such as 0.95"},
		{Options{Seeds: 1}, "capacity: seeds 1: expected 2 to 1000 replicates (a confidence bound needs at least 2)"},
		{Options{Seeds: 1001}, "capacity: seeds 1001: expected 2 to 1000 replicates (a confidence bound needs at least 2)"},
		{Options{Resolution: -1}, "capacity: resolution -1: expected a relative width in (0, 1) such as 0.002"},
		{Options{Resolution: 1}, "capacity: resolution 1: expected a relative width in (0, 1) such as 0.002"},
		{Options{Warmup: -time.Second}, "capacity: warm-up -1s and measurement window 0s must not be negative"},
		{Options{Measure: -time.Second}, "capacity: warm-up 0s and measurement window -1s must not be negative"},
		{Options{MaxAttempts: -1}, "capacity: max attempts -1 must not be negative"},
	} {
		err := tc.opt.Check()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: error %q, want %q", tc.opt, got, tc.want)
		}
	}
	o, err := Options{}.withDefaults()
	want := Options{Target: DefaultTarget, Confidence: DefaultConfidence, Seeds: DefaultSeeds, Resolution: DefaultResolution,
		Jobs: o.Jobs, MaxAttempts: DefaultMaxAttempts}
	if err != nil || o.Jobs < 1 || !cmp.Equal(o, want, cmp.Comparer(func(a, b func(Point)) bool { return a == nil && b == nil })) {
		t.Errorf("defaults %+v, %v; want %+v with at least one job", o, err, want)
	}
}

// TestEvaluateLimits: a rate must be in (0, MaxRate], and a run may make
// MaxAttempts attempts but not more (20/s for 1.5 s is 30).
func TestEvaluateLimits(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	opt := Options{Seeds: 2, Warmup: time.Second, Measure: 500 * time.Millisecond}
	for _, tc := range []struct {
		rate float64
		max  int64
		want string
	}{
		{0, 0, "capacity: rate 0: expected a rate in (0, 1e+09] connections per second"},
		{2e9, 0, "capacity: rate 2e+09: expected a rate in (0, 1e+09] connections per second"},
		{1e9, 0, "capacity: at 1e+09/s a run of 1.5s makes about 1.5e+09 attempts, more than the limit of 50000000; shorten the windows or raise the limit"},
		{20, 29, "capacity: at 20/s a run of 1.5s makes about 30 attempts, more than the limit of 29; shorten the windows or raise the limit"},
		{20, 30, ""},
	} {
		opt.MaxAttempts = tc.max
		_, err := Evaluate(context.Background(), cfg, tc.rate, opt)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("rate %v, max attempts %d: error %q, want %q", tc.rate, tc.max, got, tc.want)
		}
	}
}

// ignoreMetrics leaves the per-point metric means out of comparisons of
// failure windows; TestPointMetrics checks them.
var ignoreMetrics = cmpopts.IgnoreFields(Point{}, "Metrics")

// TestPointMetrics checks the metric means of a point: they cover the
// whole run, warm-up included — in the tiny pool of TestWarmupExcluded,
// 30 attempts of which the warm-up's 10 failed, the same on every seed —
// while the point's own failure fraction counts the window only.
func TestPointMetrics(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 10, time.Second)
	p, err := Evaluate(context.Background(), cfg, tinyRate, Options{Seed: 5, Seeds: 3, Warmup: time.Second, Measure: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"attempts": 30, "failures": 10, "failure_fraction": 1.0 / 3} {
		if v := p.Metrics[name]; v == nil || math.Abs(*v-want) > 1e-12 {
			t.Errorf("metric %s = %v, want %v", name, v, want)
		}
	}
	if p.Mean != 0 {
		t.Errorf("window failure fraction %v, want 0", p.Mean)
	}
	if len(p.Metrics) != len(results.Metrics()) {
		t.Errorf("%d metrics, want every one (%d)", len(p.Metrics), len(results.Metrics()))
	}
}

// TestErlangRateByHand checks ErlangRate where Erlang B inverts by hand:
// B(1, a) = a/(1+a) is 0.5 at a = 1 erlang, so 1 port held 1 s per
// connection blocks half the attempts at 1/s; B(2, 1) = 0.2, so 2 ports
// held 2 s block 20 % at 0.5/s. A target outside (0, 1) has no rate (NaN),
// and a zero cycle sustains any rate (+Inf), even with no ports.
func TestErlangRateByHand(t *testing.T) {
	for _, tc := range []struct {
		ports  int
		cycle  time.Duration
		target float64
		want   float64
	}{
		{1, time.Second, 0.5, 1},
		{2, 2 * time.Second, 0.2, 0.5},
	} {
		if got := ErlangRate(tc.ports, tc.cycle, tc.target); math.Abs(got-tc.want) > 1e-8*tc.want {
			t.Errorf("ErlangRate(%d, %v, %v) = %v, want %v", tc.ports, tc.cycle, tc.target, got, tc.want)
		}
	}
	for _, target := range []float64{0, 1, -0.5, 2} {
		if got := ErlangRate(10, time.Second, target); !math.IsNaN(got) {
			t.Errorf("ErlangRate(10, 1s, %v) = %v, want NaN", target, got)
		}
	}
	for _, ports := range []int{0, 10} {
		if got := ErlangRate(ports, 0, 0.001); !math.IsInf(got, 1) {
			t.Errorf("ErlangRate(%d, 0, 0.001) = %v, want +Inf", ports, got)
		}
	}
}

// TestErlangRateWhen: Search sets an Erlang B rate only where one pool of
// ports takes every attempt under Poisson arrivals: one source and either
// one destination or ports held exclusively; otherwise NaN. Connections
// reset at once hold no port, so the search answers without simulating
// and the Erlang rate of a zero cycle is +Inf.
func TestErlangRateWhen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mod    func(*sim.Config)
		erlang bool
	}{
		{"poisson, 1 source, 1 destination", func(*sim.Config) {}, true},
		{"poisson, 10 destinations sharing ports", func(c *sim.Config) { c.Workload.Destinations = 10 }, false},
		{"poisson, 10 destinations, exclusive ports", func(c *sim.Config) {
			c.Workload.Destinations, c.Stack.Scope = 10, allocator.Exclusive
		}, true},
		{"poisson, 2 sources", func(c *sim.Config) { c.Workload.Sources = 2 }, false},
		{"constant", func(c *sim.Config) { c.Workload.Arrivals = workload.Constant }, false},
	} {
		cfg := setup(t, "linux", workload.Poisson)
		cfg.Workload.Close = workload.RST
		tc.mod(&cfg)
		r, err := Search(context.Background(), cfg, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := !math.IsNaN(r.ErlangRate); got != tc.erlang || tc.erlang && !math.IsInf(r.ErlangRate, 1) {
			t.Errorf("%s: Erlang rate %v; want one (+Inf): %v", tc.name, r.ErlangRate, tc.erlang)
		}
	}
}

// TestFewestSourcesLimit: the analytic number of sources may reach
// workload.MaxSources but not exceed it. With 16 ports and a TIME_WAIT of
// 1,024 s one source sustains 1/64 per second, so 1,024/s needs exactly
// 65,536 sources (and windows of 1 s see no failure, so fewer are tried),
// and 1,024.015625/s needs 65,537: an error naming the limit.
func TestFewestSourcesLimit(t *testing.T) {
	cfg := small(setup(t, "linux", workload.Constant), 16, 1024*time.Second)
	opt := Options{Seed: 1, Seeds: 2, Warmup: time.Second, Measure: time.Second}
	r, err := FewestSources(context.Background(), cfg, 1024, opt)
	if err != nil || r.Analytic != workload.MaxSources || len(r.Steps) == 0 || r.Steps[0].Sources != workload.MaxSources {
		t.Errorf("1024/s: analytic %d, steps %v, %v; want %d sources tried first", r.Analytic, stepSources(r), err, workload.MaxSources)
	}
	_, err = FewestSources(context.Background(), cfg, 1024.015625, opt)
	want := "capacity: 1024/s needs at least 65537 source addresses by the bound of 0.01562/s each, more than the 65536 supported"
	if err == nil || err.Error() != want {
		t.Errorf("1024.015625/s: error %v, want %q", err, want)
	}
}
