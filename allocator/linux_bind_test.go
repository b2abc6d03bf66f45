package allocator_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/portsim/portsim/allocator"
)

// lxBindFlow is a bind(0) flow: no destination.
var lxBindFlow = allocator.Flow{Path: allocator.Bind}

// TestLinuxBindOddFirst checks docs/allocators.md#properties-the-tests-check item 1 for bind(0):
// inet_csk_find_open_port starts at a random odd offset, uniform over the
// 14116 odd ports, and returns an even port only after every odd port was
// refused.
func TestLinuxBindOddFirst(t *testing.T) {
	a := lxNew(t, "linux-bind", lxDefault, 21, nil)
	c := &lxChecker{}
	const n = 64000
	const odds = 14116
	counts := make([]int, 16)
	for range n {
		p := lxAlloc(t, a, 0, lxBindFlow, c)
		if p%2 != 1 || !lxDefault.Contains(p) {
			t.Fatalf("bind(0) returned %d with every port free; want an odd port in range", p)
		}
		counts[int(p-lxDefault.Lo)/2*16/odds]++
	}
	expected := make([]float64, 16)
	for j := range odds {
		expected[j*16/odds] += float64(n) / odds
	}
	x := lxChi2(counts, expected)
	t.Logf("first odd port in 16 bins: %v, chi-square %.2f (df 15)", counts, x)
	if x > lxChi2df15 {
		t.Errorf("first bind(0) ports over 16 bins %v: chi-square %.1f > %.1f; want uniform over the odd ports", counts, x, lxChi2df15)
	}

	deny := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p%2 == 1 }}
	for call := range 3 {
		deny.probes = deny.probes[:0]
		p := lxAlloc(t, a, 0, lxBindFlow, deny)
		seen := map[uint16]bool{}
		for _, q := range deny.probes[:odds] {
			if q%2 != 1 || seen[q] {
				t.Fatalf("call %d: probe %d before every odd port was tried", call, q)
			}
			seen[q] = true
		}
		if len(deny.probes) != odds+1 || p%2 != 0 || p != deny.probes[odds] {
			t.Fatalf("call %d: %d probes, returned %d; want the %d odd ports then one even", call, len(deny.probes), p, odds)
		}
	}
}

// TestLinuxBindReuseAddr checks the SO_REUSEADDR split of docs/allocators.md#linux-bind:
// with the default range, [32768, 46884) first, then [46884, 61000),
// each odd ports first.
func TestLinuxBindReuseAddr(t *testing.T) {
	params := map[string]string{"reuseaddr": "true"}
	const half = 46884
	a := lxNew(t, "linux-bind", lxDefault, 22, params)
	c := &lxChecker{}
	for range 5000 {
		if p := lxAlloc(t, a, 0, lxBindFlow, c); p >= half || p%2 != 1 {
			t.Fatalf("reuseaddr with every port free: got %d, want an odd port below %d", p, half)
		}
	}
	lower := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p < half }}
	p := lxAlloc(t, a, 0, lxBindFlow, lower)
	const lowerSize = half - 32768 // 14116
	if len(lower.probes) != lowerSize+1 || p < half || p%2 != 1 {
		t.Fatalf("lower half refused: %d probes, got %d; want all %d lower ports, then an odd upper port", len(lower.probes), p, lowerSize)
	}
	for k, q := range lower.probes[:lowerSize] {
		if q >= half || (k < lowerSize/2) != (q%2 == 1) {
			t.Fatalf("probe %d: port %d; want the lower half's odd ports, then its even ports", k, q)
		}
	}
}

// TestLinuxBindBound checks Bound against the candidates
// inet_csk_find_open_port really makes with every port refused, worked by
// hand: remaining = n rounded down to even, two passes of remaining/2; a
// single port is tried twice (offset 1 wraps to lo, then offset 0); with
// SO_REUSEADDR and n >= 4 each half 2*floor(n/4) and n - 2*floor(n/4) is
// searched in turn.
func TestLinuxBindBound(t *testing.T) {
	for _, tc := range []struct {
		n         int
		reuseaddr bool
		want      int
	}{
		{1, false, 2}, {2, false, 2}, {3, false, 2}, {4, false, 4}, {5, false, 4},
		{100, false, 100}, {101, false, 100}, {28232, false, 28232},
		{1, true, 2}, {3, true, 2}, {4, true, 4}, {5, true, 4}, {7, true, 6},
		{101, true, 100}, {102, true, 102}, {28232, true, 28232},
	} {
		r := allocator.Range{Lo: 10000, Hi: uint16(10000 + tc.n - 1)}
		params := map[string]string{"reuseaddr": map[bool]string{false: "false", true: "true"}[tc.reuseaddr]}
		if b := lxBound(t, "linux-bind", r, params); b != tc.want {
			t.Errorf("n=%d reuseaddr=%v: Bound %d, want %d", tc.n, tc.reuseaddr, b, tc.want)
		}
		a := lxNew(t, "linux-bind", r, 23, params)
		c := &lxChecker{deny: func(uint16, allocator.Flow) bool { return true }}
		if _, err := a.Allocate(0, lxBindFlow, c); !errors.Is(err, allocator.ErrExhausted) || len(c.probes) != tc.want {
			t.Errorf("n=%d reuseaddr=%v: every port refused: %v after %d probes, want ErrExhausted after %d", tc.n, tc.reuseaddr, err, len(c.probes), tc.want)
		}
	}
}

