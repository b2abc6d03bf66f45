package bench

import (
	"fmt"
	"math"
	"net/netip"
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
// connections established or in TIME_WAIT (prefilled ones included),
// destinations and the ports each has used — and never with the run's
// length, so the estimate bounds each of those by what the workload can
// produce. For a trace, trace describes it (SummarizeTrace): its distinct
// pairs and the most connections it holds at once. The estimate doubles
// the live heap for the garbage collector's headroom (GOGC=100).
func (s *Setup) EstimateMemory(trace *workload.TraceStats) float64 {
	w := s.Workload
	ports := float64(s.Stack.Range.Size())
	attempts := math.Inf(1)
	if s.Attempts > 0 {
		attempts = float64(s.Attempts)
	}
	if d := s.RunDuration(); d > 0 && w.MeanRate() > 0 && w.Arrivals != workload.Trace {
		attempts = math.Min(attempts, w.MeanRate()*d.Seconds())
	}
	dests := float64(w.Destinations) * float64(w.Sources)
	hold := w.Hold.Mean()
	live := math.Inf(1)
	if hold != workload.Forever && w.MeanRate() > 0 {
		// Little's law on the established and TIME_WAIT times.
		live = w.MeanRate() * (hold + s.Stack.TimeWait + time.Second).Seconds()
	}
	if w.Arrivals == workload.Closed {
		live = float64(w.Clients)
	}
	if w.Arrivals == workload.Trace && trace != nil {
		recs := float64(trace.Records)
		attempts = math.Min(attempts, recs)
		dests = float64(trace.Pairs)
		if trace.Pairs > workload.MaxDistinct {
			dests = recs // counted only up to MaxDistinct: assume every attempt a new pair
		}
		span := math.Max((trace.Last - trace.First).Seconds(), s.Stack.TimeWait.Seconds())
		inTW := 0.0
		if span > 0 {
			inTW = recs * s.Stack.TimeWait.Seconds() / span
		}
		live = float64(trace.PeakHeld) + inTW
	}
	if !math.IsInf(attempts, 1) {
		dests = math.Min(dests, math.Max(attempts, 1))
	}
	live = math.Min(math.Min(live, attempts), dests*ports)
	// Prefilled ports are held from the start, in every pair.
	prefilled := s.Prefill * ports
	live += prefilled * dests
	// Per pair: sorted ports and history (18 bytes a port used, 24 with
	// the slices' spare capacity)
	// until it has used 2,048 ports, then a 16-byte history entry for every
	// port of the range; bitsets (up to 2 x 8.75 KiB) once it holds more
	// than 32 ports at a time.
	used := math.Min(ports, math.Max(math.Max(attempts/dests, 1), prefilled))
	perPair := 512 + 24*used
	if used > 2048 {
		perPair = 512 + 16*ports
	}
	if used > 32 {
		perPair += 2 * (768 + 16*512)
	}
	const base = 8 << 20 // allocator tables (Linux: 256 KiB), histograms, maps
	return 2 * (base + dests*perPair + live*48 + insideMemory(s.Inside.Hosts, attempts) + stateMemory(s.Start, s.Stack.Range.Size()))
}

// insideMemory estimates the memory of hosts inside hosts (pods behind a
// NAT) that make attempts between them: each host's allocator, for the
// Linux model about 12 KiB (its table_perturb's index of 1,024 blocks,
// secret and memos; 11.3 KB measured for 20,000 hosts of two connects
// each) and 256 bytes for each block of 64 cells its connects draw, up to
// the whole 256 KiB table.
func insideMemory(hosts int, attempts float64) float64 {
	if hosts <= 0 {
		return 0
	}
	h := float64(hosts)
	return h * (12<<10 + 256*math.Min(1024, math.Max(attempts/h, 1)))
}

// stateMemory estimates the memory a starting state takes: its records
// (64 bytes each, in the run's configuration), a live socket (48 bytes)
// each, and the table of each (source, destination) pair it holds, sized
// as EstimateMemory sizes a pair by the ports it uses.
func stateMemory(recs []workload.StateRecord, ports int) float64 {
	type pair struct {
		src netip.Addr
		dst netip.AddrPort
	}
	perPair := map[pair]int{}
	for _, r := range recs {
		perPair[pair{r.Src, r.Dst}]++
	}
	m := float64(len(recs)) * (64 + 48)
	for _, n := range perPair {
		used := math.Min(float64(ports), float64(n))
		b := 512 + 24*used
		if used > 32 {
			b += 2 * (768 + 16*512)
		}
		m += b
	}
	return m
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
		tr, _ := s.Trace(st.Workload.TraceName)
		if m := st.EstimateMemory(tr); m > budget {
			what := "lower destinations, sources, rate, hold time or prefill"
			if tr != nil {
				what = "replay a shorter trace"
			}
			return fmt.Errorf("scenario %q with %s would need about %s per run, above the budget of %s: %s, or raise the budget with -max-memory",
				c.Scenario.Name, c.Alloc.Label(), FormatBytes(m), FormatBytes(budget), what)
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

// Work is an estimate of what a suite run will do.
type Work struct {
	// Runs is the number of runs; Attempts the connection attempts they
	// simulate in all.
	Runs     int
	Attempts float64
	// EventBytes is the size of the event logs written (scenarios with
	// events: true log the first replicate of every cell).
	EventBytes float64
}

// eventBytesPerAttempt is about the length of one event-log line.
const eventBytesPerAttempt = 56

// DefaultMaxAttempts is the most attempts a command simulates in all
// before it refuses to start: 1e11, about a day of one core's simulation.
const DefaultMaxAttempts = 1e11

// EstimateAttempts returns the attempts one run of this setup simulates:
// the rate times the run's duration, the attempt limit, or the trace's
// attempts (up to the duration, when one cuts it).
func (s *Setup) EstimateAttempts(trace *workload.TraceStats) float64 {
	w := s.Workload
	n := math.Inf(1)
	if s.Attempts > 0 {
		n = float64(s.Attempts)
	}
	d := s.RunDuration().Seconds()
	switch {
	case w.Arrivals == workload.Trace && trace != nil:
		recs := float64(trace.Records)
		if span := (trace.Last - trace.First).Seconds(); d > 0 && span > 0 && d < span {
			recs *= d / span
		}
		n = math.Min(n, recs)
	case w.Arrivals == workload.Closed && d > 0:
		cycle := (w.Hold.Mean() + w.Think.Mean()).Seconds()
		if w.Hold.Mean() == workload.Forever || cycle <= 0 {
			n = math.Min(n, float64(w.Clients))
		} else {
			n = math.Min(n, float64(w.Clients)*(1+d/cycle))
		}
	case d > 0:
		n = math.Min(n, w.MeanRate()*d)
	}
	return n
}

// EstimateWork estimates the runs, attempts and event-log bytes of the
// suite's runs (of shard k of n when n > 0).
func (s *Suite) EstimateWork(k, n int) (Work, error) {
	units, err := s.Units()
	if err != nil {
		return Work{}, err
	}
	var w Work
	setups := map[*Cell]float64{}
	for _, u := range units {
		if n > 0 && u.Index%n != k-1 {
			continue
		}
		a, ok := setups[u.Cell]
		if !ok {
			st, err := u.Cell.Setup()
			if err != nil {
				return Work{}, err
			}
			tr, _ := s.Trace(st.Workload.TraceName)
			a = st.EstimateAttempts(tr)
			setups[u.Cell] = a
		}
		w.Runs++
		w.Attempts += a
		if u.Cell.Scenario.Events && u.Replicate == 0 {
			w.EventBytes += a * eventBytesPerAttempt
		}
	}
	return w, nil
}

// Check refuses work beyond maxAttempts attempts, with the estimate and
// the flag that raises the bound.
func (w Work) Check(maxAttempts float64) error {
	if w.Attempts > maxAttempts {
		return fmt.Errorf("%s; above the limit of %.3g attempts: shorten the runs (duration, attempts, rate) or raise the limit with -max-attempts", w, maxAttempts)
	}
	return nil
}

// Large reports work worth announcing before it starts: more than 1e9
// attempts or 1 GiB of event logs.
func (w Work) Large() bool { return w.Attempts > 1e9 || w.EventBytes > 1<<30 }

// String says what the work is: "about 3.2e+09 attempts in 120 runs" and
// the event logs' size when there are any.
func (w Work) String() string {
	s := fmt.Sprintf("about %.3g attempts in %d runs", w.Attempts, w.Runs)
	if math.IsInf(w.Attempts, 1) {
		s = fmt.Sprintf("an unbounded number of attempts in %d runs", w.Runs)
	}
	if w.EventBytes > 0 {
		s += ", writing about " + FormatBytes(w.EventBytes) + " of event logs"
	}
	return s
}
