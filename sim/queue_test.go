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
			slices.SortFunc(ref, func(a, b closeEvent) int {
				if a.less(b) {
					return -1
				}
				if b.less(a) {
					return 1
				}
				return 0
			})
			want := ref[0]
			ref = ref[1:]
			if got := h.pop(); got != want {
				t.Fatalf("trial %d step %d: pop = %+v, want %+v", trial, step, got, want)
			}
			if len(h) != len(ref) {
				t.Fatalf("trial %d step %d: heap holds %d, want %d", trial, step, len(h), len(ref))
			}
		}
	}
}
