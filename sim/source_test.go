package sim

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/portsim/portsim/sim/workload"
)

// ownWorkload wraps a workload as a program's own: it counts the
// feedback it gets and whether anyone closed it.
type ownWorkload struct {
	workload.Workload
	done, ok int
	closed   bool
}

func (o *ownWorkload) Done(a workload.Arrival, ok bool) {
	o.done++
	if ok {
		o.ok++
	}
	if fb, isFB := o.Workload.(workload.Feedback); isFB {
		fb.Done(a, ok)
	}
}

func (o *ownWorkload) Close() error { o.closed = true; return nil }

// TestSourceWorkload checks that a caller's own workload (Config.Source)
// drives a run exactly as the same workload built by the simulator does:
// the same metrics, Done called once per attempt with its outcome, the
// setup echo naming it "custom", and the workload left open for its
// owner to close.
func TestSourceWorkload(t *testing.T) {
	for _, arr := range []workload.Arrivals{workload.Poisson, workload.Closed} {
		base := Config{
			Allocator: mustSpec("linux"),
			Workload: workload.Spec{
				Arrivals: arr, Rate: 600, Clients: 50, Think: workload.Fixed(10 * time.Millisecond),
				Hold: workload.Fixed(0), Sources: 1, Destinations: 1,
			},
			Seed:     3,
			Duration: 90 * time.Second,
		}
		base.Stack = StackFromProfile(base.Allocator.Profile)
		want, err := Run(context.Background(), base)
		if err != nil {
			t.Fatal(err)
		}
		wl, err := base.Workload.New(base.Seed)
		if err != nil {
			t.Fatal(err)
		}
		own := &ownWorkload{Workload: wl}
		cfg := base
		cfg.Source = own
		got, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got.Setup.Arrivals != "custom" {
			t.Errorf("%v: setup arrivals %q, want custom", arr, got.Setup.Arrivals)
		}
		if want.Failures == 0 {
			t.Errorf("%v: the run should overload the range (600/s above the knee of 470.5/s); no failure", arr)
		}
		if int64(own.done) != got.Attempts || int64(own.ok) != got.Successes {
			t.Errorf("%v: Done called %d times (%d ok) for %d attempts (%d successes)", arr, own.done, own.ok, got.Attempts, got.Successes)
		}
		if own.closed {
			t.Errorf("%v: the run closed a Source workload; its owner closes it", arr)
		}
		got.Setup.Arrivals, want.Setup.Arrivals = "", ""
		got.WallNS, want.WallNS = 0, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: a run from Source differs from the same workload built by the run: attempts %d/%d, failures %d/%d",
				arr, got.Attempts, want.Attempts, got.Failures, want.Failures)
		}
	}
}
