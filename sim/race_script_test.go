package sim

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// This file holds small scripted runs of the SNAT race (Race) whose every
// count and latency is computed by hand in the comments. Each flow lands
// on the CPU its script names (Arrival.CPU), so the hand computation
// holds.

// lowestFree is an allocator that takes the lowest port of its range the
// Checker calls free: what it picks shows what the simulator told it.
type lowestFree struct{ r allocator.Range }

func (l lowestFree) Allocate(_ time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	for p := int(l.r.Lo); p <= int(l.r.Hi); p++ {
		if c.Free(uint16(p), f) {
			return uint16(p), nil
		}
	}
	return 0, allocator.ErrExhausted
}

func lowestSpec() allocator.Spec {
	return allocator.Spec{Name: "lowest", New: func(cfg allocator.Config) (allocator.Allocator, error) { return lowestFree{cfg.Range}, nil }}
}

// onCPUs puts script's flows on the given CPUs (1 for the first), in
// order.
func onCPUs(script []workload.Arrival, cpus ...int) {
	for i, c := range cpus {
		script[i].CPU = c
	}
}

// raceScript is a NAT of two CPUs with a fixed confirm delay d, a 1 s
// first SYN timeout and retries retransmissions, running script.
func raceScript(alloc allocator.Spec, st Stack, d time.Duration, retries int, seed uint64, script []workload.Arrival) Config {
	return Config{Allocator: alloc, Stack: st, Script: script, Seed: seed,
		Race: Race{CPUs: 2, ConfirmDelay: workload.Fixed(d), SynRTO: time.Second, SynRetries: retries}}
}

// raceRun runs cfg and returns each finished connect in the order it
// finished, and the result.
func raceRun(t *testing.T, cfg Config) ([]results.Attempt, results.Run) {
	t.Helper()
	var att []results.Attempt
	cfg.OnAttempt = func(a results.Attempt) error { att = append(att, a); return nil }
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return att, r
}

// finished summarises attempts as "at:port:ok" strings.
func finished(att []results.Attempt) []string {
	var out []string
	for _, a := range att {
		ok := "fail"
		if a.OK {
			ok = "ok"
		}
		out = append(out, a.At.String()+":"+strconv.Itoa(int(a.Port))+":"+ok)
	}
	return out
}

// raceCounts fails t unless r holds the given race counts.
func raceCounts(t *testing.T, r results.Run, attempts, successes, failures, clashes, retransmits, connectFailures int64) {
	t.Helper()
	got := []int64{r.Attempts, r.Successes, r.Failures, r.Clashes, r.SynRetransmits, r.ConnectFailures}
	want := []int64{attempts, successes, failures, clashes, retransmits, connectFailures}
	if !slices.Equal(got, want) {
		t.Errorf("attempts, successes, failures, clashes, retransmits, failed connects %v; want %v", got, want)
	}
}

// TestRaceRetransmitSchedule pins the SYN retransmission schedule, the
// retry limit, clash detection by the tuple's history and the connect
// latency, on one port (7000) and two CPUs with a 10 µs confirm delay d.
// R0 (at 0) and R1 (at 1 s), on CPU 1, hold their port 1 ns; B (at 1 ns,
// for ever) is on CPU 2:
//
//	0        R0 chooses 7000               d        R0 confirmed (latency d)
//	1ns      B chooses 7000 (not yet       d+1ns    R0 closes; B confirms: R0
//	         confirmed by R0)                       used 7000 since B chose, a
//	                                                clash (found by the history:
//	                                                the port is free again)
//	1s       R1 chooses 7000               1s+d     R1 confirmed (latency d)
//	1s+1ns   B's 2nd SYN (1 s after its    1s+1ns+d clash again
//	         1st) chooses 7000
//	3s+1ns   B's 3rd SYN (2 s after its    3s+1ns+d B confirmed: latency 3s+d,
//	         2nd: the timeout doubles)              after the last arrival
//
// With two retries: 5 choices, 3 connects, 2 clashes and retransmissions.
// With one retry B's second clash ends its connect: 4 choices, 2 connects,
// 2 clashes, 1 retransmission, 1 failed connect.
func TestRaceRetransmitSchedule(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstA, time.Nanosecond, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, time.Nanosecond, workload.ServerClose),
	}
	onCPUs(script, 1, 2, 1)
	const seed = 1
	st := stack(7000, 7000, time.Minute)

	att, r := raceRun(t, raceScript(lowestSpec(), st, d, 2, seed, script))
	want := []string{"0s:7000:ok", "1s:7000:ok", "1ns:7000:ok"}
	if got := finished(att); !slices.Equal(got, want) {
		t.Errorf("two retries: connects %v, want %v", got, want)
	}
	raceCounts(t, r, 5, 3, 0, 2, 2, 0)
	wantHist(t, "two retries: connect latency", r.ConnectLatency, 3, uint64(d), uint64(3*time.Second+d), uint64(3*time.Second+3*d))
	if su := r.Setup; su.CPUs != 2 || su.SynRetries != 2 || su.SynRTONS != int64(time.Second) || su.ConfirmDelayMeanNS != int64(d) {
		t.Errorf("setup echoes cpus %d, syn retries %d, rto %d ns, confirm delay %d ns", su.CPUs, su.SynRetries, su.SynRTONS, su.ConfirmDelayMeanNS)
	}

	att, r = raceRun(t, raceScript(lowestSpec(), st, d, 1, seed, script))
	want = []string{"0s:7000:ok", "1s:7000:ok", "1ns:7000:fail"}
	if got := finished(att); !slices.Equal(got, want) {
		t.Errorf("one retry: connects %v, want %v", got, want)
	}
	raceCounts(t, r, 4, 2, 0, 2, 1, 1)
	wantHist(t, "one retry: connect latency", r.ConnectLatency, 2, uint64(d), uint64(d), uint64(2*d))
}

