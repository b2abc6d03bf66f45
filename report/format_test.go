package report

import (
	"math"
	"testing"
)

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

func TestFormatInterval(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		mean, lo, hi float64
		want         string
	}{
		{0.29412, 0.29102, 0.29722, "0.2941 ± 0.0031"},
		{0, 0, 0.0013, "0 [0, 0.0013]"},
		{400, 0, 5482.5, "400 [0, 5500]"},
		{0.005, 0, 0.0103, "0.0050 [0, 0.0103]"},
		{1.5, nan, nan, "1.5"},
		{nan, 0, 1, "n/a"},
	}
	for _, tt := range tests {
		if got := FormatInterval(tt.mean, tt.lo, tt.hi); got != tt.want {
			t.Errorf("FormatInterval(%v, %v, %v) = %q, want %q", tt.mean, tt.lo, tt.hi, got, tt.want)
		}
	}
}

// TestMergeRows checks that rows equal after their first cell merge into
// the first of them, keys listed in order, and that other rows stay.
func TestMergeRows(t *testing.T) {
	got := mergeRows([][]string{
		{"a", "1", "2"}, {"b", "1", "3"}, {"c", "1", "2"}, {"d", "1", "3"}, {"e", "0", "2"},
	})
	want := [][]string{{"a, c", "1", "2"}, {"b, d", "1", "3"}, {"e", "0", "2"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("row %d: got %q, want %q", i, got[i], want[i])
				break
			}
		}
	}
}
