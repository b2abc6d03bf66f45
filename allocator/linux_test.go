package allocator_test

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// Chi-square critical values at alpha = 1e-6 (upper tail), computed with
// gonum stat/distuv ChiSquared.Quantile(1 - 1e-6). A correct algorithm
// exceeds them with probability one in a million; the seeds are fixed.
const (
	lxChi2df1  = 23.928
	lxChi2df7  = 40.522
	lxChi2df15 = 56.493
)

// lxDefault is the default Linux ephemeral range, 32768-60999 (R = 28232,
// 14116 ports of each parity).
var lxDefault = allocator.Range{Lo: 32768, Hi: 60999}

// lxChecker answers every probe from deny (nil: every port is free) and
// records the probes in order.
type lxChecker struct {
	deny   func(port uint16, f allocator.Flow) bool
	probes []uint16
}

func (c *lxChecker) Free(p uint16, f allocator.Flow) bool {
	c.probes = append(c.probes, p)
	return c.deny == nil || !c.deny(p, f)
}

// lxFlow returns a connect() flow from 10.0.0.1 to destination i.
func lxFlow(i int) allocator.Flow {
	return allocator.Flow{
		Path: allocator.Connect,
		Src:  netip.MustParseAddr("10.0.0.1"),
		Dst:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 443),
	}
}

// lxNew builds the registered allocator name.
func lxNew(t *testing.T, name string, r allocator.Range, seed uint64, params map[string]string) allocator.Allocator {
	t.Helper()
	a, err := allocator.New(name, allocator.Config{Range: r, Seed: seed, Params: params})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return a
}

// lxBound returns the registered Bound of name for a range and params.
func lxBound(t *testing.T, name string, r allocator.Range, params map[string]string) int {
	t.Helper()
	s, err := allocator.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Resolve(allocator.Config{Range: r, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return s.Bound(cfg)
}

// lxAlloc allocates and fails the test on an error.
func lxAlloc(t *testing.T, a allocator.Allocator, now time.Duration, f allocator.Flow, c allocator.Checker) uint16 {
	t.Helper()
	p, err := a.Allocate(now, f, c)
	if err != nil {
		t.Fatalf("Allocate(%v, %v): %v", now, f.Dst, err)
	}
	return p
}

// lxDiff is the forward distance from port a to port b in a cycle of
// length r starting at lo.
func lxDiff(a, b uint16, r int) int {
	return ((int(b)-int(a))%r + r) % r
}

// lxChi2 is Pearson's statistic of counts against expected counts.
func lxChi2(counts []int, expected []float64) float64 {
	var x float64
	for i, c := range counts {
		d := float64(c) - expected[i]
		x += d * d / expected[i]
	}
	return x
}

// lxWithin reports whether k successes in n trials of probability p lie
// within z standard deviations of the mean.
func lxWithin(k, n int, p, z float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-mean) <= z*sd
}

// TestLinuxSuccessiveDifferences checks docs/allocators.md#properties-the-tests-check item 2: to
// one destination within one 10 s bucket, with every first candidate
// free, consecutive ports differ by 2, 4, ..., 16, each with probability
// 1/8 (table_perturb += max(0, 2*rand(0..7)) + 2).
func TestLinuxSuccessiveDifferences(t *testing.T) {
	a := lxNew(t, "linux", lxDefault, 1, nil)
	c := &lxChecker{}
	f := lxFlow(1)
	const n = 80000
	counts := make([]int, 8)
	prev := lxAlloc(t, a, time.Second, f, c)
	for range n {
		p := lxAlloc(t, a, time.Second, f, c)
		if p%2 != 0 {
			t.Fatalf("port %d is odd; connect() takes lo's (even) parity first", p)
		}
		d := lxDiff(prev, p, lxDefault.Size())
		if d < 2 || d > 16 || d%2 != 0 {
			t.Fatalf("difference %d -> %d = %d, want an even number in 2..16", prev, p, d)
		}
		counts[d/2-1]++
		prev = p
	}
	if len(c.probes) != n+1 {
		t.Fatalf("%d probes for %d allocations with every port free, want one each", len(c.probes), n+1)
	}
	expected := make([]float64, 8)
	for i := range expected {
		expected[i] = n / 8.0
	}
	x := lxChi2(counts, expected)
	t.Logf("differences 2,4,..,16: counts %v, chi-square %.2f (df 7)", counts, x)
	if x > lxChi2df7 {
		t.Errorf("differences 2..16 counts %v: chi-square %.1f > %.1f (df 7, alpha 1e-6); want uniform", counts, x, lxChi2df7)
	}
}

// TestLinuxParitySwitch checks docs/allocators.md#properties-the-tests-check item 1: connect()
// ports have lo's parity, and an odd port comes only after every one of
// the 14116 even ports has been refused for that destination.
func TestLinuxParitySwitch(t *testing.T) {
	const evens = 14116
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"default", nil},
		{"table=256", map[string]string{"table": "256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := lxNew(t, "linux", lxDefault, 2, tc.params)
			c := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p%2 == 0 }}
			for call := range 3 {
				c.probes = c.probes[:0]
				p := lxAlloc(t, a, time.Duration(call)*time.Second, lxFlow(call), c)
				if len(c.probes) != evens+1 {
					t.Fatalf("call %d: %d probes, want the %d even ports then one odd", call, len(c.probes), evens)
				}
				seen := make(map[uint16]bool, evens)
				for k, q := range c.probes[:evens] {
					if q%2 != 0 || !lxDefault.Contains(q) || seen[q] {
						t.Fatalf("call %d probe %d: port %d (odd, out of range or repeated) before every even port was tried", call, k, q)
					}
					seen[q] = true
				}
				if p%2 != 1 || p != c.probes[evens] {
					t.Fatalf("call %d: returned %d, the %dth probe was %d; want the first odd candidate", call, p, evens+1, c.probes[evens])
				}
			}
		})
	}
	// One even port left: it is found without touching an odd port.
	a := lxNew(t, "linux", lxDefault, 3, nil)
	const keep = 50000
	c := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p%2 == 1 || p != keep }}
	if p := lxAlloc(t, a, 0, lxFlow(0), c); p != keep {
		t.Fatalf("only even port %d free: got %d", keep, p)
	}
	for _, q := range c.probes {
		if q%2 == 1 {
			t.Fatalf("probed odd port %d while an even port was free", q)
		}
	}
}

