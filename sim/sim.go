// Package sim is portsim's discrete-event simulator. It drives a
// workload's connection attempts through an allocator, holds ports exactly
// as TCP and UDP do, and measures collisions (probes per allocation),
// reuse latency and exhaustion into a results.Run.
//
// # The port table
//
// The simulator owns the truth about ports and answers every allocator
// probe through one allocator.Checker:
//
//   - an ESTABLISHED connect() socket holds its 4-tuple; in a stack whose
//     Scope is Exclusive it holds its local port outright;
//   - a bind(0) socket and a UDP socket hold their local port exclusively
//     (in their protocol's port space), and Linux connect() skips ports
//     that a bind(0) socket holds;
//   - the side that closes first holds TIME_WAIT for Stack.TimeWait: a
//     client close keeps the client's 4-tuple (or port) in TIME_WAIT; a
//     server close (the client is the passive closer) and a reset free it at
//     once; UDP has no TIME_WAIT;
//   - tcp_tw_reuse (docs/allocators.md#time_wait-and-tcp_tw_reuse): a connect() may take over a
//     4-tuple in TIME_WAIT only with timestamps on, with TWReuse 1 (or 2 and
//     a loopback destination), and once the millisecond clock is strictly
//     past TIME_WAIT's first millisecond plus TWReuseDelay; only in a
//     4-tuple stack; a socket bound explicitly before connect()
//     (allocator.BindConnecter) takes it over with timestamps alone, and
//     Linux NAT's last tries (allocator.Evicter) evict it;
//   - a stack with a pool of TCP control blocks (allocator.Pooler) frees
//     the oldest TIME_WAIT when the pool is full, and fails the attempt
//     when none is left to free;
//   - reserved ports (Stack.Range.Reserved) are refused, one probe each.
//
// # Events at one instant
//
// Events at the same virtual time run in this order: TIME_WAIT expiries,
// then TIME_WAIT entries becoming reusable, then closes, then arrivals,
// then occupancy sampling. Among events of one kind, the earlier-scheduled
// runs first. So a port whose TIME_WAIT ends at t is free for an attempt
// at t, and a connection closing at t frees its port for an attempt at t.
//
// # Determinism
//
// Run is a pure function of its Config: the allocator's randomness comes
// from AllocSeed, the workload's from Seed, nothing reads the clock except
// the wall time recorded apart, and no result depends on map order.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// Stack is the TCP/UDP stack the simulated host runs: its port range and
// how it holds ports.
type Stack struct {
	// Range is the ephemeral range and its reserved ports.
	Range allocator.Range
	// TimeWait is how long the side that closes first holds TIME_WAIT.
	// Zero means no TIME_WAIT at all.
	TimeWait time.Duration
	// Scope is the sharing rule for connect(): FourTuple or Exclusive.
	Scope allocator.Scope
	// TWReuse is tcp_tw_reuse: 0 never, 1 always, 2 loopback only.
	TWReuse int
	// TWReuseDelay is tcp_tw_reuse_delay: how long after TIME_WAIT began
	// it may be taken over.
	TWReuseDelay time.Duration
	// Timestamps reports whether connections use TCP timestamps, without
	// which TIME_WAIT is never taken over.
	Timestamps bool
}

// StackFromProfile returns the stack an allocator's modelled OS uses by
// default.
func StackFromProfile(p allocator.Profile) Stack {
	return Stack{
		Range:        p.Range,
		TimeWait:     p.TimeWait,
		Scope:        p.Scope,
		TWReuse:      p.TWReuse,
		TWReuseDelay: p.TWReuseDelay,
		Timestamps:   p.Timestamps,
	}
}

// Validate checks the stack, naming the bad field.
func (s Stack) Validate() error {
	if err := s.Range.Validate(); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if s.TimeWait < 0 {
		return fmt.Errorf("stack: time-wait %v is negative; expected a duration >= 0 such as 60s", s.TimeWait)
	}
	if s.TWReuse < 0 || s.TWReuse > 2 {
		return fmt.Errorf("stack: tw-reuse %d: expected 0 (never), 1 (always) or 2 (loopback only)", s.TWReuse)
	}
	if s.TWReuseDelay < 0 {
		return fmt.Errorf("stack: tw-reuse-delay %v is negative; expected a duration >= 0 such as 1s", s.TWReuseDelay)
	}
	if s.Scope != allocator.FourTuple && s.Scope != allocator.Exclusive {
		return fmt.Errorf("stack: scope %d: expected 4-tuple or exclusive", s.Scope)
	}
	return nil
}

