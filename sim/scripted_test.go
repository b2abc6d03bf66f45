package sim

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// This file holds small scripted runs whose every metric is computed by
// hand in the comments: each test names the property it pins, and would
// fail if the simulator broke it.

// wantBools fails t unless got equals want.
func wantBools(t *testing.T, what string, got, want []bool) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

// wantHist fails t unless h holds exactly count values from min to max
// summing to sum.
func wantHist(t *testing.T, name string, h *results.Hist, count, lo, hi, sum uint64) {
	t.Helper()
	if h.Count() != count || h.Count() > 0 && (h.Min() != lo || h.Max() != hi || h.Sum() != sum) {
		t.Errorf("%s: count %d min %d max %d sum %d; want count %d min %d max %d sum %d",
			name, h.Count(), h.Min(), h.Max(), h.Sum(), count, lo, hi, sum)
	}
}

func withPath(a workload.Arrival, p allocator.Path) workload.Arrival {
	a.Flow.Path = p
	if p == allocator.Bind {
		a.Flow.Dst = netip.AddrPort{}
	}
	return a
}

func withSrc(a workload.Arrival, src netip.Addr) workload.Arrival {
	a.Flow.Src = src
	return a
}

// TestReuseIntervalBoundaries pins the reuse interval and the premature
// count at their edges, on a one-port range with a 60 s TIME_WAIT:
//
//   - 0 s: the first connection closes at once (close at t = 0, so its
//     last close is 0, not "never"); no interval (never closed before).
//   - 60 s: TIME_WAIT has just ended; interval exactly 60 s, which is not
//     premature (premature means below TIME_WAIT). Closed by the server
//     at 61 s, so nothing holds the port afterwards.
//   - 121 s − 1 ns: interval 60 s − 1 ns, premature.
func TestReuseIntervalBoundaries(t *testing.T) {
	const tw = 60 * time.Second
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),
		connectTo(tw, dstA, time.Second, workload.ServerClose),
		connectTo(tw+time.Second+tw-1, dstA, workload.Forever, workload.ClientClose),
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, tw), Script: script})
	wantBools(t, "outcomes", ok, []bool{true, true, true})
	wantHist(t, "reuse interval", &r.ReuseInterval, 2, uint64(tw-1), uint64(tw), uint64(2*tw-1))
	if r.PrematureNS != int64(tw) || r.Premature != 1 {
		t.Errorf("premature %d below %v, want 1 below %v", r.Premature, time.Duration(r.PrematureNS), tw)
	}
	// One port reused twice: distances 1 and 1.
	wantHist(t, "reuse distance", &r.ReuseDistance, 2, 1, 1, 2)
}

