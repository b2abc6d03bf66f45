package cli

import (
	"encoding/json"
	"math"
	"testing"
)

// TestRunJSONMetrics checks that run -json gives, beside each run's
// histograms, the metrics the table shows, named as runs.csv names them:
// at 25/s on 1,000 ports held 60 s (a knee of 16.7/s) a third of the
// attempts fail.
func TestRunJSONMetrics(t *testing.T) {
	out, errs, code := portsim(t, "run", "-json", "-allocator", "linux", "-range", "40000-40999", "-rate", "25",
		"-arrivals", "constant", "-hold", "0s", "-tw-reuse", "0", "-duration", "2m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var runs []struct {
		Allocator string              `json:"allocator"`
		Attempts  int64               `json:"attempts"`
		Probes    json.RawMessage     `json:"probes"`
		Metrics   map[string]*float64 `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Allocator != "linux" || len(runs[0].Probes) == 0 {
		t.Fatalf("runs = %+v", runs)
	}
	m := runs[0].Metrics
	if v := m["attempts"]; v == nil || *v != float64(runs[0].Attempts) || *v != 3000 {
		t.Errorf("metrics.attempts = %v, want 3000", v)
	}
	// The 1,000 ports last 40 s; each is back 60 s after its use, so
	// attempts fail from 40 to 60 s and from 100 to 120 s: 1,000 of
	// 3,000.
	if v := m["failure_fraction"]; v == nil || math.Abs(*v-1.0/3) > 0.001 {
		if v != nil {
			t.Errorf("metrics.failure_fraction = %v, want 1/3", *v)
		} else {
			t.Error("metrics.failure_fraction is null, want 1/3")
		}
	}
	for _, name := range []string{"probes_mean", "probes_p99", "probes_max", "reuse_interval_p1_s", "reuse_distance_min", "oarc_score"} {
		if _, ok := m[name]; !ok {
			t.Errorf("metrics has no %s", name)
		}
	}
}
