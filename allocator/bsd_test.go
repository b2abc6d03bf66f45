package allocator_test

import (
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestBSDProfiles checks the defaults of the BSD models (docs/allocators.md#bsds-and-other-stacks;
// docs/allocators.md#properties-the-tests-check items 11-13).
func TestBSDProfiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi uint16
		scope  allocator.Scope
	}{
		{"freebsd", 10000, 65535, allocator.FourTuple},
		{"freebsd-13", 10000, 65535, allocator.FourTuple},
		{"freebsd-12", 10000, 65535, allocator.Exclusive},
		{"openbsd", 1024, 49151, allocator.Exclusive},
		{"netbsd", 49152, 65535, allocator.Exclusive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			osaProfile(t, tc.name, tc.lo, tc.hi, 60*time.Second, tc.scope)
			s := osaSpec(t, tc.name)
			if !s.Exhaustive {
				t.Error("not Exhaustive; the search walks all N ports")
			}
			if b := osaBound(t, tc.name, allocator.Range{Lo: 100, Hi: 199}, nil); b != 100 {
				t.Errorf("Bound = %d, want 100", b)
			}
		})
	}
}

// osaFirstCandidates returns the first candidate of n allocations by a
// fresh allocator, all ports free.
func osaFirstCandidates(t *testing.T, name string, r allocator.Range, n int, f allocator.Flow) []uint16 {
	t.Helper()
	a := osaBuild(t, name, r, 11, nil)
	rec := &osaRecorder{}
	out := make([]uint16, 0, n)
	for i := range n {
		rec.reset()
		osaAlloc(t, a, time.Duration(i)*10*time.Second, f, rec)
		if len(rec.probes) != 1 {
			t.Fatalf("all ports free: %d probes, want 1", len(rec.probes))
		}
		out = append(out, rec.probes[0])
	}
	return out
}

// TestBSDFirstCandidateUniform checks docs/allocators.md#properties-the-tests-check items 11 and 12:
// FreeBSD's first candidate is uniform over [10001, 65535] and OpenBSD's
// over [1025, 49151]; the bottom of the range comes up only by wrapping.
func TestBSDFirstCandidateUniform(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi int
	}{
		{"freebsd", 10000, 65535},
		{"openbsd", 1024, 49151},
		{"freebsd-13", 10000, 65535}, // quiet: allocations 10 s apart
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := allocator.Range{Lo: uint16(tc.lo), Hi: uint16(tc.hi)}
			firsts := osaFirstCandidates(t, tc.name, r, 200_000, osaFlow(1))
			osaUniform(t, "first candidate", firsts, tc.lo+1, tc.hi, 100)
			// A small range shows the support exactly: 11..19, never 10.
			small := osaFirstCandidates(t, tc.name, allocator.Range{Lo: 10, Hi: 19}, 20_000, osaFlow(1))
			osaUniform(t, "first candidate in 10-19", small, 11, 19, 9)
		})
	}
}

// TestBSDSharing checks the sharing rule each BSD stack applies to connect()
// (docs/allocators.md#properties-the-tests-check items 11-13): FreeBSD lets destinations share a
// local port; OpenBSD and NetBSD never do. The rule belongs to the
// Checker; the allocator must search the whole range for each destination.
func TestBSDSharing(t *testing.T) {
	r := allocator.Range{Lo: 50000, Hi: 50004}
	for _, name := range []string{"freebsd", "freebsd-13", "openbsd", "netbsd"} {
		t.Run(name, func(t *testing.T) {
			scope := osaSpec(t, name).Profile.Scope
			a := osaBuild(t, name, r, 1, nil)
			tab := &allocatortest.Table{Scope: scope, Range: r}
			for range 5 {
				p := osaAlloc(t, a, 0, osaFlow(1), tab)
				tab.Hold(p, osaFlow(1))
			}
			tab.Reset()
			if _, err := a.Allocate(0, osaFlow(1), tab); !errors.Is(err, allocator.ErrExhausted) || tab.Probes != 5 {
				t.Fatalf("all 5 ports held for A: err %v after %d probes, want ErrExhausted after 5", err, tab.Probes)
			}
			_, err := a.Allocate(0, osaFlow(2), tab)
			if shared := err == nil; shared != (scope == allocator.FourTuple) {
				t.Fatalf("a second destination got a port: %v (err %v); the profile's scope is %v", shared, err, scope)
			}
		})
	}
}