// Config is everything one simulation depends on.
type Config struct {
	// Allocator is the allocator to run, resolved by the caller (from
	// allocator.Builtins, or a Set with a program's own allocators);
	// Params are its parameters and AllocSeed the seed of its randomness
	// and secrets.
	Allocator allocator.Spec
	Params    map[string]string
	AllocSeed uint64

	// Stack is the simulated host's stack (see StackFromProfile).
	Stack Stack

	// Workload describes the attempts and Seed seeds it. When Script is
	// not nil it is replayed instead, attempt by attempt, and Workload is
	// ignored.
	Workload workload.Spec
	Seed     uint64
	Script   []workload.Arrival

	// Source, when not nil, yields the attempts instead of Workload and
	// Script: a program's own workload (workload.Workload, and
	// workload.Feedback if its future depends on outcomes). The run does
	// not close it; its opener does. Workload then only describes the
	// run in its result's setup, whose arrivals are "custom".
	Source workload.Workload

	// Duration stops the run at this virtual time: attempts at or after it
	// are not made. MaxAttempts stops it after that many attempts. Zero
	// means no limit; a generated workload needs at least one of the two.
	Duration    time.Duration
	MaxAttempts int64

	// SampleEvery is the step of occupancy sampling (default 100ms); the
	// stored series thins itself to at most results.SeriesMax points.
	SampleEvery time.Duration

	// Prefill, in [0, 1), is the fraction of the usable ports that
	// background connections hold from the start and never release, chosen
	// uniformly at random (from Seed): for each (source, destination) in a
	// 4-tuple stack's connect(), for each source otherwise. It models a
	// spatially random occupancy, such as a NAT pool shared with other
	// subscribers. The background connections are not counted as
	// established in the occupancy series.
	Prefill float64

	// Start, when not nil, is the sockets that hold ports when the run
	// begins, such as a host's imported `ss` snapshot: established
	// 4-tuples and TIME_WAIT entries with the time they have left (see
	// state.start). Their addresses are used as they are.
	Start []workload.StateRecord
	// Race, when Race.CPUs > 1, translates new flows on several CPUs
	// with a delay before each is confirmed, so that concurrent flows can
	// clash (see Race). The zero Race is one CPU: no race.
	Race Race

	// Inside, when Inside.Hosts > 0, gives each flow an original source
	// port chosen by one of the inside hosts' own allocators (see Inside).
	Inside Inside

	// OnAttempt, when not nil, is called after every attempt in order,
	// e.g. to write the per-attempt event log. It must not retain a.
	OnAttempt func(a results.Attempt) error
}

// errLimit is the error for a run with nothing to stop it.
var errLimit = errors.New("sim: a generated workload needs a duration or a number of attempts to stop")

// Run simulates cfg and returns its result. It returns early with the
// context's error if ctx is cancelled.
func Run(ctx context.Context, cfg Config) (results.Run, error) {
	start := time.Now()
	s, err := newState(cfg)
	if err != nil {
		return results.Run{}, err
	}
	err = s.loop(ctx)
	// A workload the run opened that holds a file (a trace) is closed
	// here whether the run read it to the end or stopped early
	// (duration, attempts, an error or cancellation). A Source belongs
	// to its caller.
	if c, ok := s.wl.(io.Closer); ok && cfg.Source == nil {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("sim: %w", cerr)
		}
	}
	if err != nil {
		return results.Run{}, err
	}
	r := s.result()
	r.WallNS = int64(time.Since(start))
	return r, nil
}

// conn is one live connection.
type conn struct {
	dst   *dstTable
	port  uint16
	path  allocator.Path
	close workload.Close
	next  int32 // free-list link
}

