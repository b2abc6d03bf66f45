package results

import (
	"encoding/json"
	"math"
	"time"
)

// Bound is the analytic ceiling on the new-connection rate of a setup
// (its knee): every attempt holds one local port of one (source,
// destination) pool for the connection's hold time plus the time its
// port stays unusable after the close, so by Little's law a pool of N
// ports serves at most N / (hold + unusable time) connections per second
// (docs/figures.md#t4-ports-per-time_wait). Above it a share
// 1 - Rate/offered of the attempts must fail.
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
	// pool per source: an exclusive scope, bind(0) or UDP).
	Share float64 `json:"share"`
	// Hold is the mean connection hold time; the largest duration for
	// connections that are never closed.
	Hold time.Duration `json:"hold_ns"`
	// Unusable is how long a closed connection's port stays unusable for
	// the next connection to the same destination: TIME_WAIT, or
	// tcp_tw_reuse_delay (plus up to 1 ms of the millisecond clock) when
	// tcp_tw_reuse lets connect() take TIME_WAIT over, or 0 without
	// TIME_WAIT (server or RST close, UDP).
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

// MarshalJSON writes the bound with its rate, null when infinite.
func (b Bound) MarshalJSON() ([]byte, error) {
	type plain Bound
	var rate *float64
	if !math.IsInf(b.Rate, 0) && !math.IsNaN(b.Rate) {
		rate = &b.Rate
	}
	return json.Marshal(struct {
		plain
		Rate *float64 `json:"rate"`
	}{plain(b), rate})
}

// Bound returns the analytic bound of the setup: the one knee every
// table, chart, report and capacity search of portsim uses.
//
// The unusable time is TIME_WAIT after a client close over TCP; only
// tcp_tw_reuse_delay when take-over applies (timestamps on, tcp_tw_reuse
// 1, or 2 towards a loopback destination, in a 4-tuple stack's
// connect()), plus up to 1 ms because tcp_twsk_unique
// (net/ipv4/tcp_ipv4.c) needs the millisecond clock strictly past the
// TIME_WAIT's first millisecond plus the delay; and none after a server
// close, a reset or over UDP.
func (s Setup) Bound() Bound {
	b := Bound{
		Ports:   int(math.Round(float64(s.Ports) * (1 - s.Prefill))),
		Sources: max(s.Sources, 1),
		Share:   1,
		Hold:    time.Duration(s.HoldMeanNS),
	}
	if s.HoldMeanNS < 0 {
		b.Hold = math.MaxInt64
	}
	if s.Scope != "exclusive" && s.Path == "connect" {
		b.Share = s.busiestShare()
	}
	switch {
	case s.Path == "udp":
		b.Why = "no TIME_WAIT, UDP"
	case s.Close != "client":
		b.Why = "no TIME_WAIT, the server or a reset closes"
	case s.TimeWaitNS == 0:
		b.Why = "no TIME_WAIT"
	case s.TakeOver():
		b.Unusable = min(time.Duration(s.TWReuseDelayNS)+time.Millisecond, time.Duration(s.TimeWaitNS))
		b.Why = "tcp_tw_reuse_delay"
	default:
		b.Unusable = time.Duration(s.TimeWaitNS)
		b.Why = "TIME_WAIT"
	}
	cycle := b.Cycle()
	switch {
	case s.HoldMeanNS < 0:
		b.Rate = 0
	case cycle <= 0:
		b.Rate = math.Inf(1)
	default:
		b.Rate = float64(b.Sources) * float64(b.Ports) / (cycle.Seconds() * b.Share)
	}
	return b
}

// TakeOver reports whether connect() may take a TIME_WAIT 4-tuple over
// in this setup: timestamps on and tcp_tw_reuse 1, or 2 towards a
// loopback destination, in a 4-tuple connect() stack (tcp_twsk_unique,
// net/ipv4/tcp_ipv4.c; docs/allocators.md#time_wait-and-tcp_tw_reuse).
func (s Setup) TakeOver() bool {
	if s.Path != "connect" || s.Scope != "4-tuple" || !s.Timestamps {
		return false
	}
	return s.TWReuse == 1 || (s.TWReuse == 2 && s.Loopback)
}

// busiestShare returns the largest share of attempts one destination
// receives: the first Zipf weight 1/H(D, s), else 1/Destinations.
func (s Setup) busiestShare() float64 {
	d := max(s.Destinations, 1)
	if s.DestOrder != "zipf" {
		return 1 / float64(d)
	}
	h := 0.0
	for i := 1; i <= d; i++ {
		h += math.Pow(float64(i), -s.ZipfS)
	}
	return 1 / h
}
