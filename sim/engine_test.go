package sim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// peeker is an allocator that probes port 7000 for its own flow, then for
// another destination (dstB), and returns it if it was free for its own.
type peeker struct{ other []bool }

func (p *peeker) Allocate(_ time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	g := f
	g.Dst = dstB
	own := c.Free(7000, f)
	p.other = append(p.other, c.Free(7000, g)) // the last probe is for g
	if own {
		return 7000, nil
	}
	return 0, allocator.ErrExhausted
}

// TestProbeOtherFlow checks that the checker answers a probe for another
// flow from that flow's tables, and that the simulator then checks the
// port returned against the tables of the flow allocated for: 7000 is held
// towards dstB and free towards dstA, so the attempt for dstA succeeds
// with two probes and each probe for dstB says "held".
func TestProbeOtherFlow(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstB, workload.Forever, 0),
		connectTo(1, dstA, workload.Forever, 0),
		connectTo(2, dstA, workload.Forever, 0),
	}
	s, err := newState(Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7001, time.Minute), Script: script})
	if err != nil {
		t.Fatal(err)
	}
	var ok []bool
	var probes []int
	peek := &peeker{}
	s.cfg.OnAttempt = func(a results.Attempt) error {
		ok, probes = append(ok, a.OK), append(probes, a.Probes)
		// After the first attempt (sequential: 7000 for dstB), peek.
		s.alloc = peek
		return nil
	}
	if err := s.loop(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantBools(t, "outcomes", ok, []bool{true, true, false})
	wantBools(t, "7000 free towards dstB", peek.other, []bool{false, false})
	if !slices.Equal(probes, []int{1, 2, 2}) {
		t.Errorf("probes %v, want [1 2 2]", probes)
	}
}

// backwards is a workload whose second attempt comes before its first.
type backwards struct{ n int }

func (b *backwards) Next(a *workload.Arrival) bool {
	b.n++
	*a = connectTo(time.Duration(10-b.n)*time.Second, dstA, 0, workload.RST)
	return b.n <= 2
}

func (b *backwards) Err() error { return nil }

// TestWorkloadBackInTime checks that the run refuses a workload that goes
// back in time, naming both times.
func TestWorkloadBackInTime(t *testing.T) {
	w := workload.Spec{Arrivals: workload.Constant, Rate: 1, Destinations: 1, Sources: 1}
	s, err := newState(Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7001, time.Minute), Workload: w, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.wl = &backwards{}
	err = s.loop(context.Background())
	if want := "sim: workload went back in time: attempt at 8s after one at 9s"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestMaxAttempts checks that the run makes exactly MaxAttempts attempts,
// from a script and from a generated workload, and ends at the last one.
func TestMaxAttempts(t *testing.T) {
	var script []workload.Arrival
	for i := range 10 {
		script = append(script, connectTo(time.Duration(i)*time.Second, dstA, 0, workload.RST))
	}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7009, time.Minute), Script: script, MaxAttempts: 3})
	if r.Attempts != 3 || r.SimulatedNS != int64(2*time.Second) {
		t.Errorf("script: %d attempts over %v, want 3 over 2s", r.Attempts, time.Duration(r.SimulatedNS))
	}
	w := workload.Spec{Arrivals: workload.Constant, Rate: 10, Destinations: 1, Sources: 1}
	_, _, r = outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7009, time.Minute), Workload: w, MaxAttempts: 25})
	if r.Attempts != 25 || r.SimulatedNS != int64(2400*time.Millisecond) {
		t.Errorf("constant 10/s: %d attempts over %v, want 25 over 2.4s", r.Attempts, time.Duration(r.SimulatedNS))
	}
}

