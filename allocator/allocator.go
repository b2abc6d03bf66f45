// Package allocator holds the ephemeral (source) port selection algorithms
// that portsim compares: the RFC 6056 algorithms, faithful models of the
// Linux, BSD, macOS and Windows stacks, and NAT gateway allocators. It is
// also the contract a program follows to add an allocator of its own.
//
// # Contract
//
// Allocators choose; the simulator decides. An [Allocator] proposes
// candidate ports in its own order and asks a [Checker], owned by the
// caller, whether each one is usable for the [Flow]. The rules:
//
//   - Every question to the Checker is one probe, whether it is asked with
//     [Checker.Free] or in a batch through [Scan] (use Scan with a [Cycle]
//     for runs of candidates: the simulator answers them with word
//     operations). Probes are what portsim measures as the cost of an
//     allocation, so ask about every candidate the real algorithm would
//     examine, and no other.
//   - Never return a port the Checker did not answer true for in that
//     call; the simulator stops the run with an error if one does. Return
//     [ErrExhausted] once the algorithm's own search bound is spent.
//   - Keep no copy of which ports are in use: the Checker knows (TIME_WAIT,
//     4-tuple or exclusive sharing, reserved ports). The few allocators
//     that keep per-port state (free lists) learn about closed sockets
//     through the optional [Releaser] interface.
//   - Be deterministic: take all randomness, secret keys included, from
//     [Config.Seed], and time only from the virtual time passed to
//     Allocate. The same seed and calls must give the same ports.
//     Allocators are not safe for concurrent use.
//
// A [Spec] describes an allocator to portsim: its name, a one-line summary,
// the source it models (RFC section, kernel file and function), the
// defaults of the stack it models ([Profile]), its parameters, the most
// probes one call makes (Bound) and a constructor. portsim's own
// allocators are listed by [Registry]; a [Set] holds them and any a
// program adds ([NewSet]), and is passed to whatever resolves allocator
// names. The conformance kit in package allocatortest checks the rules
// above for any Spec in one call.
package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ErrExhausted is returned by Allocate when the algorithm has spent its
// search bound without finding a usable port. It models EADDRNOTAVAIL
// (Linux and BSD connect), EADDRINUSE (bind(0)), EAGAIN (UDP autobind) and a
// dropped packet (netfilter NAT).
var ErrExhausted = errors.New("no ephemeral port available")

// Path is the socket operation that needs a local port. Linux scans
// different parities for connect() and bind(0), and UDP has its own port
// space.
type Path uint8

const (
	// Connect is TCP connect() on an unbound socket: the destination is
	// known when the port is chosen.
	Connect Path = iota
	// Bind is TCP bind() to port 0 (or listen() without bind): no
	// destination is known and the port is held exclusively.
	Bind
	// UDP is UDP autobind (connect() or sendto() on an unbound socket) or
	// UDP bind() to port 0. UDP ports are held exclusively and have no
	// TIME_WAIT.
	UDP
)

// String returns "connect", "bind" or "udp".
func (p Path) String() string {
	switch p {
	case Connect:
		return "connect"
	case Bind:
		return "bind"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("Path(%d)", uint8(p))
}

// ParsePath parses "connect", "bind" or "udp".
func ParsePath(s string) (Path, error) {
	switch s {
	case "connect":
		return Connect, nil
	case "bind":
		return Bind, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("path %q: expected connect, bind or udp", s)
}

// Flow describes the socket that needs a local port.
type Flow struct {
	// Path is the operation that asks for the port.
	Path Path
	// Src is the local (source) address. For NAT allocators it is the
	// external (NAT) address.
	Src netip.Addr
	// Dst is the remote endpoint. It is the zero value for Bind.
	Dst netip.AddrPort
	// OrigPort is, for NAT allocators, the source port the inside host
	// chose, which a NAT keeps when it can (port preservation). Zero means
	// none. Host allocators ignore it.
	OrigPort uint16
}

// Slot returns the flow's slot among n, a power of two, in a
// direct-mapped cache: the low bits of the last bytes of its source and
// destination addresses and of its destination port, so that a workload
// cycling through a few sources or destinations spreads over the slots.
func (f Flow) Slot(n int) int {
	a, b := f.Src.As16(), f.Dst.Addr().As16()
	p := f.Dst.Port()
	return int(a[15]^b[15]^byte(p)^byte(p>>8)) & (n - 1)
}

// Checker answers whether a candidate port can be used for a flow right
// now, applying the stack's sharing rule (4-tuple or exclusive), TIME_WAIT
// take-over and reserved ports. Each call is one probe.
type Checker interface {
	Free(port uint16, f Flow) bool
}

// Allocator chooses ephemeral ports.
type Allocator interface {
	// Allocate returns a port in the configured range for which the
	// Checker answered true, or ErrExhausted once the algorithm has spent
	// its own search bound. now is virtual time since the start of the run;
	// it never decreases between calls.
	Allocate(now time.Duration, f Flow, c Checker) (port uint16, err error)
}

// Releaser is implemented by allocators that keep per-port state, such as
// free lists. The caller reports with Release that the socket to which
// Allocate gave port for f has closed. As with a user-space port range
// (HAProxy releases a port when it closes the socket), the port may still
// be held in TIME_WAIT: the Checker keeps refusing it until that ends.
type Releaser interface {
	Release(now time.Duration, f Flow, port uint16)
}

// Celler is implemented by allocators that keep a table of counters
// selected by a keyed hash of the destination (RFC 6056 Algorithm 4 and
// Linux since 5.12). Cell reports the index of the cell that f uses at time
// now and the number of cells. Destinations that share a cell leak a
// stable identifier of the host (Kol, Klein and Gilad, USENIX Security
// 2023).
type Celler interface {
	Cell(now time.Duration, f Flow) (cell, size int)
}

// Scope is the sharing rule a stack applies to ports chosen by connect().
type Scope uint8

const (
	// FourTuple lets one local port serve many destinations at once: a
	// candidate is taken only if the same (source, port, destination,
	// destination port) exists (Linux and FreeBSD 13+ connect()).
	FourTuple Scope = iota
	// Exclusive gives each socket its own local port whatever the
	// destination (OpenBSD, NetBSD, macOS, Windows, bind(0), UDP).
	Exclusive
)

// String returns "4-tuple" or "exclusive".
func (s Scope) String() string {
	if s == Exclusive {
		return "exclusive"
	}
	return "4-tuple"
}

// ParseScope parses "4-tuple" or "exclusive".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "4-tuple", "fourtuple", "four-tuple":
		return FourTuple, nil
	case "exclusive":
		return Exclusive, nil
	}
	return 0, fmt.Errorf("scope %q: expected 4-tuple or exclusive", s)
}