// TestRaceCPUQueue pins "a CPU handles one packet at a time": X and Y
// arrive at 0 on one CPU, ports 7000-7001. X chooses 7000 at 0 and is
// confirmed at d; Y waits for the CPU, chooses at d after X's confirm
// (which came first), so it sees 7000 taken and takes 7001, confirmed at
// 2d: no clash, latencies d and 2d.
func TestRaceCPUQueue(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
	}
	onCPUs(script, 1, 1)
	const seed = 1
	att, r := raceRun(t, raceScript(lowestSpec(), stack(7000, 7001, time.Minute), d, 6, seed, script))
	if got, want := finished(att), []string{"0s:7000:ok", "0s:7001:ok"}; !slices.Equal(got, want) {
		t.Errorf("connects %v, want %v", got, want)
	}
	raceCounts(t, r, 2, 2, 0, 0, 0, 0)
	wantHist(t, "connect latency", r.ConnectLatency, 2, uint64(d), uint64(2*d), uint64(3*d))
}

// TestRaceOrderAtOneInstant pins what comes first at one instant in the
// race loop, on one port and two CPUs (d = 10 µs):
//
//   - a confirm before an arrival: R0 (at 0, held 1 ms) is confirmed at d,
//     when B arrives; B's choice sees 7000 taken and fails at once (no
//     tuple), its confirm is void; C at 1 s takes 7000.
//   - a close before a SYN: R0 is held until 1 s + 1 ns, when B's second
//     SYN comes (B arrived at 1 ns and clashed with R0): B takes 7000,
//     latency 1 s + d.
//   - a TIME_WAIT expiry before a SYN: the same with R0 closed by the
//     client into a 500 ms TIME_WAIT that ends at 1 s + 1 ns.
func TestRaceOrderAtOneInstant(t *testing.T) {
	const d = 10 * time.Microsecond
	const seed = 1
	script := []workload.Arrival{
		connectTo(0, dstA, time.Millisecond, workload.ServerClose),
		connectTo(d, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	onCPUs(script, 1, 2, 1)
	att, r := raceRun(t, raceScript(lowestSpec(), stack(7000, 7000, time.Minute), d, 6, seed, script))
	if got, want := finished(att), []string{"0s:7000:ok", "10µs:0:fail", "1s:7000:ok"}; !slices.Equal(got, want) {
		t.Errorf("confirm before arrival: connects %v, want %v", got, want)
	}
	raceCounts(t, r, 3, 2, 1, 0, 0, 0)
	if r.FirstFailureNS != int64(d) || r.ProbesFail.Count() != 1 {
		t.Errorf("confirm before arrival: first failure at %d ns, %d failures' probes recorded; want %d and 1", r.FirstFailureNS, r.ProbesFail.Count(), d)
	}

	for _, tc := range []struct {
		name  string
		hold  time.Duration
		close workload.Close
		tw    time.Duration
	}{
		{"close before SYN", time.Second + time.Nanosecond - d, workload.ServerClose, time.Minute},
		{"expiry before SYN", 500*time.Millisecond + time.Nanosecond - d, workload.ClientClose, 500 * time.Millisecond},
	} {
		script := []workload.Arrival{
			connectTo(0, dstA, tc.hold, tc.close),
			connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		}
		onCPUs(script, 1, 2)
		att, r := raceRun(t, raceScript(lowestSpec(), stack(7000, 7000, tc.tw), d, 6, seed, script))
		if got, want := finished(att), []string{"0s:7000:ok", "1ns:7000:ok"}; !slices.Equal(got, want) {
			t.Errorf("%s: connects %v, want %v", tc.name, got, want)
		}
		raceCounts(t, r, 3, 2, 0, 1, 1, 0)
		wantHist(t, tc.name+": connect latency", r.ConnectLatency, 2, uint64(d), uint64(time.Second+d), uint64(time.Second+2*d))
	}
}

// TestRaceOccupancySamples pins the occupancy samples of a race run: with
// a 100 ms confirm delay and a sample every 100 ms, R0 (at 0) is confirmed
// at 100 ms, before the sample of that instant; R1 arrives at 250 ms, the
// last arrival, after which no sample is taken (R1 is confirmed at 350 ms
// all the same): established 0, 1, 1.
func TestRaceOccupancySamples(t *testing.T) {
	const d = 100 * time.Millisecond
	script := []workload.Arrival{
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
		connectTo(250*time.Millisecond, dstA, workload.Forever, workload.ServerClose),
	}
	cfg := raceScript(lowestSpec(), stack(7000, 7001, time.Minute), d, 6, 1, script)
	cfg.SampleEvery = d
	_, r := raceRun(t, cfg)
	if o := r.Occupancy; !slices.Equal(o.Established, []uint32{0, 1, 1}) || !slices.Equal(o.TimeWait, []uint32{0, 0, 0}) {
		t.Errorf("occupancy established %v, TIME_WAIT %v; want [0 1 1] and [0 0 0]", o.Established, o.TimeWait)
	}
	if r.Successes != 2 {
		t.Errorf("%d connects, want 2", r.Successes)
	}
}

// TestRaceClashAcrossDestinations pins clash detection in an exclusive
// stack, where a port in use towards one destination is taken for all: R0
// (at 0, towards B, held 1 ms) and C (at 1 ns, towards A) on two CPUs
// both choose 7000; at C's confirm 7000 is in use by R0 (towards another
// destination, so not in A's history), a clash; C's second SYN at 1 s + 1
// ns takes 7000, latency 1 s + d.
func TestRaceClashAcrossDestinations(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstB, time.Millisecond, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
	}
	onCPUs(script, 1, 2)
	const seed = 1
	st := Stack{Range: allocator.Range{Lo: 7000, Hi: 7000}, Scope: allocator.Exclusive, TimeWait: time.Minute}
	att, r := raceRun(t, raceScript(lowestSpec(), st, d, 6, seed, script))
	if got, want := finished(att), []string{"0s:7000:ok", "1ns:7000:ok"}; !slices.Equal(got, want) {
		t.Errorf("connects %v, want %v", got, want)
	}
	raceCounts(t, r, 3, 2, 0, 1, 1, 0)
	wantHist(t, "connect latency", r.ConnectLatency, 2, uint64(d), uint64(time.Second+d), uint64(time.Second+2*d))
}

// TestRaceEvictionTakeover pins a NAT eviction under the race: R0 (at 0,
// closed by the client at 1 ms) leaves 7000 in a 60 s TIME_WAIT; netfilter
// takes it over for B at 1 s (FreeOrEvict), and B's confirm at 1 s + d
// accepts the take-over it was granted: no clash, one take-over.
func TestRaceEvictionTakeover(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstA, time.Millisecond, workload.ClientClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	st := stack(7000, 7000, time.Minute)
	att, r := raceRun(t, raceScript(mustSpec("netfilter"), st, d, 6, 1, script))
	if got, want := finished(att), []string{"0s:7000:ok", "1s:7000:ok"}; !slices.Equal(got, want) {
		t.Errorf("connects %v, want %v", got, want)
	}
	raceCounts(t, r, 2, 2, 0, 0, 0, 0)
	if r.TWTakeovers != 1 {
		t.Errorf("%d take-overs, want 1", r.TWTakeovers)
	}
}

// TestRaceSynChoosesAtOnce pins that a SYN reaching a free CPU is
// translated at that instant, before a confirm due at the same instant on
// another CPU: on one port with d = 10 µs, F (at 1 ns) clashes with R0 (at
// 0, held 1 ns), so its second SYN comes at 1 s + 1 ns, when G (arrived at
// 1 s + 1 ns − d on the other CPU, held 1 ms) is confirmed. F chooses 7000
// first, clashes with G at 1 s + 1 ns + d, and takes 7000 with its third
// SYN at 3 s + 1 ns: latency 3 s + d.
func TestRaceSynChoosesAtOnce(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstA, time.Nanosecond, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second+time.Nanosecond-d, dstA, time.Millisecond, workload.ServerClose),
	}
	onCPUs(script, 1, 2, 1)
	const seed = 1
	att, r := raceRun(t, raceScript(lowestSpec(), stack(7000, 7000, time.Minute), d, 6, seed, script))
	if got, want := finished(att), []string{"0s:7000:ok", "999.990001ms:7000:ok", "1ns:7000:ok"}; !slices.Equal(got, want) {
		t.Errorf("connects %v, want %v", got, want)
	}
	raceCounts(t, r, 5, 3, 0, 2, 2, 0)
	wantHist(t, "connect latency", r.ConnectLatency, 3, uint64(d), uint64(3*time.Second+d), uint64(3*time.Second+3*d))
}

