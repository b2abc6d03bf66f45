package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// TestTraceArrivalsOrderFree checks that settings do not depend on their
// order: a trace with explicit other arrivals is a conflict naming both
// settings whichever comes first, a trace alone (or with arrivals trace)
// replays the trace, and arrivals trace without a trace is refused.
func TestTraceArrivalsOrderFree(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(trace, []byte("time,src,dst,dst_port,hold,close\n0s,10.0.0.1,192.0.2.1,443,1s,client\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := allocator.Lookup("linux")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(kv ...string) (Setup, error) {
		s := NewSetup(spec.Profile)
		for i := 0; i < len(kv); i += 2 {
			st, err := LookupSetting(kv[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Apply(&s, kv[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		return s, s.Validate()
	}
	const conflict = "settings trace and arrivals poisson conflict: a trace brings its own arrival times; drop arrivals poisson (or set it to trace)"
	for _, order := range [][]string{
		{"trace", trace, "arrivals", "poisson"},
		{"arrivals", "poisson", "trace", trace},
	} {
		if _, err := apply(order...); err == nil || err.Error() != conflict {
			t.Errorf("%v: err = %v, want %q", order, err, conflict)
		}
	}
	for _, ok := range [][]string{
		{"trace", trace},
		{"trace", trace, "arrivals", "trace"},
		{"arrivals", "trace", "trace", trace},
	} {
		s, err := apply(ok...)
		if err != nil || s.Workload.Arrivals != workload.Trace {
			t.Errorf("%v: arrivals %v, err %v; want trace, nil", ok, s.Workload.Arrivals, err)
		}
	}
	if _, err := apply("arrivals", "trace"); err == nil || err.Error() != "arrivals trace needs the trace setting: the CSV file to replay" {
		t.Errorf("arrivals trace alone: err = %v", err)
	}
}

// TestComparisonSentenceZero checks the sentence of a reproduction that
// misses a published value of 0: an absolute difference, not a division
// by zero ("differs by +Inf %").
func TestComparisonSentenceZero(t *testing.T) {
	c := Comparison{Published: Published{Value: 0, Tolerance: 0.5}, N: 3, Mean: 2}
	if got, want := c.Sentence(), "differs by 2, beyond the 0.5 tolerance"; got != want {
		t.Errorf("Sentence() = %q, want %q", got, want)
	}
	c.Mean = 0.25
	if got, want := c.Sentence(), "agrees: within 0.5 of the published value"; got != want {
		t.Errorf("Sentence() = %q, want %q", got, want)
	}
}
