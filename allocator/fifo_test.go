package allocator_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/portsim/portsim/allocator"
)

// TestFIFOSpec checks the fifo flags: HAProxy tries at most 10 ports per
// connection whatever the range (src/proto_tcp.c tcp_connect_server), so
// the bound is 10 and the search is not exhaustive.
func TestFIFOSpec(t *testing.T) {
	s := osaSpec(t, "fifo")
	if s.Exhaustive {
		t.Error("fifo: Exhaustive, but ten tries do not cover the range")
	}
	for _, r := range []allocator.Range{{Lo: 1000, Hi: 1002}, {Lo: 1000, Hi: 1999}, {Lo: 32768, Hi: 60999}} {
		if b := osaBound(t, "fifo", r, nil); b != 10 {
			t.Errorf("range %v: Bound %d, want 10", r, b)
		}
	}
}

// TestFIFOLeastRecentlyReleased checks the free-list order (docs/figures.md#t2-linux-2022-reuse-distance,
// "LRU/FIFO free list (HAProxy style)"): ports are handed out in range
// order at first, then in the order they were released.
func TestFIFOLeastRecentlyReleased(t *testing.T) {
	r := allocator.Range{Lo: 100, Hi: 109}
	a := osaBuild(t, "fifo", r, 1, nil)
	rel := a.(allocator.Releaser)
	all := &osaRecorder{}
	for i := range 10 {
		if p := osaAlloc(t, a, 0, osaFlow(i), all); p != 100+uint16(i) {
			t.Fatalf("allocation %d: %d, want %d", i, p, 100+i)
		}
	}
	all.reset()
	if _, err := a.Allocate(0, osaFlow(0), all); !errors.Is(err, allocator.ErrExhausted) || len(all.probes) != 0 {
		t.Fatalf("every port out: err %v after %d probes, want ErrExhausted without a probe", err, len(all.probes))
	}
	released := []uint16{105, 100, 109, 101} // the range's ends included
	for _, p := range released {
		rel.Release(0, osaFlow(0), p)
	}
	rel.Release(0, osaFlow(0), 101) // already back: ignored
	for _, p := range []uint16{99, 110, 999} {
		rel.Release(0, osaFlow(0), p) // not in the range: ignored
	}
	var got []uint16
	for i := range len(released) {
		got = append(got, osaAlloc(t, a, 0, osaFlow(i), all))
	}
	if !slices.Equal(got, released) {
		t.Fatalf("after releasing %v got %v", released, got)
	}
	if _, err := a.Allocate(0, osaFlow(0), all); !errors.Is(err, allocator.ErrExhausted) {
		t.Fatalf("a port released twice was handed out twice: %v", err)
	}
}

// TestFIFOAttempts checks HAProxy's retry loop: a refused port goes back to
// the tail, and a connection gives up after 10 binds even while other
// ports are free.
func TestFIFOAttempts(t *testing.T) {
	r := allocator.Range{Lo: 100, Hi: 119}
	a := osaBuild(t, "fifo", r, 1, nil)
	busy := &osaRecorder{deny: func(p uint16) bool { return p < 110 }}
	if _, err := a.Allocate(0, osaFlow(0), busy); !errors.Is(err, allocator.ErrExhausted) {
		t.Fatalf("ports 100-109 busy: %v, want ErrExhausted although 110-119 are free", err)
	}
	want := []uint16{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}
	if !slices.Equal(busy.probes, want) {
		t.Fatalf("probes %v, want %v", busy.probes, want)
	}
	// The refused ports went to the tail: the next call starts at 110.
	busy.reset()
	if p := osaAlloc(t, a, 0, osaFlow(0), busy); p != 110 || len(busy.probes) != 1 {
		t.Fatalf("next call: %d after %v, want 110 at once", p, busy.probes)
	}
	// Then 111..119, then the old refused ports in their order.
	all := &osaRecorder{}
	for i := range 9 {
		osaAlloc(t, a, 0, osaFlow(i), all)
	}
	if p := osaAlloc(t, a, 0, osaFlow(0), all); p != 100 {
		t.Fatalf("after the fresh ports: %d, want 100", p)
	}

	// With three ports all refused, the ten tries cycle through them.
	b := osaBuild(t, "fifo", allocator.Range{Lo: 100, Hi: 102}, 1, nil)
	none := &osaRecorder{deny: func(uint16) bool { return true }}
	if _, err := b.Allocate(0, osaFlow(0), none); !errors.Is(err, allocator.ErrExhausted) {
		t.Fatal(err)
	}
	if want := []uint16{100, 101, 102, 100, 101, 102, 100, 101, 102, 100}; !slices.Equal(none.probes, want) {
		t.Fatalf("probes %v, want %v", none.probes, want)
	}
}
