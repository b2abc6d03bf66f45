package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

var (
	src1 = netip.MustParseAddr("10.0.0.1")
	dstA = netip.MustParseAddrPort("198.18.0.1:443")
	dstB = netip.MustParseAddrPort("198.18.0.2:443")
	dstL = netip.MustParseAddrPort("127.0.0.2:8080")
)

func connectTo(at time.Duration, dst netip.AddrPort, hold time.Duration, c workload.Close) workload.Arrival {
	return workload.Arrival{At: at, Flow: allocator.Flow{Path: allocator.Connect, Src: src1, Dst: dst}, Hold: hold, Close: c, Client: -1}
}

func stack(lo, hi uint16, tw time.Duration) Stack {
	return Stack{Range: allocator.Range{Lo: lo, Hi: hi}, TimeWait: tw, Scope: allocator.FourTuple, TWReuseDelay: time.Second, Timestamps: true}
}

// outcomes runs a script and returns ok/fail per attempt and the ports.
func outcomes(t *testing.T, cfg Config) ([]bool, []uint16, results.Run) {
	t.Helper()
	var ok []bool
	var ports []uint16
	cfg.OnAttempt = func(a results.Attempt) error {
		ok = append(ok, a.OK)
		ports = append(ports, a.Port)
		return nil
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return ok, ports, r
}

// TestFourPortsFiveConnects is the hand-checkable case from DESIGN.md: a
// range of 4 ports, 5 connections to one destination that never close,
// gives exactly one failure, the fifth attempt, for every allocator whose
// search is exhaustive.
func TestFourPortsFiveConnects(t *testing.T) {
	for _, spec := range allocator.Registry() {
		if !spec.Exhaustive {
			continue
		}
		t.Run(spec.Name, func(t *testing.T) {
			var script []workload.Arrival
			for i := range 5 {
				script = append(script, connectTo(time.Duration(i)*time.Millisecond, dstA, workload.Forever, workload.ClientClose))
			}
			ok, _, r := outcomes(t, Config{Allocator: mustSpec(spec.Name), Stack: stack(5000, 5003, time.Minute), Script: script})
			if r.Failures != 1 || ok[4] || r.Successes != 4 {
				t.Fatalf("failures %d, successes %d, outcomes %v; want the 5th to fail only", r.Failures, r.Successes, ok)
			}
			if r.FirstFailureNS != int64(4*time.Millisecond) {
				t.Errorf("first failure at %v, want 4ms", time.Duration(r.FirstFailureNS))
			}
		})
	}
}

// TestTimeWaitFreesAtClosePlusT checks that a client close holds the
// 4-tuple for exactly TIME_WAIT: an attempt 1 ns before close+T fails, one
// at close+T succeeds (expiry runs before arrivals at one instant).
func TestTimeWaitFreesAtClosePlusT(t *testing.T) {
	const tw = 60 * time.Second
	closeAt := 2 * time.Second
	script := []workload.Arrival{
		connectTo(0, dstA, closeAt, workload.ClientClose),
		connectTo(closeAt+tw-1, dstA, workload.Forever, workload.ClientClose),
		connectTo(closeAt+tw, dstA, workload.Forever, workload.ClientClose),
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, tw), Script: script})
	if !ok[0] || ok[1] || !ok[2] {
		t.Fatalf("outcomes %v, want ok, fail, ok", ok)
	}
	if got := r.ReuseInterval.Max(); got != uint64(tw) {
		t.Errorf("reuse interval %v, want exactly %v", time.Duration(got), tw)
	}
}

// TestCloseSides checks who holds TIME_WAIT: a server close and a reset
// free the client's port at once, UDP never holds TIME_WAIT.
func TestCloseSides(t *testing.T) {
	for _, tc := range []struct {
		name   string
		close  workload.Close
		path   allocator.Path
		freeAt time.Duration
	}{
		{"client", workload.ClientClose, allocator.Connect, time.Second + time.Minute},
		{"server", workload.ServerClose, allocator.Connect, time.Second},
		{"rst", workload.RST, allocator.Connect, time.Second},
		{"udp", workload.ClientClose, allocator.UDP, time.Second},
		{"bind-client", workload.ClientClose, allocator.Bind, time.Second + time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := connectTo(0, dstA, time.Second, tc.close)
			a.Flow.Path = tc.path
			b := connectTo(tc.freeAt-1, dstA, workload.Forever, tc.close)
			b.Flow.Path = tc.path
			c := b
			c.At = tc.freeAt
			ok, _, _ := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Script: []workload.Arrival{a, b, c}})
			if !ok[0] || ok[1] || !ok[2] {
				t.Fatalf("outcomes %v, want ok, fail, ok", ok)
			}
		})
	}
}

