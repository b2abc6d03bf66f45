// Package workload generates the connection attempts a simulation drives
// through an allocator: arrival processes (constant, Poisson, on/off
// bursts, closed loop), destination mixes (uniform, Zipf, round-robin),
// hold-time distributions and trace replay.
//
// A [Spec] describes a workload; [Spec.Validate] names the first bad field
// and [Spec.New] builds the [Workload] for one seed:
//
//	spec := workload.Spec{Arrivals: workload.Poisson, Rate: 500,
//		Destinations: 1, Sources: 1, Hold: workload.MustParseDist("exp:100ms")}
//	w, err := spec.New(seed)
//	var a workload.Arrival
//	for w.Next(&a) { ... }
//
// # Determinism
//
// All randomness comes from the seed given to Spec.New, one math/rand/v2
// PCG stream per purpose (arrival gaps, hold times, destinations, think
// times, inside-host NAT ports), so every allocator run with one seed sees
// the same arrivals (common random numbers), and changing how one quantity
// is drawn leaves the others alone: another hold distribution gives the
// same arrival times and destinations. Distributions are
// gonum.org/v1/gonum/stat/distuv values on those streams. A workload does
// no I/O except reading the trace it is given.
//
// # Addresses
//
// Synthetic attempts take their source from [SourceAddr] (10.0.x.y), one
// source after the other, and their destination from [DestAddr]
// (198.18.0.0/15, or 127.0.0.0/8 with Spec.Loopback, port 443).
//
// # Closed loops and traces
//
// The workload of a Closed spec implements [Feedback]: the simulator must
// call Done once per attempt, before the next call to Next. The workload
// of a Trace spec implements io.Closer, so that a simulation that stops
// before the end of the trace can close it; the trace format is described
// at [TraceReader].
package workload

import (
	"math"
	"time"

	"github.com/portsim/portsim/allocator"
)

// Forever is the hold time of a connection that is never closed.
const Forever time.Duration = math.MaxInt64

// Close says which side closes a connection first, and so who holds
// TIME_WAIT.
type Close uint8

const (
	// ClientClose: the client (the side whose port is being allocated)
	// closes first and holds the 4-tuple in TIME_WAIT.
	ClientClose Close = iota
	// ServerClose: the server closes first; the client's port is free as
	// soon as the connection closes.
	ServerClose
	// RST: the connection is reset; nobody holds TIME_WAIT.
	RST
)

// String returns "client", "server" or "rst".
func (c Close) String() string {
	switch c {
	case ClientClose:
		return "client"
	case ServerClose:
		return "server"
	case RST:
		return "rst"
	}
	return "Close(?)"
}

// Arrival is one connection attempt.
type Arrival struct {
	// At is the virtual time of the attempt since the start of the run.
	At time.Duration
	// Flow is the socket that needs a port.
	Flow allocator.Flow
	// Hold is how long the connection stays established before it
	// closes, 0..MaxSample, or Forever.
	Hold time.Duration
	// Close is the side that closes first.
	Close Close
	// Client is the closed-loop client that made the attempt, or -1.
	Client int
	// CPU, for a NAT that translates on several CPUs at once (sim.Race),
	// is 1 + the CPU that translates the flow and its retransmissions; 0
	// (the default) lets the simulator draw one at random, as receive-side
	// scaling spreads flows. A scripted replay of a measurement sets it to
	// the CPU the kernel used.
	CPU int
}

// Workload yields connection attempts in non-decreasing time order.
type Workload interface {
	// Next sets *a to the next attempt and returns true, or returns false,
	// leaving *a alone, when the workload has no more (a trace has ended,
	// or every closed-loop client holds a connection forever; open
	// processes never end). After false, Err reports why, if it was an
	// error. It fills *a in place because a simulation asks for tens of
	// millions of attempts and an Arrival is about a hundred bytes.
	Next(a *Arrival) bool
	// Err returns the error that ended the workload early (a malformed
	// trace line), or nil.
	Err() error
}

// Feedback is implemented by workloads whose future depends on outcomes,
// such as a closed loop whose clients reconnect after their connection
// closes. The simulator calls Done once per attempt, after allocating and
// before asking for the next attempt.
type Feedback interface {
	Done(a Arrival, ok bool)
}
