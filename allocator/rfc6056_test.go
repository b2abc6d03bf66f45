package allocator_test

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// Helpers shared by the tests of the RFC 6056, BSD, macOS, Windows, lwIP,
// fifo and random-window allocators. Their names start with osa
// (OS allocators) to keep them apart from other test files.

// osaFlow is a connect() flow from 10.0.0.1 to destination i (198.18.x.y:443).
func osaFlow(i int) allocator.Flow {
	dst := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	return allocator.Flow{Path: allocator.Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.AddrPortFrom(dst, 443)}
}

// osaUDP is a UDP flow from 10.0.0.1 to destination i.
func osaUDP(i int) allocator.Flow {
	f := osaFlow(i)
	f.Path = allocator.UDP
	return f
}

// osaBuild builds the registered allocator name.
func osaBuild(t testing.TB, name string, r allocator.Range, seed uint64, params map[string]string) allocator.Allocator {
	t.Helper()
	a, err := allocator.New(name, allocator.Config{Range: r, Seed: seed, Params: params})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return a
}

// osaSpec looks up a registered Spec.
func osaSpec(t testing.TB, name string) allocator.Spec {
	t.Helper()
	s, err := allocator.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// osaBound returns Spec.Bound for name with the given range and params.
func osaBound(t testing.TB, name string, r allocator.Range, params map[string]string) int {
	t.Helper()
	s := osaSpec(t, name)
	cfg, err := s.Resolve(allocator.Config{Range: r, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return s.Bound(cfg)
}

// osaRecorder is a Checker that records every probe and refuses the ports
// deny returns true for (none when deny is nil).
type osaRecorder struct {
	deny   func(uint16) bool
	probes []uint16
}

func (r *osaRecorder) Free(p uint16, _ allocator.Flow) bool {
	r.probes = append(r.probes, p)
	return r.deny == nil || !r.deny(p)
}

func (r *osaRecorder) reset() { r.probes = r.probes[:0] }

// osaAlloc calls Allocate and fails the test on an error.
func osaAlloc(t testing.TB, a allocator.Allocator, now time.Duration, f allocator.Flow, c allocator.Checker) uint16 {
	t.Helper()
	p, err := a.Allocate(now, f, c)
	if err != nil {
		t.Fatalf("Allocate(%v, %v): %v", now, f.Dst, err)
	}
	return p
}

// osaChiSquare returns Pearson's statistic for counts against the cell
// probabilities probs, and the critical value at significance 1e-6 for
// len(counts)-1 degrees of freedom (Wilson-Hilferty approximation, whose
// error at these sizes is far below the margin between a uniform and a
// wrong distribution).
func osaChiSquare(counts []int, probs []float64) (stat, crit float64) {
	total := 0
	for _, c := range counts {
		total += c
	}
	for i, c := range counts {
		e := probs[i] * float64(total)
		stat += (float64(c) - e) * (float64(c) - e) / e
	}
	k := float64(len(counts) - 1)
	const z = 4.753424 // upper 1e-6 point of the standard normal
	h := 2 / (9 * k)
	crit = k * math.Pow(1-h+z*math.Sqrt(h), 3)
	return stat, crit
}

// osaBins splits the ports lo..hi into k bins of nearly equal width and
// returns a port-to-bin function and each bin's probability under the
// uniform distribution on lo..hi.
func osaBins(lo, hi, k int) (bin func(uint16) int, probs []float64) {
	n := hi - lo + 1
	probs = make([]float64, k)
	for i := range k {
		a, b := i*n/k, (i+1)*n/k
		probs[i] = float64(b-a) / float64(n)
	}
	return func(p uint16) int { return (int(p) - lo) * k / n }, probs
}

// osaUniform checks that samples are uniform over lo..hi: none outside,
// and a chi-square test over k bins at significance 1e-6.
func osaUniform(t *testing.T, what string, samples []uint16, lo, hi, k int) {
	t.Helper()
	bin, probs := osaBins(lo, hi, k)
	counts := make([]int, k)
	for _, p := range samples {
		if int(p) < lo || int(p) > hi {
			t.Fatalf("%s: %d outside %d-%d", what, p, lo, hi)
		}
		counts[bin(p)]++
	}
	stat, crit := osaChiSquare(counts, probs)
	t.Logf("%s: chi-square %.1f over %d bins (critical %.1f at 1e-6), %d samples", what, stat, k, crit, len(samples))
	if stat > crit {
		t.Errorf("%s: not uniform over %d-%d: chi-square %.1f > %.1f", what, lo, hi, stat, crit)
	}
}

// osaProfile checks the defaults a stack model declares.
func osaProfile(t *testing.T, name string, lo, hi uint16, tw time.Duration, scope allocator.Scope) {
	t.Helper()
	p := osaSpec(t, name).Profile
	if p.Range.Lo != lo || p.Range.Hi != hi {
		t.Errorf("%s: default range %v, want %d-%d", name, p.Range, lo, hi)
	}
	if p.TimeWait != tw {
		t.Errorf("%s: TIME_WAIT %v, want %v", name, p.TimeWait, tw)
	}
	if p.Scope != scope {
		t.Errorf("%s: scope %v, want %v", name, p.Scope, scope)
	}
}

// osaNext returns the port after p in lo..hi, wrapping.
func osaNext(p, lo, hi uint16) uint16 {
	if p == hi {
		return lo
	}
	return p + 1
}

// TestRFC6056Specs checks the flags and defaults of the RFC algorithms
// (docs/allocators.md#rfc-6056-algorithms: 1024-65535 recommended; suitable() tests the
// 5-tuple, so ports are shared across destinations).
func TestRFC6056Specs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		exhaustive bool
	}{
		{"rfc6056-1", true},  // N consecutive ports
		{"rfc6056-2", false}, // random picks repeat
		{"rfc6056-3", true},  // N consecutive ports from offset + next
		{"rfc6056-4", false}, // the 16-bit cell can wrap mid-search
		{"rfc6056-5", false}, // random increments
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := osaSpec(t, tc.name)
			if s.Exhaustive != tc.exhaustive {
				t.Errorf("Exhaustive = %v, want %v", s.Exhaustive, tc.exhaustive)
			}
			osaProfile(t, tc.name, 1024, 65535, 60*time.Second, allocator.FourTuple)
			r := allocator.Range{Lo: 1000, Hi: 1999}
			if b := osaBound(t, tc.name, r, nil); b != 1000 {
				t.Errorf("Bound = %d, want N = 1000", b)
			}
		})
	}
}