// TestEventOrderAtOneInstant checks the documented order: a close at t
// frees the port for an arrival at t, and at exhaustion that decides the
// failure count.
func TestEventOrderAtOneInstant(t *testing.T) {
	script := []workload.Arrival{
		connectTo(0, dstA, time.Second, workload.ServerClose),
		connectTo(time.Second, dstA, time.Second, workload.ServerClose), // same instant as the close
		connectTo(2*time.Second, dstA, time.Second, workload.ServerClose),
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Script: script})
	if r.Failures != 0 {
		t.Fatalf("outcomes %v: a close at t must run before an arrival at t", ok)
	}
}

// TestTWReuse checks tcp_tw_reuse as Linux defines it (docs/allocators.md#time_wait-and-tcp_tw_reuse
// and docs/allocators.md#properties-the-tests-check item 6): take-over needs timestamps, reuse 1 (or 2 and a
// loopback destination), and more than tw_reuse_delay since TIME_WAIT
// began on the kernel's millisecond clock (time_after32), so a TIME_WAIT
// that began at 0 is first taken over at 1001 ms.
func TestTWReuse(t *testing.T) {
	const delay = time.Second + time.Millisecond
	for _, tc := range []struct {
		name       string
		reuse      int
		timestamps bool
		dst        netip.AddrPort
		scope      allocator.Scope
		want       time.Duration // first instant the 4-tuple is usable again
	}{
		{"off", 0, true, dstA, allocator.FourTuple, time.Minute},
		{"on", 1, true, dstA, allocator.FourTuple, delay},
		{"on-no-timestamps", 1, false, dstA, allocator.FourTuple, time.Minute},
		{"loopback-only-remote", 2, true, dstA, allocator.FourTuple, time.Minute},
		{"loopback-only-loopback", 2, true, dstL, allocator.FourTuple, delay},
		{"loopback-only-mapped-loopback", 2, true, netip.MustParseAddrPort("[::ffff:127.0.0.2]:8080"), allocator.FourTuple, delay},
		{"exclusive-stack", 1, true, dstA, allocator.Exclusive, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stack(7000, 7000, time.Minute)
			st.TWReuse, st.Timestamps, st.Scope = tc.reuse, tc.timestamps, tc.scope
			script := []workload.Arrival{
				connectTo(0, tc.dst, 0, workload.ClientClose),
				connectTo(tc.want-1, tc.dst, 0, workload.ClientClose),
				connectTo(tc.want, tc.dst, workload.Forever, workload.ClientClose),
			}
			ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
			if !ok[0] || ok[1] || !ok[2] {
				t.Fatalf("outcomes %v, want ok, fail, ok", ok)
			}
			takeovers := int64(0)
			if tc.want == delay {
				takeovers = 1
			}
			if r.TWTakeovers != takeovers {
				t.Errorf("take-overs %d, want %d", r.TWTakeovers, takeovers)
			}
		})
	}
}

// TestTakeoverThenNewTimeWait checks that the timer of a TIME_WAIT that
// was taken over does not end the TIME_WAIT that the new connection leaves.
func TestTakeoverThenNewTimeWait(t *testing.T) {
	st := stack(7000, 7000, time.Minute)
	st.TWReuse = 1
	script := []workload.Arrival{
		connectTo(0, dstA, 0, workload.ClientClose),                  // TIME_WAIT 0..60s
		connectTo(2*time.Second, dstA, 0, workload.ClientClose),      // takes over; TIME_WAIT 2s..62s
		connectTo(2*time.Second+delayJust, dstA, 0, workload.RST),    // too soon: fails
		connectTo(time.Minute, dstA, 0, workload.RST),                // stale timer fires at 60s: must not free; but reusable since 3s
		connectTo(time.Minute+time.Second, dstA, 0, workload.RST),    // free (RST left nothing)
		connectTo(time.Minute+2*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+3*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+4*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+5*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+6*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+7*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+8*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+9*time.Second, dstA, 0, workload.RST),  // free
		connectTo(time.Minute+10*time.Second, dstA, 0, workload.RST), // free
	}
	ok, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	want := []bool{true, true, false, true, true, true, true, true, true, true, true, true, true, true}
	for i := range want {
		if ok[i] != want[i] {
			t.Fatalf("outcomes %v, want %v", ok, want)
		}
	}
	if r.TWTakeovers != 2 {
		t.Errorf("take-overs %d, want 2", r.TWTakeovers)
	}
}