// TestReuseDistanceDiffsAndWrap pins the per-destination sequence metrics
// on a four-port range with sequential (a global counter) and resets, so
// that every port is free again at once: ports 7000, 7001, 7002, 7003,
// 7000, 7001.
//
//   - reuse distance: 7000 comes back at allocation 5 after 1, 7001 at 6
//     after 2: two distances of 4;
//   - successive differences: +1 four times, and 7003 → 7000 wraps to +1
//     (−3 mod 4), so five differences of +1;
//   - wrap: the forward differences reach the range size (4) at the fourth
//     difference, so one full turn of 4 allocations.
//
// Counting down (descending=true: 7003, 7002, 7001, 7000, 7003, 7002)
// gives forward differences of 3, centred to −1, five times, and turns
// after 2, 1 and 1 differences (3+3 = 6 ≥ 4 leaves 2; 2+3 = 5 leaves 1;
// 1+3 = 4 leaves 0).
func TestReuseDistanceDiffsAndWrap(t *testing.T) {
	var script []workload.Arrival
	for i := range 6 {
		script = append(script, connectTo(time.Duration(i)*time.Second, dstA, 0, workload.RST))
	}
	t.Run("ascending", func(t *testing.T) {
		_, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7003, time.Minute), Script: script})
		if want := []uint16{7000, 7001, 7002, 7003, 7000, 7001}; !slices.Equal(ports, want) {
			t.Fatalf("ports %v, want %v", ports, want)
		}
		wantHist(t, "reuse distance", &r.ReuseDistance, 2, 4, 4, 8)
		if r.SuccDiff.Count(1) != 5 || r.SuccDiff.Total() != 5 {
			t.Errorf("successive differences: %d of +1 among %d, want 5 of 5", r.SuccDiff.Count(1), r.SuccDiff.Total())
		}
		wantHist(t, "wrap", &r.Wrap, 1, 4, 4, 4)
		// Six resets 1 s apart, each one's port never closed before its
		// allocation except 7000 (closed at 0 s, back at 4 s) and 7001
		// (1 s, back at 5 s).
		wantHist(t, "reuse interval", &r.ReuseInterval, 2, uint64(4*time.Second), uint64(4*time.Second), uint64(8*time.Second))
		if r.Premature != 2 {
			t.Errorf("premature %d, want 2 (4 s is below the 60 s TIME_WAIT)", r.Premature)
		}
	})
	t.Run("descending", func(t *testing.T) {
		_, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Params: map[string]string{"descending": "true"}, Stack: stack(7000, 7003, time.Minute), Script: script})
		if want := []uint16{7003, 7002, 7001, 7000, 7003, 7002}; !slices.Equal(ports, want) {
			t.Fatalf("ports %v, want %v", ports, want)
		}
		if r.SuccDiff.Count(-1) != 5 || r.SuccDiff.Total() != 5 {
			t.Errorf("successive differences: %d of -1 among %d, want 5 of 5", r.SuccDiff.Count(-1), r.SuccDiff.Total())
		}
		wantHist(t, "wrap", &r.Wrap, 3, 1, 2, 4)
	})
}

// TestSuccDiffHalfRange pins the centring of successive differences at
// exactly half the range: in an exclusive stack a port held for dstB makes
// dstA's next port 7002 after 7000, a difference of +2 on a four-port
// range, which stays +2 (the centred interval is (−n/2, n/2]).
func TestSuccDiffHalfRange(t *testing.T) {
	st := stack(7000, 7003, time.Minute)
	st.Scope = allocator.Exclusive
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.RST),                // 7000, freed at once
		connectTo(1, dstB, workload.Forever, 0),            // 7001
		connectTo(2, dstA, workload.Forever, 0),            // 7002: +2 from 7000
		connectTo(3, dstA, workload.Forever, 0),            // 7003: +1
		connectTo(4, dstA, workload.Forever, 0),            // 7000: +1 (wraps)
		connectTo(5, dstA, workload.Forever, 0),            // full
		connectTo(6, dstB, workload.Forever, 0),            // full
		connectTo(7, dstB, workload.Forever, workload.RST), // full
	}
	ok, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	wantBools(t, "outcomes", ok, []bool{true, true, true, true, true, false, false, false})
	if want := []uint16{7000, 7001, 7002, 7003, 7000, 0, 0, 0}; !slices.Equal(ports, want) {
		t.Fatalf("ports %v, want %v", ports, want)
	}
	if r.SuccDiff.Count(2) != 1 || r.SuccDiff.Count(1) != 2 || r.SuccDiff.Total() != 3 {
		t.Errorf("successive differences: %d of +2, %d of +1 among %d; want 1, 2 of 3", r.SuccDiff.Count(2), r.SuccDiff.Count(1), r.SuccDiff.Total())
	}
	// dstA: 2 + 1 + 1 = 4 reaches the range at its third difference.
	wantHist(t, "wrap", &r.Wrap, 1, 3, 3, 3)
	// 7000 came back to dstA after 3 more allocations to it (1, then 4).
	wantHist(t, "reuse distance", &r.ReuseDistance, 1, 3, 3, 3)
	if r.Failures != 3 || r.FirstFailureNS != 5 {
		t.Errorf("failures %d, first at %dns; want 3, first at 5ns", r.Failures, r.FirstFailureNS)
	}
}

