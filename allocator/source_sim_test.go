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
	r, err := sim.Run(context.Background(), sim.Config{Allocator: mustSpec(name), Params: params, AllocSeed: 1, Seed: 1, Stack: st, Workload: w, Duration: d})
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

// srcEvicter refuses every port and records, in order, each probe's port
// and whether it was a Free or a FreeOrEvict call; evictable ports are
// taken by FreeOrEvict.
type srcEvicter struct {
	evictable func(uint16) bool
	calls     []bool // true: FreeOrEvict
	ports     []uint16
}

func (c *srcEvicter) Free(p uint16, _ allocator.Flow) bool {
	c.calls = append(c.calls, false)
	c.ports = append(c.ports, p)
	return false
}

func (c *srcEvicter) FreeOrEvict(p uint16, _ allocator.Flow) bool {
	c.calls = append(c.calls, true)
	c.ports = append(c.ports, p)
	return c.evictable != nil && c.evictable(p)
}

// TestNetfilterHarderTries checks where nf_nat_used_tuple_harder may
// evict (commit 458972550287): with every
// tuple taken, a TCP flow's search asks to evict on the tries with at most
// NF_NAT_HARDER_THRESH = 32 attempts left in their round — the last 32 of
// the runs of 128 and 64 and every try of the runs of 32, 16 and 8, 120
// of 248 — and never before; UDP flows and netfilter-6.4 never evict.
func TestNetfilterHarderTries(t *testing.T) {
	r := allocator.Range{Lo: 1024, Hi: 65535}
	var want []bool
	for _, run := range []int{128, 64, 32, 16, 8} {
		for i := range run {
			want = append(want, run-i <= 32)
		}
	}
	tcp := osaFlow(0)
	a := osaBuild(t, "netfilter", r, 1, map[string]string{"random": "true"})
	c := &srcEvicter{}
	if _, err := a.Allocate(0, tcp, c); err == nil {
		t.Fatal("every tuple taken and none evictable: want ErrExhausted")
	}
	if len(c.calls) != len(want) {
		t.Fatalf("%d probes, want %d", len(c.calls), len(want))
	}
	evicts := 0
	for i := range want {
		if c.calls[i] != want[i] {
			t.Fatalf("probe %d: FreeOrEvict %v, want %v", i, c.calls[i], want[i])
		}
		if want[i] {
			evicts++
		}
	}
	if evicts != 120 {
		t.Fatalf("%d tries may evict, want 120", evicts)
	}
	// The tries that may evict continue their round: each round is one
	// run of adjacent ports from its offset (off++ as a u16 wraps to
	// the first port, as the range's top does).
	k := 0
	for _, run := range []int{128, 64, 32, 16, 8} {
		for i := 1; i < run; i++ {
			prev, p := c.ports[k+i-1], c.ports[k+i]
			if p != prev+1 && p != r.Lo {
				t.Fatalf("round of %d, try %d (FreeOrEvict %v): port %d after %d; want the next port", run, i, c.calls[k+i], p, prev)
			}
		}
		k += run
	}

	// An evictable tuple is taken on the first try that may evict: the
	// 97th probe.
	c = &srcEvicter{evictable: func(uint16) bool { return true }}
	if _, err := a.Allocate(0, tcp, c); err != nil || len(c.calls) != 97 {
		t.Fatalf("every tuple evictable: err %v after %d probes, want a port on probe 97", err, len(c.calls))
	}

	for _, tc := range []struct {
		name string
		f    allocator.Flow
	}{{"netfilter-6.4", tcp}, {"netfilter", osaUDP(0)}} {
		b := osaBuild(t, tc.name, r, 1, map[string]string{"random": "true"})
		c := &srcEvicter{evictable: func(uint16) bool { return true }}
		if _, err := b.Allocate(0, tc.f, c); err == nil {
			t.Errorf("%s %v: a port although no tuple is free", tc.name, tc.f.Path)
		}
		for i, ev := range c.calls {
			if ev {
				t.Errorf("%s %v: probe %d asked to evict", tc.name, tc.f.Path, i)
				break
			}
		}
	}
}

// TestNetfilterTimeWaitPressure runs both kernels at 700 new TCP flows a
// second, each closed at once by the inside client, through a
// 64,512-port pool whose entries stay 120 s in TIME_WAIT: above the knee
// of 537.6/s. Linux 5.19 to 6.4 drops the share 1 − 64,512/(700 × 120) of
// flows once the pool is full; since 6.5 the last tries of the first
// round evict an entry in TIME_WAIT and no flow is dropped.
func TestNetfilterTimeWaitPressure(t *testing.T) {
	w := srcConstant(700, "0s")
	cur := srcRun(t, "netfilter", nil, nil, w, 10*time.Minute)
	if cur.Failures != 0 || cur.TWTakeovers == 0 || cur.Probes.Max() > 97 {
		t.Errorf("netfilter: %d drops, %d evictions, up to %d probes; want none dropped, evictions, at most 96 + 1 probes",
			cur.Failures, cur.TWTakeovers, cur.Probes.Max())
	}
	old := srcRun(t, "netfilter-6.4", nil, nil, w, 10*time.Minute)
	// The first 120 s fill the pool without a drop (84,000 flows for
	// 64,512 ports leave 19,488 to drop); from then on each second's 700
	// flows find the 537.6 ports whose TIME_WAIT ended.
	share := 1 - 64512.0/(700*120)
	got := float64(old.Failures) / float64(old.Attempts)
	if old.TWTakeovers != 0 || got < share*0.97 || got > share*1.03 {
		t.Errorf("netfilter-6.4: %.4f dropped, %d evictions; want about %.4f and none", got, old.TWTakeovers, share)
	}
}

