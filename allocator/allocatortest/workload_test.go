package allocatortest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// recorder is a correct allocator with a free list that lets a test see
// the tables the kit builds: it returns the first free port after a
// seeded random offset, asks about every port of its range on its first
// call to record the ones refused, and records how many of its ports are
// held (handed out and not released) at each call.
type recorder struct {
	r       allocator.Range
	rng     *rand.Rand
	out     int             // ports handed out and not released
	held    []int           // out at each call
	refused map[uint16]bool // ports refused at the first call
}

func (a *recorder) Allocate(_ time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	n := a.r.Size()
	a.held = append(a.held, a.out)
	first := a.refused == nil
	if first {
		a.refused = map[uint16]bool{}
	}
	off := a.rng.IntN(n)
	var got uint16
	for k := range n {
		p := a.r.Lo + uint16((off+k)%n)
		switch free := c.Free(p, f); {
		case !free && first:
			a.refused[p] = true
		case free && got == 0:
			got = p
		}
		if got != 0 && !first {
			break
		}
	}
	if got == 0 {
		return 0, allocator.ErrExhausted
	}
	a.out++
	return got, nil
}

func (a *recorder) Release(time.Duration, allocator.Flow, uint16) { a.out-- }

// TestKitWorkload checks the tables the kit presents, which are part of
// its promise: the busy table refuses the reserved ports and every port
// p with p mod 17 = 3, and holds up to 600 ports at once and no more; the
// determinism check holds up to 300 ports, reached after 300 calls. The
// kit releases every port it drops, so the recorder's count of ports out
// is the count the kit holds.
func TestKitWorkload(t *testing.T) {
	var built []*recorder
	spec := allocator.Spec{
		Name: "recorder", Summary: "asks about every port", Source: "a test of the kit",
		Profile:    allocator.Profile{Range: allocator.Range{Lo: 32768, Hi: 60999}, TimeWait: time.Minute, Scope: allocator.Exclusive},
		Bound:      func(cfg allocator.Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg allocator.Config) (allocator.Allocator, error) {
			a := &recorder{r: cfg.Range, rng: rand.New(rand.NewPCG(cfg.Seed, 0))}
			built = append(built, a)
			return a, nil
		},
	}
	Run(t, spec, nil)
	if t.Failed() {
		t.Fatal("the kit rejects a correct allocator")
	}

	// The busy table, the allocator's own (exclusive) scope first.
	var busy *recorder
	var det []*recorder
	for _, a := range built {
		switch {
		case a.r.Lo == 40000 && busy == nil:
			busy = a
		case a.r.Lo == 32768 && a.r.Hi == 33767:
			det = append(det, a)
		}
	}
	if busy == nil || len(det) != 3 {
		t.Fatalf("found %v busy tables and %d determinism runs; want one and 3", busy != nil, len(det))
	}
	want := map[uint16]bool{}
	for p := busy.r.Lo; p <= busy.r.Hi; p++ {
		if busy.r.IsReserved(p) || p%17 == 3 {
			want[p] = true
		}
	}
	if len(busy.refused) != len(want) {
		t.Errorf("busy table: %d ports refused before any is held, want %d (reserved or p mod 17 = 3)", len(busy.refused), len(want))
	}
	for p := range want {
		if !busy.refused[p] {
			t.Errorf("busy table: port %d not refused", p)
		}
	}
	most := 0
	for _, held := range busy.held {
		most = max(most, held)
	}
	if len(busy.held) != 3000 || most != 600 {
		t.Errorf("busy table: %d calls, at most %d ports held; want 3000 calls and 600 held at most", len(busy.held), most)
	}
	for k, a := range det {
		for i, held := range a.held {
			if held != min(i, 300) {
				t.Fatalf("determinism run %d, call %d: %d ports held, want %d", k, i, held, min(i, 300))
			}
		}
	}
}
