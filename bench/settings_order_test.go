package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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

// TestSettingsOrderFree applies every pair of settings in both orders and
// requires the same setup, or the same error, either way: a suite's
// settings and portsim run's flags mean the same whatever order they are
// written in. A setting added without a value here fails the test.
func TestSettingsOrderFree(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.csv")
	state := filepath.Join(dir, "s.csv")
	if err := os.WriteFile(trace, []byte("time,src,dst,dst_port,hold,close\n0s,10.0.0.1,192.0.2.1,443,1s,client\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("src,src_port,dst,dst_port,state,remaining\n10.0.0.1,40001,192.0.2.1,443,established,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"range": "40000-45000", "reserved": "40100-40200", "time-wait": "30s", "tw-reuse": "1",
		"tw-reuse-delay": "2s", "timestamps": "false", "scope": "exclusive", "arrivals": "burst",
		"rate": "300", "burst-on": "1s", "burst-off": "2s", "clients": "10", "think": "exp:2s",
		"destinations": "5", "dest-order": "zipf:1.2", "loopback": "true", "sources": "3",
		"hold": "exp:1s", "close": "server", "path": "bind", "orig-ports": "1024-2047",
		"trace": trace, "rate-scale": "2", "state": state, "duration": "20s", "attempts": "1000",
		"prefill": "0.1", "sample": "1s", "cpus": "2", "confirm-delay": "exp:10us",
		"inside-hosts": "4", "inside-allocator": "freebsd", "syn-rto": "2s", "syn-retries": "3",
	}
	spec, err := allocator.Lookup("linux")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(a, b Setting) (Setup, string) {
		s := NewSetup(spec.Profile)
		s.Dir = dir
		for _, st := range []Setting{a, b} {
			if err := st.Apply(&s, values[st.Name]); err != nil {
				return s, err.Error()
			}
		}
		if err := s.Validate(); err != nil {
			return s, err.Error()
		}
		return s, ""
	}
	same := cmp.Options{
		cmp.AllowUnexported(Setup{}),
		cmpopts.IgnoreUnexported(allocator.Set{}),
		cmpopts.IgnoreFields(workload.Spec{}, "TraceOpen"), // a func: compared by the trace name beside it
		cmp.Comparer(func(a, b allocator.Spec) bool { return a.Name == b.Name }),
		cmpopts.EquateEmpty(),
	}
	all := Settings()
	for _, st := range all {
		if _, ok := values[st.Name]; !ok {
			t.Errorf("setting %s has no value in this test", st.Name)
		}
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			ab, errAB := apply(a, b)
			ba, errBA := apply(b, a)
			if errAB != errBA {
				t.Errorf("%s then %s: error %q; the other order: %q", a.Name, b.Name, errAB, errBA)
				continue
			}
			if d := cmp.Diff(ab, ba, same); errAB == "" && d != "" {
				t.Errorf("%s then %s differs from the other order (-first +second):\n%s", a.Name, b.Name, d)
			}
		}
	}
}
