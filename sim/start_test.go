package sim

import (
	"context"
	"net/netip"
	"testing"
	"time"

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