// TestCellSharing checks the hash-table cell statistics against the
// allocator's own cells: destinations that land in a cell already used by
// k others add k pairs, counted once, at their first connection.
func TestCellSharing(t *testing.T) {
	const dsts = 40
	st := stack(40000, 40999, time.Minute)
	var script []workload.Arrival
	for i := range 3 * dsts { // every destination three times
		script = append(script, connectTo(time.Duration(i)*time.Millisecond, workload.DestAddr(i%dsts, false), 0, workload.RST))
	}
	params := map[string]string{"table": "16"}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("rfc6056-4"), Params: params, AllocSeed: 3, Stack: st, Script: script})
	a, err := allocator.New("rfc6056-4", allocator.Config{Range: st.Range, Seed: 3, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	used := make([]int64, 16)
	var pairs int64
	for i := range dsts {
		c, size := a.(allocator.Celler).Cell(0, script[i].Flow)
		if size != 16 {
			t.Fatalf("table size %d, want 16", size)
		}
		pairs += used[c]
		used[c]++
	}
	want := results.CellStats{TableSize: 16, Destinations: dsts, SharedPairs: pairs}
	if r.Cells == nil || *r.Cells != want {
		t.Fatalf("cells %+v, want %+v", r.Cells, want)
	}
	if pairs == 0 {
		t.Fatal("40 destinations in 16 cells share none: the check is empty")
	}
	// UDP flows take no cell statistics: the table is connect()'s.
	for i := range script {
		script[i].Flow.Path = allocator.UDP
	}
	_, _, r = outcomes(t, Config{Allocator: mustSpec("rfc6056-4"), Params: params, AllocSeed: 3, Stack: st, Script: script})
	if want := (results.CellStats{}); r.Cells == nil || *r.Cells != want {
		t.Errorf("UDP flows: cells %+v, want none counted", r.Cells)
	}
}

// TestConfigErrors checks the one-line errors of a bad configuration.
func TestConfigErrors(t *testing.T) {
	good := Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7009, time.Minute), Script: []workload.Arrival{}}
	w := workload.Spec{Arrivals: workload.Constant, Rate: 10, Destinations: 1, Sources: 1}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"time-wait", func(c *Config) { c.Stack.TimeWait = -1 }, "stack: time-wait -1ns is negative; expected a duration >= 0 such as 60s"},
		{"tw-reuse-low", func(c *Config) { c.Stack.TWReuse = -1 }, "stack: tw-reuse -1: expected 0 (never), 1 (always) or 2 (loopback only)"},
		{"tw-reuse-high", func(c *Config) { c.Stack.TWReuse = 3 }, "stack: tw-reuse 3: expected 0 (never), 1 (always) or 2 (loopback only)"},
		{"tw-reuse-delay", func(c *Config) { c.Stack.TWReuseDelay = -time.Second }, "stack: tw-reuse-delay -1s is negative; expected a duration >= 0 such as 1s"},
		{"scope", func(c *Config) { c.Stack.Scope = 7 }, "stack: scope 7: expected 4-tuple or exclusive"},
		{"no-limit", func(c *Config) { c.Script, c.Workload = nil, w }, "sim: a generated workload needs a duration or a number of attempts to stop"},
		{"negative-duration", func(c *Config) { c.Duration = -1 }, "sim: duration -1ns and attempts 0 must not be negative"},
		{"negative-attempts", func(c *Config) { c.MaxAttempts = -1 }, "sim: duration 0s and attempts -1 must not be negative"},
		{"sample", func(c *Config) { c.SampleEvery = -1 }, "sim: sample step -1ns is negative"},
		{"prefill", func(c *Config) { c.Prefill = 1 }, "sim: prefill 1: expected a fraction of the ports in [0, 1)"},
		{"race-with-pcbs", func(c *Config) {
			c.Allocator = mustSpec("lwip")
			c.Race = Race{CPUs: 2, ConfirmDelay: workload.Fixed(5 * time.Microsecond), SynRTO: time.Second, SynRetries: 6}
		}, "sim: cpus 2: concurrent translation is not modelled with a pool of TCP control blocks (allocator lwip)"},
		{"race-with-closed-loop", func(c *Config) {
			c.Script, c.Duration = nil, time.Second
			c.Workload = workload.Spec{Arrivals: workload.Closed, Clients: 2, Think: workload.Fixed(time.Second), Destinations: 1, Sources: 1, Hold: workload.Fixed(time.Second)}
			c.Race = Race{CPUs: 2, ConfirmDelay: workload.Fixed(5 * time.Microsecond), SynRTO: time.Second, SynRetries: 6}
		}, "sim: cpus 2: concurrent translation is not modelled with a closed-loop workload (arrivals closed), whose clients wait for each attempt in turn; expected cpus 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := Run(context.Background(), cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.Stack.TWReuse = 2 },
		func(c *Config) { c.Stack.TimeWait, c.Stack.TWReuseDelay, c.Prefill = 0, 0, 0.5 },
		func(c *Config) { c.Script, c.Workload, c.MaxAttempts = nil, w, 1 },
	} {
		cfg := good
		edit(&cfg)
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Errorf("valid config refused: %v", err)
		}
	}
}