// TestRFC6056Alg1FirstCandidateUniform checks Algorithm 1 (docs/allocators.md#rfc6056-1,
// RFC 6056 §3.3.1): the first candidate is uniform over the whole
// range, and a collision moves to the next port up, wrapping.
func TestRFC6056Alg1FirstCandidateUniform(t *testing.T) {
	r := allocator.Range{Lo: 1000, Hi: 1099}
	a := osaBuild(t, "rfc6056-1", r, 1, nil)
	rec := &osaRecorder{}
	var firsts []uint16
	for i := range 100_000 {
		rec.reset()
		osaAlloc(t, a, 0, osaFlow(i), rec)
		firsts = append(firsts, rec.probes[0])
	}
	osaUniform(t, "first candidate", firsts, 1000, 1099, 100)

	// Ports 1000-1049 busy: a start inside the run walks up to 1050.
	rec = &osaRecorder{deny: func(p uint16) bool { return p < 1050 }}
	for i := range 2000 {
		rec.reset()
		p := osaAlloc(t, a, 0, osaFlow(i), rec)
		first := rec.probes[0]
		want := first
		if first < 1050 {
			want = 1050
		}
		if p != want || len(rec.probes) != int(want-first)+1 {
			t.Fatalf("start %d: got %d after %d probes, want %d after %d", first, p, len(rec.probes), want, want-first+1)
		}
		for k := 1; k < len(rec.probes); k++ {
			if rec.probes[k] != osaNext(rec.probes[k-1], r.Lo, r.Hi) {
				t.Fatalf("probes %v are not consecutive", rec.probes)
			}
		}
	}
}

