package sim

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// TestStart checks a starting state on a hand-checkable table of four
// ports 7000-7003 towards one destination: 7000 established for ever,
// 7001 established for 3 s, 7002 in TIME_WAIT with 5 s left, 7003 free;
// a socket on port 9000, outside the range, and a second one on 7000 are
// left out. Attempts hold for ever, so each takes a port for good:
//
//	t=0   ok (7003)   t=0  fails   t=3s ok (7001)   t=4s fails
//	t=5s  ok (7002, its TIME_WAIT over)   t=6s fails
func TestStart(t *testing.T) {
	state := []workload.StateRecord{
		{Src: src1, Port: 7000, Dst: dstA, State: workload.Established, Remaining: workload.Forever},
		{Src: src1, Port: 7001, Dst: dstA, State: workload.Established, Remaining: 3 * time.Second},
		{Src: src1, Port: 7002, Dst: dstA, State: workload.TimeWait, Remaining: 5 * time.Second},
		{Src: src1, Port: 9000, Dst: dstA, State: workload.Established, Remaining: workload.Forever},
		{Src: src1, Port: 7000, Dst: dstA, State: workload.TimeWait, Remaining: time.Second},
	}
	var script []workload.Arrival
	for _, at := range []time.Duration{0, 0, 3 * time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second} {
		script = append(script, connectTo(at, dstA, workload.Forever, workload.ClientClose))
	}
	ok, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7003, time.Minute), Script: script, Start: state})
	wantOK := []bool{true, false, true, false, true, false}
	wantPorts := []uint16{7003, 0, 7001, 0, 7002, 0}
	for i := range wantOK {
		if ok[i] != wantOK[i] || (ok[i] && ports[i] != wantPorts[i]) {
			t.Fatalf("outcomes %v ports %v; want %v %v", ok, ports, wantOK, wantPorts)
		}
	}
	if su := r.Setup; su.StartEstablished != 2 || su.StartTimeWait != 1 || su.StartSkipped != 2 {
		t.Errorf("start counts %d established, %d TIME_WAIT, %d skipped; want 2, 1, 2", su.StartEstablished, su.StartTimeWait, su.StartSkipped)
	}

	// TIME_WAIT longer than the stack's is cut to it.
	st := stack(7000, 7000, 30*time.Second)
	tw := []workload.StateRecord{{Src: src1, Port: 7000, Dst: dstA, State: workload.TimeWait, Remaining: 45 * time.Second}}
	cut := []workload.Arrival{connectTo(29999*time.Millisecond, dstA, workload.Forever, 0), connectTo(30*time.Second, dstA, workload.Forever, 0)}
	ok, _, _ = outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: cut, Start: tw})
	if ok[0] || !ok[1] {
		t.Errorf("45 s of TIME_WAIT left in a 30 s stack: outcomes %v at 29.999 s and 30 s, want fail then ok", ok)
	}
	// With tcp_tw_reuse 1 a 4-tuple may be taken over TWReuseDelay (1 s)
	// after its close, which for 20 s left of 30 s was before the run.
	st.TWReuse = 1
	tw[0].Remaining = 20 * time.Second
	ok, _, _ = outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script[:1], Start: tw})
	if !ok[0] {
		t.Error("tw_reuse 1: a TIME_WAIT 4-tuple old enough was not taken over at the start")
	}
	// Closed 100 ms before the run: reusable once the millisecond clock is
	// past -100 ms + 1 s, at 901 ms.
	tw[0].Remaining = 29900 * time.Millisecond
	late := []workload.Arrival{connectTo(900*time.Millisecond, dstA, workload.Forever, 0), connectTo(901*time.Millisecond, dstA, workload.Forever, 0)}
	ok, _, _ = outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: late, Start: tw})
	if ok[0] || !ok[1] {
		t.Errorf("tw_reuse 1, TIME_WAIT begun 100 ms before the run: outcomes %v at 900 and 901 ms, want fail then ok", ok)
	}

	bad := []workload.StateRecord{{Src: src1, Port: 7000, Dst: netip.MustParseAddrPort("198.18.0.2:80"), State: workload.TimeWait, Remaining: -time.Second}}
	if _, err := Run(context.Background(), Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7003, time.Minute), Script: script, Start: bad}); err == nil {
		t.Error("a negative remaining time was accepted")
	}
}

