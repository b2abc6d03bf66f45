package sim

import (
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// insideRun runs the netfilter NAT with hosts inside hosts whose
// allocator is sequential (a counter from 49152 up, the same in every
// host), connections held forever, and returns each attempt.
func insideRun(t *testing.T, hosts int, attempts int64) []results.Attempt {
	t.Helper()
	spec, err := allocator.Lookup("sequential")
	if err != nil {
		t.Fatal(err)
	}
	cfg := raceConfig("netfilter", nil, 64512, 100, 1, 0, 0)
	cfg.Race = Race{}
	cfg.MaxAttempts = attempts
	cfg.Workload.Hold = workload.Fixed(workload.Forever)
	cfg.Inside = Inside{Hosts: hosts, Spec: spec}
	var out []results.Attempt
	cfg.OnAttempt = func(a results.Attempt) error { out = append(out, a); return nil }
	r := runOK(t, cfg)
	if r.Setup.InsideHosts != hosts || r.Setup.InsideAllocator != "sequential" {
		t.Errorf("setup echoes %d inside hosts with %q", r.Setup.InsideHosts, r.Setup.InsideAllocator)
	}
	return out
}

// TestInsideHostsChooseOrigPorts checks that the inside hosts' own
// allocators give the original ports: one sequential host hands out
// 49152, 49153, ... and the NAT keeps each; two hosts with the same
// counter hand out every port twice, and the NAT keeps the first use of
// each and translates the second elsewhere (a port preservation clash),
// so exactly half the flows keep their port.
func TestInsideHostsChooseOrigPorts(t *testing.T) {
	for i, a := range insideRun(t, 1, 50) {
		if want := uint16(49152 + i); a.Flow.OrigPort != want || a.Port != want || !a.OK {
			t.Fatalf("attempt %d: original port %d, NAT port %d; want %d kept", i, a.Flow.OrigPort, a.Port, want)
		}
	}
	att := insideRun(t, 2, 400)
	seen := map[uint16]bool{}
	kept, moved := 0, 0
	for _, a := range att {
		first := !seen[a.Flow.OrigPort]
		seen[a.Flow.OrigPort] = true
		switch {
		case first && a.Port == a.Flow.OrigPort:
			kept++
		case !first && a.Port != a.Flow.OrigPort:
			moved++
		default:
			t.Fatalf("original port %d (first use %v) translated to %d", a.Flow.OrigPort, first, a.Port)
		}
	}
	if kept+moved != 400 || kept != len(seen) {
		t.Errorf("kept %d, moved %d, distinct original ports %d", kept, moved, len(seen))
	}
	t.Logf("two hosts: %d flows kept their port, %d were moved", kept, moved)
}

// TestInsideHostsRelease checks that an inside host's port comes back
// after its connection closes and its TIME_WAIT ends: one host with a
// range of the sequential allocator's 16,384 ports opens connections of
// 1 ms, closed by the client, so its 60 s TIME_WAIT holds every port for
// a minute; at 100 a second it never runs out, and with the hold forever
// the 16,385th attempt fails on the inside host.
func TestInsideHostsRelease(t *testing.T) {
	spec, _ := allocator.Lookup("sequential")
	cfg := raceConfig("netfilter", nil, 64512, 100, 1, 0, 120*time.Second)
	cfg.Race = Race{}
	cfg.Workload.Close = workload.ClientClose
	cfg.Workload.Hold = workload.Fixed(time.Millisecond)
	cfg.Inside = Inside{Hosts: 1, Spec: spec}
	if r := runOK(t, cfg); r.Failures != 0 || r.Attempts < 11000 {
		t.Errorf("short connections: %d failures in %d attempts, want none", r.Failures, r.Attempts)
	}
	cfg.Workload.Hold = workload.Fixed(workload.Forever)
	cfg.Duration, cfg.MaxAttempts = 0, 16385
	if r := runOK(t, cfg); r.Failures != 1 || r.Successes != 16384 {
		t.Errorf("held forever: %d successes, %d failures; want 16384 and 1", r.Successes, r.Failures)
	}
}
