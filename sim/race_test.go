package sim

import (
	"context"
	"math"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

// raceConfig is a NAT gateway translating Poisson arrivals at rate per
// second to one service on cpus CPUs, each entry confirmed a fixed delay
// after its tuple is chosen, through a range of ports; connections last
// 1 µs and are closed by the server, so the tuples are free again almost
// at once and every clash comes from the race.
func raceConfig(alloc string, params map[string]string, ports int, rate float64, cpus int, delay time.Duration, dur time.Duration) Config {
	return Config{
		Allocator: mustSpec(alloc),
		Params:    params,
		AllocSeed: 7,
		Stack:     Stack{Range: allocator.Range{Lo: 1024, Hi: uint16(1024 + ports - 1)}, Scope: allocator.FourTuple},
		Workload: workload.Spec{
			Arrivals: workload.Poisson, Rate: rate, Destinations: 1, DestOrder: workload.Uniform, ZipfS: 1, Sources: 1,
			Hold: workload.Fixed(time.Microsecond), Think: workload.Fixed(time.Second), Close: workload.ServerClose, Path: allocator.Connect,
		},
		Seed:     3,
		Duration: dur,
		Race:     Race{CPUs: cpus, ConfirmDelay: workload.Fixed(delay), SynRTO: time.Second, SynRetries: 6},
	}
}

func runOK(t *testing.T, cfg Config) results.Run {
	t.Helper()
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.WallNS = 0
	return r
}

// TestRaceOneCPUIsTheModel checks that one CPU (or none given) runs the
// one-CPU model exactly: the same result as a zero Race, with no race
// metric and nothing echoed.
func TestRaceOneCPUIsTheModel(t *testing.T) {
	cfg := raceConfig("netfilter", nil, 64, 2000, 1, 50*time.Microsecond, 5*time.Second)
	cfg.Workload.OrigPorts = allocator.Range{Lo: 1024, Hi: 1100}
	one := runOK(t, cfg)
	cfg.Race = Race{}
	zero := runOK(t, cfg)
	if !reflect.DeepEqual(one, zero) {
		t.Fatalf("cpus 1 differs from no race:\n%+v\n%+v", one, zero)
	}
	if one.ConnectLatency != nil || one.Clashes != 0 || one.Setup.CPUs != 0 {
		t.Errorf("one CPU reports race metrics: latency %v, clashes %d, cpus %d", one.ConnectLatency, one.Clashes, one.Setup.CPUs)
	}
}

// clashCheck compares a run's clash share (clashes over SYNs reaching
// confirm) with p, within four binomial standard deviations and a model
// error of rel·p (the analytic share is a first-order approximation).
func clashCheck(t *testing.T, name string, r results.Run, p, rel float64) {
	t.Helper()
	n := float64(r.Clashes + r.Successes)
	got := float64(r.Clashes) / n
	tol := 4*math.Sqrt(p*(1-p)/n) + rel*p
	t.Logf("%s: %d clashes in %.0f SYNs: share %.5f, analytic %.5f ± %.5f", name, r.Clashes, n, got, p, tol)
	if math.Abs(got-p) > tol {
		t.Errorf("%s: clash share %.5f, want %.5f ± %.5f", name, got, p, tol)
	}
}

// TestRaceClashShare checks the simulated clash share against the
// analytic one. With rate λ, C CPUs and a confirm delay d, a SYN's window
// from choice to confirm overlaps those of about 2λd(C−1)/C others, so
// about λd(C−1)/C pairs of windows per SYN overlap, and in each pair the
// later insert clashes when both chose one tuple. A shared rover makes
// both choose the same port in nearly every pair (the share is then
// 1 − exp(−λd(C−1)/C), the chance that a SYN has an overlapping
// predecessor); a random offset over N free ports on 1/N of them.
func TestRaceClashShare(t *testing.T) {
	const (
		rate  = 1000.0
		delay = 40 * time.Microsecond
		ports = 8
		dur   = 300 * time.Second
	)
	for _, cpus := range []int{2, 4} {
		x := rate * delay.Seconds() * float64(cpus-1) / float64(cpus)
		fully := runOK(t, raceConfig("netfilter", map[string]string{"random": "true"}, ports, rate, cpus, delay, dur))
		clashCheck(t, "random offset, cpus "+itoa(cpus), fully, x/ports, 0.05)
		rover := runOK(t, raceConfig("netfilter-rover", nil, ports, rate, cpus, delay, dur))
		clashCheck(t, "shared rover, cpus "+itoa(cpus), rover, 1-math.Exp(-x), 0.05)
		fullyOld := runOK(t, raceConfig("netfilter-rover", map[string]string{"random-fully": "true"}, ports, rate, cpus, delay, dur))
		clashCheck(t, "rover kernel with --random-fully, cpus "+itoa(cpus), fullyOld, x/ports, 0.05)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

// TestRaceRetries checks what a clash does to a connect: every clash is
// either retransmitted or ends the connect; with no retries every clash
// fails its connect; latencies of clashed connects include the timeout
// (1 s, then 2 s more); every SYN translated is confirmed, clashes or
// finds no port.
func TestRaceRetries(t *testing.T) {
	cfg := raceConfig("netfilter-rover", nil, 8, 1000, 4, 40*time.Microsecond, 20*time.Second)
	r := runOK(t, cfg)
	if r.Clashes == 0 {
		t.Fatal("no clashes: the test needs some")
	}
	if r.SynRetransmits+r.ConnectFailures != r.Clashes {
		t.Errorf("retransmits %d + failed connects %d != clashes %d", r.SynRetransmits, r.ConnectFailures, r.Clashes)
	}
	if r.Attempts != r.Successes+r.Clashes+r.Failures {
		t.Errorf("attempts %d != successes %d + clashes %d + failures %d", r.Attempts, r.Successes, r.Clashes, r.Failures)
	}
	lat := r.ConnectLatency
	if lat == nil || lat.Count() != uint64(r.Successes) {
		t.Fatalf("latency histogram %v, want one entry per success (%d)", lat, r.Successes)
	}
	// A connect whose SYN clashed k times finishes 2^k − 1 seconds (plus
	// confirm delays) after it began: counting the connects between the
	// cut points 0.5 s, 2 s, 5 s, 10 s, ... gives the retransmissions.
	above := func(d time.Duration) float64 {
		return math.Round((1 - lat.FractionBelow(uint64(d))) * float64(lat.Count()))
	}
	cuts := []time.Duration{500 * time.Millisecond, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	sum := 0.0
	for k, c := range cuts {
		n := above(c)
		if k+1 < len(cuts) {
			n -= above(cuts[k+1])
		}
		sum += float64(k+1) * n
	}
	if int64(sum) != r.SynRetransmits {
		t.Errorf("connect latencies account for %.0f retransmissions, want %d", sum, r.SynRetransmits)
	}
	if m := lat.Max(); m > uint64(127*time.Second+time.Millisecond) {
		t.Errorf("longest connect %v, longer than 6 retransmissions allow", time.Duration(m))
	}
	t.Logf("%d clashes, %d retransmissions, longest connect %v", r.Clashes, r.SynRetransmits, time.Duration(lat.Max()))

	cfg.Race.SynRetries = 0
	r0 := runOK(t, cfg)
	if r0.ConnectFailures != r0.Clashes || r0.SynRetransmits != 0 || r0.Clashes == 0 {
		t.Errorf("no retries: clashes %d, failed connects %d, retransmits %d; want every clash to fail its connect", r0.Clashes, r0.ConnectFailures, r0.SynRetransmits)
	}
	if m := r0.ConnectLatency.Max(); m >= uint64(time.Millisecond) {
		t.Errorf("no retries: longest connect %v, want a few confirm delays", time.Duration(m))
	}
}

// TestRaceValidate checks the race settings' errors.
func TestRaceValidate(t *testing.T) {
	for _, tt := range []struct {
		r    Race
		want string
	}{
		{Race{CPUs: -1}, "sim: cpus -1: expected a whole number in 1..4096"},
		{Race{CPUs: 2, ConfirmDelay: workload.Fixed(workload.Forever), SynRTO: time.Second}, "sim: confirm-delay forever: expected a finite distribution such as exp:5us"},
		{Race{CPUs: 2, SynRTO: 0}, "sim: syn-rto 0s: expected a positive duration such as 1s"},
		{Race{CPUs: 2, SynRTO: time.Second, SynRetries: 31}, "sim: syn-retries 31: expected a whole number in 0..30"},
	} {
		if err := tt.r.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("%+v: err %v, want %q", tt.r, err, tt.want)
		}
	}
	// The largest settings accepted.
	edge := Race{CPUs: 4096, ConfirmDelay: workload.Fixed(5 * time.Microsecond), SynRTO: time.Second, SynRetries: 30}
	if err := edge.Validate(); err != nil {
		t.Errorf("%+v refused: %v", edge, err)
	}
}

// TestRaceArrivalCPU checks scripted CPUs: two SYNs at one instant that
// keep one original port clash on two CPUs (one insert fails, its SYN is
// sent again a second later and takes another port), and do not on one
// CPU, where the second waits for the first's confirm and sees its entry.
func TestRaceArrivalCPU(t *testing.T) {
	nat, dst := netip.MustParseAddr("10.201.0.1"), netip.MustParseAddrPort("10.201.0.2:8080")
	run := func(cpus ...int) (results.Run, error) {
		var script []workload.Arrival
		for _, c := range cpus {
			script = append(script, workload.Arrival{Flow: allocator.Flow{Path: allocator.Connect, Src: nat, Dst: dst, OrigPort: 40000},
				Hold: workload.Forever, Close: workload.RST, Client: -1, CPU: c})
		}
		spec := mustSpec("netfilter")
		return Run(context.Background(), Config{Allocator: spec, AllocSeed: 1, Seed: 1, Stack: StackFromProfile(spec.Profile), Script: script,
			Race: Race{CPUs: 2, ConfirmDelay: workload.Fixed(5 * time.Microsecond), SynRTO: time.Second, SynRetries: 6}})
	}
	for _, tc := range []struct {
		cpus                            []int
		clashes, successes, retransmits int64
	}{
		{[]int{1, 2}, 1, 2, 1},
		{[]int{2, 1}, 1, 2, 1},
		{[]int{1, 1}, 0, 2, 0},
		{[]int{2, 2}, 0, 2, 0},
	} {
		r, err := run(tc.cpus...)
		if err != nil {
			t.Fatal(err)
		}
		if r.Clashes != tc.clashes || r.Successes != tc.successes || r.SynRetransmits != tc.retransmits {
			t.Errorf("CPUs %v: %d clashes, %d successes, %d SYN retransmits; want %d, %d, %d",
				tc.cpus, r.Clashes, r.Successes, r.SynRetransmits, tc.clashes, tc.successes, tc.retransmits)
		}
	}
	if _, err := run(1, 3); err == nil || err.Error() != "sim: the attempt at 0s is on CPU 2 of 2" {
		t.Errorf("CPU 3 of 2: error %v", err)
	}
}
