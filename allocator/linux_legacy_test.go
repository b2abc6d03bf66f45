package allocator_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// TestLinux512Differences checks docs/allocators.md#properties-the-tests-check item 4 for Linux
// 5.12-5.17.8: same-destination differences are 2, or 4 with probability
// 1/16 when the first candidate was free (commit c579bd1b4021, merged with
// 190cc82489f4 in 5.12); exactly 2 without that commit.
func TestLinux512Differences(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		p4     float64 // probability of a difference of 4
	}{
		{nil, 1.0 / 16},
		{map[string]string{"entropy": "false"}, 0},
	} {
		a := lxNew(t, "linux-5.12", lxDefault, 11, tc.params)
		c := &lxChecker{}
		f := lxFlow(1)
		const n = 64000
		fours := 0
		prev := lxAlloc(t, a, 0, f, c)
		for range n {
			p := lxAlloc(t, a, 0, f, c)
			switch d := lxDiff(prev, p, lxDefault.Size()); d {
			case 2:
			case 4:
				fours++
			default:
				t.Fatalf("params %v: difference %d -> %d = %d, want 2 or 4", tc.params, prev, p, d)
			}
			if p%2 != 0 {
				t.Fatalf("odd port %d with every port free", p)
			}
			prev = p
		}
		t.Logf("params %v: %d differences of 4 in %d", tc.params, fours, n)
		if tc.p4 == 0 && fours != 0 || tc.p4 > 0 && !lxWithin(fours, n, tc.p4, 6) {
			t.Errorf("params %v: %d differences of 4 in %d, want about %.0f", tc.params, fours, n, tc.p4*n)
		}
	}
}

// TestLinux512NoReshuffle checks that 5.12 has no 10 s re-salting (added in
// May 2022, commit 4dfa9b438ee3): a destination keeps its cell and its
// sequence over hours.
func TestLinux512NoReshuffle(t *testing.T) {
	a := lxNew(t, "linux-5.12", lxDefault, 12, nil)
	cel, ok := a.(allocator.Celler)
	if !ok {
		t.Fatal("linux-5.12 does not implement Celler")
	}
	c := &lxChecker{}
	f := lxFlow(2)
	cell0, size := cel.Cell(0, f)
	if size != 256 {
		t.Fatalf("table size %d, want 256", size)
	}
	prev := lxAlloc(t, a, 0, f, c)
	for k := 1; k < 3000; k++ {
		now := time.Duration(k) * 7 * time.Second
		if cell, _ := cel.Cell(now, f); cell != cell0 {
			t.Fatalf("cell changed from %d to %d at %v", cell0, cell, now)
		}
		p := lxAlloc(t, a, now, f, c)
		if d := lxDiff(prev, p, lxDefault.Size()); d != 2 && d != 4 {
			t.Fatalf("at %v: difference %d, want 2 or 4 whatever the time", now, d)
		}
		prev = p
	}
}

// TestLinux512Cells checks the 256-cell table picked by hash_32: many
// destinations spread over all cells, and two destinations in one cell
// advance each other's counter.
func TestLinux512Cells(t *testing.T) {
	a := lxNew(t, "linux-5.12", lxDefault, 13, nil)
	cel := a.(allocator.Celler)
	byCell := map[int][]int{}
	for i := range 2000 {
		cell, _ := cel.Cell(0, lxFlow(i))
		byCell[cell] = append(byCell[cell], i)
	}
	// 2000 keyed hashes leave about 0.1 of 256 cells empty.
	if len(byCell) < 250 {
		t.Fatalf("2000 destinations use %d of 256 cells", len(byCell))
	}
	var pair []int
	for _, ds := range byCell {
		if len(ds) >= 2 {
			pair = ds
			break
		}
	}
	fa, fb := lxFlow(pair[0]), lxFlow(pair[1])
	c := &lxChecker{}
	prev := lxAlloc(t, a, 0, fa, c)
	for range 500 {
		lxAlloc(t, a, 0, fb, c)
		p := lxAlloc(t, a, 0, fa, c)
		if d := lxDiff(prev, p, lxDefault.Size()); d < 4 || d > 8 {
			t.Fatalf("same cell: difference %d, want 4..8 (two increments of 2 or 4)", d)
		}
		prev = p
	}
}

// lxCoin is a Checker that refuses each probe with probability 1/2, except
// for one destination whose probes are all free, and counts the probes of
// the current call.
type lxCoin struct {
	always netip.AddrPort
	rng    *rand.Rand
	probes int
}

