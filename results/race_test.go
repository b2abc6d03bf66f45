package results

import (
	"math"
	"testing"
)

// TestRaceMetrics checks the SNAT-race metrics on a hand-made run with
// four CPUs: 100 SYNs confirmed, 4 dropped at confirm, 3 sent again and
// one connect given up; connect latencies of 5 µs (97 connects), 1 s
// (2) and 3 s (1).
func TestRaceMetrics(t *testing.T) {
	lat := &Hist{}
	lat.RecordN(5000, 97)
	lat.RecordN(1e9, 2)
	lat.Record(3e9)
	r := Run{Setup: Setup{CPUs: 4}, Attempts: 104, Successes: 100, Clashes: 4, SynRetransmits: 3, ConnectFailures: 1, ConnectLatency: lat}
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"clashes", 4},
		{"clash_fraction", 4.0 / 104},
		{"syn_retransmits", 3},
		{"connect_failures", 1},
		{"connect_p50_s", 5e-6},
		{"connect_max_s", 3},
	} {
		m, _ := LookupMetric(tt.name)
		if got := m.Value(&r); math.Abs(got-tt.want) > 0.008*tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	m, _ := LookupMetric("clash_fraction")
	if k, n := m.Pooled(&r); k != 4 || n != 104 {
		t.Errorf("clash_fraction pooled = %d/%d, want 4/104", k, n)
	}
	// The 99th percentile of 100 latencies falls among the two of 1 s.
	p99, _ := LookupMetric("connect_p99_s")
	if got := p99.Value(&r); math.Abs(got-1) > 0.008 {
		t.Errorf("connect_p99_s = %v, want 1", got)
	}
	// Without connects there is no latency, and one CPU has no race.
	empty := Run{Setup: Setup{CPUs: 4}, ConnectLatency: &Hist{}}
	one := Run{Clashes: 3}
	for _, name := range []string{"clash_fraction", "connect_p50_s", "connect_max_s"} {
		m, _ := LookupMetric(name)
		if v := m.Value(&empty); !math.IsNaN(v) {
			t.Errorf("%s of a run without connects = %v, want NaN", name, v)
		}
	}
	if m, _ := LookupMetric("clashes"); !math.IsNaN(m.Value(&one)) {
		t.Error("clashes of a one-CPU run should be NaN")
	}
}