// state is one run in progress.
type state struct {
	cfg   Config
	alloc allocator.Allocator
	rel   allocator.Releaser
	cell  allocator.Celler
	wl    workload.Workload
	fb    workload.Feedback
	chk   checker

	reserved [numWords]uint64
	n        int    // ports in the range (the modulus of differences)
	usable   [2]int // usable ports of the range by parity (even, odd)

	srcs    map[srcKey]*srcTable
	dsts    map[dstKey]*dstTable
	dstList []*dstTable // by dstTable.id
	// recent holds the tables of recent flows, direct-mapped by
	// Flow.Slot: a workload that cycles through a few sources or
	// destinations finds its tables without hashing two map keys.
	recent  [tableSlots]*dstTable
	lastDst *dstTable // the tables of the last flow
	// cellSeen counts, by table cell, the destinations seen so far
	// (noteCell); a map, since a run meets few destinations of a table
	// of up to 2^20 cells.
	cellSeen map[int]int32

	conns    []conn
	freeConn int32
	closes   closeHeap
	tws      fifo // TIME_WAIT expiries
	matures  fifo // TIME_WAIT entries becoming reusable
	closeSeq uint64

	now         int64
	until       int64 // attempts at or after until are not made (MaxInt64: none)
	nextArrival workload.Arrival
	haveArrival bool
	nextAt      int64 // time of the next attempt to make, or never
	nextSample  int64
	sampleStep  int64
	scriptPos   int

	// trackUsed says whether any flow needs the local-port test (an
	// exclusive stack, bind(0) or UDP); without one, srcTable.used is
	// never read and is not kept. binds says whether any flow binds.
	trackUsed, binds bool

	est, timewait int64 // connections established, 4-tuples in TIME_WAIT

	// pcbs is the allocator's pool of TCP control blocks
	// (allocator.Pooler), 0 for none; estUDP counts the established
	// connections that take no TCP control block, kept only with a pool.
	pcbs    int
	estUDP  int64
	fillRNG *rand.Rand
	// fillPorts lists the usable ports in order, and fillBuf is
	// prefill's scratch copy of it to shuffle.
	fillPorts, fillBuf []uint16
	res                results.Run

	// started counts the workload's attempts begun (retransmitted SYNs
	// are not new attempts); race is the concurrent NAT, nil with one CPU.
	started int64
	race    *race
	inside  *inside
}

type srcKey struct {
	addr netip.Addr
	udp  bool
}

type dstKey struct {
	src *srcTable
	dst netip.AddrPort
}

func newState(cfg Config) (*state, error) {
	if err := cfg.Stack.Validate(); err != nil {
		return nil, err
	}
	spec := cfg.Allocator
	if spec.New == nil {
		return nil, errors.New("sim: Config.Allocator is not set: resolve the allocator by name (allocator.Set.Lookup) before the run")
	}
	acfg := allocator.Config{Range: cfg.Stack.Range, Seed: cfg.AllocSeed, Params: cfg.Params}
	a, err := spec.Build(acfg)
	if err != nil {
		return nil, err
	}
	s := &state{cfg: cfg, alloc: a, srcs: map[srcKey]*srcTable{}, dsts: map[dstKey]*dstTable{}, freeConn: -1, tws: newFifo(), matures: newFifo()}
	s.rel, _ = a.(allocator.Releaser)
	s.cell, _ = a.(allocator.Celler)
	if p, ok := a.(allocator.Pooler); ok {
		s.pcbs = p.PCBs()
	}
	if cfg.Duration < 0 || cfg.MaxAttempts < 0 {
		return nil, fmt.Errorf("sim: duration %v and attempts %d must not be negative", cfg.Duration, cfg.MaxAttempts)
	}
	if cfg.SampleEvery < 0 {
		return nil, fmt.Errorf("sim: sample step %v is negative", cfg.SampleEvery)
	}
	if err := cfg.Race.Validate(); err != nil {
		return nil, err
	}
	if cfg.Race.On() && s.pcbs > 0 {
		return nil, fmt.Errorf("sim: cpus %d: concurrent translation is not modelled with a pool of TCP control blocks (allocator %s)", cfg.Race.CPUs, spec.Name)
	}
	// A closed loop hears of each attempt before it gives the next one
	// (workload.Feedback), but under the race a connect is still in
	// flight when the next flow arrives. (A Source with feedback of its
	// own hears of each connect when it ends, in that order.)
	if cfg.Race.On() && cfg.Source == nil && cfg.Script == nil && cfg.Workload.Arrivals == workload.Closed {
		return nil, fmt.Errorf("sim: cpus %d: concurrent translation is not modelled with a closed-loop workload (arrivals closed), whose clients wait for each attempt in turn; expected cpus 1", cfg.Race.CPUs)
	}
	if !(cfg.Prefill >= 0 && cfg.Prefill < 1) {
		return nil, fmt.Errorf("sim: prefill %v: expected a fraction of the ports in [0, 1)", cfg.Prefill)
	}
	// Everything that can fail is checked before the workload opens a
	// trace, so a failed start leaves no file open.
	switch {
	case cfg.Source != nil:
		s.wl = cfg.Source
		s.fb, _ = s.wl.(workload.Feedback)
	case cfg.Script == nil:
		if err := cfg.Workload.Validate(); err != nil {
			return nil, err
		}
		if cfg.Duration <= 0 && cfg.MaxAttempts <= 0 && cfg.Workload.Arrivals != workload.Trace {
			return nil, errLimit
		}
		if s.wl, err = cfg.Workload.New(cfg.Seed); err != nil {
			return nil, err
		}
		s.fb, _ = s.wl.(workload.Feedback)
	}
	s.until = math.MaxInt64
	if cfg.Duration > 0 {
		s.until = int64(cfg.Duration)
	}
	s.sampleStep = int64(cfg.SampleEvery)
	if s.sampleStep == 0 {
		s.sampleStep = int64(100 * time.Millisecond)
	}

	// Ports outside the range count as reserved: no allocator may hand
	// them out.
	r := cfg.Stack.Range
	s.n = r.Size()
	for p := 0; p < 65536; p++ {
		if p < int(r.Lo) || p > int(r.Hi) || r.IsReserved(uint16(p)) {
			s.reserved[p>>6] |= 1 << (p & 63)
		} else {
			s.usable[p&1]++
		}
	}
	s.chk = checker{s: s, reserved: &s.reserved}
	paths := map[allocator.Path]bool{}
	if cfg.Script != nil {
		for _, a := range cfg.Script {
			paths[a.Flow.Path] = true
		}
	} else {
		paths[cfg.Workload.Path] = true
	}
	s.binds = paths[allocator.Bind]
	s.trackUsed = cfg.Stack.Scope == allocator.Exclusive || s.binds || paths[allocator.UDP]
	if cfg.Source != nil {
		// Any flow may come: keep every count (correct for connect()
		// alone too, only slower).
		s.binds, s.trackUsed = true, true
	}

	s.res = results.Run{
		Allocator:      cfg.Allocator.Name,
		Params:         cfg.Params,
		Seed:           cfg.Seed,
		FirstFailureNS: -1,
		PrematureNS:    int64(cfg.Stack.TimeWait),
		PortUsage:      results.NewPortHist(int(r.Lo), int(r.Hi), 256),
		Occupancy:      results.NewSeries(time.Duration(s.sampleStep)),
		Setup:          s.setup(),
	}
	if s.cell != nil {
		s.res.Cells = &results.CellStats{}
	}
	if cfg.Inside.Hosts != 0 {
		if s.inside, err = newInside(cfg.Inside, cfg.AllocSeed, cfg.Seed); err != nil {
			return nil, err
		}
		s.res.Setup.InsideHosts = cfg.Inside.Hosts
		s.res.Setup.InsideAllocator = cfg.Inside.Spec.Name
	}
	if cfg.Race.On() {
		s.race = newRace(cfg.Race, cfg.Seed)
		s.res.ConnectLatency = &results.Hist{} // recorded by Succeeded
	}
	return s, nil
}

