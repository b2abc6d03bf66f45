package probe

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// Op is the socket operation a step performs.
type Op string

const (
	// OpConnect is TCP connect() from an unbound socket to the next
	// destination (__inet_hash_connect). It fails with EADDRNOTAVAIL.
	OpConnect Op = "connect"
	// OpBind is TCP bind() to 0.0.0.0 port 0 (inet_csk_find_open_port).
	// It fails with EADDRINUSE.
	OpBind Op = "bind"
	// OpUDPConnect is UDP connect() from an unbound socket, which
	// autobinds (udp_lib_get_port). It fails with EAGAIN.
	OpUDPConnect Op = "udp-connect"
	// OpUDPBind is UDP bind() to 0.0.0.0 port 0. It fails with EADDRINUSE.
	OpUDPBind Op = "udp-bind"
	// OpWait sleeps for the step's Wait.
	OpWait Op = "wait"
)

// Path returns the simulator's path for the operation.
func (o Op) Path() allocator.Path {
	switch o {
	case OpBind:
		return allocator.Bind
	case OpUDPConnect, OpUDPBind:
		return allocator.UDP
	}
	return allocator.Connect
}

// Errno returns the errno with which the operation reports that no port
// is left (docs/allocators.md#properties-the-tests-check item 7).
func (o Op) Errno() Errno {
	switch o {
	case OpConnect:
		return EADDRNOTAVAIL
	case OpUDPConnect:
		return EAGAIN
	}
	return EADDRINUSE
}

// usesDest reports whether the operation has a destination.
func (o Op) usesDest() bool { return o == OpConnect || o == OpUDPConnect }

// Errno is a Linux errno number as the probe records it; 0 is success.
type Errno int

// The errnos that mean "no port left", with the numbers of the generic
// Linux ABI (x86, arm, riscv); the probe records these numbers whatever
// the architecture's own.
const (
	EAGAIN        Errno = 11
	EADDRINUSE    Errno = 98
	EADDRNOTAVAIL Errno = 99
)

// String returns the errno's name, or "errno N".
func (e Errno) String() string {
	switch e {
	case 0:
		return "ok"
	case EAGAIN:
		return "EAGAIN"
	case EADDRINUSE:
		return "EADDRINUSE"
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	}
	return fmt.Sprintf("errno %d", int(e))
}

// Hold says what happens to a socket once it has its port.
type Hold string

const (
	// Keep keeps the socket (and, for TCP connect, the accepted one)
	// open until the experiment ends.
	Keep Hold = "keep"
	// ClientClose closes the connecting socket first, then the accepted
	// one once it has read the FIN: the client holds TIME_WAIT.
	ClientClose Hold = "client"
	// ServerClose closes the accepted socket first, then the client once
	// it has read the FIN: the client's port is free at once.
	ServerClose Hold = "server"
	// Reset closes the connecting socket with SO_LINGER 0 (a reset): no
	// TIME_WAIT.
	Reset Hold = "rst"
	// CloseNow closes a bound or UDP socket at once.
	CloseNow Hold = "close"
)

// close returns the simulator's close for the hold.
func (h Hold) close() workload.Close {
	switch h {
	case ClientClose:
		return workload.ClientClose
	case ServerClose:
		return workload.ServerClose
	}
	return workload.RST
}

// Duration is a time.Duration written as text ("1.5s") in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: expected a Go duration such as 1.5s", b)
	}
	*d = Duration(v)
	return nil
}

// Step is one phase of an experiment.
type Step struct {
	// Op is the socket operation.
	Op Op `json:"op"`
	// Count is the number of attempts, or with UntilFail the most.
	Count int `json:"count,omitempty"`
	// UntilFail stops each destination at its first failure; the step
	// ends when every destination has failed or Count attempts were made.
	UntilFail bool `json:"until_fail,omitempty"`
	// Hold is what happens to each socket that got a port.
	Hold Hold `json:"hold,omitempty"`
	// Wait is how long an OpWait step sleeps.
	Wait Duration `json:"wait,omitempty"`
}

// Sysctls are the per-namespace settings an experiment writes under
// /proc/sys/net/ipv4.
type Sysctls struct {
	// PortRange is ip_local_port_range as "LO-HI".
	PortRange string `json:"ip_local_port_range"`
	// Reserved is ip_local_reserved_ports ("" for none).
	Reserved string `json:"ip_local_reserved_ports,omitempty"`
	// TWReuse is tcp_tw_reuse: 0, 1 or 2 (loopback only).
	TWReuse int `json:"tcp_tw_reuse"`
	// Timestamps is tcp_timestamps (written as 1 or 0).
	Timestamps bool `json:"tcp_timestamps"`
}