// TestFreeBSD13Throttle checks docs/allocators.md#properties-the-tests-check item 11 for FreeBSD 13
// and earlier: after more than randomcps TCP allocations within one
// second, TCP allocations are sequential (+1 from the last port) until
// randomtime quiet seconds pass; UDP stays random meanwhile.
//
// A burst of 20 allocations a second over [0 s, 3 s) makes the callout at
// some time L in [2 s, 4 s) the last to see a busy second (its phase is
// unknown), so allocations at t < 2 s + randomtime are certainly
// sequential and those at t >= 4 s + randomtime certainly random.
func TestFreeBSD13Throttle(t *testing.T) {
	r := allocator.Range{Lo: 10000, Hi: 65535}
	for _, rt := range []int{45, 5} {
		for _, seed := range []uint64{1, 2, 3} {
			params := map[string]string{"randomtime": strconv.Itoa(rt)}
			a, err := allocator.New("freebsd-13", allocator.Config{Range: r, Seed: seed, Params: params})
			if err != nil {
				t.Fatal(err)
			}
			all := &osaRecorder{}
			var last uint16
			for i := range 60 {
				last = osaAlloc(t, a, time.Duration(i)*50*time.Millisecond, osaFlow(i), all)
			}
			sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
			// Sequential while throttled, one allocation a second (quiet).
			udpPrev := osaAlloc(t, a, sec(4.5), osaUDP(0), all)
			udpSeq := 0
			for s := 5; s < 2+rt; s++ {
				p := osaAlloc(t, a, sec(float64(s)), osaFlow(s), all)
				if p != osaNext(last, r.Lo, r.Hi) {
					t.Fatalf("randomtime %d seed %d: at %d s got %d after %d, want sequential", rt, seed, s, p, last)
				}
				last = p
				u := osaAlloc(t, a, sec(float64(s)+0.5), osaUDP(s), all)
				if u == osaNext(udpPrev, r.Lo, r.Hi) {
					udpSeq++
				}
				udpPrev = u
			}
			if udpSeq > 2 {
				t.Errorf("randomtime %d seed %d: %d UDP ports followed the previous one while TCP was throttled; UDP stays random", rt, seed, udpSeq)
			}
			// Random again after randomtime quiet seconds.
			seq := 0
			for s := 4 + rt; s < 24+rt; s++ {
				p := osaAlloc(t, a, sec(float64(s)), osaFlow(s), all)
				if p == osaNext(last, r.Lo, r.Hi) {
					seq++
				}
				last = p
			}
			if seq > 2 {
				t.Errorf("randomtime %d seed %d: %d of 20 allocations after the quiet period were sequential, want random", rt, seed, seq)
			}
		}
	}
}

// TestFreeBSD13SilentGap checks that ipport_tick keeps running while no
// socket asks for a port: after a burst and randomtime silent seconds with
// no allocation at all, the next TCP allocations are random again
// (docs/allocators.md#properties-the-tests-check item 11).
func TestFreeBSD13SilentGap(t *testing.T) {
	r := allocator.Range{Lo: 10000, Hi: 65535}
	for _, seed := range []uint64{1, 2, 3} {
		a := osaBuild(t, "freebsd-13", r, seed, nil)
		all := &osaRecorder{}
		for i := range 60 {
			osaAlloc(t, a, time.Duration(i)*50*time.Millisecond, osaFlow(i), all)
		}
		// The last busy second ends before 4 s; 45 quiet ones follow.
		prev := osaAlloc(t, a, 49*time.Second, osaFlow(0), all)
		seq := 0
		for s := 50; s < 70; s++ {
			p := osaAlloc(t, a, time.Duration(s)*time.Second, osaFlow(s), all)
			if p == osaNext(prev, r.Lo, r.Hi) {
				seq++
			}
			prev = p
		}
		if seq > 2 {
			t.Errorf("seed %d: %d of 20 allocations after 45 silent seconds were sequential, want random", seed, seq)
		}
	}
}

// TestFreeBSD13UDPCounts checks two details of in_pcb_lport that the
// FreeBSD 13 model follows (docs/allocators.md#freebsd-13): UDP allocations count
// towards randomcps (the guard meant to exclude them is always true), and
// the TCP counter starts at 0, so the first sequential TCP port is the
// bottom of the range.
func TestFreeBSD13UDPCounts(t *testing.T) {
	r := allocator.Range{Lo: 10000, Hi: 65535}
	a := osaBuild(t, "freebsd-13", r, 4, nil)
	all := &osaRecorder{}
	for i := range 60 {
		osaAlloc(t, a, time.Duration(i)*50*time.Millisecond, osaUDP(i), all)
	}
	for s, want := range []uint16{10000, 10001, 10002} {
		if p := osaAlloc(t, a, time.Duration(5+s)*time.Second, osaFlow(s), all); p != want {
			t.Fatalf("TCP allocation %d after a UDP burst: %d, want %d", s, p, want)
		}
	}
}

