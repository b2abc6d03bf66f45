package allocator_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// nfDefault is the netfilter Profile range: 1024-65535 (64512 ports).
var nfDefault = allocator.Range{Lo: 1024, Hi: 65535}

// nfFlow is a NAT flow from external address 203.0.113.1 to one
// destination, with original source port orig.
func nfFlow(orig uint16) allocator.Flow {
	return allocator.Flow{
		Path:     allocator.Connect,
		Src:      netip.MustParseAddr("203.0.113.1"),
		Dst:      netip.MustParseAddrPort("198.51.100.7:443"),
		OrigPort: orig,
	}
}

// TestNetfilterProfile checks the defaults of docs/allocators.md#netfilter: the
// 1024-65535 class range, conntrack's 120 s TIME_WAIT, the reply tuple as
// the uniqueness test.
func TestNetfilterProfile(t *testing.T) {
	p := lxProfile(t, "netfilter")
	if p.Range.String() != nfDefault.String() || p.TimeWait != 120*time.Second || p.Scope != allocator.FourTuple {
		t.Errorf("profile %+v: want range 1024-65535, TIME_WAIT 120s, 4-tuple scope", p)
	}
}

// TestNetfilterKeepsOrigPort checks docs/allocators.md#properties-the-tests-check item 10: the
// original source port is kept when its tuple is unique, at the cost of
// one probe; a port outside the range is not tried; --random never keeps
// it.
func TestNetfilterKeepsOrigPort(t *testing.T) {
	a := lxNew(t, "netfilter", nfDefault, 31, nil)
	for _, orig := range []uint16{1024, 40000, 65535} {
		c := &lxChecker{}
		if p := lxAlloc(t, a, 0, nfFlow(orig), c); p != orig || len(c.probes) != 1 {
			t.Errorf("original port %d free: got %d after %d probes, want it after 1", orig, p, len(c.probes))
		}
	}
	// Taken: one probe on it, then the search elsewhere.
	c := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p == 40000 }}
	if p := lxAlloc(t, a, 0, nfFlow(40000), c); p == 40000 || c.probes[0] != 40000 || len(c.probes) < 2 {
		t.Errorf("original port taken: got %d, probes %v; want a search after one probe of 40000", p, c.probes)
	}
	// Outside the --to-ports range or absent: straight to the search.
	r := allocator.Range{Lo: 20000, Hi: 20999}
	b := lxNew(t, "netfilter", r, 32, nil)
	for _, orig := range []uint16{0, 500, 19999, 21000} {
		c := &lxChecker{}
		p := lxAlloc(t, b, 0, nfFlow(orig), c)
		if !r.Contains(c.probes[0]) || !r.Contains(p) || len(c.probes) != 1 {
			t.Errorf("original port %d outside 20000-20999: probes %v, got %d; want one in-range probe", orig, c.probes, p)
		}
	}
	// --random: the original port is not preferred.
	rnd := lxNew(t, "netfilter", nfDefault, 33, map[string]string{"random": "true"})
	kept := 0
	for i := range 1000 {
		c := &lxChecker{}
		orig := uint16(2000 + i)
		if p := lxAlloc(t, rnd, 0, nfFlow(orig), c); p == orig {
			kept++
		}
	}
	if kept > 2 {
		t.Errorf("--random kept the original port %d times in 1000; want it chosen by the random offset only", kept)
	}
}

// TestNetfilterSearchBound checks nf_nat_l4proto_unique_tuple's bounded
// search with every port refused: one run of range_size ports when it is
// at most 128, else runs of 128, 64, 32, 16 and 8 (248 probes), plus the
// preservation probe. The hand-worked counts must equal Bound.
func TestNetfilterSearchBound(t *testing.T) {
	for _, tc := range []struct {
		n      int
		random bool
		want   int
	}{
		{1, false, 1}, {2, false, 3}, {10, false, 11}, {100, false, 101}, {128, false, 129},
		{129, false, 249}, {200, false, 249}, {64512, false, 249},
		{1, true, 1}, {2, true, 2}, {100, true, 100}, {128, true, 128}, {129, true, 248}, {64512, true, 248},
	} {
		r := allocator.Range{Lo: 1024, Hi: uint16(1024 + tc.n - 1)}
		params := map[string]string{"random": map[bool]string{false: "false", true: "true"}[tc.random]}
		if b := lxBound(t, "netfilter", r, params); b != tc.want {
			t.Errorf("n=%d random=%v: Bound %d, want %d", tc.n, tc.random, b, tc.want)
		}
		a := lxNew(t, "netfilter", r, 34, params)
		for call := range 50 {
			c := &lxChecker{deny: func(uint16, allocator.Flow) bool { return true }}
			_, err := a.Allocate(0, nfFlow(r.Lo+uint16(call%tc.n)), c)
			if !errors.Is(err, allocator.ErrExhausted) || len(c.probes) != tc.want {
				t.Fatalf("n=%d random=%v: every port refused: %v after %d probes, want ErrExhausted (drop) after %d", tc.n, tc.random, err, len(c.probes), tc.want)
			}
			if tc.n != 64512 || tc.random {
				continue
			}
			// Runs of adjacent ports: within a run each probe is the next
			// port of the range, or position 0 where off wraps past 65535.
			search := c.probes[1:]
			start := map[int]bool{0: true, 128: true, 192: true, 224: true, 240: true}
			for k := 1; k < len(search); k++ {
				prev, p := search[k-1], search[k]
				next := prev + 1
				if prev == r.Hi {
					next = r.Lo
				}
				if !start[k] && p != next && p != r.Lo {
					t.Fatalf("call %d: search probe %d is %d after %d; runs of 128/64/32/16/8 adjacent ports expected", call, k, p, prev)
				}
			}
		}
	}
}