// TestOARCWindow pins the DNS-OARC score: four destinations in an
// exclusive stack take turns on a 104-port range, so each sees every
// fourth port: 7000+k, 7004+k, ..., 7100+k in a window of 26. The sample
// standard deviation of 0, 4, ..., 100 is 4·sqrt(26·27/12) = 30.59,
// scored 31 (the population deviation would give 30). Fifty-two attempts
// per destination make two windows each, the second after a wrap, with
// the same ports: eight scores of 31.
func TestOARCWindow(t *testing.T) {
	st := stack(7000, 7103, time.Minute)
	st.Scope = allocator.Exclusive
	dsts := []netip.AddrPort{dstA, dstB, netip.MustParseAddrPort("198.18.0.3:443"), netip.MustParseAddrPort("198.18.0.4:443")}
	var script []workload.Arrival
	for i := range 4 * 52 {
		script = append(script, connectTo(time.Duration(i)*time.Millisecond, dsts[i%4], 0, workload.RST))
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	if r.Failures != 0 || len(ok) != 208 {
		t.Fatalf("%d failures in %d attempts, want none in 208", r.Failures, len(ok))
	}
	wantHist(t, "DNS-OARC", &r.OARC, 8, 31, 31, 8*31)
	// Every difference per destination is +4; the 26th wraps (7100+k to
	// 7000+k is −100 ≡ +4 mod 104). 51 differences per destination.
	if r.SuccDiff.Count(4) != 4*51 || r.SuccDiff.Total() != 4*51 {
		t.Errorf("successive differences: %d of +4 among %d, want 204 of 204", r.SuccDiff.Count(4), r.SuccDiff.Total())
	}
	// A turn is 26 differences of 4 = 104: one full turn per destination.
	wantHist(t, "wrap", &r.Wrap, 4, 26, 26, 4*26)
	wantHist(t, "reuse distance", &r.ReuseDistance, 4*26, 26, 26, 4*26*26)
}

// TestOccupancySamples pins the occupancy series sample by sample, with
// the established and TIME_WAIT columns told apart (sampled every second,
// TIME_WAIT 3 s; samples at t come after every other event at t):
//
//	A  0 s, held 2 s, client close: established 0–2 s, TIME_WAIT 2–5 s
//	B  1.5 s, never closed
//	C  3.5 s, never closed
//	D  7 s: the last attempt; the run ends with it, before its sample.
//
//	t    0 1 2 3 4 5 6
//	est  1 1 1 1 2 2 2
//	tw   0 0 1 1 1 0 0
func TestOccupancySamples(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, 2*time.Second, workload.ClientClose),
		connectTo(1500*time.Millisecond, dstA, workload.Forever, 0),
		connectTo(3500*time.Millisecond, dstA, workload.Forever, 0),
		connectTo(7*time.Second, dstA, 0, workload.RST),
	}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7009, 3*time.Second), Script: script, SampleEvery: time.Second})
	occ := r.Occupancy
	if occ.StepNS != int64(time.Second) {
		t.Errorf("step %v, want 1s", time.Duration(occ.StepNS))
	}
	if want := []uint32{1, 1, 1, 1, 2, 2, 2}; !slices.Equal(occ.Established, want) {
		t.Errorf("established %v, want %v", occ.Established, want)
	}
	if want := []uint32{0, 0, 1, 1, 1, 0, 0}; !slices.Equal(occ.TimeWait, want) {
		t.Errorf("time-wait %v, want %v", occ.TimeWait, want)
	}
	if r.SimulatedNS != int64(7*time.Second) {
		t.Errorf("simulated %v, want 7s (the last attempt)", time.Duration(r.SimulatedNS))
	}
}

