package workload

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/portsim/portsim/allocator"
)

// Limits that Validate enforces.
const (
	// MaxRate is the largest Rate, in attempts per second: one attempt per
	// nanosecond, the resolution of virtual time.
	MaxRate = 1e9
	// MaxDestinations is the largest number of destinations.
	MaxDestinations = 1_000_000
	// MaxSources is the largest number of source addresses: every address
	// of 10.0.0.0/16.
	MaxSources = 65536
	// MaxClients is the largest number of closed-loop clients.
	MaxClients = 10_000_000
)

// Arrivals names an arrival process.
type Arrivals uint8

const (
	// Poisson: exponential gaps with mean 1/Rate; the first attempt comes
	// one gap after 0.
	Poisson Arrivals = iota
	// Constant: one attempt every 1/Rate, starting at 0. Attempt i comes
	// at i/Rate rounded to the nanosecond, computed from i so that no
	// rounding error accumulates.
	Constant
	// Burst: Poisson at Rate during on-periods of BurstOn, nothing during
	// off-periods of BurstOff, starting with an on-period at 0.
	Burst
	// Closed: Clients clients, each attempting at 0 and again a Think time
	// after its connection closes (or after a failed attempt).
	Closed
	// Trace: attempts replayed from a CSV trace.
	Trace
)

var arrivalNames = [...]string{Poisson: "poisson", Constant: "constant", Burst: "burst", Closed: "closed", Trace: "trace"}

// ArrivalNames returns the names of the arrival processes, in the order
// of their constants: what the arrivals setting and `portsim list`
// accept.
func ArrivalNames() []string { return slices.Clone(arrivalNames[:]) }

// String returns "poisson", "constant", "burst", "closed" or "trace".
func (a Arrivals) String() string {
	if int(a) < len(arrivalNames) {
		return arrivalNames[a]
	}
	return fmt.Sprintf("Arrivals(%d)", uint8(a))
}

// ParseArrivals parses "poisson", "constant", "burst", "closed" or "trace".
func ParseArrivals(s string) (Arrivals, error) {
	for i, n := range arrivalNames {
		if s == n {
			return Arrivals(i), nil
		}
	}
	return 0, fmt.Errorf("arrivals %q: expected %s", s, strings.Join(arrivalNames[:], ", "))
}