// TestLinuxFourTupleSharing checks docs/allocators.md#properties-the-tests-check item 5: connect()
// shares a local port across destinations under the 4-tuple rule, and
// never duplicates a 4-tuple.
func TestLinuxFourTupleSharing(t *testing.T) {
	const only = 45000
	for _, scope := range []allocator.Scope{allocator.FourTuple, allocator.Exclusive} {
		t.Run(scope.String(), func(t *testing.T) {
			a := lxNew(t, "linux", lxDefault, 4, nil)
			tab := &allocatortest.Table{Scope: scope, Range: lxDefault, Deny: func(p uint16) bool { return p != only }}
			fa, fb := lxFlow(1), lxFlow(2)
			pa := lxAlloc(t, a, 0, fa, tab)
			tab.Hold(pa, fa)
			pb, err := a.Allocate(0, fb, tab)
			if scope == allocator.Exclusive {
				if !errors.Is(err, allocator.ErrExhausted) {
					t.Fatalf("exclusive ports: the only port is held, got %d, %v", pb, err)
				}
				return
			}
			if err != nil || pb != only || pa != only {
				t.Fatalf("4-tuple: destinations A and B got %d and %d, %v; want both %d", pa, pb, err, only)
			}
			tab.Hold(pb, fb)
			tab.Reset()
			if p, err := a.Allocate(0, fa, tab); !errors.Is(err, allocator.ErrExhausted) {
				t.Fatalf("4-tuple (10.0.0.1:%d, A) is held: got %d, %v; want ErrExhausted", only, p, err)
			}
			if tab.Probes != lxDefault.Size() {
				t.Errorf("failed after %d probes, want %d", tab.Probes, lxDefault.Size())
			}
		})
	}
}