// setup echoes the configuration into the result.
func (s *state) setup() results.Setup {
	su := s.cfg.Setup()
	su.PCBs = s.pcbs
	return su
}

// Setup returns the setup a run of c records in its result (Run.Setup),
// without running it: the description every analytic figure (the knee,
// results.Setup.Bound) and every table is computed from. PCBs and the
// counts of an imported starting state are known only after Run.
func (c Config) Setup() results.Setup {
	cfg, st, w := c, c.Stack, c.Workload
	su := results.Setup{
		Range:          fmt.Sprintf("%d-%d", st.Range.Lo, st.Range.Hi),
		Reserved:       allocator.FormatSpans(st.Range.Reserved),
		Ports:          st.Range.Usable(),
		TimeWaitNS:     int64(st.TimeWait),
		Scope:          st.Scope.String(),
		TWReuse:        st.TWReuse,
		TWReuseDelayNS: int64(st.TWReuseDelay),
		Timestamps:     st.Timestamps,
		Prefill:        cfg.Prefill,
	}
	if rc := cfg.Race; rc.On() {
		su.CPUs = rc.CPUs
		su.ConfirmDelay = rc.ConfirmDelay.String()
		su.ConfirmDelayMeanNS = int64(rc.ConfirmDelay.Mean())
		su.SynRTONS = int64(rc.SynRTO)
		su.SynRetries = rc.SynRetries
	}
	if cfg.Script != nil {
		su.Arrivals = "script"
		su.Sources, su.Destinations = countEndpoints(cfg.Script)
		if len(cfg.Script) > 0 {
			su.Path = cfg.Script[0].Flow.Path.String()
			su.Close = cfg.Script[0].Close.String()
		}
		return su
	}
	su.Sources, su.Destinations = w.Sources, w.Destinations
	su.Path, su.Close = w.Path.String(), w.Close.String()
	su.Arrivals = w.Arrivals.String()
	if c.Source != nil {
		su.Arrivals = "custom"
	}
	su.RatePerSec = w.MeanRate()
	su.Hold = w.Hold.String()
	su.HoldMeanNS = int64(w.Hold.Mean())
	if w.Hold.Mean() == workload.Forever {
		su.HoldMeanNS = -1
	}
	su.Loopback = w.Loopback
	if w.Destinations > 1 && w.DestOrder != workload.Uniform {
		su.DestOrder = w.DestOrder.String()
		if w.DestOrder == workload.Zipf {
			su.ZipfS = w.ZipfS
		}
	}
	return su
}

