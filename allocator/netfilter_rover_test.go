package allocator_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/portsim/portsim/allocator"
)

// TestNetfilterRoverSharedStart checks the rover of
// docs/allocators.md#netfilter-rover: a search starts where the last one
// ended, for every destination, so two searches that see the same
// confirmed entries (two CPUs translating at once) take the same port;
// the next search after the first is confirmed moves on by one. With
// --random every flow to one destination starts at one offset, with
// --random-fully the starts differ.
func TestNetfilterRoverSharedStart(t *testing.T) {
	r := allocator.Range{Lo: 1024, Hi: 1123}
	a := lxNew(t, "netfilter-rover", r, 5, nil)
	taken := map[uint16]bool{}
	c := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return taken[p] }}
	first := lxAlloc(t, a, 0, nfFlow(0), c)
	// Not yet confirmed: the next search finds the same port free.
	if p := lxAlloc(t, a, 0, nfFlow(0), c); p != first {
		t.Errorf("a concurrent search took %d, want the rover's %d", p, first)
	}
	taken[first] = true
	// Confirmed: one probe of it, then the next port, for any destination.
	other := nfFlow(0)
	other.Dst = netip.MustParseAddrPort("192.0.2.9:80")
	c.probes = nil
	want := r.Lo + (first-r.Lo+1)%100
	if p := lxAlloc(t, a, 0, other, c); p != want || len(c.probes) != 2 {
		t.Errorf("after a confirm: got %d in %d probes, want %d in 2", p, len(c.probes), want)
	}

	// --random: a keyed hash of the addresses and port, not a rover.
	b := lxNew(t, "netfilter-rover", r, 5, map[string]string{"random": "true"})
	free := &lxChecker{}
	p1, p2 := lxAlloc(t, b, 0, nfFlow(40000), free), lxAlloc(t, b, 0, nfFlow(40001), free)
	if p1 != p2 {
		t.Errorf("--random: two flows to one destination start at %d and %d, want one offset", p1, p2)
	}
	// --random-fully: random starts; 20 flows on 100 ports do not all agree.
	f := lxNew(t, "netfilter-rover", r, 5, map[string]string{"random-fully": "true"})
	seen := map[uint16]bool{}
	for range 20 {
		seen[lxAlloc(t, f, 0, nfFlow(0), free)] = true
	}
	if len(seen) < 10 {
		t.Errorf("--random-fully: 20 flows took only %d ports", len(seen))
	}
}

// TestNetfilterRoverFullScan checks that the scan covers the whole range
// from the rover, wrapping, and fails only when every port is taken.
func TestNetfilterRoverFullScan(t *testing.T) {
	r := allocator.Range{Lo: 2000, Hi: 2009}
	a := lxNew(t, "netfilter-rover", r, 1, nil)
	free := uint16(2003)
	c := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p != free }}
	if p := lxAlloc(t, a, 0, nfFlow(0), c); p != free {
		t.Fatalf("got %d, want the one free port %d", p, free)
	}
	all := &lxChecker{deny: func(uint16, allocator.Flow) bool { return true }}
	if _, err := a.Allocate(0, nfFlow(0), all); !errors.Is(err, allocator.ErrExhausted) || len(all.probes) != 10 {
		t.Errorf("full range: err %v after %d probes, want ErrExhausted after 10", err, len(all.probes))
	}
}
