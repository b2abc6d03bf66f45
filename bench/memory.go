package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/sim/workload"
)

// DefaultMemoryBudget is the most memory one run may be estimated to need
// before Suite.CheckMemory refuses it: 4 GiB.
const DefaultMemoryBudget = 4 << 30

// EstimateMemory returns a generous estimate, in bytes, of the memory one
// run of this setup needs. The simulator's memory grows with live state —
// connections established or in TIME_WAIT, destinations and the ports each
// has used — and never with the run's length, so the estimate bounds each
// of those by what the workload can produce.
func (s *Setup) EstimateMemory() float64 {
	w := s.Workload
	ports := float64(s.Stack.Range.Size())
	attempts := math.Inf(1)
	if s.Attempts > 0 {
		attempts = float64(s.Attempts)
	}
	if s.Duration > 0 && w.MeanRate() > 0 {
		attempts = math.Min(attempts, w.MeanRate()*s.Duration.Seconds())
	}
	dests := float64(w.Destinations) * float64(w.Sources)
	if !math.IsInf(attempts, 1) {
		dests = math.Min(dests, attempts)
	}
	// Live connections: Little's law on the established and TIME_WAIT
	// times, bounded by the attempts and by every port of every pair.
	hold := w.Hold.Mean()
	live := math.Inf(1)
	if hold != workload.Forever && w.MeanRate() > 0 {
		live = w.MeanRate() * (hold + s.Stack.TimeWait + time.Second).Seconds()
	}
	if w.Arrivals == workload.Closed {
		live = float64(w.Clients)
	}
	live = math.Min(math.Min(live, attempts), dests*ports)
	// Per pair: sorted ports and history (about 24 bytes a port used)
	// until it has used 2,048 ports, then a 16-byte history entry for every
	// port of the range; bitsets (up to 2 x 8.75 KiB) once it holds more
	// than 32 ports at a time.
	used := math.Min(ports, math.Max(attempts/dests, 1))
	perPair := 512 + 24*used
	if used > 2048 {
		perPair = 512 + 16*ports
	}
	if used > 32 {
		perPair += 2 * (768 + 16*512)
	}
	const base = 8 << 20 // allocator tables (Linux: 256 KiB), histograms, maps
	return base + dests*perPair + live*48
}

// CheckMemory estimates the memory of every run of the suite and returns
// an error naming the first cell above budget bytes, with what to change.
func (s *Suite) CheckMemory(budget float64) error {
	cells, err := s.Cells()
	if err != nil {
		return err
	}
	for _, c := range cells {
		st, err := c.Setup()
		if err != nil {
			return err
		}
		if m := st.EstimateMemory(); m > budget {
			return fmt.Errorf("scenario %q with %s would need about %s per run, above the budget of %s: lower destinations, sources, rate or hold time, or raise the budget with -max-memory",
				c.Scenario.Name, c.Alloc.Label(), FormatBytes(m), FormatBytes(budget))
		}
	}
	return nil
}

// FormatBytes formats a byte count as KiB, MiB or GiB.
func FormatBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(b/(1<<30), 'f', 1, 64) + " GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(b/(1<<10), 'f', 1, 64) + " KiB"
}

// ParseBytes parses a size such as 512MiB, 8GiB or 1.5GB (powers of 1024
// for KiB/MiB/GiB/TiB, of 1000 for KB/MB/GB/TB, bytes without a unit).
func ParseBytes(v string) (float64, error) {
	s := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, fmt.Errorf("%q: expected a positive size such as 512MiB or 8GiB", v)
	}
	return f * mult, nil
}
