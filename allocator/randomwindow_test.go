package allocator_test

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/portsim/portsim/allocator"
)

// TestRandomWindowBound checks Spec.Bound: the kernel searches remaining =
// (W+1) rounded down to even ports of the window lo..lo+W (one for a
// one-port window), and a window at least as wide as the range is the
// whole range.
func TestRandomWindowBound(t *testing.T) {
	s := osaSpec(t, "random-window")
	if s.Exhaustive {
		t.Error("random-window: Exhaustive, but only the window is searched")
	}
	big := allocator.Range{Lo: 32768, Hi: 60999}
	for _, tc := range []struct {
		r      allocator.Range
		window string
		want   int
	}{
		{big, "500", 500},   // 501 ports, one dropped
		{big, "1000", 1000}, // the post's two window sizes
		{big, "501", 502},
		{big, "9", 10},
		{big, "1", 2},
		{big, "65535", 28232}, // the whole range
		{allocator.Range{Lo: 1000, Hi: 1009}, "10", 10},
		{allocator.Range{Lo: 5000, Hi: 5100}, "500", 100}, // 101 ports, one dropped
		{allocator.Range{Lo: 5000, Hi: 5000}, "500", 1},
	} {
		if b := osaBound(t, "random-window", tc.r, map[string]string{"window": tc.window}); b != tc.want {
			t.Errorf("range %v window %s: Bound %d, want %d", tc.r, tc.window, b, tc.want)
		}
	}
}

// TestRandomWindowParity checks the kernel's search inside each window
// (docs/figures.md#t1-cloudflare-2024; docs/allocators.md#linux): every call with all
// ports refused probes exactly Bound distinct ports lying within one window
// of W+1 ports, first remaining/2 ports of one parity in steps of 2 (one
// wrap at most), then remaining/2 of the other parity.
func TestRandomWindowParity(t *testing.T) {
	r := allocator.Range{Lo: 32768, Hi: 60999}
	for _, w := range []int{500, 1000, 9, 10} {
		params := map[string]string{"window": strconv.Itoa(w)}
		a := osaBuild(t, "random-window", r, 3, params)
		bound := osaBound(t, "random-window", r, params)
		none := &osaRecorder{deny: func(uint16) bool { return true }}
		lows := map[uint16]bool{}
		// An odd-sized window (W even) drops one port: the bottom one
		// when the kernel's offset is not 0 (probability 1 - 2/W), and
		// the first pass then ends on the top port low+W; with offset 0
		// the top port is dropped. An even-sized window (W odd) keeps
		// all ports and its top one has the second pass's parity.
		topFirst := 0
		for i := range 300 {
			none.reset()
			if _, err := a.Allocate(0, osaFlow(i), none); !errors.Is(err, allocator.ErrExhausted) {
				t.Fatalf("window %d: every port refused: %v", w, err)
			}
			pr := none.probes
			if len(pr) != bound {
				t.Fatalf("window %d: %d probes, want %d", w, len(pr), bound)
			}
			lo, hi := slices.Min(pr), slices.Max(pr)
			if int(hi-lo) > w {
				t.Fatalf("window %d: probes span %d-%d, wider than the window", w, lo, hi)
			}
			if s := slices.Clone(pr); len(slices.Compact(sortU16(s))) != len(pr) {
				t.Fatalf("window %d: a port was probed twice", w)
			}
			half := bound / 2
			for pass, seq := range [][]uint16{pr[:half], pr[half:]} {
				wraps := 0
				for k, p := range seq {
					if p%2 != seq[0]%2 {
						t.Fatalf("window %d pass %d: parity changes within the pass: %v", w, pass, seq)
					}
					if k > 0 && p != seq[k-1]+2 {
						wraps++
					}
				}
				if wraps > 1 {
					t.Fatalf("window %d pass %d: %d jumps, want steps of 2 with one wrap at most: %v", w, pass, wraps, seq)
				}
			}
			if pr[0]%2 == pr[half]%2 {
				t.Fatalf("window %d: both passes have the same parity", w)
			}
			lows[lo] = true
			if slices.Contains(pr[:half], hi) {
				topFirst++
			}
		}
		pTop := 0.0
		if w%2 == 0 {
			pTop = 1 - 2/float64(w)
		}
		want, margin := 300*pTop, 8*math.Sqrt(300*pTop*(1-pTop))+0.5
		if math.Abs(float64(topFirst)-want) > margin {
			t.Errorf("window %d: the first pass held the top port in %d of 300 calls, want %.0f +- %.0f", w, topFirst, want, margin)
		}
		if len(lows) < 200 {
			t.Errorf("window %d: only %d distinct window positions in 300 calls; the window should move at random", w, len(lows))
		}
	}
}

