package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// countingFree is the reference: one Free call per candidate, counting.
type countingFree struct {
	c *checker
	n int
}

func (r *countingFree) Free(p uint16, f allocator.Flow) bool {
	r.n++
	return !r.c.blocked(p)
}

// TestScanFreeMatchesFree checks the simulator's batch answers against
// one Free per candidate, over random tables (dense and sparse, with
// reserved and bound ports) and every cycle shape allocators use: the
// port, the number of candidates examined and the probes counted must all
// be identical (allocator.Scanner's contract).
func TestScanFreeMatchesFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 3000 {
		lo := uint16(1 + rng.IntN(60000))
		hi := lo + uint16(rng.IntN(min(65535-int(lo), 5000)+1))
		st := stack(lo, hi, 0)
		if rng.IntN(3) == 0 {
			a := lo + uint16(rng.IntN(int(hi-lo)+1))
			st.Range.Reserved = []allocator.Span{{Lo: a, Hi: a + uint16(rng.IntN(int(hi-a)+1))}}
			if st.Range.Usable() == 0 {
				st.Range.Reserved = nil
			}
		}
		s, err := newState(Config{Allocator: "sequential", Stack: st, Script: []workload.Arrival{}, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		s.binds, s.trackUsed = true, true // this test fills the bound and used sets itself
		f := allocator.Flow{Path: allocator.Connect, Src: src1, Dst: dstA}
		if rng.IntN(4) == 0 {
			f.Path = allocator.Bind
		}
		src, dst := s.tables(f)
		density := []float64{0, 0.001, 0.005, 0.3, 0.9, 0.99, 1}[rng.IntN(7)]
		for p := int(lo); p <= int(hi); p++ {
			if st.Range.IsReserved(uint16(p)) {
				continue // the simulator never holds a reserved port
			}
			if rng.Float64() < density {
				dst.setBlock(uint16(p)) // small form up to smallPorts ports, dense above
				src.used.inc(uint16(p))
			}
			if rng.IntN(50) == 0 {
				src.bound.inc(uint16(p))
				src.used.inc(uint16(p))
			}
		}
		s.chk.setFlow(f, src, dst)
		size := int(hi-lo) + 1
		var cy allocator.Cycle
		switch rng.IntN(5) {
		case 0:
			cy = allocator.Cycle{Base: lo, Len: size, Step: 1}
		case 1:
			cy = allocator.Cycle{Base: lo, Len: size &^ 1, Step: 2}
			if cy.Len == 0 {
				cy.Len = 1
			}
		case 2:
			cy = allocator.Cycle{Base: lo, Len: size, Step: max(size-1, 1)}
		case 3:
			cy = allocator.Cycle{Base: lo, Len: size, Step: 1 + rng.IntN(size)}
		default:
			cy = allocator.Cycle{Base: lo, Len: size, Step: 2} // odd lengths: fallback path
		}
		off := rng.IntN(cy.Len)
		n := 1 + rng.IntN(2*cy.Len)
		ref := &countingFree{c: &s.chk}
		wp, wk, wok := allocator.ScanEach(ref, f, cy, off, n)
		s.chk.probes = 0
		gp, gk, gok := s.chk.ScanFree(f, cy, off, n)
		if gp != wp || gk != wk || gok != wok || s.chk.probes != ref.n {
			t.Fatalf("trial %d (dense %v): cycle %+v off %d n %d path %v density %v: ScanFree = (%d, %d, %v) with %d probes, Free gives (%d, %d, %v) with %d",
				trial, dst.dense != nil, cy, off, n, f.Path, density, gp, gk, gok, s.chk.probes, wp, wk, wok, ref.n)
		}
	}
}

// TestSmallAndDenseTables checks that a pair's table answers the same in
// its small and dense forms, through the switch between them.
func TestSmallAndDenseTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	small := &dstTable{}
	ref := map[uint16]bool{}
	refTW := map[uint16]bool{}
	for i := range 5000 {
		p := uint16(1000 + rng.IntN(200))
		switch rng.IntN(4) {
		case 0:
			small.setBlock(p)
			ref[p] = true
		case 1:
			small.clearBlock(p)
			delete(ref, p)
		case 2:
			small.setTW(p)
			refTW[p] = true
		default:
			small.clearTW(p)
			delete(refTW, p)
		}
		small.rec(p, 1000, 200).lastSeq = uint64(i + 1)
		for q := uint16(1000); q < 1200; q++ {
			if small.blocked(q) != ref[q] || small.inTW(q) != refTW[q] {
				t.Fatalf("step %d (dense %v): port %d blocked %v tw %v, want %v %v", i, small.dense != nil, q, small.blocked(q), small.inTW(q), ref[q], refTW[q])
			}
		}
	}
	if small.dense == nil {
		t.Fatal("the table never turned dense")
	}
	if small.rec(1000, 1000, 200).lastSeq == 0 {
		t.Error("history lost")
	}
	// The history array: more than smallRecs ports.
	big := &dstTable{}
	for p := range uint16(smallRecs + 10) {
		big.rec(10000+p, 10000, smallRecs+10).lastSeq = uint64(p) + 1
	}
	if big.recs == nil {
		t.Fatal("history never became an array")
	}
	for p := range uint16(smallRecs + 10) {
		if got := big.rec(10000+p, 10000, smallRecs+10).lastSeq; got != uint64(p)+1 {
			t.Fatalf("port %d: history %d, want %d", 10000+p, got, p+1)
		}
	}
}

// TestPortSetSummaries checks the parity summaries after random sets and
// clears.
func TestPortSetSummaries(t *testing.T) {
	var s portSet
	s.init()
	rng := rand.New(rand.NewPCG(5, 6))
	ref := map[uint16]bool{}
	for range 200000 {
		p := uint16(rng.IntN(4096 * 3))
		if rng.IntN(3) == 0 {
			s.clear(p)
			delete(ref, p)
		} else {
			s.set(p)
			ref[p] = true
		}
	}
	for w := range numWords {
		var v uint64
		for b := range 64 {
			if ref[uint16(w*64+b)] {
				v |= 1 << b
			}
		}
		if s.word(w) != v {
			t.Fatalf("word %d = %x, want %x", w, s.word(w), v)
		}
		even := s.sumEven[w>>6]&(1<<(w&63)) != 0
		odd := s.sumOdd[w>>6]&(1<<(w&63)) != 0
		if even != (^v&evenMask != 0) || odd != (^v&oddMask != 0) {
			t.Fatalf("word %d: summaries even %v odd %v for %x", w, even, odd, v)
		}
	}
}
