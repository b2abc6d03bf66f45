package sim

import (
	"net/netip"
	"slices"
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

// insidePool is an inside host's allocator that trusts its releases: it
// hands out the lowest port of its range it has not handed out since,
// without asking the Checker, so a port comes back only when the
// simulator releases it.
type insidePool struct {
	r   allocator.Range
	out map[uint16]bool
}

func (p *insidePool) Allocate(_ time.Duration, _ allocator.Flow, _ allocator.Checker) (uint16, error) {
	for q := int(p.r.Lo); q <= int(p.r.Hi); q++ {
		if !p.out[uint16(q)] {
			p.out[uint16(q)] = true
			return uint16(q), nil
		}
	}
	return 0, allocator.ErrExhausted
}

func (p *insidePool) Release(_ time.Duration, _ allocator.Flow, port uint16) { delete(p.out, port) }

// poolSpec is insidePool on lo-hi with a 10 s TIME_WAIT.
func poolSpec(lo, hi uint16) allocator.Spec {
	return allocator.Spec{Name: "pool", Profile: allocator.Profile{Range: allocator.Range{Lo: lo, Hi: hi}, TimeWait: 10 * time.Second},
		New: func(cfg allocator.Config) (allocator.Allocator, error) {
			return &insidePool{r: cfg.Range, out: map[uint16]bool{}}, nil
		}}
}

// origPorts returns the original port and outcome of each attempt.
func origPorts(att []results.Attempt) ([]uint16, []bool) {
	var ports []uint16
	var ok []bool
	for _, a := range att {
		ports, ok = append(ports, a.Flow.OrigPort), append(ok, a.OK)
	}
	return ports, ok
}

// TestInsideHostTimeWait pins when an inside host gets its port back, with
// one host whose only port is 100 and whose TIME_WAIT is 10 s (the NAT
// has ten ports and never runs out):
//
//	0     f1 takes 100, closed by the client at 1 s: TIME_WAIT until 11 s
//	5s    f2 finds no port on the host: it fails there (original port 0)
//	11s   f3 takes 100 (the TIME_WAIT ends at that instant), closed by
//	      the server at 11.5 s: free at once
//	12s   f4, UDP, takes 100; its close at 13 s holds no TIME_WAIT
//	13s   f5 takes 100
func TestInsideHostTimeWait(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, time.Second, workload.ClientClose),
		connectTo(5*time.Second, dstA, workload.Forever, workload.ClientClose),
		connectTo(11*time.Second, dstA, 500*time.Millisecond, workload.ServerClose),
		withPath(connectTo(12*time.Second, dstA, time.Second, workload.ClientClose), allocator.UDP),
		connectTo(13*time.Second, dstA, workload.Forever, workload.ClientClose),
	}
	cfg := Config{Allocator: lowestSpec(), Stack: stack(7000, 7009, time.Minute), Script: script, Inside: Inside{Hosts: 1, Spec: poolSpec(100, 100)}}
	att, r := raceRun(t, cfg)
	ports, ok := origPorts(att)
	wantBools(t, "outcomes", ok, []bool{true, false, true, true, true})
	if !slices.Equal(ports, []uint16{100, 0, 100, 100, 100}) {
		t.Errorf("original ports %v, want [100 0 100 100 100]", ports)
	}
	if r.Failures != 1 || r.Attempts != 5 {
		t.Errorf("%d failures in %d attempts, want 1 in 5", r.Failures, r.Attempts)
	}
}

