package probe

import (
	"bytes"
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// recorded is a probe of a real kernel (Linux 6.18.44, x86_64), made with
// `portsim probe -o`.
const recorded = "testdata/linux-6.18-x86_64.json"

func readRecorded(t *testing.T) *Observations {
	t.Helper()
	obs, err := ReadObservationsFile(recorded)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func linuxModels() Models { return LinuxModels(Model{Name: "linux"}) }

func compare(t *testing.T, obs *Observations, m Models, seed uint64) *Report {
	t.Helper()
	rep, err := Compare(context.Background(), obs, CompareOptions{Models: m, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func table(rep *Report) string {
	var b bytes.Buffer
	rep.WriteTable(&b)
	return b.String()
}

// TestRecordedKernelFacts reads the kernel's side of the recorded probe
// alone: the facts of docs/allocators.md#properties-the-tests-check that the checks rest on.
func TestRecordedKernelFacts(t *testing.T) {
	obs := readRecorded(t)
	if obs.Kernel.Sysname != "Linux" || !strings.HasPrefix(obs.Kernel.Release, "6.18.") {
		t.Errorf("kernel %+v", obs.Kernel)
	}
	for name, want := range map[string]string{
		"net.ipv4.ip_local_port_range": "32768 60999", // default since 4.2 (docs/allocators.md#linux)
		"net.ipv4.tcp_tw_reuse":        "2",
		"net.ipv4.tcp_tw_reuse_delay":  "1000", // 6.14+
		"net.ipv4.tcp_timestamps":      "1",
	} {
		if got := obs.Defaults[name]; got != want {
			t.Errorf("default %s = %q, want %q", name, got, want)
		}
	}
	tests := []struct {
		experiment string
		kind       CheckKind
		want       string
	}{
		// Item 1: connect() takes lo's parity first, bind(0) the other.
		{"connect-exhaust", CheckExhaust, "200"},
		{"connect-exhaust", CheckParityRuns, "even×100 odd×100"},
		{"connect-exhaust-odd-lo", CheckParityRuns, "odd×100 even×100"},
		{"bind-exhaust", CheckParityRuns, "odd×100 even×100"},
		{"bind-spread", CheckParityRuns, "odd×1000"},
		{"connect-first-ports", CheckParityRuns, "even×1000"},
		// Item 5: destinations share ports (4-tuple).
		{"connect-exhaust-interleaved", CheckExhaust, "200,200,200"},
		// Reserved ports are skipped by every automatic choice.
		{"connect-reserved", CheckExhaust, "179"},
		{"connect-reserved", CheckReserved, "0"},
		{"bind-reserved", CheckReserved, "0"},
		{"udp-reserved", CheckExhaust, "179"},
		// Item 6: TIME_WAIT take-over needs tcp_tw_reuse (2: loopback
		// only), timestamps, and tcp_tw_reuse_delay.
		{"tw-reuse-0", CheckExhaust, "200 / 0 / 0"},
		{"tw-reuse-1", CheckExhaust, "200 / 0 / 200"},
		{"tw-reuse-2", CheckExhaust, "200 / 0 / 200"},
		{"tw-reuse-1-no-timestamps", CheckExhaust, "200 / 0 / 0"},
		{"tw-reuse-2-not-loopback", CheckExhaust, "200 / 0 / 0"},
		// Item 7: the errnos.
		{"connect-exhaust", CheckErrno, "EADDRNOTAVAIL"},
		{"bind-exhaust", CheckErrno, "EADDRINUSE"},
		{"udp-exhaust", CheckErrno, "EAGAIN / EADDRINUSE"},
	}
	for _, tc := range tests {
		ob, ok := obs.Lookup(tc.experiment)
		if !ok {
			t.Fatalf("no experiment %s", tc.experiment)
		}
		if got := exactValue(ob.Experiment, Check{Kind: tc.kind}, ob.Attempts); got != tc.want {
			t.Errorf("%s %s: kernel %q, want %q", tc.experiment, tc.kind, got, tc.want)
		}
	}
	// Item 2: to one destination, successive ports differ by 2..16,
	// each about 1/8 of the time.
	for _, name := range []string{"connect-diffs-client", "connect-diffs-server", "connect-diffs-interleaved"} {
		ob, _ := obs.Lookup(name)
		h := histogram(ob.Experiment, Check{Kind: CheckDiffs}, ob.Attempts)
		total := 0
		for d, n := range h {
			total += n
			even := d+1 >= 2 && d+1 <= 16 && (d+1)%2 == 0
			if !even && n > 2 { // a 10 s shuffle bucket may end during the run
				t.Errorf("%s: %d differences of %d", name, n, d+1)
			}
			if even && (n < 150 || n > 350) {
				t.Errorf("%s: %d differences of %d of about 2000, want about 250", name, n, d+1)
			}
		}
		if total < 1990 {
			t.Errorf("%s: %d differences", name, total)
		}
	}
}

func TestRecordedLinuxPasses(t *testing.T) {
	t.Parallel()
	obs := readRecorded(t)
	for _, seed := range []uint64{1, 2} {
		rep := compare(t, obs, linuxModels(), seed)
		if !rep.Pass() || rep.Err() != nil {
			t.Errorf("seed %d: the Linux models fail:\n%s", seed, table(rep))
		}
		if len(rep.Results) < 30 {
			t.Errorf("only %d checks", len(rep.Results))
		}
		if out := table(rep); !strings.Contains(out, "PASS: all") || !strings.Contains(out, "6.18.44") {
			t.Errorf("table:\n%s", out)
		}
	}
}

// TestRecordedWrongModelsFail checks that wrong models fail, on the
// checks that should catch them.
func TestRecordedWrongModelsFail(t *testing.T) {
	t.Parallel()
	obs := readRecorded(t)
	type ref struct {
		experiment string
		kind       CheckKind
	}
	tests := []struct {
		name   string
		models Models
		fail   []ref
		pass   []ref
	}{
		{
			name:   "sequential (a global counter, exclusive ports)",
			models: LinuxModels(Model{Name: "sequential"}),
			fail: []ref{{"connect-exhaust", CheckParityRuns}, {"connect-exhaust-interleaved", CheckExhaust},
				{"connect-diffs-client", CheckDiffs}, {"connect-first-ports", CheckSpread}, {"tw-reuse-1", CheckExhaust}},
			pass: []ref{{"connect-exhaust", CheckExhaust}, {"tw-reuse-0", CheckExhaust}, {"bind-exhaust", CheckParityRuns}},
		},
		{
			name:   "linux without the parity rule (per_socket_range)",
			models: LinuxModels(Model{Name: "linux", Params: map[string]string{"per_socket_range": "true"}}),
			fail:   []ref{{"connect-exhaust", CheckParityRuns}, {"connect-diffs-client", CheckDiffs}, {"connect-first-ports", CheckParityRuns}},
			pass:   []ref{{"connect-exhaust", CheckExhaust}, {"connect-exhaust-interleaved", CheckExhaust}},
		},
		{
			name:   "linux-5.12 (differences of 2, now and then 4)",
			models: LinuxModels(Model{Name: "linux-5.12"}),
			fail:   []ref{{"connect-diffs-client", CheckDiffs}, {"connect-diffs-server", CheckDiffs}, {"connect-diffs-interleaved", CheckDiffs}},
			pass:   []ref{{"connect-exhaust", CheckParityRuns}, {"connect-first-ports", CheckSpread}, {"tw-reuse-2", CheckExhaust}},
		},
		{
			name:   "linux-4.6 (one global hint)",
			models: LinuxModels(Model{Name: "linux-4.6"}),
			fail:   []ref{{"connect-diffs-interleaved", CheckDiffs}},
		},
		{
			name:   "connect()'s algorithm for bind(0)",
			models: Models{Connect: Model{Name: "linux"}, Bind: Model{Name: "linux"}, UDP: Model{Name: "linux-udp"}},
			fail:   []ref{{"bind-exhaust", CheckParityRuns}, {"bind-spread", CheckParityRuns}},
		},
		{
			name:   "bind(0)'s algorithm for UDP",
			models: Models{Connect: Model{Name: "linux"}, Bind: Model{Name: "linux-bind"}, UDP: Model{Name: "linux-bind"}},
			fail:   []ref{{"udp-spread", CheckParity}},
		},
	}
	for _, tc := range tests {
		rep := compare(t, obs, tc.models, 1)
		if rep.Pass() || rep.Err() == nil || !strings.Contains(table(rep), "FAIL: ") {
			t.Errorf("%s: passes", tc.name)
		}
		verdict := map[ref]bool{}
		for _, r := range rep.Results {
			verdict[ref{r.Experiment, r.Kind}] = r.Pass
		}
		for _, f := range tc.fail {
			if pass, ok := verdict[f]; !ok || pass {
				t.Errorf("%s: %s %s should fail (found %v, pass %v)", tc.name, f.experiment, f.kind, ok, pass)
			}
		}
		for _, p := range tc.pass {
			if pass, ok := verdict[p]; !ok || !pass {
				t.Errorf("%s: %s %s should pass (found %v, pass %v)", tc.name, p.experiment, p.kind, ok, pass)
			}
		}
	}
}

func TestCompareDeterministic(t *testing.T) {
	t.Parallel()
	obs := readRecorded(t)
	a, b := compare(t, obs, linuxModels(), 7), compare(t, obs, linuxModels(), 7)
	if !reflect.DeepEqual(a, b) {
		t.Error("two comparisons with one seed differ")
	}
}

func TestCompareErrors(t *testing.T) {
	obs := tinyObservations()
	_, err := Compare(context.Background(), obs, CompareOptions{Models: LinuxModels(Model{Name: "linx"})})
	if err == nil || !strings.Contains(err.Error(), `did you mean "linux"`) {
		t.Errorf("unknown allocator: %v", err)
	}
	_, err = Compare(context.Background(), obs, CompareOptions{Models: LinuxModels(Model{Name: "linux", Params: map[string]string{"table": "3"}})})
	if err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("bad param: %v", err)
	}
	obs.Format = 0
	obs.Experiments = nil
	if _, err := Compare(context.Background(), obs, CompareOptions{Models: linuxModels()}); err == nil {
		t.Error("empty observations compared")
	}
}

// TestTinyByHand: 4 ports, 5 connects kept open, 1 failure; the Linux
// model takes the 2 even ports, then the 2 odd ones.
func TestTinyByHand(t *testing.T) {
	obs := tinyObservations()
	ob := &obs.Experiments[0]
	got, err := Simulate(context.Background(), ob, Model{Name: "linux"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	e := ob.Experiment
	if v := exactValue(e, Check{Kind: CheckExhaust}, got); v != "4" {
		t.Errorf("successes %q, want 4", v)
	}
	if v := exactValue(e, Check{Kind: CheckParityRuns}, got); v != "even×2 odd×2" {
		t.Errorf("parity %q, want even×2 odd×2", v)
	}
	if got[4].OK() || got[4].Errno != EADDRNOTAVAIL || got[4].At != ob.Attempts[4].At {
		t.Errorf("last attempt %+v, want EADDRNOTAVAIL at the kernel's time", got[4])
	}
	rep := compare(t, obs, linuxModels(), 1)
	out := table(rep)
	want := "tiny linux successes before the first failure 4 4 exact PASS"
	found := false
	for _, line := range strings.Split(out, "\n") {
		found = found || strings.Join(strings.Fields(line), " ") == want
	}
	if !rep.Pass() || !found || !strings.Contains(out, "PASS: all 3 checks pass") {
		t.Errorf("table:\n%s\nwant a row %q", out, want)
	}
}

func TestScript(t *testing.T) {
	obs := tinyObservations()
	ob := &obs.Experiments[0]
	ob.Experiment.Steps[0].Hold = ClientClose
	for i := range ob.Attempts {
		ob.Attempts[i].Hold = 5 * time.Microsecond
	}
	ob.Attempts[4].Hold = -1
	s := Script(ob)
	if len(s) != 5 {
		t.Fatalf("%d arrivals", len(s))
	}
	lo := netip.MustParseAddr("127.0.0.1")
	want := workload.Arrival{At: 20 * time.Microsecond, Hold: 5 * time.Microsecond, Close: workload.ClientClose, Client: -1,
		Flow: allocator.Flow{Path: allocator.Connect, Src: lo, Dst: netip.AddrPortFrom(lo, 5001)}}
	if s[1] != want {
		t.Errorf("arrival 1 = %+v, want %+v", s[1], want)
	}
	if s[4].Hold != 0 {
		t.Errorf("a failed attempt is held %v, want 0", s[4].Hold)
	}
	ob.Experiment.Steps[0].Hold = Keep
	if h := Script(ob)[0].Hold; h != workload.Forever {
		t.Errorf("kept open: hold %v, want Forever", h)
	}
}

// timeWaitObservations is a hand-made TIME_WAIT probe of a 2-port range:
// both ports go into TIME_WAIT, one attempt follows 5 ms later and three
// more after a wait of 1.5 s. The kernel's outcomes are left
// out: the test looks at the model's.
func timeWaitObservations(reuse int, ts bool, delay string) *Observation {
	lo := netip.MustParseAddr("127.0.0.1")
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return &Observation{
		Experiment: Experiment{
			Name:    "tw",
			Sysctls: Sysctls{PortRange: "40000-40001", TWReuse: reuse, Timestamps: ts},
			Dest:    Dest{Addr: lo, Count: 1, Port: 5001, Src: lo},
			Steps: []Step{
				{Op: OpConnect, Count: 2, UntilFail: true, Hold: ClientClose},
				{Op: OpConnect, Count: 1, UntilFail: true, Hold: ClientClose},
				{Op: OpWait, Wait: Duration(1500 * time.Millisecond)},
				{Op: OpConnect, Count: 3, UntilFail: true, Hold: ClientClose},
			},
			Checks: []Check{{Kind: CheckExhaust, Steps: []int{0, 1, 3}}},
		},
		Sysctls: map[string]string{"net.ipv4.tcp_tw_reuse_delay": delay},
		Attempts: []Attempt{
			{Step: 0, At: ms(0), Port: 40000, Hold: ms(0.1)},
			{Step: 0, At: ms(0.2), Port: 40001, Hold: ms(0.1)},
			{Step: 1, At: ms(5), Errno: EADDRNOTAVAIL, Hold: -1},
			{Step: 3, At: ms(1600), Port: 40000, Hold: ms(0.1)},
			{Step: 3, At: ms(1600.2), Port: 40001, Hold: ms(0.1)},
			{Step: 3, At: ms(1600.4), Errno: EADDRNOTAVAIL, Hold: -1},
		},
	}
}

// TestTimeWaitByHand checks that the model sees the kernel's
// tcp_tw_reuse, timestamps and tcp_tw_reuse_delay (docs/allocators.md#properties-the-tests-check
// item 6).
func TestTimeWaitByHand(t *testing.T) {
	tests := []struct {
		name   string
		reuse  int
		ts     bool
		delay  string
		expect string
	}{
		{"tw_reuse 1", 1, true, "1000", "2+ / 0 / 2"},
		{"tw_reuse 2 on loopback", 2, true, "1000", "2+ / 0 / 2"},
		{"tw_reuse 0", 0, true, "1000", "2+ / 0 / 0"},
		{"no timestamps", 1, false, "1000", "2+ / 0 / 0"},
		{"delay 2 s", 1, true, "2000", "2+ / 0 / 0"},
		{"delay 1 ms", 1, true, "1", "2+ / 1+ / 2"},
		{"no tcp_tw_reuse_delay: 1 s", 1, true, "absent", "2+ / 0 / 2"},
	}
	for _, tc := range tests {
		ob := timeWaitObservations(tc.reuse, tc.ts, tc.delay)
		if err := (&Observations{Format: FormatVersion, Experiments: []Observation{*ob}}).Validate(); err != nil {
			t.Fatal(err)
		}
		got, err := Simulate(context.Background(), ob, Model{Name: "linux"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if v := exactValue(ob.Experiment, ob.Experiment.Checks[0], got); v != tc.expect {
			t.Errorf("%s: %q, want %q", tc.name, v, tc.expect)
		}
	}
}
