package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCloseHeapOrder checks the close heap against a sorted reference
// under random interleavings of pushes and pops, with many equal times so
// that the tie-break by seq is exercised.
func TestCloseHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		var h closeHeap
		var ref []closeEvent
		var seq uint64
		for step := range 2000 {
			if len(ref) == 0 || rng.IntN(3) > 0 {
				seq++
				e := closeEvent{at: int64(rng.IntN(1 + trial)), seq: seq, conn: int32(step)}
				h.push(e)
				ref = append(ref, e)
				continue
			}
			// The reference's first close: the least by (at, seq), compared
			// here without the heap's own less; seqs are unique, so it is
			// unique.
			first := 0
			for i, e := range ref {
				if f := ref[first]; e.at < f.at || e.at == f.at && e.seq < f.seq {
					first = i
				}
			}
			want := ref[first]
			ref = slices.Delete(ref, first, first+1)
			if got := h.pop(); got != want {
				t.Fatalf("trial %d step %d: pop = %+v, want %+v", trial, step, got, want)
			}
			if len(h) != len(ref) {
				t.Fatalf("trial %d step %d: heap holds %d, want %d", trial, step, len(h), len(ref))
			}
		}
	}
}

// TestFifoOrder checks the timer queue against a slice under random
// interleavings, across block boundaries and through empty states.
func TestFifoOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	q := newFifo()
	var ref []timer
	for step := range 200000 {
		if len(ref) > 0 && rng.IntN(100) < 50+20*(step/20000%2) {
			want := ref[0]
			ref = ref[1:]
			if got := *q.peek(); got != want {
				t.Fatalf("step %d: peek = %+v, want %+v", step, got, want)
			}
			if got := q.pop(); got != want {
				t.Fatalf("step %d: pop = %+v, want %+v", step, got, want)
			}
		} else {
			tm := timer{at: int64(step), dst: int32(rng.IntN(5)), port: uint16(rng.IntN(65536)), bind: rng.IntN(2) == 0}
			q.push(tm)
			ref = append(ref, tm)
		}
		if q.size != len(ref) {
			t.Fatalf("step %d: size %d, want %d", step, q.size, len(ref))
		}
		if want := int64(never); len(ref) > 0 && q.next != ref[0].at || len(ref) == 0 && q.next != want {
			t.Fatalf("step %d: next %d with %d queued", step, q.next, len(ref))
		}
	}
	if len(q.blocks) > len(ref)/fifoBlock+2 {
		t.Errorf("%d blocks in use for %d timers", len(q.blocks), len(ref))
	}
}