// TestDiffModulusIsRangeSize checks that successive differences are taken
// modulo the size of the range, reserved ports included: on 7000-7009
// with 7001-7004 reserved, 7000 → 7005 is +5 (half of 10, kept), 7009 →
// 7000 is +1 after the wrap; modulo the 6 usable ports they would be −1
// and −3.
func TestDiffModulusIsRangeSize(t *testing.T) {
	st := stack(7000, 7009, time.Minute)
	st.Range.Reserved = []allocator.Span{{Lo: 7001, Hi: 7004}}
	var script []workload.Arrival
	for i := range 7 {
		script = append(script, connectTo(time.Duration(i)*time.Second, dstA, 0, workload.RST))
	}
	_, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	if want := []uint16{7000, 7005, 7006, 7007, 7008, 7009, 7000}; !slices.Equal(ports, want) {
		t.Fatalf("ports %v, want %v", ports, want)
	}
	if r.SuccDiff.Count(5) != 1 || r.SuccDiff.Count(1) != 5 || r.SuccDiff.Total() != 6 {
		t.Errorf("differences: %d of +5, %d of +1 among %d; want 1, 5 of 6", r.SuccDiff.Count(5), r.SuccDiff.Count(1), r.SuccDiff.Total())
	}
	// 5+1+1+1+1+1 = 10: one turn of the 10-port range in 6 allocations.
	wantHist(t, "wrap", &r.Wrap, 1, 6, 6, 6)
	if r.Setup.Ports != 6 {
		t.Errorf("setup ports %d, want 6 usable", r.Setup.Ports)
	}
}

// TestPortUsageAndProbesByParity checks the port-usage histogram and the
// split of probes by the parity of the port found: sequential on
// 7000-7003 in an exclusive stack hands out 7000 (to dstB, kept), 7001
// (reset at once), 7002 (to dstB, kept) and 7003 with one probe each,
// then 7001 again after 7000 is refused (2 probes), then fails after 4.
func TestPortUsageAndProbesByParity(t *testing.T) {
	st := stack(7000, 7003, time.Minute)
	st.Scope = allocator.Exclusive
	script := []workload.Arrival{
		connectTo(0, dstB, workload.Forever, 0), // 7000
		connectTo(1, dstA, 0, workload.RST),     // 7001, freed
		connectTo(2, dstB, workload.Forever, 0), // 7002
		connectTo(3, dstA, workload.Forever, 0), // 7003
		connectTo(4, dstA, workload.Forever, 0), // 7000 held: 7001
		connectTo(5, dstA, workload.Forever, 0), // fails
	}
	_, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	if want := []uint16{7000, 7001, 7002, 7003, 7001, 0}; !slices.Equal(ports, want) {
		t.Fatalf("ports %v, want %v", ports, want)
	}
	// Even: 7000, 7002 with 1 probe each. Odd: 7001 (1), 7003 (1), 7001 (2).
	wantHist(t, "probes of even ports", &r.ProbesByParity[0], 2, 1, 1, 2)
	wantHist(t, "probes of odd ports", &r.ProbesByParity[1], 3, 1, 2, 4)
	wantHist(t, "probes of successes", &r.ProbesOK, 5, 1, 2, 6)
	wantHist(t, "probes of failures", &r.ProbesFail, 1, 4, 4, 4)
	wantHist(t, "probes", &r.Probes, 6, 1, 4, 10)
	want := results.NewPortHist(7000, 7003, 256)
	want.Bins = []uint64{1, 2, 1, 1}
	want.Even, want.Odd = 2, 3
	if d := cmp.Diff(want, r.PortUsage); d != "" {
		t.Errorf("port usage (-want +got):\n%s", d)
	}
}

// TestBindReleasesBound checks that a bind(0) socket's port stops being
// "bound" once its TIME_WAIT ends: connect() skips a bound port only
// while a bind socket holds it.
func TestBindReleasesBound(t *testing.T) {
	script := []workload.Arrival{
		withPath(connectTo(0, dstA, time.Second, workload.ClientClose), allocator.Bind), // TIME_WAIT 1-61 s
		connectTo(30*time.Second, dstA, workload.Forever, 0),                            // still bound: fails
		connectTo(61*time.Second, dstA, workload.Forever, 0),                            // free: succeeds
	}
	ok, _, _ := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Script: script})
	wantBools(t, "outcomes", ok, []bool{true, false, true})
}