// Range returns the port range with its reserved ports.
func (s Sysctls) Range() (allocator.Range, error) {
	r, err := allocator.ParseRange(s.PortRange)
	if err != nil {
		return r, fmt.Errorf("ip_local_port_range: %w", err)
	}
	if r.Reserved, err = allocator.ParseSpans(s.Reserved); err != nil {
		return r, fmt.Errorf("ip_local_reserved_ports: %w", err)
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}

// Dest is the destinations of an experiment's connect steps: Count IPv4
// addresses from Addr upwards, all on Port, where a listener waits. A
// destination outside 127.0.0.0/8 is added to lo in the namespace (Count
// must then be 1).
type Dest struct {
	// Addr is the first destination address.
	Addr netip.Addr `json:"addr"`
	// Count is the number of destination addresses.
	Count int `json:"count"`
	// Port is the destination port (the listener's).
	Port uint16 `json:"port"`
	// Src is the source address the kernel picks for them; the probe
	// checks it.
	Src netip.Addr `json:"src"`
}

// At returns destination i.
func (d Dest) At(i int) netip.AddrPort {
	a := d.Addr.As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+uint32(i))
	return netip.AddrPortFrom(netip.AddrFrom4(a), d.Port)
}

// CheckKind names the statistic a check compares.
type CheckKind string

const (
	// CheckExhaust compares, for each of the check's steps and each
	// destination, the successes before the first failure (exact).
	CheckExhaust CheckKind = "exhaust"
	// CheckErrno compares the errno of the first failure of each step
	// (exact).
	CheckErrno CheckKind = "errno"
	// CheckParityRuns compares the order in which the parities of the
	// ports come, as runs such as "even×100 odd×100" (exact).
	CheckParityRuns CheckKind = "parity-runs"
	// CheckReserved compares how many ports handed out are reserved
	// (exact).
	CheckReserved CheckKind = "reserved"
	// CheckDiffs compares the histogram of successive differences
	// between the ports of one destination, modulo the range size, in the
	// bins 1..16 and "other" (chi-square).
	CheckDiffs CheckKind = "diffs"
	// CheckSpread compares the histogram of ports over Bins equal parts
	// of the range (chi-square).
	CheckSpread CheckKind = "spread"
	// CheckParity compares the counts of even and odd ports
	// (chi-square).
	CheckParity CheckKind = "parity"
)

// Check is one comparison of an experiment's outcome.
type Check struct {
	// Kind is the statistic.
	Kind CheckKind `json:"kind"`
	// Steps are the indices of the steps whose attempts it looks at; none
	// means every step.
	Steps []int `json:"steps,omitempty"`
	// Bins is the number of bins of a CheckSpread.
	Bins int `json:"bins,omitempty"`
}

// Experiment is one bounded measurement in a fresh network namespace.
type Experiment struct {
	// Name identifies the experiment.
	Name string `json:"name"`
	// Doc says what the experiment shows.
	Doc string `json:"doc"`
	// Sysctls are the settings written before the steps.
	Sysctls Sysctls `json:"sysctls"`
	// Dest is where connect steps go.
	Dest Dest `json:"dest,omitzero"`
	// Steps run in order.
	Steps []Step `json:"steps"`
	// Checks compare the outcome with a model.
	Checks []Check `json:"checks"`
}

// Limits of one experiment, so that every loop is bounded.
const (
	maxStepCount  = 5000
	maxDests      = 5000
	maxWait       = 5 * time.Second
	maxKeptOpen   = 2000 // sockets kept open at once (twice as many fds for TCP connect)
	maxSpreadBins = 1000
)