// TestRFC6056Alg2Birthday checks Algorithm 2 (RFC 6056 §3.3.2): every try
// is a fresh uniform pick, so over many seeds the first repeated port comes
// after about sqrt(pi N / 2) picks (the birthday bound; DESIGN.md "Testing
// habits"), and with one free port in N a call fails with probability
// (1 - 1/N)^N although a port is free.
func TestRFC6056Alg2Birthday(t *testing.T) {
	const N, seeds = 10000, 2000
	r := allocator.Range{Lo: 20000, Hi: 20000 + N - 1}
	// Exact mean and variance of T, the pick at which a port first
	// repeats: P(T > k) = prod_{j<k} (1 - j/N).
	var mean, second float64
	surv := 1.0
	for k := 0; surv > 1e-300 && k <= N; k++ {
		mean += surv
		second += float64(2*k+1) * surv
		surv *= 1 - float64(k)/N
	}
	sd := math.Sqrt(second - mean*mean)
	total := 0
	rec := &osaRecorder{}
	for s := range seeds {
		a := osaBuild(t, "rfc6056-2", r, uint64(s)+1, nil)
		seen := make(map[uint16]bool)
		for k := 1; ; k++ {
			rec.reset()
			p := osaAlloc(t, a, 0, osaFlow(0), rec)
			if len(rec.probes) != 1 {
				t.Fatalf("all ports free: %d probes, want 1", len(rec.probes))
			}
			if seen[p] {
				total += k
				break
			}
			seen[p] = true
		}
	}
	got := float64(total) / seeds
	margin := 8 * sd / math.Sqrt(seeds)
	t.Logf("first repeat after %.2f picks on average over %d seeds; expected %.2f (sqrt(pi N/2) = %.2f), margin %.2f", got, seeds, mean, math.Sqrt(math.Pi*N/2), margin)
	if math.Abs(got-mean) > margin {
		t.Errorf("mean first repeat %.2f, want %.2f +- %.2f", got, mean, margin)
	}

	// One free port among 100: each call makes 100 independent picks.
	small := allocator.Range{Lo: 5000, Hi: 5099}
	a := osaBuild(t, "rfc6056-2", small, 9, nil)
	rec = &osaRecorder{deny: func(p uint16) bool { return p != 5042 }}
	const calls = 1000
	fails := 0
	for i := range calls {
		rec.reset()
		p, err := a.Allocate(0, osaFlow(i), rec)
		switch {
		case errors.Is(err, allocator.ErrExhausted):
			fails++
			if len(rec.probes) != 100 {
				t.Fatalf("failed after %d probes, want 100", len(rec.probes))
			}
		case err != nil || p != 5042:
			t.Fatalf("got %d, %v", p, err)
		}
	}
	pf := math.Pow(0.99, 100)
	lo, hi := calls*pf-8*math.Sqrt(calls*pf*(1-pf)), calls*pf+8*math.Sqrt(calls*pf*(1-pf))
	t.Logf("one free port in 100: %d of %d calls failed (expected %.0f)", fails, calls, calls*pf)
	if float64(fails) < lo || float64(fails) > hi {
		t.Errorf("%d failures in %d calls, want %.0f..%.0f", fails, calls, lo, hi)
	}
}

// TestRFC6056Alg3 checks Algorithm 3 (docs/allocators.md#rfc-6056-algorithms, RFC 6056
// §3.3.3): consecutive connections to one destination get consecutive
// ports, destinations get unrelated offsets, and the global counter leaks
// how many connections the host made in between.
func TestRFC6056Alg3(t *testing.T) {
	r := allocator.Range{Lo: 1024, Hi: 65535}
	const N = 64512
	all := &osaRecorder{}

	t.Run("consecutive", func(t *testing.T) {
		a := osaBuild(t, "rfc6056-3", r, 1, nil)
		prev := osaAlloc(t, a, 0, osaFlow(7), all)
		for range 1000 {
			p := osaAlloc(t, a, 0, osaFlow(7), all)
			if p != osaNext(prev, r.Lo, r.Hi) {
				t.Fatalf("after %d got %d, want the next port", prev, p)
			}
			prev = p
		}
	})

	t.Run("counter leak", func(t *testing.T) {
		for _, between := range []int{0, 1, 5, 37, 1000} {
			a := osaBuild(t, "rfc6056-3", r, 2, nil)
			p1 := osaAlloc(t, a, 0, osaFlow(1), all)
			for i := range between {
				osaAlloc(t, a, 0, osaFlow(100+i%50), all)
			}
			p2 := osaAlloc(t, a, 0, osaFlow(1), all)
			if d := (int(p2) - int(p1) + N) % N; d != between+1 {
				t.Errorf("%d connections elsewhere: the observer's ports differ by %d, want %d", between, d, between+1)
			}
		}
	})

	t.Run("collision steps the counter", func(t *testing.T) {
		a := osaBuild(t, "rfc6056-3", r, 3, nil)
		tab := &allocatortest.Table{Scope: allocator.FourTuple, Range: r}
		f := osaFlow(1)
		p := osaAlloc(t, a, 0, f, tab)
		tab.Hold(p, f)
		tab.Hold(p+2, f) // the port two ahead is taken
		q := osaAlloc(t, a, 0, f, tab)
		tab.Reset()
		q2 := osaAlloc(t, a, 0, f, tab)
		if q != p+1 {
			t.Fatalf("second port %d, want %d", q, p+1)
		}
		// The third call tries p+2 (taken), then p+3, and the counter
		// moves by both tries.
		if q2 != p+3 || tab.Probes != 2 {
			t.Fatalf("third port %d after %d probes, want %d after 2", q2, tab.Probes, p+3)
		}
		if q3 := osaAlloc(t, a, 0, f, all); q3 != p+4 {
			t.Fatalf("fourth port %d, want %d", q3, p+4)
		}
	})

	t.Run("destinations unrelated", func(t *testing.T) {
		var firsts []uint16
		for i := range 5000 {
			a := osaBuild(t, "rfc6056-3", r, 4, nil)
			firsts = append(firsts, osaAlloc(t, a, 0, osaFlow(i), all))
		}
		osaUniform(t, "offset per destination", firsts, 1024, 65535, 50)
	})

	t.Run("keyed", func(t *testing.T) {
		distinct := map[uint16]bool{}
		for s := range 100 {
			a := osaBuild(t, "rfc6056-3", r, uint64(s), nil)
			distinct[osaAlloc(t, a, 0, osaFlow(1), all)] = true
		}
		if len(distinct) < 95 {
			t.Errorf("100 keys give %d distinct offsets for one destination, want nearly 100", len(distinct))
		}
	})
}

