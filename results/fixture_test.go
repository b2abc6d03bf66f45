package results

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleRuns returns two hand-made runs of one cell (two seeds) whose
// metrics are easy to check by hand.
//
// Run 0: 10 attempts, 8 successes, 2 failures (first at 1.5 s); probes
// 1,1,1,1,2,2,3,5 for the successes (even ports took 1,1,1,2; odd
// 1,2,3,5) and 10,20 for the failures; reuse intervals 30 s, 60 s and
// 90 s with 2·MSL = 60 s, one of them premature; reuse distances 4, 4, 8;
// one wrap of 8; OARC windows 12 and 20; differences +1 x6, +2 x1 and one
// beyond the span.
//
// Run 1: no failures, no reuses, no differences: the metrics undefined
// without them are NaN.
func sampleRuns() []Run {
	setup := Setup{
		Range: "10000-10007", Ports: 8, TimeWaitNS: int64(60 * time.Second),
		Scope: "4-tuple", Sources: 1, Destinations: 1,
		Path: "connect", Close: "client", Arrivals: "poisson", RatePerSec: 5, Hold: "exp(1s)",
	}
	a := Run{
		Suite: "tiny", Scenario: "exhaust", Labels: map[string]string{"rate": "5", "ips": "1"},
		Allocator: "sequential", Params: map[string]string{"step": "1"},
		Seed: 11, Replicate: 0, Setup: setup,
		SimulatedNS: int64(2 * time.Second), Events: 40,
		Attempts: 10, Successes: 8, Failures: 2, FirstFailureNS: int64(1500 * time.Millisecond),
		PrematureNS: int64(60 * time.Second), Premature: 1, TWTakeovers: 3,
		PortUsage: NewPortHist(10000, 10007, 4),
		Occupancy: NewSeries(time.Second),
		Cells:     &CellStats{TableSize: 256, Destinations: 1, SharedPairs: 0},
		WallNS:    123456,
	}
	for i, p := range []uint64{1, 1, 1, 1, 2, 2, 3, 5} {
		a.Probes.Record(p)
		a.ProbesOK.Record(p)
		a.PortUsage.Record(uint16(10000 + i))
	}
	for _, p := range []uint64{1, 1, 1, 2} {
		a.ProbesByParity[0].Record(p)
	}
	for _, p := range []uint64{1, 2, 3, 5} {
		a.ProbesByParity[1].Record(p)
	}
	for _, p := range []uint64{10, 20} {
		a.Probes.Record(p)
		a.ProbesFail.Record(p)
	}
	for _, s := range []int64{30, 60, 90} {
		a.ReuseInterval.Record(uint64(s * int64(time.Second)))
	}
	for _, d := range []uint64{4, 4, 8} {
		a.ReuseDistance.Record(d)
	}
	a.Wrap.Record(8)
	a.OARC.Record(12)
	a.OARC.Record(20)
	for range 6 {
		a.SuccDiff.Record(1)
	}
	a.SuccDiff.Record(2)
	a.SuccDiff.Record(1000)
	a.Occupancy.Add(3, 0)
	a.Occupancy.Add(5, 2)

	b := Run{
		Suite: "tiny", Scenario: "exhaust", Labels: map[string]string{"rate": "5", "ips": "1"},
		Allocator: "sequential", Params: map[string]string{"step": "1"},
		Seed: 12, Replicate: 1, Setup: setup,
		SimulatedNS: int64(2 * time.Second), Events: 20,
		Attempts: 4, Successes: 4, FirstFailureNS: -1,
		PrematureNS: int64(60 * time.Second),
		PortUsage:   NewPortHist(10000, 10007, 4),
		Occupancy:   NewSeries(time.Second),
	}
	for i, p := range []uint64{1, 1, 2, 2} {
		b.Probes.Record(p)
		b.ProbesOK.Record(p)
		b.ProbesByParity[i%2].Record(p)
		b.PortUsage.Record(uint16(10000 + i))
	}
	b.Occupancy.Add(4, 0)
	return []Run{a, b}
}

// golden compares got with testdata/name, or rewrites the file under
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, d)
	}
}
