package results

import (
	"math"
	"testing"
)

// TestPoolFailuresMetric checks pool_failures: undefined for a stack
// without a pool of TCP control blocks, the count of such failures with
// one.
func TestPoolFailuresMetric(t *testing.T) {
	m, ok := LookupMetric("pool_failures")
	if !ok {
		t.Fatal("no pool_failures metric")
	}
	if v := m.Value(&Run{PoolFailures: 3}); !math.IsNaN(v) {
		t.Errorf("without a pool: %v, want undefined", v)
	}
	if v := m.Value(&Run{Setup: Setup{PCBs: 5}, PoolFailures: 3, Failures: 4}); v != 3 {
		t.Errorf("with a pool of 5 and 3 pool failures: %v, want 3", v)
	}
}
