package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// Race models a NAT gateway (or a node masquerading its pods) that
// translates new flows on several CPUs at once, and the clash this allows
// (docs/allocators.md#the-snat-race). With CPUs of 0 or 1 nothing of it
// runs and the simulator is exactly the one-CPU model.
//
// Netfilter picks a new flow's reply tuple in the NAT hook
// (nf_nat_setup_info, get_unique_tuple) testing it against confirmed
// conntrack entries only (nf_nat_used_tuple, nf_conntrack_tuple_taken),
// and inserts the entry later, when the packet leaves the last hook
// (__nf_conntrack_confirm). Two flows translated at once on two CPUs can
// pick the same tuple; the second insert finds the reply tuple taken,
// counts insert_failed and drops the packet: nf_ct_resolve_clash drops
// for TCP (no allow_clash), and nf_ct_resolve_clash_harder drops a UDP
// flow too when its reply direction clashes with an entry whose original
// tuple differs ("Reply direction must never result in a clash, unless
// both origin and reply tuples are identical",
// torvalds/linux net/netfilter/nf_conntrack_core.c). The client sends its
// SYN again after the retransmission timeout, 1 s (TCP_TIMEOUT_INIT,
// include/net/tcp.h) doubling each time (tcp_retransmit_timer,
// net/ipv4/tcp_timer.c), and gives up after tcp_syn_retries (6)
// retransmissions.
//
// In the model, each flow lands on one CPU (chosen at random, as receive
// side scaling hashes a flow to a queue, unless a script's
// workload.Arrival.CPU names it; its retransmissions land on the same
// one). A CPU handles one packet at a time: a SYN that reaches a busy
// CPU waits. The tuple is chosen when the CPU takes the packet, and the
// entry is confirmed ConfirmDelay later; the CPU is busy until then. The
// allocator sees confirmed connections only. At confirm, a tuple that
// another flow confirmed in between is a clash: the SYN is dropped and
// retried.
type Race struct {
	// CPUs is the number of CPUs translating new flows; 0 and 1 mean one
	// CPU, with no race at all (the default).
	CPUs int
	// ConfirmDelay is the time from the choice of a tuple to its insert
	// at confirm (bench default exp:5us).
	ConfirmDelay workload.Dist
	// SynRTO is the client's first SYN retransmission timeout, doubled at
	// each retransmission (Linux TCP_TIMEOUT_INIT, 1 s).
	SynRTO time.Duration
	// SynRetries is the number of SYN retransmissions before connect()
	// fails (Linux tcp_syn_retries, 6).
	SynRetries int
}

// On reports whether the race is modelled: more than one CPU.
func (r Race) On() bool { return r.CPUs > 1 }

// Validate checks the race settings, naming the bad one.
func (r Race) Validate() error {
	if r.CPUs < 0 || r.CPUs > 4096 {
		return fmt.Errorf("sim: cpus %d: expected a whole number in 1..4096", r.CPUs)
	}
	if !r.On() {
		return nil
	}
	if r.ConfirmDelay.Mean() == workload.Forever {
		return fmt.Errorf("sim: confirm-delay %v: expected a finite distribution such as exp:5us", r.ConfirmDelay)
	}
	if r.SynRTO <= 0 {
		return fmt.Errorf("sim: syn-rto %v: expected a positive duration such as 1s", r.SynRTO)
	}
	if r.SynRetries < 0 || r.SynRetries > 30 {
		return fmt.Errorf("sim: syn-retries %d: expected a whole number in 0..30", r.SynRetries)
	}
	return nil
}

// Kinds of race events, the low two bits of closeEvent.conn.
const (
	evSyn     = 0 // a (re)transmitted SYN reaches its CPU
	evChoose  = 1 // the CPU takes the SYN and chooses a tuple
	evConfirm = 2 // the entry is inserted, or clashes
)

// flight is a flow whose connect() has not finished.
type flight struct {
	arr     workload.Arrival
	first   int64     // time of the first SYN
	sent    int64     // time of the latest SYN
	tries   int       // SYNs sent so far
	cpu     int32     // the CPU the flow lands on
	port    uint16    // the tuple chosen for the latest SYN
	snap    uint64    // the tuple's lastSeq when chosen
	granted bool      // the choice takes over a TIME_WAIT entry
	ik      insideKey // the inside host's port (Config.Inside)
	probes  int
	next    int32 // free-list link
}

// race is the state of the concurrent NAT: per-CPU busy times, the
// flows in flight (the pending tuples among them) and their events.
type race struct {
	cfg     Race
	busy    []int64
	flights []flight
	free    int32
	events  closeHeap
	seq     uint64
	delay   *workload.Sampler
	cpuRNG  *rand.Rand
}

func newRace(cfg Race, seed uint64) *race {
	src := rand.NewPCG(seed, 0x636f6e6669726d) // "confirm"
	return &race{
		cfg:    cfg,
		busy:   make([]int64, cfg.CPUs),
		free:   -1,
		delay:  cfg.ConfirmDelay.NewSampler(src),
		cpuRNG: rand.New(rand.NewPCG(seed, 0x637075)), // "cpu"
	}
}

// head returns the time of the next race event, or never.
func (r *race) head() int64 {
	if len(r.events) == 0 {
		return never
	}
	return r.events[0].at
}

func (r *race) push(at int64, id int32, kind int32) {
	r.seq++
	r.events.push(closeEvent{at: at, seq: r.seq, conn: id<<2 | kind})
}

func (r *race) newFlight(f flight) int32 {
	if r.free >= 0 {
		id := r.free
		r.free = r.flights[id].next
		r.flights[id] = f
		return id
	}
	r.flights = append(r.flights, f)
	return int32(len(r.flights) - 1)
}