// Validate checks the experiment, naming the bad field.
func (e Experiment) Validate() error {
	if e.Name == "" {
		return fmt.Errorf("experiment: empty name")
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("experiment %s: %s", e.Name, fmt.Sprintf(format, args...))
	}
	if _, err := e.Sysctls.Range(); err != nil {
		return bad("%v", err)
	}
	if e.Sysctls.TWReuse < 0 || e.Sysctls.TWReuse > 2 {
		return bad("tcp_tw_reuse %d: expected 0, 1 or 2", e.Sysctls.TWReuse)
	}
	if len(e.Steps) == 0 {
		return bad("no steps")
	}
	kept, dests, paths := 0, false, map[allocator.Path]bool{}
	for i, s := range e.Steps {
		switch s.Op {
		case OpWait:
			if s.Wait <= 0 || time.Duration(s.Wait) > maxWait {
				return bad("step %d: wait %v: expected 0 < wait <= %v", i, time.Duration(s.Wait), maxWait)
			}
			continue
		case OpConnect, OpBind, OpUDPConnect, OpUDPBind:
		default:
			return bad("step %d: op %q: expected connect, bind, udp-connect, udp-bind or wait", i, s.Op)
		}
		if s.Count < 1 || s.Count > maxStepCount {
			return bad("step %d: count %d: expected 1..%d", i, s.Count, maxStepCount)
		}
		switch s.Hold {
		case Keep:
			kept += s.Count
		case ClientClose, ServerClose, Reset:
			if s.Op != OpConnect {
				return bad("step %d: hold %q is for TCP connect; use keep or close", i, s.Hold)
			}
		case CloseNow:
			if s.Op == OpConnect {
				return bad("step %d: hold close: a TCP connection closes as client, server or rst", i)
			}
		default:
			return bad("step %d: hold %q: expected keep, client, server, rst or close", i, s.Hold)
		}
		dests = dests || s.Op.usesDest()
		paths[s.Op.Path()] = true
	}
	if len(paths) > 1 {
		return bad("steps mix connect, bind and udp operations; the simulator runs one allocator per experiment")
	}
	if len(paths) == 0 {
		return bad("no step makes attempts")
	}
	if kept > maxKeptOpen {
		return bad("keeps up to %d sockets open; at most %d", kept, maxKeptOpen)
	}
	if dests {
		d := e.Dest
		if !d.Addr.Is4() || !d.Src.Is4() || d.Port == 0 || d.Count < 1 || d.Count > maxDests {
			return bad("dest %v count %d port %d src %v: expected IPv4 addresses, a port and 1..%d destinations", d.Addr, d.Count, d.Port, d.Src, maxDests)
		}
		last := d.At(d.Count - 1).Addr()
		if d.Addr.IsLoopback() != last.IsLoopback() {
			return bad("dest: %v..%v crosses the edge of 127.0.0.0/8", d.Addr, last)
		}
		if !d.Addr.IsLoopback() && (d.Count != 1 || d.Src != d.Addr || !d.Addr.IsGlobalUnicast()) {
			return bad("dest %v: an address outside 127.0.0.0/8 is added to lo: it must be one unicast address, and its own source", d.Addr)
		}
		r, _ := e.Sysctls.Range()
		if r.Contains(d.Port) {
			return bad("dest port %d lies in the ephemeral range %v", d.Port, e.Sysctls.PortRange)
		}
	}
	for i, c := range e.Checks {
		for _, s := range c.Steps {
			if s < 0 || s >= len(e.Steps) || e.Steps[s].Op == OpWait {
				return bad("check %d (%s): step %d is not a step with attempts", i, c.Kind, s)
			}
		}
		switch c.Kind {
		case CheckExhaust, CheckErrno, CheckParityRuns, CheckReserved, CheckDiffs, CheckParity:
		case CheckSpread:
			if c.Bins < 2 || c.Bins > maxSpreadBins {
				return bad("check %d (spread): bins %d: expected 2..%d", i, c.Bins, maxSpreadBins)
			}
		default:
			return bad("check %d: kind %q: expected exhaust, errno, parity-runs, reserved, diffs, spread or parity", i, c.Kind)
		}
	}
	return nil
}