// TestBSDQuietIsRandom checks that FreeBSD 13 at one allocation a second
// never throttles: successive ports are unrelated.
func TestBSDQuietIsRandom(t *testing.T) {
	r := allocator.Range{Lo: 10000, Hi: 65535}
	a := osaBuild(t, "freebsd-13", r, 5, map[string]string{"randomcps": "0"})
	all := &osaRecorder{}
	// randomcps=0: any second with an allocation throttles TCP, so one
	// allocation every 2 s keeps alternating busy and quiet seconds and
	// stays sequential after the first tick.
	prev := osaAlloc(t, a, 0, osaFlow(0), all)
	seq := 0
	for s := 1; s <= 20; s++ {
		p := osaAlloc(t, a, time.Duration(2*s)*time.Second, osaFlow(s), all)
		if p == osaNext(prev, r.Lo, r.Hi) {
			seq++
		}
		prev = p
	}
	if seq < 19 {
		t.Errorf("randomcps=0: %d of 20 allocations sequential, want all but possibly the first", seq)
	}
	b := osaBuild(t, "freebsd-13", r, 5, nil)
	prev = osaAlloc(t, b, 0, osaFlow(0), all)
	seq = 0
	for s := 1; s <= 20; s++ {
		p := osaAlloc(t, b, time.Duration(s)*time.Second, osaFlow(s), all)
		if p == osaNext(prev, r.Lo, r.Hi) {
			seq++
		}
		prev = p
	}
	if seq > 2 {
		t.Errorf("one allocation a second: %d of 20 sequential, want random", seq)
	}
}

// TestNetBSDCountsDown checks docs/allocators.md#properties-the-tests-check item 13: NetBSD's default
// gives 65535 first, then 65534, ..., skipping ports in use, one counter per
// protocol.
func TestNetBSDCountsDown(t *testing.T) {
	r := allocator.Range{Lo: 49152, Hi: 65535}
	a := osaBuild(t, "netbsd", r, 1, nil)
	tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
	tab.Hold(65532, osaFlow(99)) // taken by another socket
	var got []uint16
	for i := range 5 {
		p := osaAlloc(t, a, 0, osaFlow(i), tab)
		tab.Hold(p, osaFlow(i))
		got = append(got, p)
	}
	want := []uint16{65535, 65534, 65533, 65531, 65530}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ports %v, want %v", got, want)
		}
	}
	// UDP has its own counter: after five TCP ports it still starts at
	// the top (a shared counter would give 65529).
	b := osaBuild(t, "netbsd", r, 1, nil)
	all := &osaRecorder{}
	for i := range 5 {
		osaAlloc(t, b, 0, osaFlow(i), all)
	}
	if p := osaAlloc(t, b, 0, osaUDP(0), all); p != 65535 {
		t.Errorf("first UDP port after five TCP ports: %d, want 65535 (its own counter)", p)
	}
	if p := osaAlloc(t, b, 0, osaFlow(5), all); p != 65530 {
		t.Errorf("sixth TCP port %d, want 65530", p)
	}
	// So does each address family (portalgo_next_ephemeral[proto][af]):
	// the first TCP connection from an IPv6 address starts at the top, and
	// IPv4 carries on where it was.
	v6 := osaFlow(6)
	v6.Src = netip.MustParseAddr("2001:db8::1")
	v6.Dst = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), 443)
	if p := osaAlloc(t, b, 0, v6, all); p != 65535 {
		t.Errorf("first IPv6 TCP port after six IPv4 ones: %d, want 65535 (its own counter)", p)
	}
	if p := osaAlloc(t, b, 0, osaFlow(7), all); p != 65529 {
		t.Errorf("seventh IPv4 TCP port %d, want 65529", p)
	}

	// Wrap-around in a 3-port range: 102, 101, 100, then 102 again.
	small := allocator.Range{Lo: 100, Hi: 102}
	c := osaBuild(t, "netbsd", small, 1, nil)
	for i, w := range []uint16{102, 101, 100, 102, 101} {
		if p := osaAlloc(t, c, 0, osaFlow(i), all); p != w {
			t.Fatalf("allocation %d: %d, want %d", i, p, w)
		}
	}
}

// TestOpenBSDBadDynamic checks OpenBSD's default baddynamic ports in its
// range (DEFBADDYNAMICPORTS_TCP, sys/netinet/in_pcb.h): 2049 and
// 6000-6010 are reserved in the profile, so with the range narrowed to
// 5999-6011 only 5999 and 6011 are ever handed out.
func TestOpenBSDBadDynamic(t *testing.T) {
	s := osaSpec(t, "openbsd")
	want := []allocator.Span{{Lo: 2049, Hi: 2049}, {Lo: 6000, Hi: 6010}}
	if got := s.Profile.Range.Reserved; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("reserved %v, want %v", got, want)
	}
	r := allocator.Range{Lo: 5999, Hi: 6011, Reserved: want}
	a := osaBuild(t, "openbsd", r, 2, nil)
	tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
	got := map[uint16]bool{}
	for i := range 2 {
		p := osaAlloc(t, a, 0, osaFlow(i), tab)
		tab.Hold(p, osaFlow(i))
		got[p] = true
	}
	if !got[5999] || !got[6011] {
		t.Fatalf("ports %v, want 5999 and 6011", got)
	}
	if _, err := a.Allocate(0, osaFlow(3), tab); err == nil {
		t.Fatal("a third port from 5999-6011 with 6000-6010 baddynamic")
	}
}