// TestTakeoverThenLongLived checks that a port is never handed out twice
// after a tcp_tw_reuse take-over: the TIME_WAIT expiry timer of the
// 4-tuple taken over must not free it while the new connection is open.
//
//	0 s: A closes at once, TIME_WAIT 0–60 s, reusable from 1 s
//	2 s: B takes the 4-tuple over and never closes
//	60 s: A's stale timer fires: it must leave B's 4-tuple held
//	61 s: C must fail
func TestTakeoverThenLongLived(t *testing.T) {
	st := stack(7000, 7000, time.Minute)
	st.TWReuse = 1
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),
		connectTo(2*time.Second, dstA, workload.Forever, 0),
		connectTo(61*time.Second, dstA, workload.Forever, 0),
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script, SampleEvery: 30 * time.Second})
	wantBools(t, "outcomes", ok, []bool{true, true, false})
	if r.TWTakeovers != 1 {
		t.Errorf("take-overs %d, want 1", r.TWTakeovers)
	}
	// Samples at 0, 30, 60 s: A in TIME_WAIT at 0 s; B established after.
	if want := []uint32{0, 1, 1}; !slices.Equal(r.Occupancy.Established, want) {
		t.Errorf("established %v, want %v", r.Occupancy.Established, want)
	}
	if want := []uint32{1, 0, 0}; !slices.Equal(r.Occupancy.TimeWait, want) {
		t.Errorf("time-wait %v, want %v", r.Occupancy.TimeWait, want)
	}
	// B reused the 4-tuple 2 s after A closed: premature.
	wantHist(t, "reuse interval", &r.ReuseInterval, 1, uint64(2*time.Second), uint64(2*time.Second), uint64(2*time.Second))
	if r.Premature != 1 {
		t.Errorf("premature %d, want 1", r.Premature)
	}
}

// TestReuseDelayLongerThanTimeWait checks that with tw-reuse-delay (90 s)
// longer than TIME_WAIT (60 s) the stale "reusable" timer of an ended
// TIME_WAIT does not unblock a newer connection on the 4-tuple: A closes
// at 0 s (TIME_WAIT ends at 60 s, its maturity timer fires at 90 s), B
// takes the free port at 61 s, and C at 91 s must fail, whether B is
// still open or has left a TIME_WAIT of its own (closed at 62 s, not
// reusable before 152 s).
func TestReuseDelayLongerThanTimeWait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hold  time.Duration
		wantW uint32 // TIME_WAIT at the last sample (90 s)
	}{
		{"open", workload.Forever, 0},
		{"new-time-wait", time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stack(7000, 7000, time.Minute)
			st.TWReuse, st.TWReuseDelay = 1, 90*time.Second
			script := []workload.Arrival{
				connectTo(0, dstA, 0, workload.ClientClose),
				connectTo(61*time.Second, dstA, tc.hold, workload.ClientClose),
				connectTo(91*time.Second, dstA, workload.Forever, 0),
			}
			ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script, SampleEvery: 30 * time.Second})
			wantBools(t, "outcomes", ok, []bool{true, true, false})
			if r.TWTakeovers != 0 {
				t.Errorf("take-overs %d, want 0", r.TWTakeovers)
			}
			if got := r.Occupancy.TimeWait; len(got) != 4 || got[3] != tc.wantW {
				t.Errorf("time-wait samples %v, want 4 ending in %d", got, tc.wantW)
			}
		})
	}
}

// TestTakeoverWithBindOnStack checks the local-port use count across a
// take-over when bind(0) sockets share the port space: the connection that
// takes a TIME_WAIT 4-tuple over replaces its socket, so the port is used
// once while it is open (a bind must fail) and not at all after it is
// reset (a bind must succeed: the count did not leak).
func TestTakeoverWithBindOnStack(t *testing.T) {
	st := stack(7000, 7000, time.Minute)
	st.TWReuse = 1
	bind := func(at time.Duration) workload.Arrival {
		return withPath(connectTo(at, dstA, workload.Forever, 0), allocator.Bind)
	}
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),                 // TIME_WAIT, reusable from 1 s
		connectTo(2*time.Second, dstA, 2*time.Second, workload.RST), // takes over, reset at 4 s
		bind(3 * time.Second),                                       // the port is in use: fails
		bind(5 * time.Second),                                       // nothing holds it: succeeds
		connectTo(6*time.Second, dstB, workload.Forever, 0),         // bound: connect skips it
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	wantBools(t, "outcomes", ok, []bool{true, true, false, true, false})
	if r.TWTakeovers != 1 {
		t.Errorf("take-overs %d, want 1", r.TWTakeovers)
	}
}