// TestLinuxUDPFirstUniform checks docs/allocators.md#properties-the-tests-check item 8:
// udp_lib_get_port's first candidate is uniform over the whole range, both
// parities. It is low + reciprocal_scale(rand, remaining): the second
// range does not start at 32768, where adding low and subtracting it
// agree modulo 65536.
func TestLinuxUDPFirstUniform(t *testing.T) {
	for _, tc := range []struct {
		r allocator.Range
		n int
	}{
		{lxDefault, 160000},
		{allocator.Range{Lo: 10000, Hi: 10999}, 16000},
	} {
		a := lxNew(t, "linux-udp", tc.r, 24, nil)
		c := &lxChecker{}
		n := tc.n
		size := tc.r.Size()
		bins := make([]int, 16)
		parity := make([]int, 2)
		for range n {
			p := lxAlloc(t, a, 0, allocator.Flow{Path: allocator.UDP}, c)
			pos := int(p - tc.r.Lo)
			bins[pos*16/size]++
			parity[p%2]++
		}
		expected := make([]float64, 16)
		for pos := range size {
			expected[pos*16/size] += float64(n) / float64(size)
		}
		x := lxChi2(bins, expected)
		xp := lxChi2(parity, []float64{float64(n) / 2, float64(n) / 2})
		t.Logf("%v: first UDP port in 16 bins %v, chi-square %.2f (df 15); even/odd %v, chi-square %.2f (df 1)", tc.r, bins, x, parity, xp)
		if x > lxChi2df15 {
			t.Errorf("%v: 16 bins %v: chi-square %.1f > %.1f; want uniform over the range", tc.r, bins, x, lxChi2df15)
		}
		if xp > lxChi2df1 {
			t.Errorf("%v: even/odd %v: chi-square %.1f > %.1f; want both parities equally", tc.r, parity, xp, lxChi2df1)
		}
	}
}

// TestLinuxUDPChainWalk checks the hash-chain order of udp_lib_get_port
// with every port refused: only ports in the range are probed, each once;
// the probes come chain by chain (port mod table size first, first+1,
// ...), each chain's in-range ports together, stepping within a chain by
// an odd multiple of the table size. With a 65536-slot table the walk is
// one port at a time.
func TestLinuxUDPChainWalk(t *testing.T) {
	for _, tc := range []struct {
		r     allocator.Range
		table int
	}{
		{lxDefault, 4096},
		{lxDefault, 128},
		{allocator.Range{Lo: 1024, Hi: 65535}, 256},
		{allocator.Range{Lo: 5000, Hi: 5100}, 65536},
	} {
		params := map[string]string{"table": strconv.Itoa(tc.table)}
		a := lxNew(t, "linux-udp", tc.r, 25, params)
		for call := range 4 {
			c := &lxChecker{deny: func(uint16, allocator.Flow) bool { return true }}
			if _, err := a.Allocate(0, allocator.Flow{Path: allocator.UDP}, c); !errors.Is(err, allocator.ErrExhausted) {
				t.Fatalf("%v table %d: every port refused: %v", tc.r, tc.table, err)
			}
			if len(c.probes) != tc.r.Size() || lxBound(t, "linux-udp", tc.r, params) != tc.r.Size() {
				t.Fatalf("%v table %d: %d probes, want the %d ports of the range (and Bound equal)", tc.r, tc.table, len(c.probes), tc.r.Size())
			}
			seen := map[uint16]bool{}
			for _, p := range c.probes {
				if !tc.r.Contains(p) || seen[p] {
					t.Fatalf("%v table %d: probe %d out of range or repeated", tc.r, tc.table, p)
				}
				seen[p] = true
			}
			mask := uint16(tc.table - 1)
			for k := 1; k < len(c.probes); k++ {
				prev, p := c.probes[k-1], c.probes[k]
				if tc.table == 65536 {
					if p != prev+1 && !(prev == tc.r.Hi && p == tc.r.Lo) {
						t.Fatalf("table 65536: probe %d after %d, want the next port", p, prev)
					}
					continue
				}
				if p&mask != prev&mask && p&mask != (prev+1)&mask {
					t.Fatalf("%v table %d call %d: probe %d (chain %d) after %d (chain %d); want the same chain or the next", tc.r, tc.table, call, p, p&mask, prev, prev&mask)
				}
			}
		}
	}
}

// TestLinuxUDPTableParam checks the kernel's bounds on the table size.
func TestLinuxUDPTableParam(t *testing.T) {
	for _, bad := range []string{"64", "100", "131072", "x"} {
		_, err := allocator.New("linux-udp", allocator.Config{Range: lxDefault, Params: map[string]string{"table": bad}})
		if err == nil || !strings.Contains(err.Error(), "table") || !strings.Contains(err.Error(), "128..65536") {
			t.Errorf("table=%s: err %v, want one naming the param and 128..65536", bad, err)
		}
	}
}