func countEndpoints(script []workload.Arrival) (srcs, dsts int) {
	s, d := map[netip.Addr]bool{}, map[netip.AddrPort]bool{}
	for _, a := range script {
		s[a.Flow.Src], d[a.Flow.Dst] = true, true
	}
	return len(s), len(d)
}

// tables returns (creating them on first use) the tables of flow f.
func (s *state) tables(f allocator.Flow) (*srcTable, *dstTable) {
	udp := f.Path == allocator.UDP
	sk := srcKey{f.Src, udp}
	if d := s.lastDst; d.serves(&f, udp) {
		return d.src, d
	}
	slot := f.Slot(tableSlots)
	if d := s.recent[slot]; d.serves(&f, udp) {
		s.lastDst = d
		return d.src, d
	}
	src := s.srcs[sk]
	if src == nil {
		src = &srcTable{addr: f.Src, udp: udp}
		src.used.init()
		src.bound.init()
		s.srcs[sk] = src
		if !(f.Path == allocator.Connect && s.cfg.Stack.Scope == allocator.FourTuple) {
			s.prefill(func(p uint16) { src.used.inc(p) })
		}
	}
	dk := dstKey{src, f.Dst}
	dst := s.dsts[dk]
	if dst == nil {
		dst = &dstTable{src: src, dst: f.Dst, id: int32(len(s.dstList))}
		s.dstList = append(s.dstList, dst)
		st := s.cfg.Stack
		dst.reuse = !udp && st.Scope == allocator.FourTuple && st.Timestamps &&
			(st.TWReuse == 1 || (st.TWReuse == 2 && isLoopback(f.Dst.Addr())))
		s.dsts[dk] = dst
		s.noteCell(f)
		if f.Path == allocator.Connect && s.cfg.Stack.Scope == allocator.FourTuple {
			s.prefill(func(p uint16) {
				dst.setBlock(p)
				if s.trackUsed {
					src.used.inc(p)
				}
			})
		}
	}
	s.recent[slot], s.lastDst = dst, dst
	return src, dst
}

// tableSlots is the size of state.recent, a power of two.
const tableSlots = 16

// prefill holds a random Config.Prefill share of the usable ports by
// calling hold on each, drawing from a stream of the workload seed that
// advances with every table filled.
func (s *state) prefill(hold func(uint16)) {
	if s.cfg.Prefill == 0 {
		return
	}
	if s.fillRNG == nil {
		s.fillRNG = rand.New(rand.NewPCG(s.cfg.Seed, 0x70726566696c6c)) // "prefill"
	}
	if s.fillPorts == nil {
		r := s.cfg.Stack.Range
		for p := int(r.Lo); p <= int(r.Hi); p++ {
			if !r.IsReserved(uint16(p)) {
				s.fillPorts = append(s.fillPorts, uint16(p))
			}
		}
	}
	usable := append(s.fillBuf[:0], s.fillPorts...)
	s.fillBuf = usable
	k := int(math.Round(s.cfg.Prefill * float64(len(usable))))
	for i := range k { // partial Fisher-Yates: the first k of a random order
		j := i + s.fillRNG.IntN(len(usable)-i)
		usable[i], usable[j] = usable[j], usable[i]
		hold(usable[i])
	}
}

// rec returns the history of port on dst.
func (s *state) rec(dst *dstTable, port uint16) *portRec {
	return dst.rec(port, s.cfg.Stack.Range.Lo, s.n)
}

// isLoopback follows tcp_twsk_unique's loopback test: 127.0.0.0/8, ::1 and
// IPv4-mapped 127.0.0.0/8.
func isLoopback(a netip.Addr) bool { return a.Unmap().IsLoopback() }

// noteCell counts, for hash-table allocators, destinations that land in a
// cell another destination already uses.
func (s *state) noteCell(f allocator.Flow) {
	if s.cell == nil || f.Path != allocator.Connect {
		return
	}
	c, size := s.cell.Cell(time.Duration(s.now), f)
	if size <= 0 || c < 0 || c >= size {
		return
	}
	if s.cellSeen == nil {
		s.cellSeen = make(map[int]int32)
		s.res.Cells.TableSize = size
	}
	s.res.Cells.SharedPairs += int64(s.cellSeen[c])
	s.cellSeen[c]++
	s.res.Cells.Destinations++
}