// TestTakeoverWithUDPOnStack checks that UDP flows on the stack (which
// make the simulator keep local-port counts) leave the take-over rules of
// TCP alone, and that UDP and TCP count their ports apart: a UDP socket
// gets the port while a TCP connection holds it.
func TestTakeoverWithUDPOnStack(t *testing.T) {
	st := stack(7000, 7000, time.Minute)
	st.TWReuse = 1
	udp := func(at, hold time.Duration) workload.Arrival {
		return withPath(connectTo(at, dstA, hold, 0), allocator.UDP)
	}
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),          // TIME_WAIT, reusable from 1 s
		udp(500*time.Millisecond, time.Second),               // UDP space: free; closed at 1.5 s
		connectTo(2*time.Second, dstA, workload.Forever, 0),  // takes over
		udp(3*time.Second, workload.Forever),                 // UDP space: free again
		udp(4*time.Second, workload.Forever),                 // held by the UDP socket
		connectTo(61*time.Second, dstA, workload.Forever, 0), // held by the take-over
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	wantBools(t, "outcomes", ok, []bool{true, true, true, true, false, false})
	if r.TWTakeovers != 1 {
		t.Errorf("take-overs %d, want 1", r.TWTakeovers)
	}
}

// TestTwoSourcesOneDestination checks that each (source, destination)
// pair has its own tables and metrics: sources S1 and S2 alternate towards
// dstA over a four-port range with one global counter, so S1 gets 7000,
// 7002, 7000 and S2 7001, 7003, 7001. Per pair every difference is +2
// (7002 → 7000 wraps to +2) and every reuse distance 2; shared tables
// would give +1 and 4. With one port and connections never closed, each
// source gets it once. Both hold for two sources whose addresses end in
// different bytes and for two that end in the same byte (and so share a
// slot of the simulator's cache of recent tables).
func TestTwoSourcesOneDestination(t *testing.T) {
	for _, pair := range [][2]string{{"10.0.0.1", "10.0.0.2"}, {"10.0.0.1", "10.0.1.1"}} {
		t.Run(pair[0]+","+pair[1], func(t *testing.T) {
			testTwoSources(t, netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1]))
		})
	}
}

func testTwoSources(t *testing.T, s1, s2 netip.Addr) {
	var script []workload.Arrival
	for i := range 6 {
		src := s1
		if i%2 == 1 {
			src = s2
		}
		script = append(script, withSrc(connectTo(time.Duration(i)*time.Second, dstA, 0, workload.RST), src))
	}
	_, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7003, time.Minute), Script: script})
	if want := []uint16{7000, 7001, 7002, 7003, 7000, 7001}; !slices.Equal(ports, want) {
		t.Fatalf("ports %v, want %v", ports, want)
	}
	if r.SuccDiff.Count(2) != 4 || r.SuccDiff.Total() != 4 {
		t.Errorf("successive differences: %d of +2 among %d, want 4 of 4", r.SuccDiff.Count(2), r.SuccDiff.Total())
	}
	wantHist(t, "reuse distance", &r.ReuseDistance, 2, 2, 2, 4)
	if r.Setup.Sources != 2 || r.Setup.Destinations != 1 {
		t.Errorf("setup: %d sources, %d destinations; want 2 and 1", r.Setup.Sources, r.Setup.Destinations)
	}

	script = script[:0]
	for i := range 4 {
		src := s1
		if i%2 == 1 {
			src = s2
		}
		script = append(script, withSrc(connectTo(time.Duration(i)*time.Second, dstA, workload.Forever, 0), src))
	}
	ok, _, _ := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Script: script})
	wantBools(t, "one port, never closed", ok, []bool{true, true, false, false})
}