// startOutcomes runs script on st from the starting sockets state with the
// lowest-free allocator and returns each attempt's outcome and port.
func startOutcomes(t *testing.T, st Stack, state []workload.StateRecord, script []workload.Arrival) ([]bool, []uint16, results.Run) {
	t.Helper()
	return outcomes(t, Config{Allocator: lowestSpec(), Stack: st, Script: script, Start: state, SampleEvery: 100 * time.Millisecond})
}

// TestStartTimersInTimeOrder pins that TIME_WAIT sockets given in any
// order end at their own times: 7000 with 5 s left, then 7001 with 2 s
// left. Attempts hold for ever: at 2 s one takes 7001, at 3 s one fails,
// at 5 s one takes 7000.
func TestStartTimersInTimeOrder(t *testing.T) {
	state := []workload.StateRecord{
		{Src: src1, Port: 7000, Dst: dstA, State: workload.TimeWait, Remaining: 5 * time.Second},
		{Src: src1, Port: 7001, Dst: dstA, State: workload.TimeWait, Remaining: 2 * time.Second},
	}
	script := []workload.Arrival{
		connectTo(2*time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(3*time.Second, dstA, workload.Forever, workload.ServerClose),
		connectTo(5*time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	ok, ports, _ := startOutcomes(t, stack(7000, 7001, time.Minute), state, script)
	wantBools(t, "outcomes", ok, []bool{true, false, true})
	if ports[0] != 7001 || ports[2] != 7000 {
		t.Errorf("ports %v, want 7001 at 2 s and 7000 at 5 s", ports)
	}
}

// TestStartCounts pins which starting sockets go in: two sources on one
// port towards one destination are two 4-tuples (both in); a remaining
// time of 0 is valid (established: closed at 0; TIME_WAIT: over at 0, so
// attempts at 0 take both ports); a stack without TIME_WAIT leaves a
// TIME_WAIT socket out.
func TestStartCounts(t *testing.T) {
	src2 := netip.MustParseAddr("10.0.0.2")
	state := []workload.StateRecord{
		{Src: src1, Port: 7000, Dst: dstA, State: workload.Established, Remaining: workload.Forever},
		{Src: src2, Port: 7000, Dst: dstA, State: workload.Established, Remaining: workload.Forever},
	}
	_, _, r := startOutcomes(t, stack(7000, 7001, time.Minute), state, []workload.Arrival{})
	if su := r.Setup; su.StartEstablished != 2 || su.StartSkipped != 0 {
		t.Errorf("two sources: %d established, %d skipped; want 2 and 0", su.StartEstablished, su.StartSkipped)
	}

	state = []workload.StateRecord{
		{Src: src1, Port: 7000, Dst: dstA, State: workload.Established, Remaining: 0},
		{Src: src1, Port: 7001, Dst: dstA, State: workload.TimeWait, Remaining: 0},
	}
	script := []workload.Arrival{connectTo(0, dstA, workload.Forever, 0), connectTo(0, dstA, workload.Forever, 0)}
	ok, _, r := startOutcomes(t, stack(7000, 7001, time.Minute), state, script)
	wantBools(t, "remaining 0: outcomes", ok, []bool{true, true})
	if su := r.Setup; su.StartEstablished != 1 || su.StartTimeWait != 1 {
		t.Errorf("remaining 0: %d established, %d TIME_WAIT; want 1 and 1", su.StartEstablished, su.StartTimeWait)
	}

	state = []workload.StateRecord{{Src: src1, Port: 7000, Dst: dstA, State: workload.TimeWait, Remaining: time.Second}}
	_, _, r = startOutcomes(t, stack(7000, 7001, 0), state, []workload.Arrival{})
	if su := r.Setup; su.StartTimeWait != 0 || su.StartSkipped != 1 {
		t.Errorf("no TIME_WAIT: %d TIME_WAIT, %d skipped; want 0 and 1", su.StartTimeWait, su.StartSkipped)
	}
}

// TestStartOccupancy pins the occupancy samples (every 100 ms) of a
// starting state on 7000-7003: 7000 established for ever, 7001 for
// 150 ms, 7002 in TIME_WAIT for 250 ms; one attempt at 350 ms. Samples at
// 0, 100, 200 and 300 ms: established 2, 2, 1, 1; TIME_WAIT 1, 1, 1, 0.
func TestStartOccupancy(t *testing.T) {
	state := []workload.StateRecord{
		{Src: src1, Port: 7000, Dst: dstA, State: workload.Established, Remaining: workload.Forever},
		{Src: src1, Port: 7001, Dst: dstA, State: workload.Established, Remaining: 150 * time.Millisecond},
		{Src: src1, Port: 7002, Dst: dstA, State: workload.TimeWait, Remaining: 250 * time.Millisecond},
	}
	_, _, r := startOutcomes(t, stack(7000, 7003, time.Minute), state, []workload.Arrival{connectTo(350*time.Millisecond, dstA, workload.Forever, 0)})
	if o := r.Occupancy; !slices.Equal(o.Established, []uint32{2, 2, 1, 1}) || !slices.Equal(o.TimeWait, []uint32{1, 1, 1, 0}) {
		t.Errorf("established %v, TIME_WAIT %v; want [2 2 1 1] and [1 1 1 0]", o.Established, o.TimeWait)
	}
}

// TestStartTakeover pins a starting TIME_WAIT taken over under
// tcp_tw_reuse 1 (30 s TIME_WAIT, 20 s left, so closed 10 s before the
// run): the attempt at 0 takes 7000 over, one take-over, and the samples
// at 0 and 100 ms count it established, no TIME_WAIT left; the attempt at
// 150 ms fails.
func TestStartTakeover(t *testing.T) {
	st := stack(7000, 7000, 30*time.Second)
	st.TWReuse = 1
	state := []workload.StateRecord{{Src: src1, Port: 7000, Dst: dstA, State: workload.TimeWait, Remaining: 20 * time.Second}}
	script := []workload.Arrival{connectTo(0, dstA, workload.Forever, 0), connectTo(150*time.Millisecond, dstA, workload.Forever, 0)}
	ok, _, r := startOutcomes(t, st, state, script)
	wantBools(t, "outcomes", ok, []bool{true, false})
	if o := r.Occupancy; r.TWTakeovers != 1 || !slices.Equal(o.Established, []uint32{1, 1}) || !slices.Equal(o.TimeWait, []uint32{0, 0}) {
		t.Errorf("%d take-overs, established %v, TIME_WAIT %v; want 1, [1 1], [0 0]", r.TWTakeovers, o.Established, o.TimeWait)
	}
}

// TestStartExclusive pins starting sockets in an exclusive stack, where a
// port in use towards one destination is taken for all: 7000 established
// towards A for ever and 7001 in TIME_WAIT towards A for 5 s leave only
// 7002 to connects towards B: at 0 one takes 7002, at 1 s one fails, at
// 5 s one takes 7001.
func TestStartExclusive(t *testing.T) {
	st := Stack{Range: allocator.Range{Lo: 7000, Hi: 7002}, Scope: allocator.Exclusive, TimeWait: time.Minute}
	state := []workload.StateRecord{
		{Src: src1, Port: 7000, Dst: dstA, State: workload.Established, Remaining: workload.Forever},
		{Src: src1, Port: 7001, Dst: dstA, State: workload.TimeWait, Remaining: 5 * time.Second},
	}
	script := []workload.Arrival{
		connectTo(0, dstB, workload.Forever, 0),
		connectTo(time.Second, dstB, workload.Forever, 0),
		connectTo(5*time.Second, dstB, workload.Forever, 0),
	}
	ok, ports, r := startOutcomes(t, st, state, script)
	wantBools(t, "outcomes", ok, []bool{true, false, true})
	if ports[0] != 7002 || ports[2] != 7001 {
		t.Errorf("ports %v, want 7002 at 0 and 7001 at 5 s", ports)
	}
	if su := r.Setup; su.StartEstablished != 1 || su.StartTimeWait != 1 || su.StartSkipped != 0 {
		t.Errorf("%d established, %d TIME_WAIT, %d skipped; want 1, 1, 0", su.StartEstablished, su.StartTimeWait, su.StartSkipped)
	}
}

// TestStartOnPrefilledPorts pins that a starting socket on a port the
// prefill already holds is left out: prefill 0.5 of 7000-7003 holds two
// ports towards A, so of four established sockets on 7000-7003 two go in
// and two are skipped.
func TestStartOnPrefilledPorts(t *testing.T) {
	var state []workload.StateRecord
	for p := uint16(7000); p <= 7003; p++ {
		state = append(state, workload.StateRecord{Src: src1, Port: p, Dst: dstA, State: workload.Established, Remaining: workload.Forever})
	}
	_, _, r := outcomes(t, Config{Allocator: lowestSpec(), Stack: stack(7000, 7003, time.Minute), Script: []workload.Arrival{}, Start: state, Prefill: 0.5})
	if su := r.Setup; su.StartEstablished != 2 || su.StartSkipped != 2 {
		t.Errorf("%d established, %d skipped; want 2 and 2", su.StartEstablished, su.StartSkipped)
	}
}