// next pulls the next arrival into s.nextArrival and sets s.nextAt to
// its time, or to never when there is none or the run must not make it
// (the attempt limit is reached, or it is at or after the end).
func (s *state) next() error {
	if err := s.pull(); err != nil {
		return err
	}
	s.nextAt = never
	if s.haveArrival && (s.cfg.MaxAttempts == 0 || s.started < s.cfg.MaxAttempts) {
		if at := int64(s.nextArrival.At); at < s.until {
			s.nextAt = at
		}
	}
	return nil
}

// pull reads the next arrival of the script or the workload.
func (s *state) pull() error {
	if s.cfg.Script != nil {
		if s.scriptPos < len(s.cfg.Script) {
			a := &s.cfg.Script[s.scriptPos]
			if a.At < 0 || (s.scriptPos > 0 && a.At < s.cfg.Script[s.scriptPos-1].At) {
				return fmt.Errorf("sim: script attempt %d at %v goes back in time: expected times >= 0 in non-decreasing order (attempt %d is at %v)",
					s.scriptPos+1, a.At, max(s.scriptPos, 1), s.cfg.Script[max(s.scriptPos-1, 0)].At)
			}
			s.nextArrival, s.haveArrival = *a, true
			s.scriptPos++
			return nil
		}
		s.haveArrival = false
		return nil
	}
	prev := s.nextArrival.At
	if !s.wl.Next(&s.nextArrival) {
		s.haveArrival = false
		if err := s.wl.Err(); err != nil {
			return fmt.Errorf("sim: workload: %w", err)
		}
		return nil
	}
	if s.haveArrival && s.nextArrival.At < prev {
		return fmt.Errorf("sim: workload went back in time: attempt at %v after one at %v", s.nextArrival.At, prev)
	}
	s.haveArrival = true
	return nil
}

const never = math.MaxInt64

// loop runs the events in time order; at one instant: TIME_WAIT expiry,
// TIME_WAIT maturing under tcp_tw_reuse, close, then under the SNAT race
// its events (SYNs, choices, confirms), then arrival, then sampling. The
// run ends after the last attempt, or under the race once every connect()
// in flight has finished (without sampling past the last attempt): later
// closes and expiries cannot change any metric.
func (s *state) loop(ctx context.Context) error {
	if err := s.start(); err != nil {
		return err
	}
	if err := s.next(); err != nil {
		return err
	}
	for steps := 0; ; steps++ {
		if steps&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ta, tr := s.nextAt, int64(never)
		if s.race != nil {
			tr = s.race.head()
		}
		if ta == never && tr == never {
			break
		}
		te, tm, tc := s.tws.next, s.matures.next, int64(never)
		if len(s.closes) > 0 {
			tc = s.closes[0].at
		}
		ts := s.nextSample
		if ta == never {
			ts = never
		}
		s.res.Events++
		switch {
		case te <= tm && te <= tc && te <= ta && te <= tr && te <= ts:
			s.now = te
			s.expire(s.tws.pop())
		case tm <= tc && tm <= ta && tm <= tr && tm <= ts:
			s.now = tm
			s.mature(s.matures.pop())
		case tc <= ta && tc <= tr && tc <= ts:
			s.now = tc
			s.closeConn(s.closes.pop().conn)
		case tr <= ta && tr <= ts:
			s.now = tr
			if err := s.raceEvent(); err != nil {
				return err
			}
		case ta <= ts:
			s.now = ta
			var err error
			if s.race != nil {
				err = s.raceArrive()
			} else {
				err = s.arrive()
			}
			if err != nil {
				return err
			}
			if err := s.next(); err != nil {
				return err
			}
		default:
			s.now = ts
			s.res.Sampled(s.est, s.timewait)
			s.nextSample += s.sampleStep
		}
	}
	s.finishTime()
	return nil
}

// finishTime sets the virtual time the run covered.
func (s *state) finishTime() {
	if s.until != never {
		s.res.SimulatedNS = s.until
	} else {
		s.res.SimulatedNS = s.now
	}
}

