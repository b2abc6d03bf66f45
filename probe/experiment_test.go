package probe

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestStandardExperimentsValid(t *testing.T) {
	names, ports := map[string]bool{}, map[uint16]string{}
	for _, e := range Experiments() {
		if err := e.Validate(); err != nil {
			t.Errorf("%v", err)
		}
		if names[e.Name] {
			t.Errorf("experiment %s appears twice", e.Name)
		}
		names[e.Name] = true
		if e.Doc == "" || len(e.Checks) == 0 {
			t.Errorf("experiment %s: no doc or no checks", e.Name)
		}
		// Distinct destination ports keep concurrent experiments out of
		// each other's table_perturb cells.
		if e.Dest.Port != 0 {
			if other, ok := ports[e.Dest.Port]; ok {
				t.Errorf("experiments %s and %s share destination port %d", other, e.Name, e.Dest.Port)
			}
			ports[e.Dest.Port] = e.Name
		}
	}
	// The list: one and several destinations, client and server
	// close, exhaustion kept open and in TIME_WAIT under tcp_tw_reuse 0, 1,
	// 2, bind(0) and UDP parity and spread, reserved ports.
	for _, n := range []string{"connect-exhaust", "connect-exhaust-interleaved", "connect-diffs-client", "connect-diffs-server",
		"connect-diffs-interleaved", "connect-first-ports", "tw-reuse-0", "tw-reuse-1", "tw-reuse-2", "bind-spread",
		"udp-spread", "connect-reserved", "bind-reserved", "udp-reserved"} {
		if !names[n] {
			t.Errorf("no experiment %s", n)
		}
	}
}

// TestStandardExperimentsBounded checks that every loop of the standard
// set is bounded: attempts, sockets kept open and time spent waiting.
func TestStandardExperimentsBounded(t *testing.T) {
	total := 0
	for _, e := range Experiments() {
		var wait time.Duration
		for _, s := range e.Steps {
			total += s.Count
			wait += time.Duration(s.Wait)
		}
		if wait > 2*time.Second {
			t.Errorf("experiment %s waits %v", e.Name, wait)
		}
	}
	if total > 20000 {
		t.Errorf("the standard set makes up to %d attempts; keep it small", total)
	}
}

func TestDestAt(t *testing.T) {
	d := Dest{Addr: netip.MustParseAddr("127.1.0.254"), Count: 3, Port: 80}
	want := []string{"127.1.0.254:80", "127.1.0.255:80", "127.1.1.0:80"}
	for i, w := range want {
		if got := d.At(i).String(); got != w {
			t.Errorf("At(%d) = %s, want %s", i, got, w)
		}
	}
}

func TestExperimentValidateErrors(t *testing.T) {
	base := func() Experiment {
		e := Experiments()[0] // connect-exhaust
		e.Steps = append([]Step(nil), e.Steps...)
		return e
	}
	tests := []struct {
		name string
		edit func(e *Experiment)
		want string
	}{
		{"no name", func(e *Experiment) { e.Name = "" }, "empty name"},
		{"bad range", func(e *Experiment) { e.Sysctls.PortRange = "40199-40000" }, "inverted"},
		{"bad reserved", func(e *Experiment) { e.Sysctls.Reserved = "x" }, "ip_local_reserved_ports"},
		{"tw_reuse 3", func(e *Experiment) { e.Sysctls.TWReuse = 3 }, "tcp_tw_reuse 3"},
		{"no steps", func(e *Experiment) { e.Steps = nil }, "no steps"},
		{"bad op", func(e *Experiment) { e.Steps[0].Op = "listen" }, `op "listen"`},
		{"count 0", func(e *Experiment) { e.Steps[0].Count = 0 }, "count 0"},
		{"count too big", func(e *Experiment) { e.Steps[0].Count = maxStepCount + 1 }, "expected 1..5000"},
		{"long wait", func(e *Experiment) { e.Steps = append(e.Steps, Step{Op: OpWait, Wait: Duration(time.Minute)}) }, "wait 1m0s"},
		{"only waits", func(e *Experiment) { e.Steps = []Step{{Op: OpWait, Wait: Duration(time.Second)}} }, "no step makes attempts"},
		{"mixed paths", func(e *Experiment) { e.Steps = append(e.Steps, Step{Op: OpBind, Count: 1, Hold: Keep}) }, "mix"},
		{"udp with client close", func(e *Experiment) { e.Steps[0].Op = OpUDPConnect; e.Steps[0].Hold = ClientClose }, "is for TCP connect"},
		{"connect with close", func(e *Experiment) { e.Steps[0].Hold = CloseNow }, "hold close"},
		{"bad hold", func(e *Experiment) { e.Steps[0].Hold = "later" }, `hold "later"`},
		{"too many kept", func(e *Experiment) { e.Steps[0].Count = maxKeptOpen + 1 }, "sockets open"},
		{"port in range", func(e *Experiment) { e.Dest.Port = 40100 }, "lies in the ephemeral range"},
		{"no dest", func(e *Experiment) { e.Dest = Dest{} }, "expected IPv4 addresses"},
		{"crosses 127/8", func(e *Experiment) { e.Dest.Addr = netip.MustParseAddr("127.255.255.255"); e.Dest.Count = 2 }, "crosses"},
		{"outside 127/8, many", func(e *Experiment) { e.Dest.Addr = netip.MustParseAddr("192.0.2.1"); e.Dest.Count = 2 }, "added to lo"},
		{"outside 127/8, other source", func(e *Experiment) { e.Dest.Addr = netip.MustParseAddr("192.0.2.1") }, "its own source"},
		{"check on a wait", func(e *Experiment) {
			e.Steps = append(e.Steps, Step{Op: OpWait, Wait: Duration(time.Second)})
			e.Checks = []Check{{Kind: CheckExhaust, Steps: []int{1}}}
		}, "not a step with attempts"},
		{"bad kind", func(e *Experiment) { e.Checks = []Check{{Kind: "mean"}} }, `kind "mean"`},
		{"spread without bins", func(e *Experiment) { e.Checks = []Check{{Kind: CheckSpread}} }, "bins 0"},
	}
	for _, tc := range tests {
		e := base()
		tc.edit(&e)
		err := e.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if err := base().Validate(); err != nil {
		t.Errorf("unedited: %v", err)
	}
}