func (c *lxCoin) Free(_ uint16, f allocator.Flow) bool {
	c.probes++
	return f.Dst == c.always || c.rng.IntN(2) == 0
}

// TestLinux46GlobalHint checks docs/allocators.md#properties-the-tests-check item 4 for Linux
// 4.6-5.11: every allocation, to any destination, advances one global
// hint by i + 2, so the gap one destination sees between two of its
// ports is the sum of i + 2 over every allocation in between (its own
// first one included), and 2 when nothing else happened.
func TestLinux46GlobalHint(t *testing.T) {
	if p := lxProfile(t, "linux-4.6"); p.TWReuse != 2 || p.Range.String() != lxDefault.String() {
		t.Errorf("profile %+v: want range 32768-60999 and tcp_tw_reuse 2 (the loopback default of 4.18 to 5.11, commit 79e9fed46038)", p)
	}
	a := lxNew(t, "linux-4.6", lxDefault, 14, nil)
	fa := lxFlow(0)
	c := &lxCoin{always: fa.Dst, rng: rand.New(rand.NewPCG(14, 1))}
	rounds, others := 0, 0
	prev := lxAlloc(t, a, 0, fa, c)
	for round := range 400 {
		want := 2 // A's own allocation: its first candidate was free, i = 0
		for k := range round % 6 {
			c.probes = 0
			p := lxAlloc(t, a, 0, lxFlow(1+(round*7+k)%300), c)
			if p%2 != 0 {
				t.Fatalf("round %d: odd port %d; the test needs first-pass ports", round, p)
			}
			want += 2*(c.probes-1) + 2 // i is counted in ports: 2 per refused candidate
			others++
		}
		p := lxAlloc(t, a, 0, fa, c)
		if got := lxDiff(prev, p, lxDefault.Size()); got != want%lxDefault.Size() {
			t.Fatalf("round %d: A's gap %d after %d other allocations, want the sum of (i + 2) = %d", round, got, round%6, want)
		}
		prev = p
		rounds++
	}
	t.Logf("%d rounds, %d allocations to other destinations in between", rounds, others)
}

// lxProfile returns the registered Profile of name.
func lxProfile(t *testing.T, name string) allocator.Profile {
	t.Helper()
	s, err := allocator.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return s.Profile
}

// TestLinux41 checks docs/allocators.md#properties-the-tests-check item 4 for Linux <= 4.1: step 1
// over the whole range, any parity; hint += i with i >= 1, so one
// destination alone sees consecutive ports, and otherwise the sum of i
// over the allocations since. The default range is 32768-61000.
func TestLinux41(t *testing.T) {
	r41 := allocator.Range{Lo: 32768, Hi: 61000}
	if p := lxProfile(t, "linux-4.1"); p.Range.String() != r41.String() || p.TWReuse != 0 {
		t.Errorf("profile %+v: want range 32768-61000 and tcp_tw_reuse 0", p)
	}
	a := lxNew(t, "linux-4.1", r41, 15, nil)
	c := &lxChecker{}
	f := lxFlow(5)
	odd := 0
	prev := lxAlloc(t, a, 0, f, c)
	for range 5000 {
		p := lxAlloc(t, a, 0, f, c)
		if d := lxDiff(prev, p, r41.Size()); d != 1 {
			t.Fatalf("difference %d -> %d = %d, want 1", prev, p, d)
		}
		odd += int(p % 2)
		prev = p
	}
	if odd != 2500 {
		t.Errorf("%d of 5000 consecutive ports odd, want 2500", odd)
	}

	b := lxNew(t, "linux-4.1", r41, 16, nil)
	fa := lxFlow(0)
	coin := &lxCoin{always: fa.Dst, rng: rand.New(rand.NewPCG(16, 1))}
	prev = lxAlloc(t, b, 0, fa, coin)
	for round := range 400 {
		want := 1 // A's own allocation, found at i = 1
		for k := range round % 6 {
			coin.probes = 0
			lxAlloc(t, b, 0, lxFlow(1+(round*5+k)%300), coin)
			want += coin.probes // i runs 1..remaining: the probes made
		}
		p := lxAlloc(t, b, 0, fa, coin)
		if got := lxDiff(prev, p, r41.Size()); got != want%r41.Size() {
			t.Fatalf("round %d: A's gap %d, want the sum of i = %d", round, got, want)
		}
		prev = p
	}
}