// TestSetupEcho checks the setup a generated workload's run echoes.
func TestSetupEcho(t *testing.T) {
	w := workload.Spec{Arrivals: workload.Poisson, Rate: 20, Destinations: 3, Sources: 2, Loopback: true,
		Hold: workload.MustParseDist("forever"), Close: workload.ServerClose, Path: allocator.Connect}
	st := stack(7000, 7099, time.Minute)
	st.Range.Reserved = []allocator.Span{{Lo: 7010, Hi: 7019}}
	st.TWReuse = 2
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Workload: w, Duration: time.Second, Prefill: 0.25})
	want := results.Setup{
		Range: "7000-7099", Reserved: "7010-7019", Ports: 90, TimeWaitNS: int64(time.Minute),
		Scope: "4-tuple", TWReuse: 2, TWReuseDelayNS: int64(time.Second), Timestamps: true,
		Sources: 2, Destinations: 3, Path: "connect", Close: "server", Arrivals: "poisson",
		RatePerSec: 20, Hold: "forever", HoldMeanNS: -1, Loopback: true, Prefill: 0.25,
	}
	if d := cmp.Diff(want, r.Setup); d != "" {
		t.Errorf("setup (-want +got):\n%s", d)
	}
	w.Hold = workload.MustParseDist("exp:2s")
	_, _, r = outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Workload: w, Duration: time.Second})
	if r.Setup.Hold != "exp:2s" || r.Setup.HoldMeanNS != int64(2*time.Second) {
		t.Errorf("hold %q mean %v, want exp:2s mean 2s", r.Setup.Hold, time.Duration(r.Setup.HoldMeanNS))
	}
}

// TestDefaultSampleStep checks that occupancy is sampled every 100 ms by
// default: a 5 s script gives 51 samples (0 to 5 s) 100 ms apart.
func TestDefaultSampleStep(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, workload.Forever, 0),
		connectTo(5*time.Second+1, dstA, workload.Forever, 0),
	}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7009, time.Minute), Script: script})
	if r.Occupancy.StepNS != int64(100*time.Millisecond) || len(r.Occupancy.Established) != 51 {
		t.Errorf("step %v, %d samples; want 100ms, 51", time.Duration(r.Occupancy.StepNS), len(r.Occupancy.Established))
	}
}

// errSentinel checks that errors pass through with their identity.
var errSentinel = errors.New("disk full")

// TestEventLogError checks that a failing event log stops the run with
// its error, wrapped once.
func TestEventLogError(t *testing.T) {
	cfg := Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7009, time.Minute), Script: []workload.Arrival{connectTo(0, dstA, 0, 0)}}
	cfg.OnAttempt = func(results.Attempt) error { return errSentinel }
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, errSentinel) || err.Error() != fmt.Sprintf("sim: event log: %v", errSentinel) {
		t.Fatalf("error %v, want the event log's error wrapped", err)
	}
}

// TestBindConnectTakeover checks a take-over without tcp_tw_reuse: HAProxy
// (fifo) binds with SO_REUSEADDR and connects, which takes a TIME_WAIT
// 4-tuple over whenever timestamps are on. The simulator must accept the
// port it granted, count the take-over, and then ignore the old TIME_WAIT
// timer (at 60 s) instead of freeing the open connection's port:
//
//	0 s: A closes at once, TIME_WAIT 0–60 s (the ring gets 7000 back)
//	1 s: B binds 7000 and connects, taking the TIME_WAIT over; never closes
//	61 s: C finds the ring empty and fails without a probe
//
// Samples every 30 s: TIME_WAIT 1, 0, 0; established 0, 1, 1.
func TestBindConnectTakeover(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),
		connectTo(time.Second, dstA, workload.Forever, 0),
		connectTo(61*time.Second, dstA, workload.Forever, 0),
	}
	ok, ports, r := outcomes(t, Config{Allocator: mustSpec("fifo"), Stack: stack(7000, 7000, time.Minute), Script: script, SampleEvery: 30 * time.Second})
	wantBools(t, "outcomes", ok, []bool{true, true, false})
	if !slices.Equal(ports, []uint16{7000, 7000, 0}) {
		t.Errorf("ports %v, want [7000 7000 0]", ports)
	}
	if r.TWTakeovers != 1 {
		t.Errorf("take-overs %d, want 1", r.TWTakeovers)
	}
	if want := []uint32{0, 1, 1}; !slices.Equal(r.Occupancy.Established, want) {
		t.Errorf("established %v, want %v", r.Occupancy.Established, want)
	}
	if want := []uint32{1, 0, 0}; !slices.Equal(r.Occupancy.TimeWait, want) {
		t.Errorf("time-wait %v, want %v", r.Occupancy.TimeWait, want)
	}
}