// Profile is what the modelled stack uses by default. The simulator takes
// its defaults from the allocator's Profile unless the user overrides them.
type Profile struct {
	// Range is the default ephemeral port range.
	Range Range
	// TimeWait is how long the side that closes first holds the 4-tuple
	// in TIME_WAIT (Linux TCP_TIMEWAIT_LEN 60 s, macOS 30 s, Windows
	// TcpTimedWaitDelay 120 s).
	TimeWait time.Duration
	// Scope is the sharing rule for connect().
	Scope Scope
	// TWReuse is Linux net.ipv4.tcp_tw_reuse: 0 never take over a
	// TIME_WAIT 4-tuple, 1 always, 2 only for loopback destinations.
	TWReuse int
	// TWReuseDelay is Linux net.ipv4.tcp_tw_reuse_delay: the least time
	// since TIME_WAIT began before it may be taken over (default 1 s).
	TWReuseDelay time.Duration
	// Timestamps reports whether connections negotiate TCP timestamps,
	// which TIME_WAIT take-over requires.
	Timestamps bool
}

// Config configures one allocator instance.
type Config struct {
	// Range is the ephemeral range the allocator hands ports from.
	Range Range
	// Seed is the source of all of the allocator's randomness and secret
	// keys. The same seed and the same calls give the same ports.
	Seed uint64
	// Params holds algorithm parameters by name, as text (see Spec.Params).
	// Missing parameters take their documented defaults.
	Params map[string]string
}

// Connection is the outcome of a socket bound explicitly to a chosen port
// that then connects (see [BindConnecter]).
type Connection uint8

const (
	// Connected means bind() and connect() both succeeded.
	Connected Connection = iota
	// BindRefused means bind() refused the port: the caller may try
	// another one.
	BindRefused
	// ConnectRefused means bind() succeeded but connect() found the
	// 4-tuple taken (EADDRNOTAVAIL): the port is not tried again for this
	// connection.
	ConnectRefused
)

// BindConnecter is implemented by Checkers that can answer for a socket
// that user space binds to a chosen port with SO_REUSEADDR and then
// connects, as HAProxy's source port ranges do (and bind-before-connect
// clients in general). One call is one probe.
//
// On Linux the bind succeeds unless a socket without SO_REUSEADDR, or a
// listener, holds the port (net/ipv4/inet_connection_sock.c
// inet_bind_conflict); sockets that are established or in TIME_WAIT from
// earlier binds with SO_REUSEADDR do not conflict. connect() then reaches
// __inet_hash_connect with the port already set, which calls
// __inet_check_established with twp == NULL (net/ipv4/inet_hashtables.c),
// so tcp_twsk_unique (net/ipv4/tcp_ipv4.c) takes a TIME_WAIT 4-tuple over
// whenever that connection saw timestamps, whatever tcp_tw_reuse says, and
// connect() fails with EADDRNOTAVAIL when the 4-tuple is established or in
// TIME_WAIT without timestamps.
type BindConnecter interface {
	BindConnect(port uint16, f Flow) Connection
}

// Evicter is implemented by Checkers that can answer for Linux NAT's last
// attempts of a port-search round (nf_nat_used_tuple_harder, see the
// netfilter allocator). FreeOrEvict answers like Free, and also answers
// true for a TCP 4-tuple held only by a connection in TIME_WAIT, which the
// new connection then takes over (the old conntrack entry is killed). One
// call is one probe.
type Evicter interface {
	FreeOrEvict(port uint16, f Flow) bool
}

// Pooler is implemented by allocators of stacks whose TCP connections,
// live and in TIME_WAIT, take their protocol control block from a fixed
// pool (lwIP's MEMP_NUM_TCP_PCB). PCBs returns the pool size; when the pool
// is full a new connection first frees the oldest connection in TIME_WAIT
// and fails, before any port is chosen, when there is none.
type Pooler interface {
	PCBs() int
}
