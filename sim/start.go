package sim

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// start puts the sockets of Config.Start in the table before the first
// event, as connect() sockets of a 4-tuple (or, in an Exclusive stack,
// port-holding) table:
//
//   - an established socket holds its 4-tuple (and counts as established)
//     for its remaining time, then frees it at once (no TIME_WAIT on its
//     side), or for the whole run when its remaining time is Forever;
//   - a TIME_WAIT socket holds its 4-tuple in TIME_WAIT for its remaining
//     time, capped at Stack.TimeWait, as if it had closed Stack.TimeWait
//     minus that long before the run; under tcp_tw_reuse it may be taken
//     over once the millisecond clock is past that close's millisecond
//     plus Stack.TWReuseDelay (state.matureAt). A stack without
//     TIME_WAIT (TimeWait 0) leaves it out.
//
// Sockets on ports outside the range or reserved hold nothing an
// allocator could pick and are left out, as is a second socket on a
// 4-tuple already held. A close before the run (a TIME_WAIT socket with
// less than Stack.TimeWait left) is not a reuse interval sample: the
// metrics start with the run. One with the whole TIME_WAIT left (or more,
// capped) closed at the run's start, time 0, and its reuse is a sample,
// as the reuse of a port closed at time 0 during the run is.
func (s *state) start() error {
	if len(s.cfg.Start) == 0 {
		return nil
	}
	st := s.cfg.Stack
	tw := int64(st.TimeWait)
	// A later socket on a 4-tuple already held (in the state's order) is
	// left out; the others go in by remaining time, as TIME_WAIT timers
	// must enter their queues in time order.
	type tuple struct {
		src  netip.Addr
		dst  netip.AddrPort
		port uint16
	}
	seen := make(map[tuple]bool, len(s.cfg.Start))
	order := make([]int, 0, len(s.cfg.Start))
	for i, r := range s.cfg.Start {
		k := tuple{r.Src, r.Dst, r.Port}
		if seen[k] {
			s.res.Setup.StartSkipped++
			continue
		}
		seen[k] = true
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(s.cfg.Start[a].Remaining, s.cfg.Start[b].Remaining)
	})
	for _, i := range order {
		r := &s.cfg.Start[i]
		if r.Remaining < 0 {
			return fmt.Errorf("sim: starting socket %v:%d -> %v: remaining time %v is negative", r.Src, r.Port, r.Dst, r.Remaining)
		}
		if s.reserved[r.Port>>6]&(1<<(r.Port&63)) != 0 {
			s.res.Setup.StartSkipped++
			continue
		}
		f := allocator.Flow{Path: allocator.Connect, Src: r.Src, Dst: r.Dst}
		src, dst := s.tables(f)
		if dst.blocked(r.Port) {
			s.res.Setup.StartSkipped++
			continue
		}
		switch r.State {
		case workload.Established:
			dst.setBlock(r.Port)
			if s.trackUsed {
				src.used.inc(r.Port)
			}
			s.est++
			s.res.Setup.StartEstablished++
			if r.Remaining != workload.Forever {
				id := s.newConn(conn{dst: dst, port: r.Port, path: allocator.Connect, close: workload.ServerClose})
				s.closeSeq++
				s.closes.push(closeEvent{at: int64(r.Remaining), seq: s.closeSeq, conn: id})
			}
		case workload.TimeWait:
			if tw == 0 {
				s.res.Setup.StartSkipped++
				continue
			}
			rem := min(int64(r.Remaining), tw)
			dst.setBlock(r.Port)
			dst.setTW(r.Port)
			if s.trackUsed {
				src.used.inc(r.Port)
			}
			s.timewait++
			s.res.Setup.StartTimeWait++
			s.rec(dst, r.Port).lastClose = rem - tw
			s.tws.push(timer{at: rem, dst: dst.id, port: r.Port})
			if dst.reuse {
				if m := s.matureAt(rem - tw); m > 0 {
					s.matures.push(timer{at: m, dst: dst.id, port: r.Port})
				} else {
					dst.clearBlock(r.Port) // old enough to take over now
				}
			}
		}
	}
	return nil
}