// TestInsideHostPortAfterNATFailure pins that an inside host gets back the
// port of a connect the NAT could not translate, with one CPU and with
// the race: the NAT has one port, held for ever by f1 (inside port 100);
// f2 at 1 s gets inside port 101 and fails at the NAT, which frees 101;
// f3 at 2 s gets 101 again and fails at the NAT too (two failures, the
// first at 1 s).
func TestInsideHostPortAfterNATFailure(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(2*time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	for _, cpus := range []int{1, 2} {
		cfg := raceScript(lowestSpec(), stack(7000, 7000, time.Minute), 10*time.Microsecond, 6, 1, script)
		cfg.Race.CPUs = cpus
		cfg.Inside = Inside{Hosts: 1, Spec: poolSpec(100, 101)}
		att, r := raceRun(t, cfg)
		ports, ok := origPorts(att)
		wantBools(t, "outcomes", ok, []bool{true, false, false})
		if !slices.Equal(ports, []uint16{100, 101, 101}) {
			t.Errorf("cpus %d: original ports %v, want [100 101 101]", cpus, ports)
		}
		if r.Failures != 2 || r.FirstFailureNS != int64(time.Second) {
			t.Errorf("cpus %d: %d failures, the first at %d ns; want 2, the first at 1 s", cpus, r.Failures, r.FirstFailureNS)
		}
	}
}

// TestRaceInsidePorts pins which inside port a connect in flight holds,
// with one inside host (ports 100-101) behind a NAT of two CPUs:
//
//   - NAT ports from a counter (no clash): R0 (at 0, held 1 ms) takes
//     inside port 100, B (at 1 ns, for ever) 101; R0's close frees 100
//     (not B's 101, the port last chosen when R0 was confirmed), so f3 at
//     1 s takes 100.
//   - one NAT port and no retry: R0 (at 0, held 1 ns) and B (at 1 ns, on
//     the other CPU) clash and B's connect fails, which frees its inside
//     port 101; f3 at 1 s takes 100 and holds the NAT port, so f4 at 2 s
//     gets 101 and fails at the NAT.
func TestRaceInsidePorts(t *testing.T) {
	const d = 10 * time.Microsecond
	inside := Inside{Hosts: 1, Spec: poolSpec(100, 101)}
	script := []workload.Arrival{
		connectTo(0, dstA, time.Millisecond, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	cfg := raceScript(mustSpec("sequential"), stack(7000, 7009, time.Minute), d, 6, 1, script)
	cfg.Inside = inside
	att, _ := raceRun(t, cfg)
	if ports, ok := origPorts(att); !slices.Equal(ports, []uint16{100, 101, 100}) || !slices.Equal(ok, []bool{true, true, true}) {
		t.Errorf("counter NAT: original ports %v, outcomes %v; want [100 101 100], all ok", ports, ok)
	}

	script = []workload.Arrival{
		connectTo(0, dstA, time.Nanosecond, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(2*time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	onCPUs(script, 1, 2)
	const seed = 1
	cfg = raceScript(lowestSpec(), stack(7000, 7000, time.Minute), d, 0, seed, script)
	cfg.Inside = inside
	att, r := raceRun(t, cfg)
	ports, ok := origPorts(att)
	if !slices.Equal(ports, []uint16{100, 101, 100, 101}) || !slices.Equal(ok, []bool{true, false, true, false}) {
		t.Errorf("one NAT port: original ports %v, outcomes %v; want [100 101 100 101], [true false true false]", ports, ok)
	}
	if r.ConnectFailures != 1 || r.Failures != 1 {
		t.Errorf("one NAT port: %d failed connects, %d failures; want 1 and 1", r.ConnectFailures, r.Failures)
	}
}

// hostLog wraps an inside host's allocator and notes the host (the
// flow's source address) of every allocation.
type hostLog struct {
	allocator.Allocator
	hosts *[]netip.Addr
}

func (h hostLog) Allocate(now time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	*h.hosts = append(*h.hosts, f.Src)
	return h.Allocator.Allocate(now, f, c)
}

// loggedSpec is spec with its profile's range set to lo-hi and every
// allocation's host noted in hosts.
func loggedSpec(spec allocator.Spec, lo, hi uint16, hosts *[]netip.Addr) allocator.Spec {
	inner := spec.New
	spec.Profile.Range = allocator.Range{Lo: lo, Hi: hi}
	spec.New = func(cfg allocator.Config) (allocator.Allocator, error) {
		a, err := inner(cfg)
		return hostLog{a, hosts}, err
	}
	return spec
}

// TestInsideHostsOwnTables pins that each inside host has its own port
// table per destination: two hosts whose allocator takes the lowest port
// of 100-101 it is told is free, connections held for ever. A flow
// towards A gets 100 on a host that holds nothing towards A, 101 on one
// that holds 100, and fails on one that holds both; a flow towards B gets
// 100 whatever the host holds towards A. The seed puts the first flow on
// host 0 and the second on host 1; of five flows towards A, one host gets
// three.
func TestInsideHostsOwnTables(t *testing.T) {
	var hosts []netip.Addr
	script := []workload.Arrival{
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(2*time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(3*time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(4*time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(5*time.Second, dstB, workload.Forever, workload.ServerClose),
	}
	cfg := Config{Allocator: lowestSpec(), Stack: stack(7000, 7009, time.Minute), Script: script,
		Inside: Inside{Hosts: 2, Spec: loggedSpec(lowestSpec(), 100, 101, &hosts)}}
	for seed := uint64(1); ; seed++ {
		if seed == 1000 {
			t.Fatal("no seed puts the first two flows on hosts 0 and 1")
		}
		hosts = hosts[:0]
		cfg.Seed = seed
		att, _ := raceRun(t, cfg)
		if len(hosts) != len(script) {
			t.Fatalf("%d inside allocations for %d flows", len(hosts), len(script))
		}
		if hosts[0] != hostAddr(0) || hosts[1] != hostAddr(1) {
			continue
		}
		held := map[netip.Addr]int{}
		for i, a := range att {
			want, wantOK := uint16(100), true
			if i < 5 {
				want += uint16(held[hosts[i]])
				held[hosts[i]]++
				if want > 101 {
					want, wantOK = 0, false
				}
			}
			if a.Flow.OrigPort != want || a.OK != wantOK {
				t.Fatalf("seed %d, flow %d on host %v: original port %d (ok %v), want %d (ok %v)", seed, i, hosts[i], a.Flow.OrigPort, a.OK, want, wantOK)
			}
		}
		return
	}
}

// TestInsideHostsOwnSecrets pins that inside hosts do not share a secret:
// two hosts running RFC 6056 Algorithm 1 (a random port each time) draw
// different sequences, so the k-th port of one is not the k-th port of
// the other (among 16,384 ports a coincidence in 20 draws is unlikely,
// and the seeds are fixed).
func TestInsideHostsOwnSecrets(t *testing.T) {
	var hosts []netip.Addr
	var script []workload.Arrival
	for i := range 40 {
		script = append(script, connectTo(time.Duration(i)*time.Millisecond, dstA, workload.Forever, workload.ServerClose))
	}
	cfg := Config{Allocator: lowestSpec(), Stack: stack(7000, 7099, time.Minute), Script: script, Seed: 1,
		Inside: Inside{Hosts: 2, Spec: loggedSpec(mustSpec("rfc6056-1"), 49152, 65535, &hosts)}}
	att, _ := raceRun(t, cfg)
	by := map[netip.Addr][]uint16{}
	for i, a := range att {
		by[hosts[i]] = append(by[hosts[i]], a.Flow.OrigPort)
	}
	h0, h1 := by[hostAddr(0)], by[hostAddr(1)]
	n := min(len(h0), len(h1))
	if n < 10 {
		t.Fatalf("hosts got %d and %d flows; the test needs 10 each", len(h0), len(h1))
	}
	same := 0
	for k := range n {
		if h0[k] == h1[k] {
			same++
		}
	}
	if same != 0 {
		t.Errorf("%d of the hosts' first %d ports coincide: %v and %v", same, n, h0[:n], h1[:n])
	}
}

// TestInsideHostTimeWaitChurn keeps an inside host's TIME_WAIT queue busy
// for long enough that it is compacted many times: one host with ten
// ports and a 10 s TIME_WAIT connects every 1.25 s for 250 s, each
// connection closed by the client after 100 ms, so about eight of its
// ports are in TIME_WAIT at any time. Every port must come back when its
// TIME_WAIT ends: a lost entry would leave the port held for ever, and
// after three such losses the host would run out.
func TestInsideHostTimeWaitChurn(t *testing.T) {
	var script []workload.Arrival
	for i := range 200 {
		script = append(script, connectTo(time.Duration(i)*1250*time.Millisecond, dstA, 100*time.Millisecond, workload.ClientClose))
	}
	cfg := Config{Allocator: lowestSpec(), Stack: stack(7000, 8999, time.Minute), Script: script, Inside: Inside{Hosts: 1, Spec: poolSpec(100, 109)}}
	att, r := raceRun(t, cfg)
	ports, ok := origPorts(att)
	for i := range att {
		if !ok[i] || ports[i] < 100 || ports[i] > 109 {
			t.Fatalf("attempt %d at %v: original port %d, ok %v; want a port of 100-109", i, att[i].At, ports[i], ok[i])
		}
	}
	if r.Failures != 0 || r.Attempts != 200 {
		t.Errorf("%d failures in %d attempts, want none in 200", r.Failures, r.Attempts)
	}
}

// TestInsideFreeOtherDestination checks the inside hosts' Checker when an
// allocator asks about a flow to another destination than the attempt's:
// it answers for that destination's held ports on the same host, and a
// destination never met holds none.
func TestInsideFreeOtherDestination(t *testing.T) {
	in, err := newInside(Inside{Hosts: 1, Spec: poolSpec(100, 109)}, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	fa := allocator.Flow{Path: allocator.Connect, Src: src1, Dst: dstA}
	fb := allocator.Flow{Path: allocator.Connect, Src: src1, Dst: dstB}
	if !in.pick(0, &fb) || fb.OrigPort != 100 { // port 100 held towards dstB
		t.Fatalf("pick towards %v: port %d", dstB, fb.OrigPort)
	}
	if !in.pick(0, &fa) || fa.OrigPort != 101 { // the attempt in progress: dstA, port 101
		t.Fatalf("pick towards %v: port %d", dstA, fa.OrigPort)
	}
	other := allocator.Flow{Path: allocator.Connect, Dst: netip.MustParseAddrPort("192.0.2.99:443")}
	for _, c := range []struct {
		p    uint16
		f    allocator.Flow
		want bool
	}{
		{100, fa, true}, {101, fa, false}, {100, fb, false}, {101, fb, true}, {100, other, true}, {101, other, true},
	} {
		if got := in.Free(c.p, c.f); got != c.want {
			t.Errorf("Free(%d) towards %v during an attempt towards %v = %v, want %v", c.p, c.f.Dst, dstA, got, c.want)
		}
	}
}
