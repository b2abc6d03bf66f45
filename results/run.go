// Package results holds what a simulation measures, as plain data, and
// reads and writes it: one Run per (scenario, allocator, seed), streamed
// into bounded-memory summaries, written as JSON lines, tidy CSV and Go
// benchmark format, and summarised in a Markdown report. It knows nothing
// of how runs are produced.
package results

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// Run is the outcome of one simulation: one scenario, one allocator, one
// seed. Every field but WallNS is a pure function of the run's
// configuration, so two runs of one configuration compare equal once
// WallNS is cleared.
type Run struct {
	// Suite, Scenario and Labels identify the run inside a suite; Labels
	// holds the sweep coordinates (e.g. "rate": "500"). The simulator
	// leaves them empty; the benchmark runner fills them in.
	Suite    string            `json:"suite,omitempty"`
	Scenario string            `json:"scenario,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Allocator is the registry name, Params its non-default parameters.
	Allocator string            `json:"allocator"`
	Params    map[string]string `json:"params,omitempty"`
	// Seed is the workload seed; Replicate numbers the seeds of a suite
	// from 0.
	Seed      uint64 `json:"seed"`
	Replicate int    `json:"replicate"`

	// Setup echoes the stack and workload the run used.
	Setup Setup `json:"setup"`

	// SimulatedNS is the virtual time the run covered, in nanoseconds.
	SimulatedNS int64 `json:"simulated_ns"`
	// Events counts the events the simulator processed.
	Events int64 `json:"events"`

	// Attempts, Successes and Failures count port allocations; a failure
	// is ErrExhausted (EADDRNOTAVAIL and its kin).
	Attempts  int64 `json:"attempts"`
	Successes int64 `json:"successes"`
	Failures  int64 `json:"failures"`
	// FirstFailureNS is the virtual time of the first failure, or -1.
	FirstFailureNS int64 `json:"first_failure_ns"`

	// Probes holds Checker calls per Allocate, for every attempt; ProbesOK
	// and ProbesFail split it by outcome, ProbesByParity by the parity of
	// the port chosen (successes only: [0] even, [1] odd).
	Probes         Hist    `json:"probes"`
	ProbesOK       Hist    `json:"probes_ok"`
	ProbesFail     Hist    `json:"probes_fail"`
	ProbesByParity [2]Hist `json:"probes_by_parity"`

	// ReuseInterval holds, for each allocation of a 4-tuple used before,
	// the virtual time in nanoseconds since the previous connection on it
	// closed (TIME_WAIT included). Premature counts those below
	// PrematureNS (2·MSL, the stack's TIME_WAIT length).
	ReuseInterval Hist  `json:"reuse_interval_ns"`
	PrematureNS   int64 `json:"premature_threshold_ns"`
	Premature     int64 `json:"premature"`
	// TWTakeovers counts connections that took over a 4-tuple in TIME_WAIT
	// (tcp_tw_reuse).
	TWTakeovers int64 `json:"tw_takeovers"`
	// PoolFailures counts the failures (included in Failures) of attempts
	// that found a stack's fixed pool of TCP control blocks full, with no
	// connection in TIME_WAIT to free, before any port was chosen (lwIP's
	// MEMP_NUM_TCP_PCB). PCBKills counts the connections in TIME_WAIT freed
	// early to make room in that pool (tcp_kill_timewait).
	PoolFailures int64 `json:"pool_failures,omitempty"`
	PCBKills     int64 `json:"pcb_kills,omitempty"`

	// The SNAT race, with more than one CPU translating (Setup.CPUs):
	// Attempts counts every SYN translated, retransmissions included;
	// Successes the entries confirmed. Clashes counts SYNs dropped at
	// confirm because another flow confirmed their tuple first (the
	// kernel's insert_failed), SynRetransmits the SYNs sent again after a
	// clash, ConnectFailures the connects that clashed on their last
	// retransmission and failed. ConnectLatency holds, for each connect
	// that succeeded, the time in nanoseconds from its first SYN to its
	// confirmed entry, retransmission timeouts included. All are absent
	// with one CPU.
	Clashes         int64 `json:"clashes,omitempty"`
	SynRetransmits  int64 `json:"syn_retransmits,omitempty"`
	ConnectFailures int64 `json:"connect_failures,omitempty"`
	ConnectLatency  *Hist `json:"connect_latency_ns,omitempty"`

	// ReuseDistance holds, for each allocation of a local port used before
	// towards the same destination, the number of allocations to that
	// destination since (1 = the port came straight back).
	ReuseDistance Hist `json:"reuse_distance"`
	// Wrap holds the number of allocations to one destination in each full
	// turn of its ports around the range (the sum of successive forward
	// differences reaching the range size).
	Wrap Hist `json:"wrap"`
	// SuccDiff is the histogram of differences between successive ports
	// to the same destination.
	SuccDiff DiffHist `json:"succ_diff"`
	// OARC holds the DNS-OARC port-test score of each window of 26
	// successive ports to one destination: their standard deviation,
	// rounded.
	OARC Hist `json:"oarc"`

	// PortUsage counts successful allocations over the range.
	PortUsage PortHist `json:"port_usage"`
	// Occupancy samples ports established and in TIME_WAIT over time.
	Occupancy Series `json:"occupancy"`
	// Cells reports destinations sharing a hash-table cell, for allocators
	// that have one.
	Cells *CellStats `json:"cells,omitempty"`

	// WallNS is the wall-clock time the run took, in nanoseconds. It is
	// the only field that differs between two runs of one configuration,
	// so it is not part of the JSON form (runs.jsonl stays byte-identical
	// between repeated or resumed runs); timings are written apart.
	WallNS int64 `json:"-"`
}

// Setup echoes the stack and workload settings of a run, for tables,
// charts and analytic bounds.
type Setup struct {
	// Range is the ephemeral range, "LO-HI"; Reserved lists reserved ports.
	Range    string `json:"range"`
	Reserved string `json:"reserved,omitempty"`
	// Ports is the number of usable ports in the range (reserved excluded).
	Ports int `json:"ports"`
	// TimeWaitNS is the TIME_WAIT length in nanoseconds.
	TimeWaitNS int64 `json:"time_wait_ns"`
	// Scope is "4-tuple" or "exclusive"; TWReuse is tcp_tw_reuse (0, 1, 2);
	// TWReuseDelayNS its delay; Timestamps whether TCP timestamps are on.
	Scope          string `json:"scope"`
	TWReuse        int    `json:"tw_reuse"`
	TWReuseDelayNS int64  `json:"tw_reuse_delay_ns"`
	Timestamps     bool   `json:"timestamps"`
	// Sources and Destinations count source IPs and destinations.
	Sources      int `json:"sources"`
	Destinations int `json:"destinations"`
	// Path is "connect", "bind" or "udp"; Close is "client", "server" or
	// "rst"; Arrivals names the arrival process.
	Path     string `json:"path"`
	Close    string `json:"close"`
	Arrivals string `json:"arrivals"`
	// RatePerSec is the offered arrival rate in connections per second (0
	// when not a rate-driven workload).
	RatePerSec float64 `json:"rate_per_sec"`
	// Hold describes the hold-time distribution; HoldMeanNS is its mean in
	// nanoseconds, -1 for connections that are never closed.
	Hold       string `json:"hold"`
	HoldMeanNS int64  `json:"hold_mean_ns"`
	// Loopback reports destinations on 127/8, where tcp_tw_reuse=2
	// applies.
	Loopback bool `json:"loopback,omitempty"`
	// DestOrder is how attempts pick a destination when there are
	// several and not uniformly: "zipf" (with exponent ZipfS) or
	// "round-robin"; empty for uniform or one destination.
	DestOrder string  `json:"dest_order,omitempty"`
	ZipfS     float64 `json:"zipf_s,omitempty"`
	// Prefill is the share of ports held from the start by background
	// connections (0 for none).
	Prefill float64 `json:"prefill,omitempty"`
	// PCBs is the size of the stack's fixed pool of TCP control blocks
	// (lwIP's MEMP_NUM_TCP_PCB), 0 for none.
	PCBs int `json:"pcbs,omitempty"`
	// StartEstablished and StartTimeWait count the sockets of an imported
	// starting state put in the table before the run; StartSkipped those
	// left out (ports outside the range or reserved, duplicates, TIME_WAIT
	// in a stack without it).
	StartEstablished int64 `json:"start_established,omitempty"`
	StartTimeWait    int64 `json:"start_time_wait,omitempty"`
	StartSkipped     int64 `json:"start_skipped,omitempty"`
	// CPUs is the number of CPUs translating new flows, echoed only when
	// above 1 (the SNAT race); ConfirmDelay the distribution of the time
	// from a tuple's choice to its insert, ConfirmDelayMeanNS its mean;
	// SynRTONS the first SYN retransmission timeout and SynRetries the
	// retransmissions before a connect fails.
	CPUs               int    `json:"cpus,omitempty"`
	ConfirmDelay       string `json:"confirm_delay,omitempty"`
	ConfirmDelayMeanNS int64  `json:"confirm_delay_mean_ns,omitempty"`
	SynRTONS           int64  `json:"syn_rto_ns,omitempty"`
	SynRetries         int    `json:"syn_retries,omitempty"`
	// InsideHosts is the number of inside hosts whose own allocator
	// (InsideAllocator) chose the flows' original ports, 0 for none.
	InsideHosts     int    `json:"inside_hosts,omitempty"`
	InsideAllocator string `json:"inside_allocator,omitempty"`
}

// FailureFraction returns Failures / Attempts, or 0 with no attempts.
func (r *Run) FailureFraction() float64 {
	if r.Attempts == 0 {
		return 0
	}
	return float64(r.Failures) / float64(r.Attempts)
}

// Key returns a string identifying the run's cell and seed inside a suite:
// scenario, labels in key order, allocator, params and replicate.
func (r *Run) Key() string {
	return fmt.Sprintf("%s|%s|%s|%s|%d", r.Scenario, formatMap(r.Labels), r.Allocator, formatMap(r.Params), r.Replicate)
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ","
		}
		s += k + "=" + m[k]
	}
	return s
}

// OARCClass names the DNS-OARC port-test class of a standard deviation of
// 26 source ports: GREAT at 3980 and above, GOOD from 296, POOR below.
func OARCClass(sd float64) string {
	switch {
	case math.IsNaN(sd):
		return "n/a"
	case sd >= 3980:
		return "GREAT"
	case sd >= 296:
		return "GOOD"
	}
	return "POOR"
}

// DiffSpan is the largest successive difference DiffHist counts exactly.
const DiffSpan = 128

// DiffHist counts differences d between successive ports to one
// destination, taken modulo the range size into (-size/2, size/2]: every d
// in [-DiffSpan, DiffSpan] exactly, the rest as Below or Above.
type DiffHist struct {
	counts [2*DiffSpan + 1]uint64
	// Below and Above count differences beyond ±DiffSpan.
	Below, Above uint64
}

// Record adds one difference.
func (d *DiffHist) Record(diff int) {
	switch {
	case diff < -DiffSpan:
		d.Below++
	case diff > DiffSpan:
		d.Above++
	default:
		d.counts[diff+DiffSpan]++
	}
}

// Count returns the number of exactly counted differences equal to diff
// (|diff| <= DiffSpan).
func (d *DiffHist) Count(diff int) uint64 {
	if diff < -DiffSpan || diff > DiffSpan {
		return 0
	}
	return d.counts[diff+DiffSpan]
}

// Total returns the number of differences recorded.
func (d *DiffHist) Total() uint64 {
	t := d.Below + d.Above
	for _, c := range d.counts {
		t += c
	}
	return t
}

// GuessRate returns the share of next ports an observer who knows this
// distribution guesses within k tries from the previous port, trying the
// k most frequent differences: the sum of the k largest exact counts over
// the total. k is at most 2·DiffSpan+1.
func (d *DiffHist) GuessRate(k int) float64 {
	total := d.Total()
	if total == 0 {
		return math.NaN()
	}
	c := slices.Clone(d.counts[:])
	slices.SortFunc(c, func(a, b uint64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	var s uint64
	for _, v := range c[:min(k, len(c))] {
		s += v
	}
	return float64(s) / float64(total)
}

type diffJSON struct {
	Counts [][2]int64 `json:"counts,omitempty"` // [difference, count]
	Below  uint64     `json:"below"`
	Above  uint64     `json:"above"`
}

// MarshalJSON writes the non-zero counts as [difference, count] pairs.
func (d DiffHist) MarshalJSON() ([]byte, error) {
	j := diffJSON{Below: d.Below, Above: d.Above}
	for i, c := range d.counts {
		if c != 0 {
			j.Counts = append(j.Counts, [2]int64{int64(i - DiffSpan), int64(c)})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (d *DiffHist) UnmarshalJSON(b []byte) error {
	var j diffJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = DiffHist{Below: j.Below, Above: j.Above}
	for _, p := range j.Counts {
		if p[0] < -DiffSpan || p[0] > DiffSpan || p[1] < 0 {
			return fmt.Errorf("difference histogram entry %v out of range", p)
		}
		d.counts[p[0]+DiffSpan] = uint64(p[1])
	}
	return nil
}

// PortHist counts allocations over a port range in equal-width bins.
type PortHist struct {
	// Lo and Hi are the range; Width is the ports per bin, a power of two.
	Lo    int      `json:"lo"`
	Hi    int      `json:"hi"`
	Width int      `json:"width"`
	Bins  []uint64 `json:"bins"`
	// Even and Odd count allocations of even and odd ports.
	Even uint64 `json:"even"`
	Odd  uint64 `json:"odd"`
}

// NewPortHist returns a histogram of lo..hi in at most maxBins bins, each
// a power of two ports wide (so that Record shifts instead of dividing).
func NewPortHist(lo, hi, maxBins int) PortHist {
	n := hi - lo + 1
	w := 1
	for w*maxBins < n {
		w *= 2
	}
	return PortHist{Lo: lo, Hi: hi, Width: w, Bins: make([]uint64, (n+w-1)/w)}
}

// Record counts one allocation of port p; ports outside the range only
// count towards Even and Odd.
func (h *PortHist) Record(p uint16) {
	if p&1 == 0 {
		h.Even++
	} else {
		h.Odd++
	}
	if i := int(p) - h.Lo; i >= 0 && int(p) <= h.Hi && h.Width > 0 {
		if h.Width&(h.Width-1) == 0 {
			h.Bins[i>>bits.TrailingZeros(uint(h.Width))]++
		} else {
			h.Bins[i/h.Width]++
		}
	}
}

// SeriesMax is the most points a Series keeps.
const SeriesMax = 512

// Series is a time series of port occupancy sampled at a fixed step. When
// it reaches SeriesMax points it keeps every other point and doubles its
// step, so a run of any length fits in bounded memory.
type Series struct {
	// StepNS is the virtual time between points, in nanoseconds.
	StepNS int64 `json:"step_ns"`
	// Established and TimeWait are the ports (4-tuples) held in each
	// state at each point; point i is at time i·StepNS.
	Established []uint32 `json:"established"`
	TimeWait    []uint32 `json:"time_wait"`
	// stride is how many offered samples make one stored point; seen
	// counts offered samples.
	stride, seen int64
}

// NewSeries returns an empty series for samples offered every step.
func NewSeries(step time.Duration) Series {
	return Series{StepNS: int64(step), stride: 1}
}

// Add offers the next sample; the series stores every stride-th one.
func (s *Series) Add(established, timeWait uint32) {
	if s.stride == 0 {
		s.stride = 1
	}
	n := s.seen
	s.seen++
	if n%s.stride != 0 {
		return
	}
	if len(s.Established) == SeriesMax {
		half := func(v []uint32) []uint32 {
			for i := range SeriesMax / 2 {
				v[i] = v[2*i]
			}
			return v[:SeriesMax/2]
		}
		s.Established, s.TimeWait = half(s.Established), half(s.TimeWait)
		s.stride *= 2
		s.StepNS *= 2
		if n%s.stride != 0 {
			return
		}
	}
	s.Established = append(s.Established, established)
	s.TimeWait = append(s.TimeWait, timeWait)
}

// CellStats reports how many destinations share a cell of a hash-indexed
// table of counters (RFC 6056 Algorithm 4, Linux >= 5.12).
type CellStats struct {
	// TableSize is the number of cells.
	TableSize int `json:"table_size"`
	// Destinations is the number of distinct destinations seen.
	Destinations int `json:"destinations"`
	// SharedPairs is the number of destination pairs in one cell (at the
	// time of each destination's first connection).
	SharedPairs int64 `json:"shared_pairs"`
}

// AllocLabel is the one spelling of an allocator with parameters in every
// table, legend, sentence, file name and bench.txt line: the name, then
// the parameters in key order in brackets ("random-window[window=500]").
func AllocLabel(name string, params map[string]string) string {
	if len(params) == 0 {
		return name
	}
	return name + "[" + formatMap(params) + "]"
}

// AllocLabel is AllocLabel of the run's allocator and params.
func (r *Run) AllocLabel() string { return AllocLabel(r.Allocator, r.Params) }