// TestBindConnectRefusals checks the two refusals of a bind-then-connect
// (fifo): without timestamps connect() cannot take a TIME_WAIT 4-tuple
// over, so the attempt fails; and a port that a bind(0) socket still holds
// (here in its TIME_WAIT) refuses the bind, so HAProxy's ten tries all
// land on it and fail.
func TestBindConnectRefusals(t *testing.T) {
	t.Run("no-timestamps", func(t *testing.T) {
		st := stack(7000, 7000, time.Minute)
		st.Timestamps = false
		script := []workload.Arrival{
			connectTo(0, dstA, 0, workload.ClientClose),
			connectTo(time.Second, dstA, workload.Forever, 0),
		}
		ok, _, r := outcomes(t, Config{Allocator: mustSpec("fifo"), Stack: st, Script: script})
		wantBools(t, "outcomes", ok, []bool{true, false})
		if r.TWTakeovers != 0 {
			t.Errorf("take-overs %d, want 0", r.TWTakeovers)
		}
	})
	t.Run("bound", func(t *testing.T) {
		script := []workload.Arrival{
			withPath(connectTo(0, dstA, 0, workload.ClientClose), allocator.Bind), // 7000, bound in TIME_WAIT until 60 s
			connectTo(time.Second, dstA, workload.Forever, 0),                     // 7001
			connectTo(2*time.Second, dstA, workload.Forever, 0),                   // 7000 ten times: refused
		}
		var probes []int
		cfg := Config{Allocator: mustSpec("fifo"), Stack: stack(7000, 7001, time.Minute), Script: script}
		cfg.OnAttempt = func(a results.Attempt) error { probes = append(probes, a.Probes); return nil }
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		ok, ports, _ := outcomes(t, Config{Allocator: mustSpec("fifo"), Stack: stack(7000, 7001, time.Minute), Script: script})
		wantBools(t, "outcomes", ok, []bool{true, true, false})
		if !slices.Equal(ports[:2], []uint16{7000, 7001}) || !slices.Equal(probes, []int{1, 1, 10}) {
			t.Errorf("ports %v after %v probes, want 7000, 7001, then a failure after 10", ports, probes)
		}
	})
}

// TestPCBPool checks lwIP's pool of TCP control blocks (pcbs = 2), shared
// by live connections and TIME_WAITs but not by UDP:
//
//	0 s  U: UDP, never closed (no PCB)
//	1 s  A: TCP, closed at once: TIME_WAIT (1 PCB)
//	2 s  B: TCP, never closed (2 PCBs)
//	3 s  C: the pool is full: A's TIME_WAIT is killed, C gets a PCB
//	4 s  D: full, no TIME_WAIT left: fails before any port, no probe
func TestPCBPool(t *testing.T) {
	udp := withPath(connectTo(0, dstA, workload.Forever, 0), allocator.UDP)
	script := []workload.Arrival{
		udp,
		connectTo(time.Second, dstA, 0, workload.ClientClose),
		connectTo(2*time.Second, dstA, workload.Forever, 0),
		connectTo(3*time.Second, dstA, workload.Forever, 0),
		connectTo(4*time.Second, dstA, workload.Forever, 0),
	}
	var probes []int
	cfg := Config{Allocator: mustSpec("lwip"), Params: map[string]string{"pcbs": "2"}, Stack: stack(7000, 7009, time.Minute), Script: script}
	cfg.OnAttempt = func(a results.Attempt) error { probes = append(probes, a.Probes); return nil }
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Successes != 4 || r.Failures != 1 || r.PCBKills != 1 || r.PoolFailures != 1 || probes[4] != 0 {
		t.Errorf("%d successes, %d failures, %d PCB kills, %d pool failures, last attempt %d probes; want 4, 1, 1, 1, 0",
			r.Successes, r.Failures, r.PCBKills, r.PoolFailures, probes[4])
	}
}