// TestRFC6056Alg4 checks Algorithm 4 (docs/allocators.md#rfc-6056-algorithms, RFC 6056
// §3.3.4): destinations in different cells do not share a counter,
// destinations in the same cell do, and Cell reports the cell used.
func TestRFC6056Alg4(t *testing.T) {
	r := allocator.Range{Lo: 1024, Hi: 65535}
	const N = 64512
	all := &osaRecorder{}
	for _, size := range []int{10, 7} {
		params := map[string]string{"table": "10"}
		if size != 10 {
			params["table"] = "7"
		}
		a := osaBuild(t, "rfc6056-4", r, 5, params)
		c, ok := a.(allocator.Celler)
		if !ok {
			t.Fatal("rfc6056-4 does not implement allocator.Celler")
		}
		// Find B in another cell than A and C in the same cell.
		cellA, n := c.Cell(0, osaFlow(0))
		if n != size {
			t.Fatalf("Cell size %d, want %d", n, size)
		}
		b, cc := -1, -1
		counts := make([]int, size)
		for i := 1; i < 5000; i++ {
			ci, _ := c.Cell(time.Duration(i)*time.Second, osaFlow(i))
			counts[ci]++
			if ci != cellA && b < 0 {
				b = i
			}
			if ci == cellA && cc < 0 {
				cc = i
			}
		}
		if b < 0 || cc < 0 {
			t.Fatalf("no destinations in other and same cells among 5000: %v", counts)
		}
		probs := make([]float64, size)
		for i := range probs {
			probs[i] = 1 / float64(size)
		}
		if stat, crit := osaChiSquare(counts, probs); stat > crit {
			t.Errorf("table %d: cells not uniform over destinations: %v (chi-square %.1f > %.1f)", size, counts, stat, crit)
		}
		if again, _ := c.Cell(time.Hour, osaFlow(0)); again != cellA {
			t.Errorf("cell of one destination changed from %d to %d", cellA, again)
		}

		pA := osaAlloc(t, a, 0, osaFlow(0), all)
		for range 5 {
			osaAlloc(t, a, 0, osaFlow(b), all)
		}
		if p := osaAlloc(t, a, 0, osaFlow(0), all); p != osaNext(pA, r.Lo, r.Hi) {
			t.Errorf("table %d: 5 connections in another cell moved A from %d to %d, want %d", size, pA, p, pA+1)
		}
		for range 3 {
			osaAlloc(t, a, 0, osaFlow(cc), all)
		}
		p := osaAlloc(t, a, 0, osaFlow(0), all)
		if d := (int(p) - int(pA) + N) % N; d != 5 {
			t.Errorf("table %d: 3 connections in A's cell: A moved by %d, want 5 (1 + 3 + 1)", size, d)
		}
	}

	// The cells are 16-bit, as in the RFC: with N = 100, which does not
	// divide 65536, a cell's wrap from 65535 to 0 moves the next port by
	// 1 - 65536 mod 100 = -35 (that is +65) instead of +1.
	small := allocator.Range{Lo: 5000, Hi: 5099}
	a := osaBuild(t, "rfc6056-4", small, 8, nil)
	prev := osaAlloc(t, a, 0, osaFlow(3), all)
	jumps := 0
	for range 70000 {
		p := osaAlloc(t, a, 0, osaFlow(3), all)
		switch d := (int(p) - int(prev) + 100) % 100; d {
		case 1:
		case 65:
			jumps++
		default:
			t.Fatalf("step %d from %d to %d; want 1, or 65 at the 16-bit wrap", d, prev, p)
		}
		prev = p
	}
	if jumps < 1 || jumps > 2 {
		t.Errorf("%d wrap jumps in 70000 allocations from one cell, want 1 or 2", jumps)
	}

	if _, err := allocator.New("rfc6056-4", allocator.Config{Range: r, Params: map[string]string{"table": "0"}}); err == nil ||
		!strings.Contains(err.Error(), "param table") {
		t.Errorf("table=0 accepted or error does not name the param: %v", err)
	}
}

