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

func TestFormatMeanCI(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		mean, ci float64
		want     string
	}{
		{0.29412, 0.0031, "0.2941 ± 0.0031"},
		{470.53, 1.23, "470.5 ± 1.2"},
		{28232, 0, "28232 ± 0"},
		{3, 1.9632432, "3.0 ± 2.0"},
		{123456, 3456, "123500 ± 3500"},
		{1.5, nan, "1.5"},
		{2.0 / 3, nan, "0.6667"},
		{nan, nan, "n/a"},
		{nan, 1, "n/a"},
	}
	for _, tt := range tests {
		if got := FormatMeanCI(tt.mean, tt.ci); got != tt.want {
			t.Errorf("FormatMeanCI(%v, %v) = %q, want %q", tt.mean, tt.ci, got, tt.want)
		}
	}
}
