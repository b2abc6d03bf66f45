package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// traceSuite writes a trace of the given lines and a suite replaying it
// with extra settings, and parses the suite.
func traceSuite(t *testing.T, lines []string, extra string) *Suite {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "t.csv"), "time,src,dst,dst_port,hold,close\n"+strings.Join(lines, "\n")+"\n")
	text := "name: tr\nseeds: 1\nallocators: [linux]\nscenarios:\n  - name: a\n    trace: t.csv\n" + extra
	writeFile(t, filepath.Join(dir, "s.yaml"), text)
	s, err := Load(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTraceReplaysWhole: a trace longer than the default duration is
// replayed whole unless a duration is given.
func TestTraceReplaysWhole(t *testing.T) {
	lines := []string{"0,10.0.0.1,198.18.0.1,443,1s,client", "59,10.0.0.1,198.18.0.1,443,1s,client",
		"90,10.0.0.1,198.18.0.1,443,1s,client", "179,10.0.0.1,198.18.0.1,443,1s,client"}
	for _, tc := range []struct {
		extra string
		want  int64
	}{{"", 4}, {"    duration: 60s\n", 2}, {"    duration: 100s\n", 3}} {
		s := traceSuite(t, lines, tc.extra)
		o, err := Run(context.Background(), s, Options{Out: t.TempDir(), Start: start})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Runs[0].Attempts; got != tc.want {
			t.Errorf("%q: %d attempts replayed, want %d", tc.extra, got, tc.want)
		}
	}
}

func cellSetup(t *testing.T, s *Suite) Setup {
	t.Helper()
	cells, err := s.Cells()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cells[0].Setup()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestTraceMemoryEstimate: a trace of distinct flows held forever is
// estimated by its flows, not by the default workload's one destination.
func TestTraceMemoryEstimate(t *testing.T) {
	var lines []string
	const n = 5000
	for i := range n {
		lines = append(lines, fmt.Sprintf("%d,10.0.0.1,198.18.%d.%d,443,forever,client", i, i/256, i%256))
	}
	s := traceSuite(t, lines, "")
	st := cellSetup(t, s)
	tr, ok := s.Trace(st.Workload.TraceName)
	if !ok || tr.Pairs != n || tr.PeakHeld != n {
		t.Fatalf("trace %+v", tr)
	}
	// Each pair at least 536 bytes and each held connection 48, doubled
	// for the collector: 1168 bytes a flow, over the 16 MiB base.
	got := st.EstimateMemory(tr)
	if min := 2*float64(8<<20) + n*1168; got < min {
		t.Errorf("estimate %s, want at least %s", FormatBytes(got), FormatBytes(min))
	}
	if err := s.CheckMemory(20 << 20); err == nil || !strings.Contains(err.Error(), "above the budget of 20.0 MiB: replay a shorter trace, or raise the budget with -max-memory") {
		t.Errorf("CheckMemory: %v", err)
	}
}

// TestPrefillMemoryEstimate: prefilled ports are live connections in
// every pair.
func TestPrefillMemoryEstimate(t *testing.T) {
	s := parseMicro(t, "name: p\nseeds: 1\nallocators: [linux]\nscenarios:\n  - name: a\n    destinations: 1000\n    prefill: 0.9\n")
	st := cellSetup(t, s)
	live := 0.9 * float64(st.Stack.Range.Size()) * 1000
	if got := st.EstimateMemory(nil); got < 2*48*live {
		t.Errorf("estimate %s below the %g prefilled connections", FormatBytes(got), live)
	}
}

// TestInsideMemoryEstimate: every inside host adds its allocator's
// memory: 12 KiB and 256 bytes a block of its table that its connects
// draw (here two each), doubled for the garbage collector as the rest of
// the estimate.
func TestInsideMemoryEstimate(t *testing.T) {
	s := parseMicro(t, "name: p\nseeds: 1\nallocators: [netfilter]\nscenarios:\n  - name: a\n    rate: 1000\n    duration: 40s\n")
	st := cellSetup(t, s)
	before := st.EstimateMemory(nil)
	st.Inside.Hosts = 20000
	if got, want := st.EstimateMemory(nil)-before, 2*20000*(12<<10+2*256.0); got != want {
		t.Errorf("20000 inside hosts add %v bytes to the estimate, want %v", got, want)
	}
}

// TestWorkEstimate: the attempts of a suite, the check against the limit
// and its message.
func TestWorkEstimate(t *testing.T) {
	s := parseMicro(t, "name: w\nseeds: 3\nallocators: [linux, freebsd]\nscenarios:\n  - name: a\n    rate: [100, 200]\n    duration: 10s\n    events: true\n")
	w, err := s.EstimateWork(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 2 allocators x 2 rates x 3 seeds; (1000 + 2000) x 2 x 3 attempts;
	// the first replicate of each cell logs its attempts.
	if w.Runs != 12 || w.Attempts != 18000 || w.EventBytes != 6000*56 {
		t.Fatalf("work %+v", w)
	}
	if err := w.Check(1e4); err == nil || err.Error() != "about 1.8e+04 attempts in 12 runs, writing about 328.1 KiB of event logs; above the limit of 1e+04 attempts: shorten the runs (duration, attempts, rate) or raise the limit with -max-attempts" {
		t.Errorf("Check: %v", err)
	}
	if err := w.Check(1e5); err != nil {
		t.Errorf("Check below the limit: %v", err)
	}
	if w1, _ := s.EstimateWork(1, 2); w1.Runs != 6 {
		t.Errorf("shard 1/2: %d runs", w1.Runs)
	}
}
