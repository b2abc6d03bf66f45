package workload

import (
	"errors"
	"io"
	"time"

	"github.com/portsim/portsim/allocator"
)

// Arrivals names an arrival process.
type Arrivals uint8

const (
	// Poisson: exponential gaps with mean 1/Rate.
	Poisson Arrivals = iota
	// Constant: one attempt every 1/Rate, starting at 0.
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

// Spec describes a synthetic or replayed workload. Validate reports what
// is wrong with one, naming the field.
type Spec struct {
	// Arrivals is the arrival process (default Poisson).
	Arrivals Arrivals
	// Rate is the attempts per second of Constant and Poisson arrivals and
	// of Burst on-periods. It must be positive and finite for them.
	Rate float64
	// BurstOn and BurstOff are the on- and off-period lengths of Burst.
	BurstOn, BurstOff time.Duration
	// Clients is the number of closed-loop clients (Closed only).
	Clients int
	// Think is the pause of a closed-loop client between the close of its
	// connection (or a failed attempt) and its next attempt.
	Think Dist

	// Destinations is the number of distinct destinations, at least 1.
	Destinations int
	// DestOrder is how an attempt picks its destination.
	DestOrder DestOrder
	// ZipfS is the Zipf exponent, positive (DestOrder Zipf only; 1 is
	// classic Zipf).
	ZipfS float64
	// Loopback puts destinations in 127.0.0.0/8, where tcp_tw_reuse = 2
	// applies. Otherwise they are in 198.18.0.0/15.
	Loopback bool
	// Sources is the number of source IPs, at least 1, used round-robin.
	Sources int

	// Hold is the distribution of the time a connection stays
	// established before it closes.
	Hold Dist
	// Close is the side that closes first.
	Close Close
	// Path is the socket operation that needs the port.
	Path allocator.Path
	// OrigPorts, when not the zero Range, is the range the inside hosts
	// of a NAT draw their source ports from, uniformly; NAT allocators try
	// to keep them.
	OrigPorts allocator.Range

	// TraceName names the trace in error messages (usually its file).
	TraceName string
	// TraceOpen opens the CSV trace for Trace arrivals. It is called once
	// per workload built; the workload reads it lazily and closes it when
	// the trace ends.
	TraceOpen func() (io.ReadCloser, error)
}

// Validate checks the spec and returns an error naming the first bad
// field and the expected form.
func (s Spec) Validate() error { return errors.New("workload: not implemented yet") }

// New returns the workload for one seed. The same spec and seed give the
// same attempts.
func (s Spec) New(seed uint64) (Workload, error) {
	return nil, errors.New("workload: not implemented yet")
}

// MeanRate returns the long-run offered attempts per second of an open
// arrival process (Rate, or Rate·on/(on+off) for Burst), or 0 for Closed
// and Trace.
func (s Spec) MeanRate() float64 { return 0 }

// Dist is a distribution of durations, parsed from text by ParseDist.
type Dist struct {
	// contents defined by the implementation
}

// ParseDist parses a distribution of durations:
//
//	100ms                   fixed
//	exp:100ms               exponential with mean 100ms
//	lognormal:100ms,1.0     log-normal with median 100ms and sigma 1.0
//	pareto:10ms,1.5         Pareto with minimum 10ms and shape 1.5
//	uniform:1s,2s           uniform between 1s and 2s
//	forever                 never (hold times only)
func ParseDist(s string) (Dist, error) { return Dist{}, errors.New("not implemented yet") }

// String returns the text ParseDist reads back.
func (d Dist) String() string { return "" }

// Mean returns the distribution's mean, or Forever.
func (d Dist) Mean() time.Duration { return 0 }
