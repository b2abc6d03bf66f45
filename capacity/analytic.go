package capacity

import (
	"math"
	"time"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
)

// Analytic returns the analytic bound of a simulation setup
// (results.Setup.Bound of the setup a run of cfg records); its
// Workload.Rate is ignored.
func Analytic(cfg sim.Config) results.Bound {
	return cfg.Setup().Bound()
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
