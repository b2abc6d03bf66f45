package sim

import (
	"math/bits"
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
// one Free per candidate, over random tables and every cycle shape
// allocators use: the port, the number of candidates examined and the
// probes counted must all be identical (allocator.Scanner's contract).
// The tables are uniformly random (small and dense forms, with reserved
// and bound ports), or sparse with long runs of blocked ports, of both
// parities or one, so that a scan skips whole words by their summaries,
// or with a whole parity (or everything) taken, which the scan answers
// in one comparison. It counts the trials of each kind and fails if the
// generator missed one.
func TestScanFreeMatchesFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]int{}
	for trial := range 3000 {
		lo := uint16(1 + rng.IntN(40000))
		span := 5000
		if rng.IntN(3) == 0 {
			span = 20000 // several 4096-port chunks, some never touched
		}
		hi := lo + uint16(rng.IntN(min(65535-int(lo), span)+1))
		st := stack(lo, hi, 0)
		if rng.IntN(3) == 0 {
			a := lo + uint16(rng.IntN(int(hi-lo)+1))
			st.Range.Reserved = []allocator.Span{{Lo: a, Hi: a + uint16(rng.IntN(int(hi-a)+1))}}
			if st.Range.Usable() == 0 {
				st.Range.Reserved = nil
			}
		}
		s, err := newState(Config{Allocator: mustSpec("sequential"), Stack: st, Script: []workload.Arrival{}, MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		// This test fills the bound and used sets itself; without bound
		// ports, a 4-tuple connect is decided by its table alone.
		s.binds, s.trackUsed = rng.IntN(2) == 0, true
		f := allocator.Flow{Path: allocator.Connect, Src: src1, Dst: dstA}
		if rng.IntN(4) == 0 {
			f.Path = allocator.Bind
		}
		src, dst := s.tables(f)
		hold := func(p int) {
			if st.Range.IsReserved(uint16(p)) {
				return // the simulator never holds a reserved port
			}
			if dst.blocked(uint16(p)) {
				return // held already
			}
			dst.setBlock(uint16(p)) // small form up to smallPorts ports, dense above
			src.used.inc(uint16(p))
		}
		shape := []string{"uniform", "runs", "parity full"}[rng.IntN(3)]
		density := []float64{0, 0.001, 0.005, 0.3, 0.9, 0.99, 1}[rng.IntN(7)]
		runFrom, runTo := -1, -1 // the last run of blocked ports
		switch shape {
		case "runs":
			density = []float64{0, 0, 0.001, 0.01}[rng.IntN(4)]
			for range 1 + rng.IntN(4) {
				from := int(lo) + rng.IntN(int(hi-lo)+1)
				to := min(int(hi), from+rng.IntN(3000))
				runFrom, runTo = from, to
				par := rng.IntN(3) // 0 even, 1 odd, 2 both
				for p := from; p <= to; p++ {
					if par == 2 || p&1 == par {
						hold(p)
					}
				}
			}
		case "parity full":
			par := rng.IntN(2)
			for p := int(lo); p <= int(hi); p++ {
				if p&1 == par {
					hold(p)
				}
			}
		}
		for p := int(lo); p <= int(hi); p++ {
			if rng.Float64() < density {
				hold(p)
			}
			if s.binds && rng.IntN(50) == 0 && !st.Range.IsReserved(uint16(p)) {
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
		if runFrom >= 0 && rng.IntN(2) == 0 {
			// Start the scan at one end of a run, where it must skip it.
			off = (runFrom - int(lo)) % cy.Len
			if cy.Step == cy.Len-1 {
				off = (runTo - int(lo)) % cy.Len
			}
		}
		n := 1 + rng.IntN(2*cy.Len)
		if rng.IntN(4) == 0 {
			n = cy.Len // a whole pass, as Linux makes
		}
		ref := &countingFree{c: &s.chk}
		wp, wk, wok := allocator.ScanEach(ref, f, cy, off, n)
		s.chk.probes = 0
		gp, gk, gok := s.chk.ScanFree(f, cy, off, n)
		if gp != wp || gk != wk || gok != wok || s.chk.probes != ref.n {
			t.Fatalf("trial %d (%s, dense %v): cycle %+v off %d n %d path %v density %v: ScanFree = (%d, %d, %v) with %d probes, Free gives (%d, %d, %v) with %d",
				trial, shape, dst.dense != nil, cy, off, n, f.Path, density, gp, gk, gok, s.chk.probes, wp, wk, wok, ref.n)
		}
		// What the trial exercised.
		if s.chk.small != nil {
			seen["small table"]++
			continue
		}
		step := cy.Step % cy.Len
		if cy.Len > 1 && step != 1 && !(step == 2 && cy.Len%2 == 0) && step != cy.Len-1 {
			seen["other step"]++
			continue
		}
		if s.chk.allTaken(int(cy.Base), cy.Len, step, off%cy.Len, n) {
			seen["all taken"]++
			continue
		}
		// Words the scan passed over whole: every port of its parity in
		// them was a candidate, blocked by the primary set.
		mask := ^uint64(0)
		if step == 2 && cy.Len%2 == 0 {
			mask = evenMask
			if (int(cy.Base)+off)&1 == 1 {
				mask = oddMask
			}
		}
		skipped := 0
		for i, w := 0, -1; i < wk; i++ {
			p := int(cy.Base) + (off+i*step)%cy.Len
			if p>>6 != w {
				w = p >> 6
				if s.chk.primary.word(w)&mask == mask {
					skipped++
				}
			}
		}
		switch {
		case skipped >= 2 && sparseChunk(s.chk.primary, int(lo), int(hi)):
			seen["skips, sparse chunks"]++
		case skipped >= 2:
			seen["skips"]++
		default:
			seen["no skip"]++
		}
	}
	t.Logf("trials by kind: %v", seen)
	for _, k := range []string{"small table", "other step", "all taken", "skips, sparse chunks", "skips", "no skip"} {
		if seen[k] < 30 {
			t.Errorf("%d trials of kind %q; want at least 30 (seen: %v)", seen[k], k, seen)
		}
	}
}

// sparseChunk reports whether a chunk of the range lo..hi holds no port
// of the set (it was never allocated, or emptied).
func sparseChunk(s *portSet, lo, hi int) bool {
	for c := lo >> 12; c <= hi>>12; c++ {
		if s.chunks[c] == nil {
			return true
		}
	}
	return false
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

// TestPortSetSummaries checks the parity summaries, the counts and the
// word search of portSet against a plain reference after sets and clears
// that drive words to every edge case a summary decides: all clear, all
// set, only the even or only the odd ports set, all but one port of a
// parity set, and random words, in chunks allocated and not, then cleared
// again. It counts the words of each kind it checked and fails if the
// generator missed one.
func TestPortSetSummaries(t *testing.T) {
	var s portSet
	s.init()
	rng := rand.New(rand.NewPCG(5, 6))
	ref := map[uint16]bool{}
	put := func(p uint16, on bool) {
		if on {
			s.set(p)
			ref[p] = true
		} else {
			s.clear(p)
			delete(ref, p)
		}
	}
	const words = 4096 * 3 / 64 // three chunks; the others stay unallocated
	seen := map[string]int{}
	for round := range 60 {
		// Drive some words to a target pattern, port by port in a random
		// order, and toggle a few ports at random.
		for range 40 {
			w := rng.IntN(words)
			var target uint64
			switch rng.IntN(8) {
			case 0:
				target = 0
			case 1:
				target = ^uint64(0)
			case 2:
				target = evenMask
			case 3:
				target = oddMask
			case 4:
				target = evenMask &^ (1 << (2 * rng.IntN(32)))
			case 5:
				target = oddMask &^ (1 << (2*rng.IntN(32) + 1))
			case 6:
				target = ^uint64(0) &^ (1 << rng.IntN(64))
			default:
				target = rng.Uint64()
			}
			for _, b := range rng.Perm(64) {
				put(uint16(w*64+b), target&(1<<b) != 0)
			}
		}
		for range 200 {
			put(uint16(rng.IntN(words*64)), rng.IntN(2) == 0)
		}
		if round == 59 { // end with everything cleared: all summaries free
			for p := range ref {
				put(p, false)
			}
		}
		var n [2]int
		for w := range numWords {
			var v uint64
			for b := range 64 {
				if ref[uint16(w*64+b)] {
					v |= 1 << b
					n[b&1]++
				}
			}
			if s.word(w) != v {
				t.Fatalf("round %d: word %d = %x, want %x", round, w, s.word(w), v)
			}
			even := s.sumEven[w>>6]&(1<<(w&63)) != 0
			odd := s.sumOdd[w>>6]&(1<<(w&63)) != 0
			if even != (^v&evenMask != 0) || odd != (^v&oddMask != 0) {
				t.Fatalf("round %d: word %d: summaries even %v odd %v for %x", round, w, even, odd, v)
			}
			if w < words {
				switch {
				case v == 0:
					seen["all clear"]++
				case v == ^uint64(0):
					seen["all set"]++
				case v == evenMask:
					seen["even set"]++
				case v == oddMask:
					seen["odd set"]++
				case v&evenMask == evenMask:
					seen["even set, odd partly"]++
				case v&oddMask == oddMask:
					seen["odd set, even partly"]++
				case bits.OnesCount64(v&evenMask) == 31 || bits.OnesCount64(v&oddMask) == 31:
					seen["one free of a parity"]++
				default:
					seen["other"]++
				}
			}
		}
		if n != s.n {
			t.Fatalf("round %d: counts %v, want %v", round, s.n, n)
		}
		// The word search, against the words themselves.
		for range 300 {
			mask := []uint64{evenMask, oddMask, ^uint64(0)}[rng.IntN(3)]
			a, b := rng.IntN(numWords), rng.IntN(numWords)
			lo, hi := min(a, b), max(a, b)
			next, prev := hi+1, lo-1
			for w := lo; w <= hi; w++ {
				if ^s.word(w)&mask != 0 {
					next = w
					break
				}
			}
			for w := hi; w >= lo; w-- {
				if ^s.word(w)&mask != 0 {
					prev = w
					break
				}
			}
			if got := s.nextCandidate(lo, hi, mask); got != next {
				t.Fatalf("round %d: nextCandidate(%d, %d, %x) = %d, want %d", round, lo, hi, mask, got, next)
			}
			if got := s.prevCandidate(hi, lo, mask); got != prev {
				t.Fatalf("round %d: prevCandidate(%d, %d, %x) = %d, want %d", round, hi, lo, mask, got, prev)
			}
		}
	}
	for _, k := range []string{"all clear", "all set", "even set", "odd set", "even set, odd partly", "odd set, even partly", "one free of a parity", "other"} {
		if seen[k] < 10 {
			t.Errorf("the generator made %d words of kind %q; want at least 10 (seen: %v)", seen[k], k, seen)
		}
	}
}

// TestScanFreeOneFreePort checks ScanFree against one Free per candidate
// where a single port of a 130-port range (three words) is free, at every
// position and for every starting offset, for the three shapes answered
// with word operations and a whole or partial pass: the boundaries of each
// part of a scan (its first and last candidates, the wrap) all meet the
// free port somewhere.
func TestScanFreeOneFreePort(t *testing.T) {
	const lo, hi = 7000, 7129
	st := stack(lo, hi, 0)
	s, err := newState(Config{Allocator: mustSpec("sequential"), Stack: st, Script: []workload.Arrival{}, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := allocator.Flow{Path: allocator.Connect, Src: src1, Dst: dstA}
	src, dst := s.tables(f)
	for p := lo; p <= hi; p++ {
		dst.setBlock(uint16(p))
	}
	const size = hi - lo + 1
	for free := lo; free <= hi; free++ {
		dst.clearBlock(uint16(free))
		s.chk.setFlow(f, src, dst)
		for _, cy := range []allocator.Cycle{{Base: lo, Len: size, Step: 1}, {Base: lo, Len: size, Step: 2}, {Base: lo, Len: size, Step: size - 1}} {
			for off := range cy.Len {
				for _, n := range []int{cy.Len, cy.Len / 2, cy.Len/2 + 1, 3} {
					ref := &countingFree{c: &s.chk}
					wp, wk, wok := allocator.ScanEach(ref, f, cy, off, n)
					s.chk.probes = 0
					gp, gk, gok := s.chk.ScanFree(f, cy, off, n)
					if gp != wp || gk != wk || gok != wok || s.chk.probes != ref.n {
						t.Fatalf("free port %d: cycle %+v off %d n %d: ScanFree = (%d, %d, %v) with %d probes, Free gives (%d, %d, %v) with %d",
							free, cy, off, n, gp, gk, gok, s.chk.probes, wp, wk, wok, ref.n)
					}
				}
			}
		}
		dst.setBlock(uint16(free))
	}
}