const delayJust = 500 * time.Millisecond

// TestFourTupleSharingAndBind checks the sharing rules: in a 4-tuple stack
// one port serves two destinations; in an exclusive stack it does not;
// connect() skips a port a bind(0) socket holds; UDP has its own space.
func TestFourTupleSharingAndBind(t *testing.T) {
	bindAt := func(at time.Duration) workload.Arrival {
		a := connectTo(at, netip.AddrPort{}, workload.Forever, workload.ClientClose)
		a.Flow.Path = allocator.Bind
		return a
	}
	udpAt := func(at time.Duration) workload.Arrival {
		a := connectTo(at, dstA, workload.Forever, workload.ClientClose)
		a.Flow.Path = allocator.UDP
		return a
	}
	four := stack(7000, 7000, time.Minute)
	excl := four
	excl.Scope = allocator.Exclusive
	for _, tc := range []struct {
		name   string
		st     Stack
		script []workload.Arrival
		want   []bool
	}{
		{"4-tuple shares", four, []workload.Arrival{connectTo(0, dstA, workload.Forever, 0), connectTo(1, dstB, workload.Forever, 0), connectTo(2, dstA, workload.Forever, 0)}, []bool{true, true, false}},
		{"exclusive does not", excl, []workload.Arrival{connectTo(0, dstA, workload.Forever, 0), connectTo(1, dstB, workload.Forever, 0)}, []bool{true, false}},
		{"connect skips bound", four, []workload.Arrival{bindAt(0), connectTo(1, dstA, workload.Forever, 0)}, []bool{true, false}},
		{"bind skips connected", four, []workload.Arrival{connectTo(0, dstA, workload.Forever, 0), bindAt(1)}, []bool{true, false}},
		{"udp own space", four, []workload.Arrival{connectTo(0, dstA, workload.Forever, 0), udpAt(1), udpAt(2)}, []bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, _, _ := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: tc.st, Script: tc.script})
			for i := range tc.want {
				if ok[i] != tc.want[i] {
					t.Fatalf("outcomes %v, want %v", ok, tc.want)
				}
			}
		})
	}
}

// TestReserved checks that reserved ports are never handed out and cost a
// probe each.
func TestReserved(t *testing.T) {
	st := stack(7000, 7009, time.Minute)
	st.Range.Reserved = []allocator.Span{{Lo: 7000, Hi: 7003}, {Lo: 7008, Hi: 7008}}
	var script []workload.Arrival
	for i := range 6 {
		script = append(script, connectTo(time.Duration(i), dstA, workload.Forever, 0))
	}
	ok, ports, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: st, Script: script})
	want := []uint16{7004, 7005, 7006, 7007, 7009, 0}
	for i := range want {
		if ports[i] != want[i] || ok[i] != (want[i] != 0) {
			t.Fatalf("ports %v, want %v", ports, want)
		}
	}
	// sequential starts at 7000: 4 reserved + 1, then 1, 1, 1, 2 (7008
	// reserved), then 10 for the failure.
	if got := r.Probes.Sum(); got != 5+1+1+1+2+10 {
		t.Errorf("probes %d, want %d", got, 5+1+1+1+2+10)
	}
}

// TestSeveralSources checks that each source IP has its own ports.
func TestSeveralSources(t *testing.T) {
	var script []workload.Arrival
	for i := range 4 {
		a := connectTo(time.Duration(i), dstA, workload.Forever, 0)
		a.Flow.Src = netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i%2)})
		script = append(script, a)
	}
	ok, _, _ := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7000, time.Minute), Script: script})
	if want := []bool{true, true, false, false}; ok[0] != want[0] || ok[1] != want[1] || ok[2] || ok[3] {
		t.Fatalf("outcomes %v, want %v", ok, want)
	}
}