// TestRaceShortTimeout pins retransmission when the SYN timeout (6 µs) is
// shorter than the confirm delay (10 µs): a clash found after the timeout
// has passed retransmits at once, and the next, doubled timeout counts
// from that retransmission. On one port, R0 (at 0) and R1 (at 10 µs) on
// one CPU, each closed as soon as confirmed; B (at 1 ns) on the other:
//
//	1ns       B chooses 7000        10µs+1ns  clash with R0; the timeout
//	10µs      R0 confirmed, closed;           (1ns + 6µs) is past: B's 2nd
//	          R1 chooses 7000                 SYN chooses 7000 at once
//	20µs      R1 confirmed, closed  20µs+1ns  clash with R1; 3rd SYN at
//	22µs+1ns  B chooses 7000                  10µs+1ns + 12µs
//	32µs+1ns  B confirmed: latency 32 µs
func TestRaceShortTimeout(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		connectTo(d, dstA, 0, workload.ServerClose),
	}
	onCPUs(script, 1, 2, 1)
	const seed = 1
	cfg := raceScript(lowestSpec(), stack(7000, 7000, time.Minute), d, 6, seed, script)
	cfg.Race.SynRTO = 6 * time.Microsecond
	att, r := raceRun(t, cfg)
	if got, want := finished(att), []string{"0s:7000:ok", "10µs:7000:ok", "1ns:7000:ok"}; !slices.Equal(got, want) {
		t.Errorf("connects %v, want %v", got, want)
	}
	raceCounts(t, r, 5, 3, 0, 2, 2, 0)
	wantHist(t, "connect latency", r.ConnectLatency, 3, uint64(d), uint64(32*time.Microsecond), uint64(52*time.Microsecond))
}