// Experiments returns the standard experiments. Each uses its own
// destination port, so that they may run at the same time without
// sharing a table_perturb cell (the cell is keyed by source address,
// destination address and port, and is global to the kernel).
func Experiments() []Experiment {
	const (
		small    = "40000-40199"
		reserved = "40000-40009,40101,40150-40159" // 21 ports, 10 of them even
		full     = "32768-60999"
	)
	lo := netip.MustParseAddr("127.0.0.1")
	dest := func(port uint16, n int) Dest { return Dest{Addr: lo, Count: n, Port: port, Src: lo} }
	fill := func(op Op, hold Hold) Step { return Step{Op: op, Count: 250, UntilFail: true, Hold: hold} }
	exact := func(kinds ...CheckKind) []Check {
		var cs []Check
		for _, k := range kinds {
			cs = append(cs, Check{Kind: k})
		}
		return cs
	}
	twSteps := []Step{
		fill(OpConnect, ClientClose),
		{Op: OpConnect, Count: 1, UntilFail: true, Hold: ClientClose},
		{Op: OpWait, Wait: Duration(1500 * time.Millisecond)},
		fill(OpConnect, ClientClose),
	}
	tw := func(name, doc string, reuse int, ts bool, d Dest) Experiment {
		return Experiment{
			Name: name, Doc: doc,
			Sysctls: Sysctls{PortRange: small, TWReuse: reuse, Timestamps: ts},
			Dest:    d, Steps: twSteps,
			Checks: []Check{{Kind: CheckExhaust, Steps: []int{0, 1, 3}}},
		}
	}
	return []Experiment{
		{
			Name:    "connect-exhaust",
			Doc:     "connections to one destination kept open in a 200-port range: every port, the even ones (lo's parity) first, then EADDRNOTAVAIL",
			Sysctls: Sysctls{PortRange: small, TWReuse: 2, Timestamps: true},
			Dest:    dest(5001, 1),
			Steps:   []Step{fill(OpConnect, Keep)},
			Checks:  exact(CheckExhaust, CheckParityRuns, CheckErrno),
		},
		{
			Name:    "connect-exhaust-odd-lo",
			Doc:     "as connect-exhaust with an odd lo: the odd ports come first",
			Sysctls: Sysctls{PortRange: "40001-40200", TWReuse: 2, Timestamps: true},
			Dest:    dest(5002, 1),
			Steps:   []Step{fill(OpConnect, Keep)},
			Checks:  exact(CheckExhaust, CheckParityRuns),
		},
		{
			Name:    "connect-exhaust-interleaved",
			Doc:     "three destinations in turn, connections kept open: each has the whole 200-port range (4-tuple sharing)",
			Sysctls: Sysctls{PortRange: small, TWReuse: 2, Timestamps: true},
			Dest:    dest(5003, 3),
			Steps:   []Step{{Op: OpConnect, Count: 750, UntilFail: true, Hold: Keep}},
			Checks:  exact(CheckExhaust, CheckParityRuns),
		},
		{
			Name:    "connect-reserved",
			Doc:     "connections kept open in a 200-port range with 21 reserved ports: 179 successes, none reserved",
			Sysctls: Sysctls{PortRange: small, Reserved: reserved, TWReuse: 2, Timestamps: true},
			Dest:    dest(5004, 1),
			Steps:   []Step{fill(OpConnect, Keep)},
			Checks:  exact(CheckExhaust, CheckReserved, CheckParityRuns),
		},
		{
			Name:    "connect-diffs-client",
			Doc:     "2000 connections to one destination, client close: successive ports differ by 2, 4, ..., 16",
			Sysctls: Sysctls{PortRange: full, TWReuse: 2, Timestamps: true},
			Dest:    dest(5005, 1),
			Steps:   []Step{{Op: OpConnect, Count: 2000, Hold: ClientClose}},
			Checks:  []Check{{Kind: CheckDiffs}, {Kind: CheckParityRuns}},
		},
		{
			Name:    "connect-diffs-server",
			Doc:     "2000 connections to one destination, server close",
			Sysctls: Sysctls{PortRange: full, TWReuse: 2, Timestamps: true},
			Dest:    dest(5006, 1),
			Steps:   []Step{{Op: OpConnect, Count: 2000, Hold: ServerClose}},
			Checks:  []Check{{Kind: CheckDiffs}, {Kind: CheckParityRuns}},
		},
		{
			Name:    "connect-diffs-interleaved",
			Doc:     "2000 connections to four destinations in turn, reset: each destination has its own sequence",
			Sysctls: Sysctls{PortRange: full, TWReuse: 2, Timestamps: true},
			Dest:    dest(5007, 4),
			Steps:   []Step{{Op: OpConnect, Count: 2000, Hold: Reset}},
			Checks:  []Check{{Kind: CheckDiffs}, {Kind: CheckParityRuns}},
		},
		{
			Name:    "connect-first-ports",
			Doc:     "one connection to each of 1000 destinations: first ports spread evenly over the even ports",
			Sysctls: Sysctls{PortRange: full, TWReuse: 2, Timestamps: true},
			Dest:    Dest{Addr: netip.MustParseAddr("127.1.0.1"), Count: 1000, Port: 5008, Src: lo},
			Steps:   []Step{{Op: OpConnect, Count: 1000, Hold: Reset}},
			Checks:  []Check{{Kind: CheckSpread, Bins: 20}, {Kind: CheckParityRuns}},
		},
		tw("tw-reuse-0", "200-port range filled with TIME_WAIT (client close); with tcp_tw_reuse 0 nothing is free 1.5 s later",
			0, true, dest(5009, 1)),
		tw("tw-reuse-1", "as tw-reuse-0 with tcp_tw_reuse 1: no take-over within tcp_tw_reuse_delay, every port taken over after it",
			1, true, dest(5010, 1)),
		tw("tw-reuse-2", "as tw-reuse-1 with tcp_tw_reuse 2 (loopback only) to 127.0.0.1",
			2, true, dest(5011, 1)),
		tw("tw-reuse-1-no-timestamps", "as tw-reuse-1 without TCP timestamps: no take-over",
			1, false, dest(5012, 1)),
		tw("tw-reuse-2-not-loopback", "as tw-reuse-2 to 192.0.2.1, an address added to lo: not loopback, so no take-over",
			2, true, Dest{Addr: netip.MustParseAddr("192.0.2.1"), Count: 1, Port: 5013, Src: netip.MustParseAddr("192.0.2.1")}),
		{
			Name:    "bind-exhaust",
			Doc:     "TCP bind(0) sockets kept open in a 200-port range: the odd ports (not lo's parity) first, then EADDRINUSE",
			Sysctls: Sysctls{PortRange: small, TWReuse: 2, Timestamps: true},
			Steps:   []Step{fill(OpBind, Keep)},
			Checks:  exact(CheckExhaust, CheckParityRuns, CheckErrno),
		},
		{
			Name:    "bind-reserved",
			Doc:     "TCP bind(0) sockets kept open in a 200-port range with 21 reserved ports",
			Sysctls: Sysctls{PortRange: small, Reserved: reserved, TWReuse: 2, Timestamps: true},
			Steps:   []Step{fill(OpBind, Keep)},
			Checks:  exact(CheckExhaust, CheckReserved, CheckParityRuns),
		},
		{
			Name:    "bind-spread",
			Doc:     "1000 TCP bind(0) closed at once: odd ports, spread evenly",
			Sysctls: Sysctls{PortRange: full, TWReuse: 2, Timestamps: true},
			Steps:   []Step{{Op: OpBind, Count: 1000, Hold: CloseNow}},
			Checks:  []Check{{Kind: CheckParityRuns}, {Kind: CheckSpread, Bins: 20}},
		},
		{
			Name:    "udp-exhaust",
			Doc:     "UDP sockets autobound by connect() kept open in a 200-port range: every port, then EAGAIN; then bind(0) fails with EADDRINUSE",
			Sysctls: Sysctls{PortRange: small, TWReuse: 2, Timestamps: true},
			Dest:    dest(5017, 1),
			Steps:   []Step{fill(OpUDPConnect, Keep), {Op: OpUDPBind, Count: 1, UntilFail: true, Hold: Keep}},
			Checks:  []Check{{Kind: CheckExhaust}, {Kind: CheckErrno}},
		},
		{
			Name:    "udp-reserved",
			Doc:     "UDP autobinds kept open in a 200-port range with 21 reserved ports",
			Sysctls: Sysctls{PortRange: small, Reserved: reserved, TWReuse: 2, Timestamps: true},
			Dest:    dest(5018, 1),
			Steps:   []Step{fill(OpUDPConnect, Keep)},
			Checks:  exact(CheckExhaust, CheckReserved),
		},
		{
			Name:    "udp-spread",
			Doc:     "2000 UDP autobinds closed at once: both parities, spread evenly",
			Sysctls: Sysctls{PortRange: full, TWReuse: 2, Timestamps: true},
			Dest:    dest(5019, 1),
			Steps:   []Step{{Op: OpUDPConnect, Count: 2000, Hold: CloseNow}},
			Checks:  []Check{{Kind: CheckParity}, {Kind: CheckSpread, Bins: 20}},
		},
	}
}