// constantScript returns attempts at rate per second to one destination,
// closed by the client at once, for d.
func constantScript(rate float64, d time.Duration, dst netip.AddrPort) []workload.Arrival {
	n := int(rate * d.Seconds())
	out := make([]workload.Arrival, n)
	for i := range out {
		out[i] = connectTo(time.Duration(float64(i)*1e9/rate), dst, 0, workload.ClientClose)
	}
	return out
}

// TestKnee is the analytic validation of DESIGN.md: one destination,
// client close, TIME_WAIT T, N ports, constant rate λ: no failure at all
// while λ < N/T; above it a failure fraction of 1 − N/(λT), within 1 %,
// counted after a warm-up of two TIME_WAITs (once every port has been
// through TIME_WAIT, each returns exactly T after its use and the next
// attempt takes it, so the fraction holds in every window of the steady
// state), over eight TIME_WAITs.
func TestKnee(t *testing.T) {
	const n, tw = 1000, 2 * time.Second // knee 500/s
	const warm, window = 2 * tw, 8 * tw
	for _, name := range []string{"linux", "sequential", "rfc6056-1", "rfc6056-3", "freebsd"} {
		for _, rate := range []float64{250, 490, 600, 1000, 2000} {
			t.Run(fmt.Sprintf("%s/%v", name, rate), func(t *testing.T) {
				t.Parallel()
				st := stack(20000, 20000+n-1, tw)
				if name == "linux" {
					st.TWReuse = 0
				}
				var attempts, failures, all int64
				cfg := Config{Allocator: mustSpec(name), Stack: st, Script: constantScript(rate, warm+window, dstA), Duration: warm + window}
				cfg.OnAttempt = func(a results.Attempt) error {
					if !a.OK {
						all++
					}
					if a.At >= warm {
						attempts++
						if !a.OK {
							failures++
						}
					}
					return nil
				}
				if _, err := Run(context.Background(), cfg); err != nil {
					t.Fatal(err)
				}
				knee := float64(n) / tw.Seconds()
				want := max(0, 1-knee/rate)
				got := float64(failures) / float64(attempts)
				if rate < knee && all != 0 {
					t.Errorf("%s at %v/s below the knee %v/s: %d failures", name, rate, knee, all)
				}
				if wantN := int64(rate * window.Seconds()); attempts != wantN {
					t.Fatalf("%d attempts counted, want %d", attempts, wantN)
				}
				// In the steady state each port serves exactly one
				// connection per TIME_WAIT: window/T connections per port,
				// give or take the one a port may carry across an edge of
				// the window.
				if succ, wantS := attempts-failures, int64(n*(window/tw)); rate > knee && (succ < wantS-1 || succ > wantS+1) {
					t.Errorf("%s at %v/s: %d successes after the warm-up, want %d ± 1", name, rate, succ, wantS)
				}
				if math.Abs(got-want) > 0.01 {
					t.Errorf("%s at %v/s: failure fraction %.4f after the warm-up, want %.4f ± 0.01", name, rate, got, want)
				}
				t.Logf("%s at %v/s: failure fraction %.5f, want %.5f", name, rate, got, want)
			})
		}
	}
}

// TestBirthdayRepeat checks rfc6056-2 (a fresh uniform pick per try)
// against the birthday bound: with ports released at once, the first
// repeated port comes after about sqrt(πN/2) allocations on average.
func TestBirthdayRepeat(t *testing.T) {
	const n = 28232
	const seeds = 400
	var script []workload.Arrival
	for i := range 2000 {
		script = append(script, connectTo(time.Duration(i)*time.Millisecond, dstA, 0, workload.RST))
	}
	// The run stops at the first repeat: later attempts cannot change it.
	errRepeat := errors.New("repeat")
	var sum float64
	for seed := range uint64(seeds) {
		seen := map[uint16]bool{}
		first := 0
		cfg := Config{Allocator: mustSpec("rfc6056-2"), AllocSeed: seed, Stack: stack(32768, 32768+n-1, time.Minute), Script: script}
		cfg.OnAttempt = func(a results.Attempt) error {
			if seen[a.Port] {
				first = len(seen) + 1
				return errRepeat
			}
			seen[a.Port] = true
			return nil
		}
		if _, err := Run(context.Background(), cfg); err != nil && !errors.Is(err, errRepeat) {
			t.Fatal(err)
		}
		if first == 0 {
			t.Fatalf("seed %d: no repeat in 2000 picks of %d ports", seed, n)
		}
		sum += float64(first)
	}
	mean := sum / seeds
	// E[first repeat] = sqrt(πN/2) + 2/3 ≈ 211.3; its standard deviation is
	// sqrt((4-π)N/2) ≈ 110, so the mean of 400 seeds has a standard error
	// of 5.5. Six standard errors either side cannot flake with fixed seeds
	// but catches a non-uniform picker.
	want := math.Sqrt(math.Pi*n/2) + 2.0/3
	if math.Abs(mean-want) > 6*5.5 {
		t.Fatalf("mean first repeat %.1f, want %.1f ± 33", mean, want)
	}
}