// lxBoundary finds, by bisection, the first virtual time after 0 at which
// the cell of f changes, searching [0, 10 s + 1 ms].
func lxBoundary(t *testing.T, cel allocator.Celler, f allocator.Flow) (time.Duration, bool) {
	t.Helper()
	c0, _ := cel.Cell(0, f)
	lo, hi := time.Duration(0), time.Duration(-1)
	for at := time.Millisecond; at <= 10*time.Second+time.Millisecond; at += time.Millisecond {
		if c, _ := cel.Cell(at, f); c != c0 {
			lo, hi = at-time.Millisecond, at
			break
		}
	}
	if hi < 0 {
		return 0, false
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if c, _ := cel.Cell(mid, f); c == c0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, true
}

// TestLinuxShuffleBucket checks docs/allocators.md#properties-the-tests-check item 2 at a bucket
// boundary: the secret input changes every 10 s of jiffies, at a phase
// that does not follow the start of the run; within a bucket the
// differences stay in 2..16, across the boundary the next port is
// unrelated.
func TestLinuxShuffleBucket(t *testing.T) {
	a := lxNew(t, "linux", lxDefault, 5, nil)
	cel, ok := a.(allocator.Celler)
	if !ok {
		t.Fatal("linux does not implement Celler")
	}
	var b time.Duration
	for i := range 5 {
		bi, found := lxBoundary(t, cel, lxFlow(i))
		if !found {
			t.Fatalf("destination %d: cell unchanged over 10 s", i)
		}
		if i > 0 && bi != b {
			t.Fatalf("destination %d: boundary at %v, destination 0 at %v; the bucket is global", i, bi, b)
		}
		b = bi
	}
	if b <= 0 || b > 10*time.Second {
		t.Fatalf("first boundary at %v, want in (0, 10s]", b)
	}
	if b == 10*time.Second {
		t.Logf("phase 0: the first boundary is at 10 s")
	}
	changed := 0
	for i := range 20 {
		f := lxFlow(i)
		c0, _ := cel.Cell(b, f)
		if c, _ := cel.Cell(b+10*time.Second-1, f); c != c0 {
			t.Fatalf("destination %d: cell changed inside the bucket [%v, %v)", i, b, b+10*time.Second)
		}
		if c, _ := cel.Cell(b+10*time.Second, f); c != c0 {
			changed++
		}
	}
	if changed < 19 {
		t.Fatalf("only %d of 20 destinations changed cell at %v; want a new bucket every 10 s", changed, b+10*time.Second)
	}

	const dests = 300
	jumpsInRange := 0
	c := &lxChecker{}
	for i := range dests {
		f := lxFlow(100 + i)
		p1 := lxAlloc(t, a, b-1, f, c)
		p2 := lxAlloc(t, a, b-1, f, c)
		if d := lxDiff(p1, p2, lxDefault.Size()); d < 2 || d > 16 {
			t.Fatalf("destination %d: difference %d inside one bucket, want 2..16", i, d)
		}
		p3 := lxAlloc(t, a, b, f, c)
		if d := lxDiff(p2, p3, lxDefault.Size()); d >= 2 && d <= 16 {
			jumpsInRange++
		}
	}
	t.Logf("first bucket boundary at %v; %d of %d destinations kept a 2..16 difference across it", b, jumpsInRange, dests)
	// An unrelated even port lands 2..16 ahead with probability 8/14116;
	// P(6 or more of 300) < 1e-7.
	if jumpsInRange > 5 {
		t.Errorf("%d of %d destinations kept a 2..16 difference across the bucket boundary; want the sequence to jump", jumpsInRange, dests)
	}
}

// TestLinuxIPv6 checks that IPv6 flows are hashed over their 128-bit
// addresses (secure_ipv6_port_ephemeral) and follow the same rules, and
// that an IPv4-mapped flow behaves as plain IPv4 (tcp_v4_connect).
func TestLinuxIPv6(t *testing.T) {
	v6 := func(i int) allocator.Flow {
		return allocator.Flow{
			Path: allocator.Connect,
			Src:  netip.MustParseAddr("2001:db8::1"),
			Dst:  netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 443),
		}
	}
	a := lxNew(t, "linux", lxDefault, 6, nil)
	c := &lxChecker{}
	prev := lxAlloc(t, a, 0, v6(1), c)
	for range 2000 {
		p := lxAlloc(t, a, 0, v6(1), c)
		if d := lxDiff(prev, p, lxDefault.Size()); d < 2 || d > 16 || p%2 != 0 {
			t.Fatalf("IPv6: %d -> %d, want an even port 2..16 ahead", prev, p)
		}
		prev = p
	}
	cel := a.(allocator.Celler)
	same := 0
	for i := range 20 {
		c1, size := cel.Cell(0, v6(2*i))
		c2, _ := cel.Cell(0, v6(2*i+1))
		if size != 65536 {
			t.Fatalf("table size %d, want 65536", size)
		}
		if c1 == c2 {
			same++
		}
	}
	if same > 1 {
		t.Errorf("%d of 20 pairs of IPv6 destinations differing in the last byte share a cell; the hash must cover all 128 bits", same)
	}

	mapped := allocator.Flow{Path: allocator.Connect, Src: netip.MustParseAddr("::ffff:10.0.0.1"), Dst: netip.MustParseAddrPort("[::ffff:198.18.0.7]:443")}
	plain := lxFlow(7)
	a1, a2 := lxNew(t, "linux", lxDefault, 6, nil), lxNew(t, "linux", lxDefault, 6, nil)
	for k := range 100 {
		now := time.Duration(k) * time.Second
		if p1, p2 := lxAlloc(t, a1, now, plain, c), lxAlloc(t, a2, now, mapped, c); p1 != p2 {
			t.Fatalf("call %d: IPv4 flow got %d, IPv4-mapped flow %d; want equal", k, p1, p2)
		}
	}
}

