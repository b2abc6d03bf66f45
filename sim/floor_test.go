package sim

import (
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

// This file holds a reference point for BenchmarkSteady: the same
// workload (a) run by a bare loop written for this benchmark alone, with
// none of the simulator's generality — no Flow, no interfaces, one
// destination, one metric (the reuse interval) — but the simulator's own
// bitset and close heap. Its throughput bounds
// what a simulator that also keeps portsim's metrics can expect on the
// machine at hand; the ratio of the two is the cost of that generality.

// floorLo and floorHi are the range of workload (a), Linux's default.
const (
	floorLo = 32768
	floorHi = 60999
	floorN  = floorHi - floorLo + 1
)

// floorSim is the bare loop's state. It uses the simulator's bitset and
// close heap, and nothing else of it.
type floorSim struct {
	ports    portSet // ports blocked (established or in TIME_WAIT)
	closes   closeHeap
	tw       []timer // TIME_WAIT expiries in order, a ring
	twHead   int
	twSize   int
	seq      uint64
	perturb  [256]uint32
	rng      *rand.Rand
	last     []int64 // last close of each port, -1 before the first
	interval [64]uint64

	attempts, fails, probes int64
}

// first returns the first free port of the parity mask in [from, to].
func (s *floorSim) first(from, to int, mask uint64) (int, bool) {
	if from > to {
		return 0, false
	}
	w, last := from>>6, to>>6
	free := ^s.ports.word(w) & mask & (^uint64(0) << (from & 63))
	for {
		if w == last {
			free &= ^uint64(0) >> (63 - to&63)
		}
		if free != 0 {
			return w<<6 + bits.TrailingZeros64(free), true
		}
		if w = s.ports.nextCandidate(w+1, last, mask); w > last {
			return 0, false
		}
		free = ^s.ports.word(w) & mask
	}
}

// pass is one parity pass of __inet_hash_connect from offset: it returns
// the port found and the loop's i at it (in port units), or ok false
// after floorN/2 probes.
func (s *floorSim) pass(offset int) (port, i int, ok bool) {
	par := offset & 1
	mask := uint64(evenMask)
	if par == 1 {
		mask = oddMask
	}
	if s.ports.n[par] == floorN/2 {
		s.probes += floorN / 2
		return 0, 0, false
	}
	start := floorLo + offset
	if q, found := s.first(start, floorHi, mask); found {
		port, i = q, q-start
	} else if q, found := s.first(floorLo+par, start-1, mask); found {
		port, i = q, floorHi+1-start+q-floorLo
	} else {
		s.probes += floorN / 2
		return 0, 0, false
	}
	s.probes += int64(i/2 + 1)
	return port, i, true
}

// connect is __inet_hash_connect for the one destination, whose SipHash
// offset po changes every 10 s (here a multiplicative hash of the bucket).
func (s *floorSim) connect(now int64) (int, bool) {
	po := uint64(now/int64(10*time.Second)+1) * 0x9e3779b97f4a7c15
	po ^= po >> 29
	index := uint32(po) & 255
	offset := int((s.perturb[index]+uint32(po>>32))%floorN) &^ 1
	port, i, ok := s.pass(offset)
	if !ok {
		port, i, ok = s.pass(offset + 1)
	}
	if !ok {
		return 0, false
	}
	i = max(i, int(s.rng.Uint32N(8))*2)
	s.perturb[index] += uint32(i + 2)
	return port, true
}

// runFloor simulates workload (a) for d at rate connections per second.
func runFloor(rate float64, d time.Duration) *floorSim {
	s := &floorSim{rng: rand.New(rand.NewPCG(1, 2)), tw: make([]timer, 1<<16), last: make([]int64, 65536)}
	s.ports.init()
	for i := range s.last {
		s.last[i] = -1
	}
	perNS, holdNS, twNS := rate/1e9, float64(100*time.Millisecond), int64(60*time.Second)
	ta := int64(s.rng.ExpFloat64() / perNS)
	for ta < int64(d) {
		for { // closes and expiries up to the attempt, in time order
			te, tc := int64(never), int64(never)
			if s.twSize > 0 {
				te = s.tw[s.twHead].at
			}
			if len(s.closes) > 0 {
				tc = s.closes[0].at
			}
			if te <= tc && te <= ta {
				s.ports.clear(s.tw[s.twHead].port)
				s.twHead = (s.twHead + 1) & (len(s.tw) - 1)
				s.twSize--
			} else if tc <= ta {
				e := s.closes.pop()
				port := uint16(e.conn) // a close's conn is its port here
				s.last[port] = e.at
				s.tw[(s.twHead+s.twSize)&(len(s.tw)-1)] = timer{at: e.at + twNS, port: port}
				s.twSize++
			} else {
				break
			}
		}
		s.attempts++
		if port, ok := s.connect(ta); ok {
			s.ports.set(uint16(port))
			if l := s.last[port]; l >= 0 {
				s.interval[bits.Len64(uint64(ta-l))]++
			}
			s.seq++
			s.closes.push(closeEvent{at: ta + int64(s.rng.ExpFloat64()*holdNS), seq: s.seq, conn: int32(port)})
		} else {
			s.fails++
		}
		ta += int64(s.rng.ExpFloat64() / perNS)
	}
	return s
}

// TestFloorIsWorkloadA checks that the bare loop runs the workload of
// BenchmarkSteady: over a simulated hour its probes per attempt agree
// with the simulator's within 0.5 % (the secrets and random streams
// differ, so they cannot agree exactly), and nothing fails.
func TestFloorIsWorkloadA(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("simulates an hour twice")
	}
	f := runFloor(300, time.Hour)
	r, err := Run(t.Context(), steadyConfig(300, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := float64(f.probes) / float64(f.attempts)
	want := float64(r.Probes.Sum()) / float64(r.Attempts)
	if f.fails != 0 || got < 0.995*want || got > 1.005*want {
		t.Errorf("bare loop: %.0f probes per attempt and %d failures; the simulator: %.0f and %d", got, f.fails, want, r.Failures)
	}
	t.Logf("probes per attempt: bare loop %.1f, simulator %.1f", got, want)
}

// BenchmarkFloor is workload (a) of BenchmarkSteady, a simulated day, in
// the bare loop. Compare it with BenchmarkSteady on the same machine.
//
//	go test -run='^$' -bench='Floor|Steady' -benchtime=1x -count=5 ./sim
func BenchmarkFloor(b *testing.B) {
	d := 24 * time.Hour
	if testing.Short() {
		d = time.Hour
	}
	var attempts, probes int64
	for b.Loop() {
		s := runFloor(300, d)
		attempts += s.attempts
		probes += s.probes
	}
	b.ReportMetric(float64(attempts)/b.Elapsed().Seconds(), "attempts/s")
	b.ReportMetric(float64(probes)/float64(attempts), "probes/attempt")
}