// TestRaceGrantEndsWithTimeWait pins that a take-over granted at the
// choice holds at confirm only while the TIME_WAIT entry is still there:
// with confirm delays drawn from uniform:1us,2ms, R0 (at 0, confirmed
// after d0, closed by the client 1 ns later) leaves 7000 in a 1 ms
// TIME_WAIT until e = d0 + 1 ns + 1 ms; netfilter grants B (at 1 ms) the
// take-over of 7000; the TIME_WAIT ends at e, when a bind(0) socket Z
// (on the other CPU) takes 7000 and is confirmed before B. At B's confirm 7000
// is bound by Z, no longer in TIME_WAIT: a clash; B's second SYN finds
// 7000 bound and fails. The seed gives delays (in SYN order R0, B, Z)
// with d0 < 1 ms and B's longer than d0 + Z's.
func TestRaceGrantEndsWithTimeWait(t *testing.T) {
	delay := workload.MustParseDist("uniform:1us,2ms")
	var seed uint64
	var d0 time.Duration
	for seed = 1; seed < 10000; seed++ {
		dr := delay.NewSampler(rand.NewPCG(seed, 0x636f6e6669726d)) // the race's "confirm" stream
		d := []time.Duration{dr.Draw(), dr.Draw(), dr.Draw()}
		if d[0] < time.Millisecond-time.Nanosecond && d[1] > d[0]+d[2]+2*time.Nanosecond {
			d0 = d[0]
			break
		}
	}
	if d0 == 0 {
		t.Fatal("no seed gives the delays the test needs")
	}
	e := d0 + time.Nanosecond + time.Millisecond
	script := []workload.Arrival{
		connectTo(0, dstA, time.Nanosecond, workload.ClientClose),
		connectTo(time.Millisecond, dstA, workload.Forever, workload.ServerClose),
		withPath(connectTo(e, dstA, workload.Forever, workload.ServerClose), allocator.Bind),
	}
	onCPUs(script, 1, 1, 2)
	cfg := raceScript(mustSpec("netfilter"), stack(7000, 7000, time.Millisecond), 0, 6, seed, script)
	cfg.Race.ConfirmDelay = delay
	att, r := raceRun(t, cfg)
	if got, want := finished(att), []string{"0s:7000:ok", e.String() + ":7000:ok", "1ms:0:fail"}; !slices.Equal(got, want) {
		t.Errorf("seed %d: connects %v, want %v", seed, got, want)
	}
	raceCounts(t, r, 4, 2, 1, 1, 1, 0)
	if r.TWTakeovers != 0 {
		t.Errorf("%d take-overs, want none", r.TWTakeovers)
	}
}