// arrive makes one attempt.
func (s *state) arrive() error {
	s.started++
	if s.inside != nil && !s.inside.pick(s.now, &s.nextArrival.Flow) {
		return s.poolFailure(&s.nextArrival, false)
	}
	a := &s.nextArrival
	src, dst := s.tables(a.Flow)
	c := &s.chk
	c.setFlow(a.Flow, src, dst)
	c.probes = 0
	c.grant = -1
	if s.pcbs > 0 && a.Flow.Path != allocator.UDP && s.est-s.estUDP+s.timewait >= int64(s.pcbs) && !s.killOldestTW() {
		return s.poolFailure(a, true)
	}
	port, err := s.alloc.Allocate(time.Duration(s.now), a.Flow, c)
	probes := uint64(c.probes)
	r := &s.res
	r.Attempts++
	ok := err == nil
	switch {
	case ok:
		if !sameTables(&c.cur, &a.Flow) { // the allocator probed another flow last
			c.setFlow(a.Flow, src, dst)
		}
		if c.blocked(port) && !c.granted(port) {
			return fmt.Errorf("sim: allocator %s returned port %d for %v at %v, which is not free (outside the range, reserved or in use)",
				s.cfg.Allocator.Name, port, a.Flow.Dst, time.Duration(s.now))
		}
		r.Succeeded(port, probes, 0)
		s.establish(a, src, dst, port)
	case errors.Is(err, allocator.ErrExhausted):
		if s.inside != nil {
			s.inside.abandon(s.inside.cur)
		}
		r.Failed(s.now, probes, false)
	default:
		return fmt.Errorf("sim: allocator %s at %v: %w", s.cfg.Allocator.Name, time.Duration(s.now), err)
	}
	if s.fb != nil {
		s.fb.Done(*a, ok)
	}
	if s.cfg.OnAttempt != nil {
		if err := s.cfg.OnAttempt(results.Attempt{At: a.At, Flow: a.Flow, Port: port, Probes: int(probes), OK: ok, Hold: a.Hold, Close: a.Close.String()}); err != nil {
			return fmt.Errorf("sim: event log: %w", err)
		}
	}
	return nil
}

// establish records a new connection on port and schedules its close.
func (s *state) establish(a *workload.Arrival, src *srcTable, dst *dstTable, port uint16) {
	// The port's history is read first: in a busy run it is usually a
	// cache miss, and nothing below depends on it until record, so the
	// miss starts before the table and queue updates instead of after.
	rec := s.rec(dst, port)
	prev := *rec
	dst.metrics.Seq++
	rec.lastSeq = dst.metrics.Seq

	if dst.inTW(port) {
		// tcp_tw_reuse: the new connection takes over the TIME_WAIT
		// 4-tuple; its expiry timer is now stale (see expire).
		dst.clearTW(port)
		dst.taken = true
		s.timewait--
		s.res.TookOver()
		if s.trackUsed {
			src.used.dec(port) // the TIME_WAIT socket is gone
		}
	}
	dst.setBlock(port)
	if s.trackUsed {
		src.used.inc(port)
	}
	if a.Flow.Path == allocator.Bind {
		src.bound.inc(port)
	}
	s.est++
	if s.pcbs > 0 && a.Flow.Path == allocator.UDP {
		s.estUDP++
	}
	if a.Hold != workload.Forever {
		if at := s.now + int64(a.Hold); at >= s.now { // else it overflows: never closes within the run
			id := s.newConn(conn{dst: dst, port: port, path: a.Flow.Path, close: a.Close})
			if s.inside != nil {
				s.inside.opened(id)
			}
			s.closeSeq++
			s.closes.push(closeEvent{at: at, seq: s.closeSeq, conn: id})
		}
	}
	s.res.Allocated(&dst.metrics, s.n, s.now, prev.lastClose, prev.lastSeq, port)
}

func (s *state) newConn(c conn) int32 {
	if s.freeConn >= 0 {
		id := s.freeConn
		s.freeConn = s.conns[id].next
		s.conns[id] = c
		return id
	}
	s.conns = append(s.conns, c)
	return int32(len(s.conns) - 1)
}

// closeConn closes connection id: the active closer's side holds
// TIME_WAIT, otherwise the port is free at once.
func (s *state) closeConn(id int32) {
	c := s.conns[id]
	s.conns[id] = conn{next: s.freeConn}
	s.freeConn = id
	dst := c.dst
	s.est--
	if s.pcbs > 0 && c.path == allocator.UDP {
		s.estUDP--
	}
	s.rec(dst, c.port).lastClose = s.now
	if s.inside != nil {
		s.inside.close(id, s.now, c.close == workload.ClientClose && c.path != allocator.UDP)
	}
	if s.rel != nil {
		f := allocator.Flow{Path: c.path, Src: dst.src.addr, Dst: dst.dst}
		s.rel.Release(time.Duration(s.now), f, c.port)
	}
	bind := c.path == allocator.Bind
	if c.close == workload.ClientClose && c.path != allocator.UDP && s.cfg.Stack.TimeWait > 0 {
		dst.setTW(c.port)
		s.timewait++
		s.tws.push(timer{at: s.now + int64(s.cfg.Stack.TimeWait), dst: dst.id, port: c.port, bind: bind})
		if dst.reuse && !bind {
			s.matures.push(timer{at: s.matureAt(s.now), dst: dst.id, port: c.port})
		}
		return
	}
	s.free(dst, c.port, bind)
}

