package sim

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

var runCmp = cmp.Options{
	cmp.AllowUnexported(results.Hist{}, results.DiffHist{}, results.Series{}),
}

// TestDeterministic checks that Run is a pure function of its Config: the
// same config and seed give an identical Run (all but the wall time), for
// every allocator, with a workload that exercises every kind of event.
func TestDeterministic(t *testing.T) {
	w := workload.Spec{
		Arrivals:     workload.Poisson,
		Rate:         400,
		Destinations: 5,
		DestOrder:    workload.Zipf,
		ZipfS:        1,
		Sources:      2,
		Hold:         workload.MustParseDist("exp:200ms"),
		Close:        workload.ClientClose,
		Path:         allocator.Connect,
	}
	st := stack(40000, 40999, 5*time.Second)
	st.TWReuse = 1
	for _, name := range allocator.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Allocator: mustSpec(name), AllocSeed: 9, Seed: 4, Stack: st, Workload: w, Duration: 20 * time.Second}
			a, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			a.WallNS, b.WallNS = 0, 0
			if d := cmp.Diff(a, b, runCmp); d != "" {
				t.Fatalf("two runs of one config differ (-first +second):\n%s", d)
			}
			if a.Attempts < 7000 || a.Successes == 0 {
				t.Fatalf("only %d attempts, %d successes: the workload did not run", a.Attempts, a.Successes)
			}
			if a.Probes.Count() != uint64(a.Attempts) || a.ProbesOK.Count() != uint64(a.Successes) || a.ProbesFail.Count() != uint64(a.Failures) {
				t.Fatalf("probe histograms hold %d/%d/%d values for %d attempts, %d successes, %d failures",
					a.Probes.Count(), a.ProbesOK.Count(), a.ProbesFail.Count(), a.Attempts, a.Successes, a.Failures)
			}
		})
	}
}

// TestCommonRandomNumbers checks that two allocators given the same
// workload seed see the same attempts (times and destinations).
func TestCommonRandomNumbers(t *testing.T) {
	w := workload.Spec{Arrivals: workload.Poisson, Rate: 100, Destinations: 50, DestOrder: workload.Uniform, Sources: 1,
		Hold: workload.MustParseDist("exp:1s"), Close: workload.ClientClose, Path: allocator.Connect}
	trace := func(alloc string) []results.Attempt {
		var out []results.Attempt
		cfg := Config{Allocator: mustSpec(alloc), AllocSeed: 1, Seed: 77, Stack: stack(40000, 40999, time.Minute), Workload: w, Duration: 30 * time.Second}
		cfg.OnAttempt = func(a results.Attempt) error {
			a.Port, a.Probes, a.OK = 0, 0, false
			out = append(out, a)
			return nil
		}
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := trace("linux"), trace("openbsd")
	if len(a) < 2500 || !slices.Equal(a, b) {
		t.Fatalf("attempts differ between allocators (%d and %d attempts)", len(a), len(b))
	}
}
