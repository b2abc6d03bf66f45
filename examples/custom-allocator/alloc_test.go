package main

import (
	"net/netip"
	"testing"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestConformance runs portsim's conformance kit on the example
// allocator: ports in range, never a refused port, the probe bound, the
// same seed giving the same ports.
func TestConformance(t *testing.T) {
	allocatortest.Run(t, exampleSpec(), nil)
	allocatortest.Run(t, exampleSpec(), map[string]string{"incr": "1"})
}

// TestPerDestinationSteps checks the property the algorithm is for: to
// one destination, successive ports (on a free range) differ by a step
// in 1..incr, and allocations to another destination do not move that
// destination's counter.
func TestPerDestinationSteps(t *testing.T) {
	r := allocator.Range{Lo: 10000, Hi: 19999}
	a, err := exampleSpec().Build(allocator.Config{Range: r, Seed: 1, Params: map[string]string{"incr": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	one := allocator.Flow{Path: allocator.Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("192.0.2.1:443")}
	other := one
	other.Dst = netip.MustParseAddrPort("192.0.2.2:443")
	table := &allocatortest.Table{Scope: allocator.FourTuple, Range: r}
	prev, err := a.Allocate(0, one, table)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		// Interleave another destination: it must not move one's counter.
		if _, err := a.Allocate(0, other, table); err != nil {
			t.Fatal(err)
		}
		p, err := a.Allocate(0, one, table)
		if err != nil {
			t.Fatal(err)
		}
		step := (int(p) - int(prev) + r.Size()) % r.Size()
		if step < 1 || step > 100 {
			t.Fatalf("allocation %d: port %d after %d, a step of %d outside 1..100", i, p, prev, step)
		}
		prev = p
	}
}