// TestLinuxPerSocketRange checks IP_LOCAL_PORT_RANGE mode (commit
// 207184853dbd): step 1, one pass, no parity preference, so differences
// are 1..8 (max(0, rand(0..7)) + 1), each 1/8, and both parities appear
// equally; with an odd range size every port is a candidate.
func TestLinuxPerSocketRange(t *testing.T) {
	params := map[string]string{"per_socket_range": "true"}
	a := lxNew(t, "linux", lxDefault, 7, params)
	c := &lxChecker{}
	f := lxFlow(3)
	const n = 80000
	counts := make([]int, 8)
	odd := 0
	prev := lxAlloc(t, a, 0, f, c)
	for range n {
		p := lxAlloc(t, a, 0, f, c)
		d := lxDiff(prev, p, lxDefault.Size())
		if d < 1 || d > 8 {
			t.Fatalf("difference %d -> %d = %d, want 1..8", prev, p, d)
		}
		counts[d-1]++
		odd += int(p % 2)
		prev = p
	}
	expected := make([]float64, 8)
	for i := range expected {
		expected[i] = n / 8.0
	}
	x := lxChi2(counts, expected)
	t.Logf("differences 1..8: counts %v, chi-square %.2f (df 7); %d of %d ports odd", counts, x, odd, n)
	if x > lxChi2df7 {
		t.Errorf("differences 1..8 counts %v: chi-square %.1f > %.1f; want uniform", counts, x, lxChi2df7)
	}
	// Each difference is odd with probability 1/2, independently, so the
	// parities are fair coin flips.
	if !lxWithin(odd, n, 0.5, 6) {
		t.Errorf("%d of %d ports odd; want about half", odd, n)
	}

	odd101 := allocator.Range{Lo: 5000, Hi: 5100}
	if b := lxBound(t, "linux", odd101, params); b != 101 {
		t.Fatalf("per-socket Bound over 101 ports = %d, want 101", b)
	}
	for _, free := range []uint16{5000, 5001, 5050, 5100} {
		a := lxNew(t, "linux", odd101, uint64(free), params)
		c := &lxChecker{deny: func(p uint16, _ allocator.Flow) bool { return p != free }}
		if p := lxAlloc(t, a, 0, f, c); p != free {
			t.Fatalf("only %d free: got %d", free, p)
		}
	}
}

