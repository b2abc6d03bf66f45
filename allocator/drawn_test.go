package allocator

import (
	"math/rand/v2"
	"testing"
)

// TestDrawnTableMatchesFill checks that a table drawn block by block, in
// any order of first use, holds what filling it in order from the table
// stream would: cell i is the (i+1)-th Uint32 of newRNG(seed, streamTable).
func TestDrawnTableMatchesFill(t *testing.T) {
	for _, size := range []int{1, 2, 32, 64, 128, 4096, 1 << 16, 1 << 20} {
		for _, seed := range []uint64{0, 1, 0xdeadbeef, ^uint64(0)} {
			if size == 1<<20 && seed != 1 {
				continue // the largest table, whose jumps go up to 2^19 draws, once
			}
			want := make([]uint32, size)
			fill := newRNG(seed, streamTable)
			for i := range want {
				want[i] = fill.Uint32()
			}
			d := newDrawnTable(seed, size)
			// Its index holds one entry per 64 cells, and it keeps the
			// fewest jumps that reach its last block.
			if want := (size + 63) / 64; len(d.blocks) != want {
				t.Fatalf("size %d: %d blocks, want %d", size, len(d.blocks), want)
			}
			if j := len(d.jumps); 1<<j < len(d.blocks) || (j > 0 && 1<<(j-1) >= len(d.blocks)) {
				t.Fatalf("size %d: %d jumps for %d blocks, want the fewest that reach the last", size, j, len(d.blocks))
			}
			// First uses at random cells, then every cell.
			pick := rand.New(rand.NewPCG(seed, 7))
			for range min(size, 300) {
				i := pick.IntN(size)
				if got := *d.at(uint32(i)); got != want[i] {
					t.Fatalf("size %d seed %#x: cell %d drawn first is %#x, want %#x", size, seed, i, got, want[i])
				}
			}
			for i := range want {
				if got := *d.at(uint32(i)); got != want[i] {
					t.Fatalf("size %d seed %#x: cell %d is %#x, want %#x", size, seed, i, got, want[i])
				}
			}
		}
	}
}

// TestDrawnTableKeepsWrites checks that a cell written keeps its value
// when other blocks are drawn afterwards.
func TestDrawnTableKeepsWrites(t *testing.T) {
	d := newDrawnTable(3, 1<<12)
	*d.at(5) += 7
	want := *d.at(5)
	for i := uint32(64); i < 1<<12; i += 64 {
		d.at(i)
	}
	if got := *d.at(5); got != want {
		t.Fatalf("cell 5 is %#x after drawing the other blocks, want %#x", got, want)
	}
}