// free releases port from dst entirely.
func (s *state) free(dst *dstTable, port uint16, bind bool) {
	dst.clearBlock(port)
	if s.trackUsed {
		dst.src.used.dec(port)
	}
	if bind {
		dst.src.bound.dec(port)
	}
}

// live reports whether timer t still refers to the TIME_WAIT entry it was
// started for: the port is in TIME_WAIT and its last close is the one that
// started the timer (a take-over and a later close start a new entry).
// Without tcp_tw_reuse, and before any explicit bind or NAT eviction took
// one over (dstTable.taken), nothing takes a TIME_WAIT over, so every
// timer is live.
// A maturity timer (mature true) is live when the last close would start
// a timer due at its time.
func (s *state) live(t timer, mature bool) bool {
	d := s.dstList[t.dst]
	if !d.reuse && !d.taken {
		return true
	}
	if !d.inTW(t.port) {
		return false
	}
	last := s.rec(d, t.port).lastClose
	if mature {
		return s.matureAt(last) == t.at
	}
	return last == t.at-int64(s.cfg.Stack.TimeWait)
}

// matureAt is when a TIME_WAIT that began at virtual time close may first
// be taken over under tcp_tw_reuse: tcp_twsk_unique (net/ipv4/tcp_ipv4.c,
// since commit ca6a6f93867a) asks time_after32(tcp_clock_ms(),
// tw_entry_stamp + tcp_tw_reuse_delay), a millisecond clock strictly past
// the entry's millisecond plus the delay (in whole milliseconds, as the
// sysctl is). So with the default 1 s delay a TIME_WAIT that began at
// 0.4 ms is reusable from 1001 ms, not at 1000 ms.
//
// close may be negative (a TIME_WAIT that began before the run, see
// start); its millisecond is rounded down all the same.
func (s *state) matureAt(close int64) int64 {
	const ms = int64(time.Millisecond)
	c := close / ms
	if close%ms < 0 {
		c--
	}
	return (c + int64(s.cfg.Stack.TWReuseDelay)/ms + 1) * ms
}

// expire ends a TIME_WAIT.
func (s *state) expire(t timer) {
	if !s.live(t, false) {
		return
	}
	d := s.dstList[t.dst]
	d.clearTW(t.port)
	s.timewait--
	s.free(d, t.port, t.bind)
}

// killOldestTW ends the oldest live TIME_WAIT at once, as lwIP's
// tcp_kill_timewait does when the PCB pool is empty, and reports whether
// there was one. TIME_WAIT timers all have one length, so the head of the
// expiry queue is the oldest.
func (s *state) killOldestTW() bool {
	for s.tws.size > 0 {
		t := s.tws.pop()
		if s.live(t, false) {
			d := s.dstList[t.dst]
			d.clearTW(t.port)
			s.timewait--
			s.free(d, t.port, t.bind)
			s.res.Killed()
			return true
		}
	}
	return false
}

// poolFailure records an attempt that found the PCB pool full with no
// TIME_WAIT to free: it fails before any port is chosen, with no probe.
//
// With pool false it is an inside host (Config.Inside) that found no
// port free: the connect fails there, before the NAT sees it.
func (s *state) poolFailure(a *workload.Arrival, pool bool) error {
	s.res.Attempts++
	s.res.Failed(s.now, 0, pool)
	if s.fb != nil {
		s.fb.Done(*a, false)
	}
	if s.cfg.OnAttempt != nil {
		if err := s.cfg.OnAttempt(results.Attempt{At: a.At, Flow: a.Flow, Probes: 0, OK: false, Hold: a.Hold, Close: a.Close.String()}); err != nil {
			return fmt.Errorf("sim: event log: %w", err)
		}
	}
	return nil
}

// mature makes a TIME_WAIT 4-tuple available for take-over.
func (s *state) mature(t timer) {
	if !s.live(t, true) {
		return
	}
	s.dstList[t.dst].clearBlock(t.port)
}

// result finishes the run's result: the loop records probes only by
// outcome and parity, and the totals are their sums.
func (s *state) result() results.Run {
	r := s.res
	r.ProbesOK = results.Hist{}
	r.ProbesOK.Merge(&r.ProbesByParity[0])
	r.ProbesOK.Merge(&r.ProbesByParity[1])
	r.Probes = results.Hist{}
	r.Probes.Merge(&r.ProbesOK)
	r.Probes.Merge(&r.ProbesFail)
	return r
}