// TestOddRangeHistories checks that port histories stay apart in a range
// of odd size once a destination has used more than smallRecs ports (the
// history becomes an array laid out by parity): two turns of sequential
// over 2,051 ports, reset at once and one per millisecond, must give
// every port a reuse distance of exactly 2,051 and a reuse interval of
// exactly 2.051 s.
func TestOddRangeHistories(t *testing.T) {
	const n = 2051 // odd, and more than smallRecs
	if n <= smallRecs {
		t.Fatal("the range must exceed smallRecs")
	}
	var script []workload.Arrival
	for i := range 2 * n {
		script = append(script, connectTo(time.Duration(i)*time.Millisecond, dstA, 0, workload.RST))
	}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(10000, 10000+n-1, time.Minute), Script: script})
	wantHist(t, "reuse distance", &r.ReuseDistance, n, n, n, n*n)
	iv := uint64(n * time.Millisecond)
	wantHist(t, "reuse interval", &r.ReuseInterval, n, iv, iv, n*iv)
	// Every difference is +1, the turn from the top to the bottom
	// included; two turns of n allocations less the first.
	if r.SuccDiff.Count(1) != 2*n-1 {
		t.Errorf("successive differences of +1: %d, want %d", r.SuccDiff.Count(1), 2*n-1)
	}
	wantHist(t, "wrap", &r.Wrap, 1, n, n, n)
}

// TestPrefillPerTable checks where prefilled ports are held: per source
// for an exclusive stack, bind(0) and UDP, per (source, destination) for
// 4-tuple connect(), where bind(0) then skips them too. 90 of 100 ports
// are held, so 10 of 20 attempts that never close succeed.
func TestPrefillPerTable(t *testing.T) {
	four := stack(7000, 7099, time.Minute)
	excl := four
	excl.Scope = allocator.Exclusive
	attempts := func(path allocator.Path, dsts ...netip.AddrPort) []workload.Arrival {
		var out []workload.Arrival
		for i := range 20 {
			out = append(out, withPath(connectTo(time.Duration(i), dsts[i%len(dsts)], workload.Forever, 0), path))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		st     Stack
		script []workload.Arrival
		want   int64
	}{
		// One table for the source, whatever the destination.
		{"exclusive", excl, attempts(allocator.Connect, dstA, dstB), 10},
		{"bind", four, attempts(allocator.Bind, dstA), 10},
		{"udp", four, attempts(allocator.UDP, dstA, dstB), 10},
		// One table per destination: 10 each.
		{"4-tuple", four, attempts(allocator.Connect, dstA, dstB), 20},
		// The connect to dstA fills its table and counts those ports as
		// the source's: one connect and 9 binds of the 10 free ports.
		{"4-tuple-then-bind", four, append(attempts(allocator.Connect, dstA)[:1], attempts(allocator.Bind, dstA)[1:]...), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: tc.st, Script: tc.script, Prefill: 0.9})
			if r.Successes != tc.want || r.Failures != 20-tc.want {
				t.Errorf("%d successes, %d failures; want %d and %d", r.Successes, r.Failures, tc.want, 20-tc.want)
			}
			if r.Setup.Prefill != 0.9 {
				t.Errorf("setup prefill %v, want 0.9", r.Setup.Prefill)
			}
		})
	}
}