// TestNetfilterOffsetWrap shows the u16 arithmetic of
// nf_nat_l4proto_unique_tuple: off++ wraps at 65536, which is not a
// multiple of a 100-port range, so a run that starts within 99 of 65535
// jumps back to the first port and does not cover the range; the jump
// happens for about 99 offsets in 65536.
func TestNetfilterOffsetWrap(t *testing.T) {
	r := allocator.Range{Lo: 30000, Hi: 30099}
	a := lxNew(t, "netfilter", r, 35, map[string]string{"random": "true"})
	const calls = 50000
	partial := 0
	c := &lxChecker{deny: func(uint16, allocator.Flow) bool { return true }}
	for range calls {
		c.probes = c.probes[:0]
		if _, err := a.Allocate(0, nfFlow(0), c); !errors.Is(err, allocator.ErrExhausted) {
			t.Fatal(err)
		}
		var seen [100]bool
		distinct := 0
		for _, p := range c.probes {
			if !seen[p-r.Lo] {
				seen[p-r.Lo] = true
				distinct++
			}
		}
		if distinct < 100 {
			partial++
		}
	}
	t.Logf("%d of %d runs over 100 ports wrapped off and missed ports", partial, calls)
	if partial == 0 || !lxWithin(partial, calls, 99.0/65536, 6) {
		t.Errorf("%d of %d runs missed ports; want about %.0f (99 offsets in 65536)", partial, calls, calls*99.0/65536)
	}
}

// nfOccupancy is a Checker over spatially random occupancy: each port is
// busy with probability p, drawn on its first probe in a call and kept for
// the rest of the call (a fresh random occupancy per new flow).
type nfOccupancy struct {
	p      float64
	rng    *rand.Rand
	gen    uint32
	stamp  [65536]uint32
	busy   [65536]bool
	probes int
}

func (o *nfOccupancy) reset() { o.gen++; o.probes = 0 }

func (o *nfOccupancy) Free(port uint16, _ allocator.Flow) bool {
	o.probes++
	if o.stamp[port] != o.gen {
		o.stamp[port] = o.gen
		o.busy[port] = o.rng.Float64() < o.p
	}
	return !o.busy[port]
}

// TestNetfilterFailureVsOccupancy reproduces docs/figures.md#t5-nat-port-clash-resolution (random occupancy): with
// occupancy p spatially random over 1024-65535, a new flow is dropped
// with probability about p^248 (0.0067, 0.083 and 0.29 at 98, 99 and
// 99.5 %), and no search exceeds 248 probes. The bound is 6 binomial
// standard deviations (a bounded search of 128 ports would fail 11 times
// as often at 98 %).
func TestNetfilterFailureVsOccupancy(t *testing.T) {
	for _, tc := range []struct {
		p, figure float64
	}{
		{0.98, 0.0067}, {0.99, 0.083}, {0.995, 0.29},
	} {
		want := math.Pow(tc.p, 248)
		if math.Abs(want-tc.figure) > 0.005 {
			t.Fatalf("p^248 at %v = %.4f, docs/figures.md says %.4f", tc.p, want, tc.figure)
		}
		a := lxNew(t, "netfilter", nfDefault, 36, nil)
		occ := &nfOccupancy{p: tc.p, rng: rand.New(rand.NewPCG(36, uint64(tc.p*1000)))}
		const trials = 50000
		fails, maxProbes := 0, 0
		for range trials {
			occ.reset()
			_, err := a.Allocate(0, nfFlow(0), occ)
			switch {
			case errors.Is(err, allocator.ErrExhausted):
				fails++
			case err != nil:
				t.Fatal(err)
			}
			maxProbes = max(maxProbes, occ.probes)
		}
		t.Logf("occupancy %.3f: %d of %d dropped (%.4f), p^248 = %.4f; most probes %d", tc.p, fails, trials, float64(fails)/trials, want, maxProbes)
		if maxProbes > 248 {
			t.Errorf("occupancy %v: a search made %d probes, more than 248", tc.p, maxProbes)
		}
		if !lxWithin(fails, trials, want, 6) {
			t.Errorf("occupancy %v: %d of %d dropped (%.4f), want about p^248 = %.4f", tc.p, fails, trials, float64(fails)/trials, want)
		}
	}
}
