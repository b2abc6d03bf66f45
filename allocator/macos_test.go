package allocator_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestMacOSProfile checks docs/allocators.md#properties-the-tests-check item 14: range 49152-65535,
// TIME_WAIT 30 s (2 x TCPTV_MSL of 15 s), ports never shared.
func TestMacOSProfile(t *testing.T) {
	osaProfile(t, "macos", 49152, 65535, 30*time.Second, allocator.Exclusive)
	if s := osaSpec(t, "macos"); !s.Exhaustive {
		t.Error("macos: not Exhaustive; in_pcbbind walks all N ports")
	}
}

// TestMacOSTCPSequential checks docs/allocators.md#properties-the-tests-check item 14: TCP ports
// increase by exactly 1 per allocation from one global counter, skipping
// ports in use and wrapping at the top; UDP allocations in between do not
// disturb it.
func TestMacOSTCPSequential(t *testing.T) {
	r := allocator.Range{Lo: 49152, Hi: 65535}
	a := osaBuild(t, "macos", r, 1, nil)
	tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
	tab.Hold(49155, osaFlow(99)) // held by another socket
	var got []uint16
	for i := range 6 {
		p := osaAlloc(t, a, 0, osaFlow(i), tab) // one counter whatever the destination
		tab.Hold(p, osaFlow(i))
		got = append(got, p)
		osaAlloc(t, a, 0, osaUDP(i), &osaRecorder{})
	}
	// lastport starts at 0, so the first port after boot is the bottom of
	// the range.
	want := []uint16{49152, 49153, 49154, 49156, 49157, 49158}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TCP ports %v, want %v", got, want)
		}
	}
	// Wrap: a 3-port range gives 100, 101, 102, 100.
	b := osaBuild(t, "macos", allocator.Range{Lo: 100, Hi: 102}, 1, nil)
	for i, w := range []uint16{100, 101, 102, 100} {
		if p := osaAlloc(t, b, 0, osaFlow(i), &osaRecorder{}); p != w {
			t.Fatalf("allocation %d: %d, want %d", i, p, w)
		}
	}
}

// TestMacOSUDPRandom checks docs/allocators.md#properties-the-tests-check item 14: UDP
// (net.inet.udp.randomize_ports = 1) starts each search at a random port,
// the first candidate uniform over [first+1, last].
func TestMacOSUDPRandom(t *testing.T) {
	firsts := osaFirstCandidates(t, "macos", allocator.Range{Lo: 49152, Hi: 65535}, 100_000, osaUDP(1))
	osaUniform(t, "UDP first candidate", firsts, 49153, 65535, 64)
	seq := 0
	for i := 1; i < len(firsts); i++ {
		if firsts[i] == firsts[i-1]+1 {
			seq++
		}
	}
	if seq > 20 {
		t.Errorf("%d of %d UDP ports followed the previous one; want random", seq, len(firsts))
	}
}

// TestMacOSOneCounterAcrossSources shows the path the model keeps: the BSD
// socket path's one TCP counter per protocol (tcbinfo's lastport), shared
// by every source address. Skywalk's netns_reserve_ephemeral keeps one
// counter per local address instead; that path is left out (see xnuAlloc).
func TestMacOSOneCounterAcrossSources(t *testing.T) {
	r := allocator.Range{Lo: 49152, Hi: 65535}
	a := osaBuild(t, "macos", r, 1, nil)
	all := &osaRecorder{}
	f := osaFlow(0)
	g := osaFlow(1)
	g.Src = netip.MustParseAddr("10.0.0.2")
	got := []uint16{osaAlloc(t, a, 0, f, all), osaAlloc(t, a, 0, g, all), osaAlloc(t, a, 0, f, all)}
	if got[0] != 49152 || got[1] != 49153 || got[2] != 49154 {
		t.Fatalf("ports %v from two source addresses, want 49152, 49153, 49154 (one counter)", got)
	}
}