// MarshalText returns String as bytes.
func (a Arrivals) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText sets a from the text ParseArrivals reads.
func (a *Arrivals) UnmarshalText(b []byte) error {
	v, err := ParseArrivals(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// DestOrder names how each attempt picks one of the destinations.
type DestOrder uint8

const (
	// Uniform picks each destination with equal probability.
	Uniform DestOrder = iota
	// Zipf picks destination i (from 1) with probability proportional to
	// 1/i^ZipfS.
	Zipf
	// RoundRobin cycles through the destinations in order.
	RoundRobin
)

var destOrderNames = [...]string{Uniform: "uniform", Zipf: "zipf", RoundRobin: "round-robin"}

// String returns "uniform", "zipf" or "round-robin".
func (o DestOrder) String() string {
	if int(o) < len(destOrderNames) {
		return destOrderNames[o]
	}
	return fmt.Sprintf("DestOrder(%d)", uint8(o))
}

// ParseDestOrder parses "uniform", "zipf" or "round-robin" (also
// "roundrobin" and "rr").
func ParseDestOrder(s string) (DestOrder, error) {
	switch s {
	case "uniform":
		return Uniform, nil
	case "zipf":
		return Zipf, nil
	case "round-robin", "roundrobin", "rr":
		return RoundRobin, nil
	}
	return 0, fmt.Errorf("destination order %q: expected uniform, zipf or round-robin", s)
}

// MarshalText returns String as bytes.
func (o DestOrder) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText sets o from the text ParseDestOrder reads.
func (o *DestOrder) UnmarshalText(b []byte) error {
	v, err := ParseDestOrder(string(b))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// ParseClose parses "client", "server" or "rst".
func ParseClose(s string) (Close, error) {
	switch s {
	case "client":
		return ClientClose, nil
	case "server":
		return ServerClose, nil
	case "rst":
		return RST, nil
	}
	return 0, fmt.Errorf("close %q: expected client, server or rst", s)
}

// MarshalText returns String as bytes.
func (c Close) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText sets c from the text ParseClose reads.
func (c *Close) UnmarshalText(b []byte) error {
	v, err := ParseClose(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Spec describes a synthetic or replayed workload. Validate reports what
// is wrong with one, naming the field. The zero Spec is not valid: an open
// process needs a Rate, and every synthetic workload needs Destinations
// and Sources.
//
// Source i (from 0) is the address SourceAddr(i); destination i is
// DestAddr(i, Loopback). Each attempt takes the next source in turn.
type Spec struct {
	// Arrivals is the arrival process (default Poisson).
	Arrivals Arrivals
	// Rate is the attempts per second of Constant and Poisson arrivals and
	// of Burst on-periods. It must be positive, finite and at most MaxRate
	// for them; Closed and Trace ignore it.
	Rate float64
	// BurstOn and BurstOff are the on- and off-period lengths of Burst
	// (Burst only). BurstOn must be positive and BurstOff not negative,
	// both at most MaxSample; BurstOff 0 makes Burst plain Poisson.
	BurstOn, BurstOff time.Duration
	// Clients is the number of closed-loop clients, 1..MaxClients (Closed
	// only).
	Clients int
	// Think is the pause of a closed-loop client between the close of its
	// connection (or a failed attempt) and its next attempt (Closed only).
	// It may be neither forever nor always 0: a client whose attempt
	// failed would retry at the same instant without end.
	Think Dist

	// Destinations is the number of distinct destinations,
	// 1..MaxDestinations (ignored by Trace).
	Destinations int
	// DestOrder is how an attempt picks its destination (default Uniform;
	// ignored by Trace).
	DestOrder DestOrder
	// ZipfS is the Zipf exponent, positive and finite (DestOrder Zipf
	// only; 1 is classic Zipf). Any s > 0 works, s <= 1 included.
	ZipfS float64
	// Loopback puts destinations in 127.0.0.0/8, where tcp_tw_reuse = 2
	// applies. Otherwise they are in 198.18.0.0/15.
	Loopback bool
	// Sources is the number of source IPs, 1..MaxSources, used
	// round-robin, one attempt each in turn (ignored by Trace).
	Sources int

	// Hold is the distribution of the time a connection stays
	// established before it closes (default: the zero Dist, closed at
	// once; ignored by Trace, whose lines carry it).
	Hold Dist
	// Close is the side that closes first (default ClientClose; ignored
	// by Trace).
	Close Close
	// Path is the socket operation that needs the port (default Connect).
	// For Bind, Flow.Dst is the zero AddrPort, as allocator.Flow requires,
	// though a destination is still drawn so that the other streams stay
	// aligned.
	Path allocator.Path
	// OrigPorts, when not the zero Range, is the range the inside hosts
	// of a NAT draw their source ports from, uniformly over its
	// non-reserved ports; NAT allocators try to keep them. The zero Range
	// leaves Flow.OrigPort 0.
	OrigPorts allocator.Range

	// TraceName names the trace in error messages (usually its file;
	// "trace" when empty).
	TraceName string
	// TraceOpen opens the CSV trace for Trace arrivals (required for
	// them; the format is described at TraceReader). It is called once
	// per workload built; the workload reads it lazily and closes it when
	// the trace ends or when the workload's Close method is called.
	TraceOpen func() (io.ReadCloser, error)
	// TraceScale, when above 0, divides a trace's attempt times by it:
	// 2 replays the trace at twice its rate (holds unchanged). 0 and 1
	// replay it as written.
	TraceScale float64
}

// Params returns the parameters of the arrival processes that have
// their own, in the order help text lists them (after the rate).
func Params() []Param {
	return []Param{
		{"burst-on", "D", "length of the on-periods of burst arrivals, e.g. 1s", "BurstOn", func(s *Spec, v string) (err error) {
			s.BurstOn, err = ParseDuration(v, false)
			return err
		}},
		{"burst-off", "D", "length of the off-periods of burst arrivals, e.g. 9s", "BurstOff", func(s *Spec, v string) (err error) {
			s.BurstOff, err = ParseDuration(v, true)
			return err
		}},
		{"clients", "N", "closed-loop clients, each reconnecting a think time after its connection closes", "Clients", func(s *Spec, v string) (err error) {
			s.Clients, err = ParseCount(v)
			return err
		}},
		{"think", "DIST", "closed-loop think time distribution, e.g. exp:1s (default exp:1s)", "Think", func(s *Spec, v string) (err error) {
			s.Think, err = ParseDist(v)
			return err
		}},
	}
}

// SpecError is the error Validate returns: the field that is wrong, its
// value and the expected form.
type SpecError struct {
	// Field is the name of the Spec field, such as "Rate".
	Field string
	// Value is the field's value as text.
	Value string
	// Want says what is expected.
	Want string
}

// Error returns "workload: FIELD VALUE: WANT".
func (e *SpecError) Error() string {
	return fmt.Sprintf("workload: %s %s: %s", e.Field, e.Value, e.Want)
}

// Validate checks the spec and returns an error naming the first bad
// field and the expected form, as a *SpecError. It checks only the fields
// that the arrival process uses (see each field). It does not read the
// trace; CheckTrace does.
func (s Spec) Validate() error {
	bad := func(field string, value any, want string) error {
		return &SpecError{Field: field, Value: fmt.Sprint(value), Want: want}
	}
	switch s.Arrivals {
	case Poisson, Constant, Burst:
		if !(s.Rate > 0 && s.Rate <= MaxRate) { // also rejects NaN
			return bad("Rate", s.Rate, fmt.Sprintf("expected a finite rate in attempts per second, > 0 and <= %g", float64(MaxRate)))
		}
		if s.Arrivals == Burst {
			if s.BurstOn <= 0 || s.BurstOn > MaxSample {
				return bad("BurstOn", s.BurstOn, "expected a positive duration up to MaxSample (about 73 years), such as 10s")
			}
			if s.BurstOff < 0 || s.BurstOff > MaxSample {
				return bad("BurstOff", s.BurstOff, "expected a duration from 0 to MaxSample (about 73 years), such as 50s")
			}
		}
	case Closed:
		if s.Clients < 1 || s.Clients > MaxClients {
			return bad("Clients", s.Clients, fmt.Sprintf("expected 1..%d closed-loop clients", MaxClients))
		}
		if err := s.Think.check("Think"); err != nil {
			return err
		}
		if s.Think.forever() {
			return bad("Think", s.Think, "forever is for hold times only; expected a finite distribution such as 10ms or exp:10ms")
		}
		if s.Think.alwaysZero() {
			return bad("Think", s.Think, "expected a think time that is not always 0 (a client whose attempt failed would retry at the same instant forever), such as 1ms or exp:10ms")
		}
	case Trace:
		if s.TraceOpen == nil {
			return bad("TraceOpen", "nil", "expected a function opening the CSV trace for Trace arrivals")
		}
		if !(s.TraceScale >= 0 && s.TraceScale <= 1e6) {
			return bad("TraceScale", s.TraceScale, "expected a factor > 0 and <= 1e6, such as 2 for twice the trace's rate")
		}
	default:
		return bad("Arrivals", s.Arrivals, "expected poisson, constant, burst, closed or trace")
	}
	if s.Arrivals != Trace {
		if s.Destinations < 1 || s.Destinations > MaxDestinations {
			return bad("Destinations", s.Destinations, fmt.Sprintf("expected 1..%d destinations", MaxDestinations))
		}
		switch s.DestOrder {
		case Uniform, RoundRobin:
		case Zipf:
			if !(s.ZipfS > 0) || math.IsInf(s.ZipfS, 0) {
				return bad("ZipfS", s.ZipfS, "expected a positive finite Zipf exponent such as 1 or 1.2")
			}
		default:
			return bad("DestOrder", s.DestOrder, "expected uniform, zipf or round-robin")
		}
		if s.Sources < 1 || s.Sources > MaxSources {
			return bad("Sources", s.Sources, fmt.Sprintf("expected 1..%d source addresses", MaxSources))
		}
		if err := s.Hold.check("Hold"); err != nil {
			return err
		}
		if s.Close > RST {
			return bad("Close", s.Close, "expected client, server or rst")
		}
	}
	if s.Path > allocator.UDP {
		return bad("Path", s.Path, "expected connect, bind or udp")
	}
	if !isZeroRange(s.OrigPorts) {
		if err := s.OrigPorts.Validate(); err != nil {
			return bad("OrigPorts", s.OrigPorts, err.Error())
		}
	}
	return nil
}

func isZeroRange(r allocator.Range) bool { return r.Lo == 0 && r.Hi == 0 && len(r.Reserved) == 0 }

// MeanRate returns the long-run offered attempts per second of an open
// arrival process (Rate, or Rate·on/(on+off) for Burst), or 0 for Closed
// and Trace.
func (s Spec) MeanRate() float64 {
	switch s.Arrivals {
	case Poisson, Constant:
		return s.Rate
	case Burst:
		cycle := float64(s.BurstOn) + float64(s.BurstOff)
		if cycle <= 0 {
			return 0
		}
		return s.Rate * float64(s.BurstOn) / cycle
	}
	return 0
}

// New returns the workload for one seed. The same spec and seed give the
// same attempts. It validates the spec first. For Trace it calls
// TraceOpen, and the workload it returns implements io.Closer. For Closed
// it implements Feedback.
func (s Spec) New(seed uint64) (Workload, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	switch s.Arrivals {
	case Closed:
		return newClosed(s, seed), nil
	case Trace:
		w, err := newReplay(s, seed)
		if err != nil {
			return nil, err
		}
		return w, nil
	}
	return newOpen(s, seed), nil
}

// CheckTrace opens the trace of a Trace spec with TraceOpen, reads all of
// it and reports every malformed line (the first ten of them, then a
// count), so that a run can be refused before it starts.
func (s Spec) CheckTrace() (TraceSummary, error) {
	if s.TraceOpen == nil {
		return TraceSummary{}, &SpecError{Field: "TraceOpen", Value: "nil", Want: "expected a function opening the CSV trace"}
	}
	rc, err := s.TraceOpen()
	if err != nil {
		return TraceSummary{}, fmt.Errorf("workload: open trace %s: %w", traceName(s.TraceName), err)
	}
	sum, err := ValidateTrace(s.TraceName, rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("workload: close trace %s: %w", traceName(s.TraceName), cerr)
	}
	return sum, err
}