// TestPCBPoolSkipsStaleTimer checks that freeing the oldest TIME_WAIT for
// the PCB pool skips a timer whose TIME_WAIT was taken over (tcp_tw_reuse
// on a one-port range, pcbs = 2): A's TIME_WAIT towards dstA is taken
// over by B, which stays open; C leaves a TIME_WAIT towards dstB; D finds
// the pool full and must free C's TIME_WAIT, not B's port through A's
// stale timer; E, towards dstA again, finds the pool full with nothing to
// free and fails (B still holds the port).
func TestPCBPoolSkipsStaleTimer(t *testing.T) {
	st := stack(7000, 7000, time.Minute)
	st.TWReuse = 1
	dstC := netip.MustParseAddrPort("198.18.0.3:443")
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),             // TIME_WAIT, reusable at 1 s
		connectTo(2*time.Second, dstA, workload.Forever, 0),     // takes it over
		connectTo(3*time.Second, dstB, 0, workload.ClientClose), // TIME_WAIT towards dstB
		connectTo(4*time.Second, dstC, workload.Forever, 0),     // pool full: C's TIME_WAIT freed
		connectTo(5*time.Second, dstA, workload.Forever, 0),     // pool full, nothing to free
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("lwip"), Params: map[string]string{"pcbs": "2"}, Stack: st, Script: script})
	wantBools(t, "outcomes", ok, []bool{true, true, true, true, false})
	if r.TWTakeovers != 1 || r.PCBKills != 1 || r.PoolFailures != 1 {
		t.Errorf("%d take-overs, %d PCB kills, %d pool failures; want 1, 1, 1", r.TWTakeovers, r.PCBKills, r.PoolFailures)
	}
}

// TestBindConnectPrefilled checks that a bind-then-connect (fifo) on a
// 4-tuple a background connection holds is refused at connect() and fails
// the attempt: four attempts over a four-port ring with half the
// 4-tuples towards dstA prefilled try each port once, so two succeed and
// two fail, and the run never takes a held port.
func TestBindConnectPrefilled(t *testing.T) {
	var script []workload.Arrival
	for i := range 4 {
		script = append(script, connectTo(time.Duration(i)*time.Second, dstA, workload.Forever, 0))
	}
	ok, ports, r := outcomes(t, Config{Allocator: mustSpec("fifo"), Stack: stack(7000, 7003, time.Minute), Script: script, Prefill: 0.5})
	if r.Successes != 2 || r.Failures != 2 {
		t.Fatalf("outcomes %v, ports %v: want two successes and two refused connects", ok, ports)
	}
}

// grantThenOther is an allocator that gets a take-over granted for port
// 7000 (in TIME_WAIT) and then returns 7001, also in TIME_WAIT.
type grantThenOther struct{}

func (grantThenOther) Allocate(_ time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	if c.(allocator.BindConnecter).BindConnect(7000, f) != allocator.Connected {
		return 0, allocator.ErrExhausted
	}
	return 7001, nil
}

// TestGrantIsForOnePort checks that a take-over granted for one port does
// not let an allocator return another port in TIME_WAIT: the run fails.
func TestGrantIsForOnePort(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),                // 7000: TIME_WAIT
		connectTo(time.Millisecond, dstA, 0, workload.ClientClose), // 7001: TIME_WAIT
		connectTo(time.Second, dstA, workload.Forever, 0),
	}
	s, err := newState(Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7001, time.Minute), Script: script})
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.OnAttempt = func(a results.Attempt) error {
		if a.At == time.Millisecond {
			s.alloc = grantThenOther{}
		}
		return nil
	}
	err = s.loop(context.Background())
	if want := "sim: allocator sequential returned port 7001 for 198.18.0.1:443 at 1s, which is not free (outside the range, reserved or in use)"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestPrefillRounds checks that the prefilled share is rounded to the
// nearest port: half of three ports is two held, so of three attempts that
// never close one succeeds.
func TestPrefillRounds(t *testing.T) {
	var script []workload.Arrival
	for i := range 3 {
		script = append(script, connectTo(time.Duration(i), dstA, workload.Forever, 0))
	}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7002, time.Minute), Script: script, Prefill: 0.5})
	if r.Successes != 1 || r.Failures != 2 {
		t.Errorf("%d successes, %d failures; want 1 and 2", r.Successes, r.Failures)
	}
}
