package results

import (
	"encoding/json"
	"testing"
)

// TestMetricValues checks that every metric is present by name, that a
// defined value is the metric's, and that an undefined one is null in
// JSON.
func TestMetricValuesByName(t *testing.T) {
	r := &Run{Allocator: "linux", Attempts: 8, Successes: 6, Failures: 2, FirstFailureNS: 3e9}
	vs := MetricValues(r)
	if len(vs) != len(Metrics()) {
		t.Fatalf("%d values, want one per metric (%d)", len(vs), len(Metrics()))
	}
	if v := vs["failure_fraction"]; v == nil || *v != 0.25 {
		t.Errorf("failure_fraction = %v, want 0.25", v)
	}
	if v := vs["first_failure_s"]; v == nil || *v != 3 {
		t.Errorf("first_failure_s = %v, want 3", v)
	}
	if v := vs["premature_fraction"]; v != nil {
		t.Errorf("premature_fraction without reuses = %v, want nil (undefined)", *v)
	}
	b, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["premature_fraction"] != nil || back["failure_fraction"] != 0.25 {
		t.Errorf("JSON round trip: premature %v, failure %v", back["premature_fraction"], back["failure_fraction"])
	}
}