// TestRFC6056Alg5MeanStep checks Algorithm 5 (docs/allocators.md#rfc-6056-algorithms, RFC 6056
// §3.3.5): every try advances the counter by 1 + random() % n, so with all
// ports free successive ports differ by 1..n with mean (n+1)/2 — except
// when the 16-bit counter (next_ephemeral = random() % 65536 at boot, a
// uint16_t in NetBSD's algo_randinc) wraps past 65535: 65536 is not a
// multiple of the 64,512 ports, so that step moves the port 1,024 less.
// The wraps come once per 65,536 of counter advance.
func TestRFC6056Alg5MeanStep(t *testing.T) {
	r := allocator.Range{Lo: 1024, Hi: 65535}
	const N, K = 64512, 100_000
	for _, n := range []int{500, 10, 1} {
		params := map[string]string{"n": strconv.Itoa(n)}
		a := osaBuild(t, "rfc6056-5", r, 6, params)
		all := &osaRecorder{}
		prev := osaAlloc(t, a, 0, osaFlow(0), all)
		sum, lo, hi, wraps := 0, n, 0, 0
		for range K {
			p := osaAlloc(t, a, 0, osaFlow(0), all)
			d := (int(p) - int(prev) + N) % N
			if d < 1 || d > n { // the counter wrapped: undo the 1,024 lost
				wraps++
				d = (d + 65536) % N
			}
			sum += d
			lo, hi = min(lo, d), max(hi, d)
			prev = p
		}
		mean := float64(sum) / K
		want := float64(n+1) / 2
		margin := 8 * math.Sqrt(float64(n*n-1)/12) / math.Sqrt(K)
		t.Logf("n=%d: mean step %.2f (want %.2f +- %.2f), steps %d..%d, %d wraps", n, mean, want, margin, lo, hi, wraps)
		if lo < 1 || hi > n || math.Abs(mean-want) > margin+1e-9 {
			t.Errorf("n=%d: steps %d..%d with mean %.2f; want 1..%d with mean %.2f +- %.2f", n, lo, hi, mean, n, want, margin)
		}
		if w := sum / 65536; wraps < w || wraps > w+1 {
			t.Errorf("n=%d: %d wraps of the counter over an advance of %d, want %d or %d", n, wraps, sum, w, w+1)
		}
	}
}

// TestOtherStacksAllocateDoesNotAllocate checks that Allocate (and Release
// for fifo) stays free of heap allocations (DESIGN.md "Performance
// habits").
func TestOtherStacksAllocateDoesNotAllocate(t *testing.T) {
	r := allocator.Range{Lo: 32768, Hi: 60999}
	for _, name := range []string{"sequential", "rfc6056-1", "rfc6056-2", "rfc6056-3", "rfc6056-4", "rfc6056-5",
		"freebsd", "freebsd-13", "freebsd-12", "openbsd", "netbsd", "netfilter", "netfilter-6.4", "macos", "windows", "lwip", "fifo", "random-window"} {
		a := osaBuild(t, name, r, 1, nil)
		rel, _ := a.(allocator.Releaser)
		free := osaFree{}
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			i++
			f := osaFlow(i % 64)
			if i%3 == 0 {
				f.Path = allocator.UDP
			}
			p, err := a.Allocate(time.Duration(i)*time.Millisecond, f, free)
			if err == nil && rel != nil {
				rel.Release(0, f, p)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per Allocate, want 0", name, allocs)
		}
	}
}

// osaFree answers every port free without recording.
type osaFree struct{}

func (osaFree) Free(uint16, allocator.Flow) bool { return true }
