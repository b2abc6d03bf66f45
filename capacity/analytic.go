package capacity

import (
	"fmt"
	"math"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// Bound is the analytic ceiling on the new-connection rate of a setup:
// every attempt holds one local port of one (source, destination) pool
// for the connection's hold time plus the time its port stays unusable
// after the close, so by Little's law a pool of N ports serves at most
// N / (hold + unusable time) connections per second (docs/figures.md#t4-ports-per-time_wait).
type Bound struct {
	// Ports is the number of usable ports of one pool: the range without
	// its reserved ports and without the prefilled share.
	Ports int `json:"ports"`
	// Sources is the number of source addresses, each with its own pools.
	Sources int `json:"sources"`
	// Share is the largest share of the attempts that one pool receives:
	// 1/Destinations for uniform or round-robin destinations in a 4-tuple
	// connect() stack, the Zipf weight of the first destination for Zipf,
	// and 1 when ports are held exclusively (the destinations share one
	// pool per source).
	Share float64 `json:"share"`
	// Hold is the mean connection hold time.
	Hold time.Duration `json:"hold_ns"`
	// Unusable is how long a closed connection's port stays unusable for
	// the next connection to the same destination: TIME_WAIT, or
	// tcp_tw_reuse_delay when tcp_tw_reuse lets connect() take TIME_WAIT
	// over, or 0 without TIME_WAIT (server or RST close, UDP).
	Unusable time.Duration `json:"unusable_ns"`
	// Rate is the bound in connections per second,
	// Sources·Ports / ((Hold + Unusable)·Share); +Inf when ports are never
	// held, 0 when they are held forever.
	Rate float64 `json:"-"`
	// Why names what sets Unusable: "TIME_WAIT", "tcp_tw_reuse_delay", or
	// why there is no TIME_WAIT.
	Why string `json:"why"`
}

// Cycle returns Hold + Unusable: how long one connection keeps its port
// from the pool, saturating at the largest duration.
func (b Bound) Cycle() time.Duration {
	c := b.Hold + b.Unusable
	if c < b.Hold { // overflow
		return math.MaxInt64
	}
	return c
}

// Formula returns the bound as arithmetic on its inputs, such as
// "1 source × 28232 ports ÷ (mean hold 0s + TIME_WAIT 1m0s) = 470.5/s".
func (b Bound) Formula() string {
	src := "sources"
	if b.Sources == 1 {
		src = "source"
	}
	share := ""
	if b.Share < 1 {
		share = fmt.Sprintf(" ÷ %.4g (the busiest destination's share)", b.Share)
	}
	unusable := b.Why + " " + b.Unusable.String()
	if b.Unusable == 0 {
		unusable = b.Why
	}
	return fmt.Sprintf("%d %s × %d ports ÷ (mean hold %v + %s)%s = %s/s",
		b.Sources, src, b.Ports, b.Hold, unusable, share, FormatRate(b.Rate))
}

// FormatRate formats a rate in connections per second: four significant
// digits ("470.5"), whole numbers from 10,000 up ("28232"), "unbounded"
// for +Inf.
func FormatRate(r float64) string {
	switch {
	case math.IsInf(r, 1):
		return "unbounded"
	case math.IsNaN(r):
		return "n/a"
	case r >= 1e4:
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.4g", r)
}

// Analytic returns the analytic bound of a simulation setup; its
// Workload.Rate is ignored.
func Analytic(cfg sim.Config) Bound {
	st, w := cfg.Stack, cfg.Workload
	b := Bound{
		Ports:   int(math.Round(float64(st.Range.Usable()) * (1 - cfg.Prefill))),
		Sources: max(w.Sources, 1),
		Share:   1,
		Hold:    w.Hold.Mean(),
	}
	exclusive := st.Scope == allocator.Exclusive || w.Path != allocator.Connect
	if !exclusive {
		b.Share = largestShare(w)
	}
	switch {
	case w.Path == allocator.UDP:
		b.Why = "no TIME_WAIT, UDP"
	case w.Close != workload.ClientClose:
		b.Why = "no TIME_WAIT, the server or a reset closes"
	case st.TimeWait == 0:
		b.Why = "no TIME_WAIT"
	case twReuse(st, w):
		// tcp_twsk_unique needs the millisecond clock strictly past the
		// TIME_WAIT's first millisecond plus the delay: up to 1 ms more.
		b.Unusable = min(st.TWReuseDelay+time.Millisecond, st.TimeWait)
		b.Why = "tcp_tw_reuse_delay"
	default:
		b.Unusable = st.TimeWait
		b.Why = "TIME_WAIT"
	}
	cycle := b.Cycle()
	switch {
	case w.Hold.Mean() == workload.Forever:
		b.Rate = 0
	case cycle <= 0:
		b.Rate = math.Inf(1)
	default:
		b.Rate = float64(b.Sources) * float64(b.Ports) / (cycle.Seconds() * b.Share)
	}
	return b
}

// twReuse reports whether connect() may take a TIME_WAIT 4-tuple over in
// this setup (sim package doc, docs/allocators.md#time_wait-and-tcp_tw_reuse).
func twReuse(st sim.Stack, w workload.Spec) bool {
	if w.Path != allocator.Connect || st.Scope != allocator.FourTuple || !st.Timestamps {
		return false
	}
	return st.TWReuse == 1 || (st.TWReuse == 2 && w.Loopback)
}

// largestShare returns the largest share of attempts one destination
// receives.
func largestShare(w workload.Spec) float64 {
	d := max(w.Destinations, 1)
	if w.DestOrder != workload.Zipf {
		return 1 / float64(d)
	}
	h := 0.0
	for i := 1; i <= d; i++ {
		h += math.Pow(float64(i), -w.ZipfS)
	}
	return 1 / h
}

// ErlangB returns the Erlang B blocking probability of a loss system with
// n servers and offered load a (erlangs), by the stable recursion
// B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)). It is 1 for n = 0 and a > 0,
// and 0 for a = 0 and n > 0.
func ErlangB(n int, a float64) float64 {
	if a <= 0 {
		if n == 0 {
			return 1
		}
		return 0
	}
	b := 1.0
	for k := 1; k <= n; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b
}

// ErlangRate returns the Poisson arrival rate, in connections per second,
// at which one pool of ports, each held for cycle per connection, blocks
// a share target of the attempts: the λ with ErlangB(ports, λ·cycle) =
// target. A pool of ports under Poisson arrivals is an Erlang loss system
// whatever the distribution of the holding time (insensitivity), so this
// is the exact steady state of any allocator that finds every free port.
// It returns +Inf for a zero cycle and NaN for a target outside (0, 1).
func ErlangRate(ports int, cycle time.Duration, target float64) float64 {
	if !(target > 0 && target < 1) {
		return math.NaN()
	}
	if cycle <= 0 {
		return math.Inf(1)
	}
	// B grows with the load: bisect on the load in erlangs.
	lo, hi := 0.0, float64(ports)+1
	for ErlangB(ports, hi) < target {
		hi *= 2
	}
	for range 100 {
		mid := (lo + hi) / 2
		if ErlangB(ports, mid) < target {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-9*hi {
			break
		}
	}
	return (lo + hi) / 2 / cycle.Seconds()
}