// TestClosedLoopThroughRun checks that the simulator tells a closed loop
// when each attempt finished: two clients on one port, connections held
// 1 s and closed by the server, 0.5 s think time, for 5 s:
//
//	0    c0 ok (until 1), c1 fails      1.5  c0 fails     3.0  c1 ok
//	0.5  c1 fails                       2.0  c0 ok        3.5  c0 fails
//	1.0  c1 ok (until 2)                2.5  c1 fails     4.0  c0 ok
//	4.5  c1 fails; its retry at 5.0 is not made.
func TestClosedLoopThroughRun(t *testing.T) {
	w := workload.Spec{Arrivals: workload.Closed, Clients: 2, Think: workload.MustParseDist("500ms"),
		Destinations: 1, Sources: 1, Hold: workload.MustParseDist("1s"), Close: workload.ServerClose}
	var at []time.Duration
	var ok []bool
	cfg := Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Workload: w, Duration: 5 * time.Second}
	cfg.OnAttempt = func(a results.Attempt) error { at, ok = append(at, a.At), append(ok, a.OK); return nil }
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantBools(t, "outcomes", ok, []bool{true, false, false, true, false, true, false, true, false, true, false})
	ms := time.Millisecond
	if want := []time.Duration{0, 0, 500 * ms, 1000 * ms, 1500 * ms, 2000 * ms, 2500 * ms, 3000 * ms, 3500 * ms, 4000 * ms, 4500 * ms}; !slices.Equal(at, want) {
		t.Errorf("attempt times %v, want %v", at, want)
	}
	if r.Setup.Arrivals != "closed" || r.FirstFailureNS != 0 || r.SimulatedNS != int64(5*time.Second) {
		t.Errorf("arrivals %q, first failure %d, simulated %d; want closed, 0, 5s", r.Setup.Arrivals, r.FirstFailureNS, r.SimulatedNS)
	}
}

// TestBurstThroughRun checks that the simulator makes exactly the attempts
// of a burst workload, in order, none after the end of the run: the
// attempts it reports equal the workload's own, read directly, up to 10 s,
// and all fall in on-periods (the first second of every four).
func TestBurstThroughRun(t *testing.T) {
	w := workload.Spec{Arrivals: workload.Burst, Rate: 200, BurstOn: time.Second, BurstOff: 3 * time.Second,
		Destinations: 3, DestOrder: workload.RoundRobin, Sources: 1, Hold: workload.MustParseDist("exp:100ms")}
	const d = 10 * time.Second
	gen, err := w.New(11)
	if err != nil {
		t.Fatal(err)
	}
	var want []results.Attempt
	var a workload.Arrival
	for gen.Next(&a) && a.At < d {
		want = append(want, results.Attempt{At: a.At, Flow: a.Flow})
	}
	var got []results.Attempt
	cfg := Config{Allocator: mustSpec("linux"), Stack: stack(30000, 30999, time.Minute), Workload: w, Seed: 11, Duration: d}
	cfg.OnAttempt = func(a results.Attempt) error {
		if !a.OK {
			t.Errorf("attempt at %v failed", a.At)
		}
		got = append(got, results.Attempt{At: a.At, Flow: a.Flow})
		return nil
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 400 || !slices.Equal(got, want) {
		t.Fatalf("the run made %d attempts, the workload offers %d before %v (want at least 400, all made)", len(got), len(want), d)
	}
	for _, a := range got {
		if a.At%(4*time.Second) >= time.Second {
			t.Fatalf("attempt at %v outside an on-period", a.At)
		}
	}
	if r.Attempts != int64(len(want)) || r.Setup.Arrivals != "burst" || r.Setup.RatePerSec != 50 {
		t.Errorf("attempts %d, arrivals %q, mean rate %v; want %d, burst, 50", r.Attempts, r.Setup.Arrivals, r.Setup.RatePerSec, len(want))
	}
}

// TestTraceThroughRun replays a five-line trace with no duration (the
// trace's end stops the run): two sources, a one-port range, every close
// side. The 2 s line finds the 4-tuple in TIME_WAIT (client close at
// 1 s, for 60 s); the one from 10.0.0.2 has its own port; at 4 s the
// second destination has its own 4-tuple, held until its reset at 4.1 s,
// so the 4.05 s line fails.
func TestTraceThroughRun(t *testing.T) {
	trace := workload.TraceHeader + `
0,10.0.0.1,198.18.0.1,443,1s,client
2,10.0.0.1,198.18.0.1,443,1s,server
2.5,10.0.0.2,198.18.0.1,443,forever,client
4s,10.0.0.1,198.18.0.2,443,100ms,rst
4.05,10.0.0.1,198.18.0.2,443,forever,rst
`
	closed := false
	w := workload.Spec{Arrivals: workload.Trace, TraceName: "t.csv", TraceOpen: func() (io.ReadCloser, error) {
		return closeFlag{strings.NewReader(trace), &closed}, nil
	}}
	ok, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Workload: w})
	wantBools(t, "outcomes", ok, []bool{true, false, true, true, false})
	if want := []uint16{7000, 0, 7000, 7000, 0}; !slices.Equal(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	if r.SimulatedNS != int64(4050*time.Millisecond) || r.Setup.Arrivals != "trace" {
		t.Errorf("simulated %v, arrivals %q; want 4.05s, trace", time.Duration(r.SimulatedNS), r.Setup.Arrivals)
	}
	if !closed {
		t.Error("the trace was not closed at its end")
	}

	// A malformed line ends the run with the reader's error.
	bad := workload.TraceHeader + "\n0,10.0.0.1,198.18.0.1,443,1s,client\n1,10.0.0.1,198.18.0.1,443,1s,sideways\n"
	w.TraceOpen = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(bad)), nil }
	_, err := Run(context.Background(), Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Workload: w})
	var te *workload.TraceError
	if !errors.As(err, &te) || te.Line != 3 {
		t.Fatalf("malformed line 3: error %v, want a trace error on line 3", err)
	}
}

