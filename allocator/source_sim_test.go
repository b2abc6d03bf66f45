package allocator_test

import (
	"context"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// srcRun simulates one allocator with its own stack defaults, changed by
// edit, on a workload, and returns the result.
func srcRun(t *testing.T, name string, params map[string]string, edit func(*sim.Stack), w workload.Spec, d time.Duration) results.Run {
	t.Helper()
	spec, err := allocator.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	st := sim.StackFromProfile(spec.Profile)
	if edit != nil {
		edit(&st)
	}
	r, err := sim.Run(context.Background(), sim.Config{Allocator: name, Params: params, AllocSeed: 1, Seed: 1, Stack: st, Workload: w, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// srcConstant is a constant-rate workload to one destination, each
// connection closed by the client after hold.
func srcConstant(rate float64, hold string) workload.Spec {
	return workload.Spec{Arrivals: workload.Constant, Rate: rate, Destinations: 1, Sources: 1,
		Hold: workload.MustParseDist(hold), Close: workload.ClientClose, Path: allocator.Connect}
}

// TestFIFOBindThenConnect runs HAProxy's source range at 600 new
// connections a second, closed at once by HAProxy, on Linux's default
// profile (28,232 ports, TIME_WAIT 60 s, tcp_tw_reuse 2, which does not
// apply to a remote backend). HAProxy binds with SO_REUSEADDR and then
// connects, so with timestamps connect() takes every TIME_WAIT 4-tuple
// over (tcp_twsk_unique with twp == NULL) and no connection fails.
// Without timestamps connect() fails on a port in TIME_WAIT and the
// connection fails with it; the failure count is derived here from the
// ring's order alone.
func TestFIFOBindThenConnect(t *testing.T) {
	const rate, dur = 600, 5 * time.Minute
	w := srcConstant(rate, "0s")
	with := srcRun(t, "fifo", nil, nil, w, dur)
	if with.Failures != 0 || with.TWTakeovers == 0 {
		t.Errorf("with timestamps: %d failures, %d TIME_WAIT take-overs; want none failed and take-overs", with.Failures, with.TWTakeovers)
	}
	without := srcRun(t, "fifo", nil, func(s *sim.Stack) { s.Timestamps = false }, w, dur)

	// Every attempt takes the head of the ring and puts it back at the
	// tail (released at once on success, put back on a failed connect),
	// so attempt i uses port i mod N at time i/rate. It succeeds when
	// the port's last success is at least TIME_WAIT ago.
	spec, _ := allocator.Lookup("fifo")
	n := spec.Profile.Range.Size()
	tw := spec.Profile.TimeWait.Seconds()
	last := make([]float64, n)
	for i := range last {
		last[i] = -1e9
	}
	var attempts, failures int64
	for i := 0; float64(i)/rate < dur.Seconds(); i++ {
		now, p := float64(i)/rate, i%n
		attempts++
		if now-last[p] >= tw {
			last[p] = now
		} else {
			failures++
		}
	}
	if without.Attempts != attempts || without.Failures != failures || without.TWTakeovers != 0 {
		t.Errorf("without timestamps: %d attempts, %d failures, %d take-overs; the ring's order gives %d attempts, %d failures (%.2f %%), no take-over",
			without.Attempts, without.Failures, without.TWTakeovers, attempts, failures, 100*float64(failures)/float64(attempts))
	}
	// A failed connect() costs one probe: HAProxy does not try the next port.
	if without.ProbesFail.Max() != 1 {
		t.Errorf("without timestamps: a failed connection made up to %d probes, want 1", without.ProbesFail.Max())
	}
}

// srcBC is a BindConnecter for unit tests: bind refuses the ports in
// bind, connect refuses those in conn.
type srcBC struct {
	bind, conn map[uint16]bool
	probes     []uint16
}

func (c *srcBC) Free(p uint16, _ allocator.Flow) bool {
	c.probes = append(c.probes, p)
	return !c.bind[p] && !c.conn[p]
}

func (c *srcBC) BindConnect(p uint16, _ allocator.Flow) allocator.Connection {
	c.probes = append(c.probes, p)
	switch {
	case c.bind[p]:
		return allocator.BindRefused
	case c.conn[p]:
		return allocator.ConnectRefused
	}
	return allocator.Connected
}

// TestFIFOConnectRefused checks tcp_connect_server's two failure paths: a
// refused bind() sends the port to the tail and tries the next one; a
// refused connect() sends the port to the tail and fails the connection
// at once.
func TestFIFOConnectRefused(t *testing.T) {
	a := osaBuild(t, "fifo", allocator.Range{Lo: 100, Hi: 105}, 1, nil)
	c := &srcBC{bind: map[uint16]bool{100: true, 101: true}, conn: map[uint16]bool{102: true}}
	if _, err := a.Allocate(0, osaFlow(0), c); err == nil || len(c.probes) != 3 {
		t.Fatalf("binds refused on 100, 101 and connect on 102: err %v after probes %v, want ErrExhausted after 100, 101, 102", err, c.probes)
	}
	c.probes = nil
	c.bind, c.conn = nil, nil
	var got []uint16
	for range 6 {
		got = append(got, osaAlloc(t, a, 0, osaFlow(0), c))
	}
	// 103..105 were never tried; 100, 101 and 102 went to the tail in turn.
	if want := []uint16{103, 104, 105, 100, 101, 102}; !equalPorts(got, want) {
		t.Fatalf("after the failures: %v, want %v", got, want)
	}
}

func equalPorts(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
