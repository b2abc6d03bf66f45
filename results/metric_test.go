package results

import (
	"math"
	"strings"
	"testing"
)

func TestMetricsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Metrics() {
		if m.Name == "" || strings.ContainsAny(m.Name, " \t/") || strings.ToLower(m.Name) != m.Name {
			t.Errorf("metric name %q: want lower case with no spaces or '/'", m.Name)
		}
		if seen[m.Name] {
			t.Errorf("metric %q listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.Unit == "" || m.Doc == "" || m.Value == nil {
			t.Errorf("metric %q: unit, doc and value must be set", m.Name)
		}
		if m.Better < -1 || m.Better > 1 {
			t.Errorf("metric %q: Better = %d, want -1, 0 or 1", m.Name, m.Better)
		}
	}
	// DESIGN.md "Metrics" and the task list: these must exist.
	for _, name := range []string{"attempts", "successes", "failures", "failure_fraction", "first_failure_s",
		"probes_mean", "probes_p50", "probes_p99", "probes_max", "probes_ok_mean", "probes_fail_p99",
		"reuse_interval_p1_s", "reuse_interval_p50_s", "premature_fraction",
		"reuse_distance_min", "reuse_distance_p1", "reuse_distance_p50", "reuse_distance_mean",
		"wrap_mean", "wrap_min", "oarc_score", "guess_1", "guess_10", "tw_takeovers", "events"} {
		if !seen[name] {
			t.Errorf("metric %q missing", name)
		}
	}
	if a, b := Metrics(), Metrics(); &a[0] == &b[0] {
		t.Error("Metrics returns a shared slice")
	}
}

// TestMetricValues checks every metric on the two hand-made runs of
// sampleRuns against values computed by hand there. A value of NaN means
// the metric must be undefined. Quantiles above 255 come from
// histogram buckets, so they are checked to within 0.8 %.
func TestMetricValues(t *testing.T) {
	nan := math.NaN()
	runs := sampleRuns()
	tests := []struct {
		name   string
		a, b   float64
		approx bool
	}{
		{"attempts", 10, 4, false},
		{"successes", 8, 4, false},
		{"failures", 2, 0, false},
		{"failure_fraction", 0.2, 0, false},
		{"first_failure_s", 1.5, nan, false},
		{"probes_mean", 4.6, 1.5, false},
		{"probes_p50", 2, 1, false},
		{"probes_p99", 20, 2, false},
		{"probes_max", 20, 2, false},
		{"probes_ok_mean", 2, 1.5, false},
		{"probes_ok_p50", 1, 1, false},
		{"probes_ok_p99", 5, 2, false},
		{"probes_ok_max", 5, 2, false},
		{"probes_fail_mean", 15, nan, false},
		{"probes_fail_p50", 10, nan, false},
		{"probes_fail_p99", 20, nan, false},
		{"probes_fail_max", 20, nan, false},
		{"probes_even_mean", 1.25, 1.5, false},
		{"probes_odd_mean", 2.75, 1.5, false},
		{"reuse_interval_p1_s", 30, nan, false}, // clamped to the exact minimum
		{"reuse_interval_p50_s", 60, nan, true},
		{"premature_fraction", 1.0 / 3, nan, false},
		{"reuse_distance_min", 4, nan, false},
		{"reuse_distance_p1", 4, nan, false},
		{"reuse_distance_p50", 4, nan, false},
		{"reuse_distance_mean", 16.0 / 3, nan, false},
		{"wrap_mean", 8, nan, false},
		{"wrap_min", 8, nan, false},
		{"oarc_score", 12, nan, false},
		{"guess_1", 6.0 / 8, nan, false},
		{"guess_10", 7.0 / 8, nan, false},
		{"cell_shared_pairs", 0, nan, false},
		{"tw_takeovers", 3, 0, false},
		{"pool_failures", nan, nan, false},
		{"clashes", nan, nan, false}, // one CPU: no race (see TestRaceMetrics)
		{"clash_fraction", nan, nan, false},
		{"syn_retransmits", nan, nan, false},
		{"connect_failures", nan, nan, false},
		{"connect_p50_s", nan, nan, false},
		{"connect_p99_s", nan, nan, false},
		{"connect_max_s", nan, nan, false},
		{"simulated_s", 2, 2, false},
		{"events", 40, 20, false},
	}
	if len(tests) != len(Metrics()) {
		t.Errorf("table checks %d metrics, Metrics has %d: add the new ones here", len(tests), len(Metrics()))
	}
	for _, tt := range tests {
		m, ok := LookupMetric(tt.name)
		if !ok {
			t.Errorf("metric %q not found", tt.name)
			continue
		}
		for i, want := range []float64{tt.a, tt.b} {
			got := m.Value(&runs[i])
			switch {
			case math.IsNaN(want):
				if !math.IsNaN(got) {
					t.Errorf("%s on run %d = %v, want NaN (undefined)", tt.name, i, got)
				}
			case tt.approx:
				if math.Abs(got-want) > 0.008*want {
					t.Errorf("%s on run %d = %v, want %v within 0.8 %%", tt.name, i, got, want)
				}
			case got != want && math.Abs(got-want) > 1e-12*math.Abs(want):
				t.Errorf("%s on run %d = %v, want %v", tt.name, i, got, want)
			}
		}
	}
}

// TestMetricsEmptyRun checks that a run with no attempts gives NaN, not
// a division by zero, for every ratio.
func TestMetricsEmptyRun(t *testing.T) {
	r := Run{Allocator: "x", FirstFailureNS: -1}
	for _, m := range Metrics() {
		v := m.Value(&r)
		if math.IsInf(v, 0) {
			t.Errorf("%s = %v on an empty run", m.Name, v)
		}
	}
	if m, _ := LookupMetric("failure_fraction"); !math.IsNaN(m.Value(&r)) {
		t.Error("failure_fraction of a run without attempts should be NaN")
	}
}
