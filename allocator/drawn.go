package allocator

import (
	"math/bits"
	"math/rand/v2"
)

// drawnBlock is how many cells of a drawnTable are drawn at once.
const drawnBlock = 64

// drawnTable is a table of uint32 cells that start random, as the kernel's
// table_perturb does (get_random_bytes at boot): cell i starts as the
// (i+1)-th Uint32 of newRNG(seed, streamTable), exactly as if the table had
// been filled in order. It is drawn a block of 64 cells at a time, on the
// first use of a cell of the block, so that a namespace that opens a few
// connections (an inside host of the SNAT race) neither draws nor holds
// 2^16 cells. The zero value is not usable; see newDrawnTable.
type drawnTable struct {
	blocks []*[drawnBlock]uint32 // nil until drawn
	size   int                   // cells
	start  [2]uint64             // the generator's state (hi, lo) before its first draw
	jumps  []lcgJump             // jumps[k] advances the state by drawnBlock<<k draws
	pcg    rand.PCG              // scratch generator for drawing a block
}

// newDrawnTable returns a table of size cells drawn from the seed's table
// stream.
func newDrawnTable(seed uint64, size int) *drawnTable {
	t := &drawnTable{
		blocks: make([]*[drawnBlock]uint32, (size+drawnBlock-1)/drawnBlock),
		size:   size,
		start:  [2]uint64{seed, streamSeed(streamTable)},
	}
	step := pcgStep()
	for range bits.TrailingZeros(drawnBlock) {
		step = step.then(step)
	}
	for k := 0; k < bits.Len(uint(len(t.blocks)-1)); k++ {
		t.jumps = append(t.jumps, step)
		step = step.then(step)
	}
	return t
}

// at returns cell i, drawing its block first if need be. i must be less
// than the table's size.
func (t *drawnTable) at(i uint32) *uint32 {
	b := t.blocks[i/drawnBlock]
	if b == nil {
		b = t.draw(int(i / drawnBlock))
	}
	return &b[i%drawnBlock]
}

// draw draws block b: it jumps the generator from its start over the
// b·64 draws of the blocks before, then draws the block's cells in order.
func (t *drawnTable) draw(b int) *[drawnBlock]uint32 {
	hi, lo := t.start[0], t.start[1]
	for k, j := range t.jumps {
		if b&(1<<k) != 0 {
			hi, lo = j.apply(hi, lo)
		}
	}
	t.pcg.Seed(hi, lo) // rand.PCG's state is (hi, lo) = (seed1, seed2)
	cells := new([drawnBlock]uint32)
	for i := range min(drawnBlock, t.size-b*drawnBlock) {
		cells[i] = uint32(t.pcg.Uint64() >> 32) // rand.Rand.Uint32
	}
	t.blocks[b] = cells
	return cells
}

// lcgJump is the affine map s -> mul·s + inc modulo 2^128 on the state of
// a 128-bit linear congruential generator, held as (hi, lo) halves.
type lcgJump struct{ mulHi, mulLo, incHi, incLo uint64 }

// pcgStep returns one step of math/rand/v2's PCG, the 128-bit LCG of
// O'Neill's pcg-cpp (pcg_random.hpp: default_multiplier and
// default_increment for 128 bits) that rand.PCG advances before each output.
func pcgStep() lcgJump {
	return lcgJump{
		mulHi: 2549297995355413924, mulLo: 4865540595714422341,
		incHi: 6364136223846793005, incLo: 1442695040888963407,
	}
}

// apply returns mul·(hi, lo) + inc modulo 2^128.
func (j lcgJump) apply(hi, lo uint64) (uint64, uint64) {
	h, l := mul128(j.mulHi, j.mulLo, hi, lo)
	l, c := bits.Add64(l, j.incLo, 0)
	h, _ = bits.Add64(h, j.incHi, c)
	return h, l
}

// then returns the map that applies j and then k:
// k.mul·(j.mul·s + j.inc) + k.inc.
func (j lcgJump) then(k lcgJump) lcgJump {
	mh, ml := mul128(k.mulHi, k.mulLo, j.mulHi, j.mulLo)
	ih, il := k.apply(j.incHi, j.incLo)
	return lcgJump{mulHi: mh, mulLo: ml, incHi: ih, incLo: il}
}

// mul128 returns (ah, al)·(bh, bl) modulo 2^128.
func mul128(ah, al, bh, bl uint64) (uint64, uint64) {
	h, l := bits.Mul64(al, bl)
	return h + ah*bl + al*bh, l
}