// TestFreeListReleaseAtClose checks the Releaser contract with HAProxy's
// port ring (fifo): a port returns to the ring when its socket closes,
// while TIME_WAIT still holds it, so a bind on it fails (one probe) and it
// goes back to the tail until TIME_WAIT ends.
func TestFreeListReleaseAtClose(t *testing.T) {
	var script []workload.Arrival
	for i := range 4 {
		script = append(script, connectTo(time.Duration(i)*time.Second, dstA, 0, workload.ClientClose))
	}
	script = append(script,
		connectTo(4*time.Second, dstA, workload.Forever, 0),  // all four in TIME_WAIT: 10 refused binds
		connectTo(10*time.Second, dstA, workload.Forever, 0), // 7000's TIME_WAIT ended at 10 s
	)
	st := stack(7000, 7003, 10*time.Second)
	st.Scope = allocator.Exclusive
	var probes []int
	cfg := Config{Allocator: mustSpec("fifo"), Stack: st, Script: script}
	ok, ports, _ := outcomes(t, cfg)
	cfg.OnAttempt = func(a results.Attempt) error { probes = append(probes, a.Probes); return nil }
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want := []uint16{7000, 7001, 7002, 7003, 0}
	for i, p := range want {
		if ports[i] != p {
			t.Fatalf("ports %v, want %v then a port at 10 s", ports, want)
		}
	}
	if ok[4] || probes[4] != 10 {
		t.Errorf("attempt at 4 s: ok %v after %d probes, want a failure after HAProxy's 10 binds", ok[4], probes[4])
	}
	// The ring now reads 7002, 7003, 7000, 7001 (ten refusals rotated it
	// two and a half times); 7002 and 7003 are still in TIME_WAIT at 10 s.
	if !ok[5] || ports[5] != 7000 || probes[5] != 3 {
		t.Errorf("attempt at 10 s: port %d ok %v after %d probes, want 7000 after 3", ports[5], ok[5], probes[5])
	}
}

// TestPrefill checks spatially random occupancy: the netfilter search of
// at most 248 probes fails about p^248 of the time (docs/figures.md#t5-nat-port-clash-resolution), and
// exactly the prefilled share of a small range is held.
func TestPrefill(t *testing.T) {
	var script []workload.Arrival
	for i := range 20 {
		script = append(script, connectTo(time.Duration(i), dstA, workload.Forever, 0))
	}
	_, _, r := outcomes(t, Config{Allocator: mustSpec("sequential"), Stack: stack(7000, 7099, time.Minute), Script: script, Prefill: 0.9})
	if r.Successes != 10 || r.Failures != 10 {
		t.Fatalf("prefill 0.9 of 100 ports: %d successes, %d failures; want 10 and 10", r.Successes, r.Failures)
	}
	// 99 % occupied: p^248 = 0.083. Attempts close at once (RST) so the
	// occupancy stays at the prefilled 99 %.
	script = script[:0]
	for i := range 20000 {
		a := connectTo(time.Duration(i)*time.Millisecond, dstA, 0, workload.RST)
		script = append(script, a)
	}
	st := stack(1024, 65535, time.Minute)
	_, _, r = outcomes(t, Config{Allocator: mustSpec("netfilter"), Params: map[string]string{"random": "true"}, Stack: st, Script: script, Prefill: 0.99})
	want := math.Pow(0.99, 248)
	sd := math.Sqrt(want * (1 - want) / float64(r.Attempts))
	if got := r.FailureFraction(); math.Abs(got-want) > 6*sd {
		t.Fatalf("netfilter at 99%% random occupancy: failure fraction %.4f, want %.4f ± %.4f", got, want, 6*sd)
	}
	if _, err := Run(context.Background(), Config{Allocator: mustSpec("linux"), Stack: st, Script: script, Prefill: 1}); err == nil {
		t.Error("prefill 1 accepted")
	}
}