type closeFlag struct {
	io.Reader
	closed *bool
}

func (c closeFlag) Close() error { *c.closed = true; return nil }

// heldPort is an allocator that returns a fixed port without asking.
type heldPort struct{ port uint16 }

func (h heldPort) Allocate(time.Duration, allocator.Flow, allocator.Checker) (uint16, error) {
	return h.port, nil
}

// failing is an allocator that fails with an error of its own.
type failing struct{ err error }

func (f failing) Allocate(time.Duration, allocator.Flow, allocator.Checker) (uint16, error) {
	return 0, f.err
}

// TestAllocatorMisbehaves checks that a run fails, naming the allocator,
// the port and the time, when an allocator returns a port that is held,
// reserved or outside the range, and passes on an allocator's own error.
func TestAllocatorMisbehaves(t *testing.T) {
	st := stack(7000, 7003, time.Minute)
	st.Range.Reserved = []allocator.Span{{Lo: 7003, Hi: 7003}}
	run := func(a allocator.Allocator, race Race) error {
		script := []workload.Arrival{
			connectTo(0, dstA, workload.Forever, 0),
			connectTo(time.Millisecond, dstA, workload.Forever, 0),
		}
		s, err := newState(Config{Allocator: mustSpec("sequential"), Stack: st, Script: script, Race: race})
		if err != nil {
			t.Fatal(err)
		}
		s.alloc = a
		return s.loop(context.Background())
	}
	for _, tc := range []struct {
		name string
		port uint16
		want string
	}{
		{"held", 7000, "sim: allocator sequential returned port 7000 for 198.18.0.1:443 at 1ms, which is not free (outside the range, reserved or in use)"},
		{"reserved", 7003, "sim: allocator sequential returned port 7003 for 198.18.0.1:443 at 0s, which is not free (outside the range, reserved or in use)"},
		{"outside", 7004, "sim: allocator sequential returned port 7004 for 198.18.0.1:443 at 0s, which is not free (outside the range, reserved or in use)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(heldPort{tc.port}, Race{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// With the race on, the port is checked when the CPU chooses it: at
	// 1 ms 7000 has been confirmed (10 µs after 0).
	t.Run("held-race", func(t *testing.T) {
		err := run(heldPort{7000}, Race{CPUs: 2, ConfirmDelay: workload.Fixed(10 * time.Microsecond), SynRTO: time.Second, SynRetries: 6})
		if want := "sim: allocator sequential returned port 7000 for 198.18.0.1:443 at 1ms, which is not free (outside the range, reserved or in use)"; err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
	t.Run("own-error", func(t *testing.T) {
		own := errors.New("table corrupt")
		err := run(failing{own}, Race{})
		if !errors.Is(err, own) || err.Error() != "sim: allocator sequential at 0s: table corrupt" {
			t.Fatalf("error %v, want the allocator's own error wrapped", err)
		}
	})
}