// TestRandomWindowFailsWhenFull checks that the workaround fails when its
// window is full although the range has free ports (docs/figures.md#t1-cloudflare-2024: 868
// errors for W = 500): with one free port in 1000 and W = 10, only windows
// that hold it succeed, about 1% of calls.
func TestRandomWindowFailsWhenFull(t *testing.T) {
	r := allocator.Range{Lo: 40000, Hi: 40999}
	params := map[string]string{"window": "10"}
	a := osaBuild(t, "random-window", r, 4, params)
	bound := osaBound(t, "random-window", r, params)
	rec := &osaRecorder{deny: func(p uint16) bool { return p != 40500 }}
	const calls = 20000
	ok := 0
	for i := range calls {
		rec.reset()
		p, err := a.Allocate(0, osaFlow(i), rec)
		switch {
		case err == nil:
			if p != 40500 {
				t.Fatalf("got %d, the only free port is 40500", p)
			}
			ok++
		case errors.Is(err, allocator.ErrExhausted):
			if len(rec.probes) != bound || slices.Contains(rec.probes, 40500) {
				t.Fatalf("failed after probes %v; want %d probes, none of them the free port", rec.probes, bound)
			}
		default:
			t.Fatal(err)
		}
	}
	// 991 window positions hold 11 ports each; 11 of them hold 40500.
	// The kernel searches 10 of the 11 ports: with offset 0 it skips the
	// top port, otherwise the bottom one. So 40500 is found in the 9
	// windows where it is neither, and in the two where it is the top or
	// the bottom port with probability 4/5 and 1/5: p = 10 / 991.
	pOK := 10.0 / 991
	want, margin := calls*pOK, 8*math.Sqrt(calls*pOK*(1-pOK))
	t.Logf("one free port: %d of %d calls succeeded (expected %.0f +- %.0f)", ok, calls, want, margin)
	if math.Abs(float64(ok)-want) > margin {
		t.Errorf("%d successes in %d calls, want %.0f +- %.0f", ok, calls, want, margin)
	}
}

// TestRandomWindowKernelOffset checks the in-window offset model: with a
// window as wide as the range the workaround is plain Linux 6.x connect()
// (docs/allocators.md#properties-the-tests-check item 2), so consecutive connections to one
// destination within a 10 s bucket move by 2, 4, ..., 16, each with
// probability 1/8, on ports of the range's low parity.
func TestRandomWindowKernelOffset(t *testing.T) {
	r := allocator.Range{Lo: 32768, Hi: 60999}
	a := osaBuild(t, "random-window", r, 5, map[string]string{"window": "65535"})
	all := &osaRecorder{}
	const K, R = 8000, 28232
	counts := map[int]int{}
	prev := osaAlloc(t, a, 0, osaFlow(1), all)
	for range K {
		p := osaAlloc(t, a, 0, osaFlow(1), all)
		if p%2 != 0 {
			t.Fatalf("port %d is odd; the first pass takes even ports", p)
		}
		counts[(int(p)-int(prev)+R)%R]++
		prev = p
	}
	sd := math.Sqrt(K * (1.0 / 8) * (7.0 / 8))
	for d := 2; d <= 16; d += 2 {
		if c := counts[d]; math.Abs(float64(c)-K/8) > 8*sd {
			t.Errorf("step %d seen %d times in %d, want %d +- %.0f", d, c, K, K/8, 8*sd)
		}
		delete(counts, d)
	}
	if len(counts) != 0 {
		t.Errorf("steps other than 2..16: %v", counts)
	}
}

func sortU16(s []uint16) []uint16 {
	slices.Sort(s)
	return s
}