// TestLinuxOddRangeSkipsOnePort shows what __inet_hash_connect does with
// an odd range size: remaining = n-1 and the wrap rule (port >= high:
// port -= remaining) make the even pass reach hi and skip lo when it
// starts above lo, and skip hi when it starts at lo. So exactly one port,
// lo or hi, is not a candidate, and the Bound is n-1.
func TestLinuxOddRangeSkipsOnePort(t *testing.T) {
	r := allocator.Range{Lo: 20000, Hi: 20100}
	if b := lxBound(t, "linux", r, nil); b != 100 {
		t.Fatalf("Bound over 101 ports = %d, want 100", b)
	}
	a := lxNew(t, "linux", r, 8, nil)
	c := &lxChecker{deny: func(uint16, allocator.Flow) bool { return true }}
	missedLo, missedHi := 0, 0
	for i := range 2000 {
		c.probes = c.probes[:0]
		if _, err := a.Allocate(0, lxFlow(i), c); !errors.Is(err, allocator.ErrExhausted) {
			t.Fatalf("every port refused: err %v", err)
		}
		seen := map[uint16]bool{}
		for _, p := range c.probes {
			seen[p] = true
		}
		if len(c.probes) != 100 || len(seen) != 100 {
			t.Fatalf("%d probes of %d distinct ports, want 100 of 100", len(c.probes), len(seen))
		}
		switch {
		case !seen[r.Lo] && seen[r.Hi]:
			missedLo++
		case seen[r.Lo] && !seen[r.Hi]:
			missedHi++
		default:
			t.Fatalf("the port not tried is neither lo nor hi (lo seen %v, hi seen %v)", seen[r.Lo], seen[r.Hi])
		}
	}
	t.Logf("odd range 20000-20100: lo not tried in %d calls, hi not tried in %d", missedLo, missedHi)
	// hi is missed when the even start offset is 0: probability 2/100.
	if missedHi == 0 || missedLo == 0 || !lxWithin(missedHi, 2000, 0.02, 6) {
		t.Errorf("lo missed %d times, hi missed %d times in 2000; want hi about 2%%", missedLo, missedHi)
	}
}

// TestLinuxCellSharesCounter checks that Cell reports the table_perturb
// cell the allocator really uses: two destinations in the same cell share
// its counter (each one's successive differences add up both
// increments, 4..32), two in different cells do not (2..16).
func TestLinuxCellSharesCounter(t *testing.T) {
	params := map[string]string{"table": "16"}
	a := lxNew(t, "linux", lxDefault, 9, params)
	cel := a.(allocator.Celler)
	byCell := map[int][]int{}
	for i := range 64 {
		cell, size := cel.Cell(0, lxFlow(i))
		if size != 16 || cell < 0 || cell >= 16 {
			t.Fatalf("Cell = %d of %d, want one of 16", cell, size)
		}
		byCell[cell] = append(byCell[cell], i)
	}
	var fa, fb, fc allocator.Flow
	foundPair := false
	for cell, ds := range byCell {
		if len(ds) >= 2 && !foundPair {
			fa, fb = lxFlow(ds[0]), lxFlow(ds[1])
			foundPair = true
			for other, os := range byCell {
				if other != cell {
					fc = lxFlow(os[0])
					break
				}
			}
		}
	}
	if !foundPair {
		t.Fatal("no two of 64 destinations share one of 16 cells")
	}
	c := &lxChecker{}
	over16 := 0
	prev := lxAlloc(t, a, 0, fa, c)
	for range 2000 {
		lxAlloc(t, a, 0, fb, c)
		p := lxAlloc(t, a, 0, fa, c)
		d := lxDiff(prev, p, lxDefault.Size())
		if d < 4 || d > 32 {
			t.Fatalf("same cell: A's difference %d, want 4..32 (A's and B's increments)", d)
		}
		if d > 16 {
			over16++
		}
		prev = p
	}
	// P(sum of two increments <= 16) = 28/64; 2000 rounds never all fall there.
	if over16 == 0 {
		t.Fatal("same cell: no difference above 16; B does not advance A's counter")
	}
	prev = lxAlloc(t, a, 0, fa, c)
	for range 2000 {
		lxAlloc(t, a, 0, fc, c)
		p := lxAlloc(t, a, 0, fa, c)
		if d := lxDiff(prev, p, lxDefault.Size()); d < 2 || d > 16 {
			t.Fatalf("different cells: A's difference %d, want 2..16", d)
		}
		prev = p
	}
}

