// Package workload generates the connection attempts a simulation drives
// through an allocator: arrival processes (constant, Poisson, on/off
// bursts, closed loop), destination mixes (uniform, Zipf, round-robin),
// hold-time distributions and trace replay.
//
// All randomness comes from the seed given to Spec.New, one PCG stream per
// purpose (arrival gaps, hold times, destinations, think times), so every
// allocator run with one seed sees the same arrivals (common random
// numbers). A workload does no I/O except reading the trace it is given.
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
	// closes, or Forever.
	Hold time.Duration
	// Close is the side that closes first.
	Close Close
	// Client is the closed-loop client that made the attempt, or -1.
	Client int
}

// Workload yields connection attempts in non-decreasing time order.
type Workload interface {
	// Next returns the next attempt, or false when the workload has no
	// more (a trace has ended; generators never end). After false, Err
	// reports why, if it was an error.
	Next() (Arrival, bool)
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
