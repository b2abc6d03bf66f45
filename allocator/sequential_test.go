package allocator_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestSequential checks the traditional BSD counter (docs/allocators.md#rfc-6056-algorithms,
// RFC 6056 §2.2) and its descending form, NetBSD's bsd (§12 item 13): one
// counter stepped by one, skipping ports in use, wrapping at the end of
// the range, failing after N probes when every port is taken.
func TestSequential(t *testing.T) {
	r := allocator.Range{Lo: 100, Hi: 104}
	for _, tc := range []struct {
		descending string
		busy       uint16
		want       []uint16
	}{
		{"false", 102, []uint16{100, 101, 103, 104}},
		{"true", 102, []uint16{104, 103, 101, 100}},
	} {
		t.Run("descending="+tc.descending, func(t *testing.T) {
			a := osaBuild(t, "sequential", r, 1, map[string]string{"descending": tc.descending})
			tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
			tab.Hold(tc.busy, osaFlow(99))
			var got []uint16
			for i := range 4 {
				p := osaAlloc(t, a, 0, osaFlow(i), tab)
				tab.Hold(p, osaFlow(i))
				got = append(got, p)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ports %v, want %v", got, tc.want)
			}
			tab.Reset()
			if _, err := a.Allocate(0, osaFlow(9), tab); !errors.Is(err, allocator.ErrExhausted) || tab.Probes != 5 {
				t.Fatalf("all taken: err %v after %d probes, want ErrExhausted after 5", err, tab.Probes)
			}
			// Freeing the first port: the counter wraps around to it.
			tab.Drop(tc.want[0], osaFlow(0))
			tab.Reset()
			if p := osaAlloc(t, a, 0, osaFlow(0), tab); p != tc.want[0] {
				t.Fatalf("after the wrap: %d, want %d", p, tc.want[0])
			}
		})
	}
	s := osaSpec(t, "sequential")
	if !s.Exhaustive {
		t.Error("sequential: not Exhaustive")
	}
}