// TestLinuxFamilyDoesNotAllocate checks that Allocate of every allocator
// in this family makes no heap allocation (the simulator's hot path).
func TestLinuxFamilyDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"linux", "linux-5.12", "linux-4.6", "linux-4.1", "linux-bind", "linux-udp", "netfilter"} {
		a := lxNew(t, name, lxDefault, 10, nil)
		tab := &lxCount{}
		f := lxFlow(1)
		f.OrigPort = 40000
		v6 := allocator.Flow{Path: allocator.Connect, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:443")}
		now := time.Duration(0)
		allocs := testing.AllocsPerRun(500, func() {
			now += time.Millisecond
			if _, err := a.Allocate(now, f, tab); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Allocate(now, v6, tab); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per Allocate pair, want 0", name, allocs)
		}
	}
}

// lxCount is a Checker that refuses two ports in three, without memory.
type lxCount struct{ n int }

func (c *lxCount) Free(p uint16, _ allocator.Flow) bool {
	c.n++
	return p%3 == 0
}

// TestLinuxFamilyConformanceParams runs the allocatortest suite on the
// non-default modes of this family that conformance_test.go does not
// cover.
func TestLinuxFamilyConformanceParams(t *testing.T) {
	for _, tc := range []struct {
		name, label string
		params      map[string]string
	}{
		{"linux", "table=1", map[string]string{"table": "1"}},
		{"linux", "table=256,per_socket_range", map[string]string{"table": "256", "per_socket_range": "true"}},
		{"linux-5.12", "entropy=false", map[string]string{"entropy": "false"}},
		{"linux-bind", "reuseaddr", map[string]string{"reuseaddr": "true"}},
		{"linux-udp", "table=128", map[string]string{"table": "128"}},
		{"linux-udp", "table=65536", map[string]string{"table": "65536"}},
		{"netfilter", "random", map[string]string{"random": "true"}},
	} {
		s, err := allocator.Lookup(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name+"/"+tc.label, func(t *testing.T) {
			t.Parallel()
			allocatortest.Run(t, s, tc.params)
		})
	}
}

// TestLinuxReservedPortsAreProbes shows how reserved ports are counted:
// __inet_hash_connect skips them before the lookup but counts them
// against its bound, and the model asks the Checker about them, one probe
// each. With 40000-40002 of 40000-40003 reserved, the one free port is
// found, and every reserved port the search met was asked about and
// refused.
func TestLinuxReservedPortsAreProbes(t *testing.T) {
	r := allocator.Range{Lo: 40000, Hi: 40003, Reserved: []allocator.Span{{Lo: 40000, Hi: 40002}}}
	met := 0
	for seed := range uint64(8) {
		a, err := allocator.New("linux", allocator.Config{Range: r, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		tab := &allocatortest.Table{Scope: allocator.FourTuple, Range: r}
		f := allocator.Flow{Path: allocator.Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")}
		p, err := a.Allocate(0, f, tab)
		if err != nil || p != 40003 {
			t.Fatalf("seed %d: port %d, %v; want 40003", seed, p, err)
		}
		refused := 0
		for q, free := range tab.Answered {
			if !free {
				if !r.IsReserved(q) {
					t.Fatalf("seed %d: port %d refused but not reserved", seed, q)
				}
				refused++
			}
		}
		if tab.Probes != refused+1 {
			t.Fatalf("seed %d: %d probes for %d reserved ports met and the free one", seed, tab.Probes, refused)
		}
		met += refused
	}
	if met == 0 {
		t.Fatal("no search met a reserved port in 8 seeds")
	}
}