// feedbackScript is a program's own workload (Config.Source) that gives
// a fixed list of arrivals and notes the feedback it hears.
type feedbackScript struct {
	arr  []workload.Arrival
	next int
	done []string
}

func (f *feedbackScript) Next(a *workload.Arrival) bool {
	if f.next == len(f.arr) {
		return false
	}
	*a = f.arr[f.next]
	f.next++
	return true
}

func (f *feedbackScript) Err() error { return nil }

func (f *feedbackScript) Done(a workload.Arrival, ok bool) {
	f.done = append(f.done, a.At.String()+":"+strconv.FormatBool(ok))
}

// TestRaceFeedback pins that a workload with feedback hears of each
// connect when it ends under the race, with its outcome: on one port with
// no retry, R0 (at 0, CPU 1, held 1 ns) succeeds at d; B (at 1 ns, CPU 2)
// clashes with it and fails at 1 ns + d; C (at 1 s) succeeds.
func TestRaceFeedback(t *testing.T) {
	const d = 10 * time.Microsecond
	script := []workload.Arrival{
		connectTo(0, dstA, time.Nanosecond, workload.ServerClose),
		connectTo(time.Nanosecond, dstA, workload.Forever, workload.ServerClose),
		connectTo(time.Second, dstA, workload.Forever, workload.ServerClose),
	}
	onCPUs(script, 1, 2, 1)
	src := &feedbackScript{arr: script}
	cfg := raceScript(lowestSpec(), stack(7000, 7000, time.Minute), d, 0, 1, nil)
	cfg.Source = src
	_, r := raceRun(t, cfg)
	if want := []string{"0s:true", "1ns:false", "1s:true"}; !slices.Equal(src.done, want) {
		t.Errorf("feedback %v, want %v", src.done, want)
	}
	raceCounts(t, r, 3, 2, 0, 1, 0, 1)
}

// TestRaceScriptedAndRandomCPUs pins that a script's CPU numbers are the
// ones the random placement draws from: X (at 0, no CPU named) lands on
// CPU x, the first draw of the race's "cpu" stream for seed 1; Y (at 0)
// named on CPU x+1 is the same CPU, so it waits for X's confirm and takes
// 7001 (latency 2d), with no clash.
func TestRaceScriptedAndRandomCPUs(t *testing.T) {
	const d = 10 * time.Microsecond
	x := rand.New(rand.NewPCG(1, 0x637075)).IntN(2) // as raceArrive draws
	script := []workload.Arrival{
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
		connectTo(0, dstA, workload.Forever, workload.ServerClose),
	}
	script[1].CPU = x + 1
	att, r := raceRun(t, raceScript(lowestSpec(), stack(7000, 7001, time.Minute), d, 6, 1, script))
	if got, want := finished(att), []string{"0s:7000:ok", "0s:7001:ok"}; !slices.Equal(got, want) {
		t.Errorf("connects %v, want %v", got, want)
	}
	raceCounts(t, r, 2, 2, 0, 0, 0, 0)
	wantHist(t, "connect latency", r.ConnectLatency, 2, uint64(d), uint64(2*d), uint64(3*d))
}