func (r *race) done(id int32) {
	r.flights[id] = flight{next: r.free}
	r.free = id
}

// raceArrive starts the connect() of the next arrival: its first SYN,
// with its original port from an inside host when there are some.
func (s *state) raceArrive() error {
	s.started++
	if s.inside != nil && !s.inside.pick(s.now, &s.nextArrival.Flow) {
		return s.poolFailure(&s.nextArrival, false)
	}
	r := s.race
	fl := flight{arr: s.nextArrival, first: s.now}
	if c := s.nextArrival.CPU; c > 0 {
		if c > r.cfg.CPUs {
			return fmt.Errorf("sim: the attempt at %v is on CPU %d of %d", time.Duration(s.now), c-1, r.cfg.CPUs)
		}
		fl.cpu = int32(c - 1)
	} else {
		fl.cpu = int32(r.cpuRNG.IntN(r.cfg.CPUs))
	}
	if s.inside != nil {
		fl.ik = s.inside.cur
	}
	id := r.newFlight(fl)
	return s.syn(id)
}

// raceEvent runs the next race event.
func (s *state) raceEvent() error {
	e := s.race.events.pop()
	id, kind := e.conn>>2, e.conn&3
	switch kind {
	case evSyn:
		return s.syn(id)
	case evChoose:
		return s.choose(id)
	}
	return s.confirm(id)
}

// syn sends a SYN of flight id at s.now: it queues on its CPU, which
// takes it when free and is then busy until the entry is confirmed.
func (s *state) syn(id int32) error {
	r := s.race
	fl := &r.flights[id]
	fl.sent = s.now
	fl.tries++
	start := max(s.now, r.busy[fl.cpu])
	end := start + int64(r.delay.Draw())
	r.busy[fl.cpu] = end
	if start > s.now {
		r.push(start, id, evChoose)
		r.push(end, id, evConfirm)
		return nil
	}
	r.push(end, id, evConfirm)
	return s.choose(id)
}

// choose picks the tuple of flight id's SYN against confirmed entries.
func (s *state) choose(id int32) error {
	fl := &s.race.flights[id]
	f := fl.arr.Flow
	src, dst := s.tables(f)
	c := &s.chk
	c.setFlow(f, src, dst)
	c.probes = 0
	c.grant = -1
	port, err := s.alloc.Allocate(time.Duration(s.now), f, c)
	fl = &s.race.flights[id] // tables may not move flights, but stay safe
	fl.probes = c.probes
	s.res.Attempts++
	switch {
	case err == nil:
		if !sameTables(&c.cur, &f) {
			c.setFlow(f, src, dst)
		}
		if c.blocked(port) && !c.granted(port) {
			return fmt.Errorf("sim: allocator %s returned port %d for %v at %v, which is not free (outside the range, reserved or in use)",
				s.cfg.Allocator.Name, port, f.Dst, time.Duration(s.now))
		}
		fl.port = port
		fl.granted = c.grant == int32(port)
		fl.snap = s.rec(dst, port).lastSeq
		return nil
	case errors.Is(err, allocator.ErrExhausted):
		// No tuple: the SYN is dropped without an entry, and the
		// connect() ends here as a failure, as in the one-CPU model. Its
		// confirm event finds the flight gone.
		s.res.Failed(s.now, uint64(fl.probes), false)
		fl.tries = -1 // marks the pending confirm as void
		if s.inside != nil {
			s.inside.abandon(fl.ik)
		}
		return s.finish(id, 0, false)
	default:
		return fmt.Errorf("sim: allocator %s at %v: %w", s.cfg.Allocator.Name, time.Duration(s.now), err)
	}
}

// confirm inserts flight id's entry, or finds its tuple taken by a flow
// confirmed since the choice: a clash, which drops the SYN.
func (s *state) confirm(id int32) error {
	r := s.race
	fl := &r.flights[id]
	if fl.tries < 0 { // the choice failed: nothing to insert
		r.done(id)
		return nil
	}
	f := fl.arr.Flow
	src, dst := s.tables(f)
	c := &s.chk
	c.setFlow(f, src, dst)
	port := fl.port
	taken := s.rec(dst, port).lastSeq != fl.snap || (c.blocked(port) && !(fl.granted && dst.inTW(port)))
	res := &s.res
	if !taken {
		res.Succeeded(port, uint64(fl.probes), uint64(s.now-fl.first))
		a := fl.arr
		if s.inside != nil {
			s.inside.cur = fl.ik
		}
		s.establish(&a, src, dst, port)
		return s.finish(id, port, true)
	}
	gaveUp := fl.tries > r.cfg.SynRetries
	res.Clashed(gaveUp)
	if gaveUp {
		if s.inside != nil {
			s.inside.abandon(fl.ik)
		}
		return s.finish(id, port, false)
	}
	at := fl.sent + int64(r.cfg.SynRTO)<<(fl.tries-1)
	if at < s.now { // overflow or a timeout shorter than the delay
		at = s.now
	}
	r.push(at, id, evSyn)
	return nil
}

// finish ends flight id's connect(): the workload's feedback and the
// event log hear of it, and the flight is freed unless its confirm event
// is still to come.
func (s *state) finish(id int32, port uint16, ok bool) error {
	fl := &s.race.flights[id]
	a := fl.arr
	probes := fl.probes
	if fl.tries >= 0 {
		s.race.done(id)
	}
	if s.fb != nil {
		s.fb.Done(a, ok)
	}
	if s.cfg.OnAttempt != nil {
		if err := s.cfg.OnAttempt(results.Attempt{At: a.At, Flow: a.Flow, Port: port, Probes: probes, OK: ok}); err != nil {
			return fmt.Errorf("sim: event log: %w", err)
		}
	}
	return nil
}