// TestLwIPPCBPool checks lwIP's pool of MEMP_NUM_TCP_PCB = 5 TCP PCBs
// (src/core/tcp.c tcp_alloc, tcp_kill_timewait). At 600 connections a
// second closed at once by lwIP, each new connection finds the pool full
// of PCBs in TIME_WAIT and frees the oldest, so nothing fails on the
// 16,384 ports however long TIME_WAIT is; without the pool the 120 s
// TIME_WAIT exhausts them. With connections that stay open the sixth one
// fails before any port is chosen, and is counted as a pool failure.
func TestLwIPPCBPool(t *testing.T) {
	w := srcConstant(600, "0s")
	r := srcRun(t, "lwip", nil, nil, w, 10*time.Minute)
	if r.Failures != 0 || r.PCBKills != r.Attempts-5 || r.Setup.PCBs != 5 {
		t.Errorf("pool of 5: %d failures, %d TIME_WAIT PCBs freed early of %d attempts (pool %d); want none, every attempt after the fifth, 5",
			r.Failures, r.PCBKills, r.Attempts, r.Setup.PCBs)
	}
	// At most five ports are ever held, so the first candidate is free.
	if r.Probes.Max() != 1 {
		t.Errorf("pool of 5: up to %d probes, want 1 (at most 5 ports held)", r.Probes.Max())
	}
	unlimited := srcRun(t, "lwip", map[string]string{"pcbs": "0"}, nil, w, 10*time.Minute)
	if unlimited.Failures == 0 || unlimited.PoolFailures != 0 || unlimited.PCBKills != 0 {
		t.Errorf("no pool: %d failures, %d pool failures, %d freed; want port exhaustion only", unlimited.Failures, unlimited.PoolFailures, unlimited.PCBKills)
	}

	spec, _ := allocator.Lookup("lwip")
	held, err := sim.Run(context.Background(), sim.Config{Allocator: mustSpec("lwip"), AllocSeed: 1, Seed: 1, Stack: sim.StackFromProfile(spec.Profile),
		Workload: srcConstant(10, "forever"), MaxAttempts: 8})
	if err != nil {
		t.Fatal(err)
	}
	if held.Successes != 5 || held.Failures != 3 || held.PoolFailures != 3 || held.ProbesFail.Max() != 0 {
		t.Errorf("8 connections that stay open: %d made, %d failed (%d on the pool, up to %d probes); want 5, 3, 3, no probe",
			held.Successes, held.Failures, held.PoolFailures, held.ProbesFail.Max())
	}
}

// TestFreeBSD12Exclusive checks the difference between FreeBSD 12 and 13
// with several destinations: FreeBSD 12's in_pcb_lport skips every port
// that any socket holds (in_pcblookup_local on the local address and
// port), FreeBSD 13's in_pcb_lport_dest only those that hold the same
// 4-tuple. Ten destinations in turn open connections that stay open over
// a 100-port range: FreeBSD 13 places 100 towards each destination, 1,000
// in all, FreeBSD 12 only 100 in all, whatever the destination. Both take
// the same random and sequential starts (ipport_tick with randomcps 10).
func TestFreeBSD12Exclusive(t *testing.T) {
	w := workload.Spec{Arrivals: workload.Constant, Rate: 1000, Destinations: 10, DestOrder: workload.RoundRobin, Sources: 1,
		Hold: workload.MustParseDist("forever"), Close: workload.ClientClose, Path: allocator.Connect}
	narrow := func(s *sim.Stack) { s.Range = allocator.Range{Lo: 10000, Hi: 10099} }
	run := func(name string) results.Run {
		spec, _ := allocator.Lookup(name)
		st := sim.StackFromProfile(spec.Profile)
		narrow(&st)
		r, err := sim.Run(context.Background(), sim.Config{Allocator: mustSpec(name), AllocSeed: 1, Seed: 1, Stack: st, Workload: w, MaxAttempts: 1200})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := run("freebsd-13"); r.Successes != 1000 || r.Failures != 200 {
		t.Errorf("freebsd-13: %d placed, %d failed; want 1,000 (100 per destination) and 200", r.Successes, r.Failures)
	}
	r := run("freebsd-12")
	if r.Successes != 100 || r.Failures != 1100 {
		t.Errorf("freebsd-12: %d placed, %d failed; want 100 in all and 1,100", r.Successes, r.Failures)
	}
	// Each failure walked the whole range, as in_pcb_lport does before
	// EADDRNOTAVAIL.
	if r.ProbesFail.Max() != 100 {
		t.Errorf("freebsd-12: a failure made up to %d probes, want 100", r.ProbesFail.Max())
	}
}
