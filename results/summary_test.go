package results

import (
	"math"
	"testing"
)

// TestMeanCI95 checks the interval against a hand computation: for
// 1, 2, 3, 4, 5 the mean is 3, the sample standard deviation √2.5 and
// t(0.975, 4) = 2.7764451052, so the half-width is
// 2.7764451052·√2.5/√5 = 1.9632432.
func TestMeanCI95(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name     string
		xs       []float64
		n        int
		mean, ci float64
	}{
		{"five", []float64{1, 2, 3, 4, 5}, 5, 3, 1.9632432},
		{"five with NaNs skipped", []float64{nan, 1, 2, nan, 3, 4, 5}, 5, 3, 1.9632432},
		// Two values 0 and 2: mean 1, s = √2, t(0.975, 1) = 12.7062047,
		// half-width 12.7062047·√2/√2 = 12.7062047.
		{"two", []float64{0, 2}, 2, 1, 12.7062047},
		{"equal", []float64{7, 7, 7}, 3, 7, 0},
		{"one", []float64{4}, 1, 4, nan},
		{"none", nil, 0, nan, nan},
		{"all NaN", []float64{nan, nan}, 0, nan, nan},
	}
	same := func(a, b float64) bool {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.IsNaN(a) && math.IsNaN(b)
		}
		return math.Abs(a-b) <= 1e-6
	}
	for _, tt := range tests {
		st := MeanCI95(tt.xs)
		if st.N != tt.n || !same(st.Mean, tt.mean) || !same(st.CI95, tt.ci) {
			t.Errorf("%s: got n=%d mean=%v ci=%v, want n=%d mean=%v ci=%v", tt.name, st.N, st.Mean, st.CI95, tt.n, tt.mean, tt.ci)
		}
	}
}

func TestSummarize(t *testing.T) {
	runs := sampleRuns()
	other := sampleRuns()[0]
	other.Allocator = "random"
	runs = append([]Run{other}, runs...)
	sums := Summarize(runs, (*Run).CellKey)
	if len(sums) != 2 {
		t.Fatalf("got %d groups, want 2", len(sums))
	}
	if sums[0].First.Allocator != "random" || sums[0].Runs != 1 || sums[1].Runs != 2 {
		t.Errorf("groups out of first-appearance order or miscounted: %q/%d, %q/%d",
			sums[0].First.Allocator, sums[0].Runs, sums[1].First.Allocator, sums[1].Runs)
	}
	tests := []struct {
		metric   string
		n        int
		mean, ci float64
	}{
		// attempts 10 and 4: mean 7, s = √18, half-width 12.7062047·√18/√2 = 38.1186141.
		{"attempts", 2, 7, 38.1186141},
		// first_failure_s is undefined on run 1: one value, no interval.
		{"first_failure_s", 1, 1.5, math.NaN()},
		{"oarc_score", 1, 12, math.NaN()},
	}
	for _, tt := range tests {
		st, ok := sums[1].Stat(tt.metric)
		if !ok {
			t.Fatalf("metric %s missing", tt.metric)
		}
		if st.N != tt.n || math.Abs(st.Mean-tt.mean) > 1e-9 ||
			(math.IsNaN(tt.ci) != math.IsNaN(st.CI95)) || (!math.IsNaN(tt.ci) && math.Abs(st.CI95-tt.ci) > 1e-6) {
			t.Errorf("%s: got n=%d mean=%v ci=%v, want n=%d mean=%v ci=%v", tt.metric, st.N, st.Mean, st.CI95, tt.n, tt.mean, tt.ci)
		}
	}
	if len(sums[1].Stats) != len(Metrics()) {
		t.Errorf("got %d stats, want one per metric (%d)", len(sums[1].Stats), len(Metrics()))
	}
}

// TestWilson95 checks the Wilson interval against hand computations with
// z = 1.959964: 0 of 10 gives [0, z²/(10+z²)] = [0, 0.277533], 5 of 10
// gives 0.5 ∓ z·√(2.5 + z²/4)/(10 + z²) = 0.236593 to 0.763407, and 1 of
// 1000 gives (1 + z²/2 ∓ z·√(0.999 + z²/4))/(1000 + z²).
func TestWilson95(t *testing.T) {
	tests := []struct {
		k, n   uint64
		lo, hi float64
	}{
		{0, 10, 0, 0.277533},
		{5, 10, 0.236593, 0.763407},
		{10, 10, 0.722467, 1},
		{1, 1000, 0.000177, 0.005643},
	}
	for _, tt := range tests {
		lo, hi := Wilson95(tt.k, tt.n)
		if math.Abs(lo-tt.lo) > 1e-6 || math.Abs(hi-tt.hi) > 1e-6 {
			t.Errorf("Wilson95(%d, %d) = [%.6f, %.6f], want [%.6f, %.6f]", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

// TestInterval95Domain checks that intervals stay in the metric's
// domain: the t interval of 0, 0, 0.00015 (mean 0.00005, half-width
// 0.000215) is cut at 0; a count with values 0 and 800 (400 ± 5082.5) is
// cut at 0 and keeps its upper bound; a pooled fraction with no events
// in 3×1000 trials still has a Wilson upper bound.
func TestInterval95Domain(t *testing.T) {
	ff, _ := LookupMetric("failure_fraction")
	dist, _ := LookupMetric("reuse_distance_min")
	st := MeanCI95([]float64{0, 0, 0.00015})
	lo, hi, _ := Interval95(ff, st, 1, 3000)
	if lo != 0 || hi < st.Mean+st.CI95-1e-12 || hi > 1 {
		t.Errorf("fraction: [%v, %v], want [0, >= %v]", lo, hi, st.Mean+st.CI95)
	}
	st = MeanCI95([]float64{0, 800})
	lo, hi, _ = Interval95(dist, st, 0, 0)
	if lo != 0 || math.Abs(hi-(400+12.7062047*400)) > 1e-3 {
		t.Errorf("count: [%v, %v], want [0, %v]", lo, hi, 400+12.7062047*400)
	}
	st = MeanCI95([]float64{0, 0, 0})
	lo, hi, p := Interval95(ff, st, 0, 3000)
	wl, wh := Wilson95(0, 3000)
	if lo != 0 || hi != wh || wl != 0 || p != 0 || !(hi > 0.0012 && hi < 0.0013) {
		t.Errorf("no events: [%v, %v] pooled %v, want [0, %v] (about 3.84/3003.84)", lo, hi, p, wh)
	}
	one := MeanCI95([]float64{7})
	if lo, hi, _ := Interval95(dist, one, 0, 0); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("single run: [%v, %v], want no interval", lo, hi)
	}
}
