package results

import "math"

// How a metric is added: a quantity the simulator already records is one
// entry in Metrics; a quantity measured at an event is a field of Run
// (run.go) and a few lines in the method below that the simulator calls
// for every such event: Allocated (with what it remembers of the port and
// the destination), Succeeded, Failed, Clashed, TookOver, Killed or
// Sampled.

// oarcWindow is the number of successive ports the DNS-OARC port test
// looks at.
const oarcWindow = 26

// DestState is what the allocation metrics keep for one destination
// between its allocations; the simulator holds one per (source,
// destination) pair and passes it to Allocated. The zero value is a
// destination with no allocation yet.
type DestState struct {
	// Seq counts the allocations to the destination; the simulator
	// increments it before Allocated and remembers it per port (the
	// reuse distance is the difference of two Seq values).
	Seq     uint64
	prev    uint16 // previous port, 0 before the first
	wrapAcc int    // forward distance since the last full turn
	wrapCnt uint64 // allocations since the last full turn
	oarcN   int    // ports in the current 26-port window
	oarcS   int64  // their sum
	oarcQ   int64  // and sum of squares
}

// Allocated records one successful allocation of port to the destination
// whose state is dst (dst.Seq already counts it), at virtual time now
// (ns), in a range of n ports. lastClose is the virtual time the port was
// last closed towards this destination, -1 when never; lastSeq is dst.Seq
// at its last allocation, 0 when never used. It feeds the reuse interval
// and premature reuses, the reuse distance, port usage, successive
// differences and wraps, and the DNS-OARC score.
func (r *Run) Allocated(dst *DestState, n int, now, lastClose int64, lastSeq uint64, port uint16) {
	if lastClose >= 0 {
		iv := now - lastClose
		r.ReuseInterval.Record(uint64(iv))
		if iv < r.PrematureNS {
			r.Premature++
		}
	}
	if lastSeq != 0 {
		r.ReuseDistance.Record(dst.Seq - lastSeq)
	}
	r.PortUsage.Record(port)

	if dst.prev != 0 {
		fwd := int(port) - int(dst.prev) // both in the range: |fwd| < n
		if fwd < 0 {
			fwd += n
		}
		d := fwd // centred into (-n/2, n/2]
		if d > n/2 {
			d -= n
		}
		r.SuccDiff.Record(d)
		dst.wrapAcc += fwd
		dst.wrapCnt++
		if dst.wrapAcc >= n {
			r.Wrap.Record(dst.wrapCnt)
			dst.wrapAcc -= n
			dst.wrapCnt = 0
		}
	}
	dst.prev = port

	p := int64(port)
	dst.oarcN++
	dst.oarcS += p
	dst.oarcQ += p * p
	if dst.oarcN == oarcWindow {
		n := float64(oarcWindow)
		mean := float64(dst.oarcS) / n
		v := (float64(dst.oarcQ) - n*mean*mean) / (n - 1)
		r.OARC.Record(uint64(math.Round(math.Sqrt(max(v, 0)))))
		dst.oarcN, dst.oarcS, dst.oarcQ = 0, 0, 0
	}
}

// Succeeded records an attempt that got port after checking probes
// candidate ports. (Probes and ProbesOK are the sums of ProbesByParity and
// ProbesFail, made when the run ends.) Under the SNAT race it is called
// when the flow's conntrack entry is confirmed, latency ns after its first
// SYN; latency is ignored otherwise.
func (r *Run) Succeeded(port uint16, probes, latency uint64) {
	r.Successes++
	r.ProbesByParity[port&1].Record(probes)
	if r.ConnectLatency != nil {
		r.ConnectLatency.Record(latency)
	}
}

// Failed records an attempt that failed at virtual time now (ns) after
// checking probes candidate ports: the allocator found no port, or, with
// pool set, the pool of TCP control blocks was full.
func (r *Run) Failed(now int64, probes uint64, pool bool) {
	r.Failures++
	if pool {
		r.PoolFailures++
	}
	r.ProbesFail.Record(probes)
	if r.FirstFailureNS < 0 {
		r.FirstFailureNS = now
	}
}

// Clashed records a flow of the SNAT race whose tuple was taken by
// another flow confirmed first: its SYN is dropped, and it is sent again,
// or with gaveUp the connect() fails after its last retransmission.
func (r *Run) Clashed(gaveUp bool) {
	r.Clashes++
	if gaveUp {
		r.ConnectFailures++
	} else {
		r.SynRetransmits++
	}
}

// TookOver records a new connection taking over a TIME_WAIT 4-tuple
// (tcp_tw_reuse).
func (r *Run) TookOver() { r.TWTakeovers++ }

// Killed records a TIME_WAIT ended early to free a TCP control block.
func (r *Run) Killed() { r.PCBKills++ }

// Sampled records one occupancy sample: the connections established and
// the 4-tuples in TIME_WAIT.
func (r *Run) Sampled(established, timeWait int64) {
	r.Occupancy.Add(uint32(established), uint32(timeWait))
}

// Metric is one scalar measure of a Run: a column of runs.csv, a value of
// each bench.txt line and a column of the report's tables.
type Metric struct {
	// Name identifies the metric: lower case, words joined by '_', with
	// a unit suffix where the unit is not a count ("_s" for seconds). It
	// is the CSV column name and the unit of the Go benchmark format, so
	// it holds no spaces.
	Name string
	// Unit is the unit of the value, for table headers and axis labels
	// ("s", "probes", "fraction", ...).
	Unit string
	// Doc says in one sentence what the value is.
	Doc string
	// Better is -1 when lower values are better, +1 when higher values
	// are, and 0 when neither (a count of work offered, for instance).
	// WriteBench passes it on to benchstat.
	Better int
	// Value computes the metric of a run. It returns NaN when the
	// metric is undefined on the run (no reuses, no failures, ...).
	// Every metric is non-negative, and a metric whose Unit is
	// "fraction" lies in [0, 1]; Summarize keeps its intervals there.
	Value func(*Run) float64
	// Pooled, when set, gives a fraction metric as the count of events
	// k out of n trials of a run (failures out of attempts), so that the
	// runs of a group can be pooled for a binomial interval. Nil for
	// metrics that are not such a ratio.
	Pooled func(*Run) (k, n uint64)
}

// Metrics returns every metric, in the column order of runs.csv and
// bench.txt. Each call returns a new slice.
//
// Distribution metrics come from the run's bounded-memory histograms, so
// quantiles are exact below 256 and within 0.8 % above (see Hist).
func Metrics() []Metric {
	ns := func(v float64) float64 { return v / 1e9 }
	q := func(h func(*Run) *Hist, p float64) func(*Run) float64 {
		return func(r *Run) float64 { return h(r).Quantile(p) }
	}
	mean := func(h func(*Run) *Hist) func(*Run) float64 {
		return func(r *Run) float64 { return h(r).Mean() }
	}
	hmin := func(h func(*Run) *Hist) func(*Run) float64 {
		return func(r *Run) float64 {
			if h(r).Count() == 0 {
				return math.NaN()
			}
			return float64(h(r).Min())
		}
	}
	hmax := func(h func(*Run) *Hist) func(*Run) float64 {
		return func(r *Run) float64 {
			if h(r).Count() == 0 {
				return math.NaN()
			}
			return float64(h(r).Max())
		}
	}
	probes := func(r *Run) *Hist { return &r.Probes }
	probesOK := func(r *Run) *Hist { return &r.ProbesOK }
	probesFail := func(r *Run) *Hist { return &r.ProbesFail }
	reuse := func(r *Run) *Hist { return &r.ReuseInterval }
	dist := func(r *Run) *Hist { return &r.ReuseDistance }
	wrap := func(r *Run) *Hist { return &r.Wrap }
	race := func(v func(*Run) float64) func(*Run) float64 {
		return func(r *Run) float64 {
			if r.Setup.CPUs <= 1 {
				return math.NaN()
			}
			return v(r)
		}
	}
	lat := func(p float64) func(*Run) float64 {
		return func(r *Run) float64 {
			if r.ConnectLatency == nil || r.ConnectLatency.Count() == 0 {
				return math.NaN()
			}
			return ns(r.ConnectLatency.Quantile(p))
		}
	}

	return []Metric{
		{Name: "attempts", Unit: "attempts", Doc: "port allocations attempted",
			Value: func(r *Run) float64 { return float64(r.Attempts) }},
		{Name: "successes", Unit: "connections", Doc: "allocations that returned a port", Better: +1,
			Value: func(r *Run) float64 { return float64(r.Successes) }},
		{Name: "failures", Unit: "failures", Doc: "allocations that failed with ErrExhausted (EADDRNOTAVAIL)", Better: -1,
			Value: func(r *Run) float64 { return float64(r.Failures) }},
		{Name: "failure_fraction", Unit: "fraction", Doc: "failures over attempts; undefined without attempts", Better: -1,
			Pooled: func(r *Run) (uint64, uint64) { return uint64(r.Failures), uint64(r.Attempts) },
			Value: func(r *Run) float64 {
				if r.Attempts == 0 {
					return math.NaN()
				}
				return float64(r.Failures) / float64(r.Attempts)
			}},
		{Name: "first_failure_s", Unit: "s", Doc: "virtual time of the first failure; undefined without failures", Better: +1,
			Value: func(r *Run) float64 {
				if r.FirstFailureNS < 0 || r.Failures == 0 {
					return math.NaN()
				}
				return ns(float64(r.FirstFailureNS))
			}},

		{Name: "probes_mean", Unit: "probes", Doc: "mean candidate ports checked per allocation", Better: -1, Value: mean(probes)},
		{Name: "probes_p50", Unit: "probes", Doc: "median candidate ports checked per allocation", Better: -1, Value: q(probes, 0.5)},
		{Name: "probes_p99", Unit: "probes", Doc: "99th percentile of candidate ports checked per allocation", Better: -1, Value: q(probes, 0.99)},
		{Name: "probes_max", Unit: "probes", Doc: "most candidate ports checked of one allocation", Better: -1, Value: hmax(probes)},
		{Name: "probes_ok_mean", Unit: "probes", Doc: "mean candidate ports checked per successful allocation", Better: -1, Value: mean(probesOK)},
		{Name: "probes_ok_p50", Unit: "probes", Doc: "median candidate ports checked per successful allocation", Better: -1, Value: q(probesOK, 0.5)},
		{Name: "probes_ok_p99", Unit: "probes", Doc: "99th percentile of candidate ports checked per successful allocation", Better: -1, Value: q(probesOK, 0.99)},
		{Name: "probes_ok_max", Unit: "probes", Doc: "most candidate ports checked of one successful allocation", Better: -1, Value: hmax(probesOK)},
		{Name: "probes_fail_mean", Unit: "probes", Doc: "mean candidate ports checked per failed allocation", Better: -1, Value: mean(probesFail)},
		{Name: "probes_fail_p50", Unit: "probes", Doc: "median candidate ports checked per failed allocation", Better: -1, Value: q(probesFail, 0.5)},
		{Name: "probes_fail_p99", Unit: "probes", Doc: "99th percentile of candidate ports checked per failed allocation", Better: -1, Value: q(probesFail, 0.99)},
		{Name: "probes_fail_max", Unit: "probes", Doc: "most candidate ports checked of one failed allocation", Better: -1, Value: hmax(probesFail)},
		{Name: "probes_even_mean", Unit: "probes", Doc: "mean candidate ports checked per successful allocation of an even port", Better: -1,
			Value: func(r *Run) float64 { return r.ProbesByParity[0].Mean() }},
		{Name: "probes_odd_mean", Unit: "probes", Doc: "mean candidate ports checked per successful allocation of an odd port", Better: -1,
			Value: func(r *Run) float64 { return r.ProbesByParity[1].Mean() }},

		{Name: "reuse_interval_p1_s", Unit: "s", Doc: "1st percentile of the time from a 4-tuple's close to its next allocation", Better: +1,
			Value: func(r *Run) float64 { return ns(r.ReuseInterval.Quantile(0.01)) }},
		{Name: "reuse_interval_p50_s", Unit: "s", Doc: "median time from a 4-tuple's close to its next allocation", Better: +1,
			Value: func(r *Run) float64 { return ns(r.ReuseInterval.Quantile(0.5)) }},
		{Name: "premature_fraction", Unit: "fraction", Doc: "share of 4-tuple reuses sooner than 2·MSL after the close; undefined without reuses", Better: -1,
			Pooled: func(r *Run) (uint64, uint64) { return uint64(r.Premature), reuse(r).Count() },
			Value: func(r *Run) float64 {
				if n := reuse(r).Count(); n > 0 {
					return float64(r.Premature) / float64(n)
				}
				return math.NaN()
			}},
		{Name: "reuse_distance_min", Unit: "allocations", Doc: "fewest allocations to a destination between two uses of one local port", Better: +1, Value: hmin(dist)},
		{Name: "reuse_distance_p1", Unit: "allocations", Doc: "1st percentile of allocations to a destination between two uses of one local port", Better: +1, Value: q(dist, 0.01)},
		{Name: "reuse_distance_p50", Unit: "allocations", Doc: "median allocations to a destination between two uses of one local port", Better: +1, Value: q(dist, 0.5)},
		{Name: "reuse_distance_mean", Unit: "allocations", Doc: "mean allocations to a destination between two uses of one local port", Better: +1, Value: mean(dist)},
		{Name: "wrap_mean", Unit: "allocations", Doc: "mean allocations to a destination per full turn of its ports around the range", Value: mean(wrap)},
		{Name: "wrap_min", Unit: "allocations", Doc: "fewest allocations to a destination in one full turn around the range", Value: hmin(wrap)},

		{Name: "oarc_score", Unit: "ports", Doc: "median DNS-OARC score (standard deviation of 26 successive ports to one destination)", Better: +1,
			Value: q(func(r *Run) *Hist { return &r.OARC }, 0.5)},
		{Name: "guess_1", Unit: "fraction", Doc: "share of next ports guessed in 1 try from the previous one by the most frequent difference", Better: -1,
			Value: func(r *Run) float64 { return r.SuccDiff.GuessRate(1) }},
		{Name: "guess_10", Unit: "fraction", Doc: "share of next ports guessed in 10 tries from the previous one by the 10 most frequent differences", Better: -1,
			Value: func(r *Run) float64 { return r.SuccDiff.GuessRate(10) }},
		{Name: "cell_shared_pairs", Unit: "pairs", Doc: "destination pairs sharing a hash-table cell; undefined without such a table", Better: -1,
			Value: func(r *Run) float64 {
				if r.Cells == nil {
					return math.NaN()
				}
				return float64(r.Cells.SharedPairs)
			}},

		{Name: "tw_takeovers", Unit: "connections", Doc: "connections that took over a 4-tuple in TIME_WAIT (tcp_tw_reuse)",
			Value: func(r *Run) float64 { return float64(r.TWTakeovers) }},
		{Name: "pool_failures", Unit: "attempts", Doc: "failed attempts that found the stack's pool of TCP control blocks full (lwIP's MEMP_NUM_TCP_PCB), counted in failures too; undefined without such a pool", Better: -1,
			Value: func(r *Run) float64 {
				if r.Setup.PCBs == 0 {
					return math.NaN()
				}
				return float64(r.PoolFailures)
			}},
		{Name: "clashes", Unit: "SYNs", Doc: "SYNs dropped at conntrack confirm because another CPU's flow confirmed their NAT tuple first (insert_failed); undefined with one CPU", Better: -1,
			Value: race(func(r *Run) float64 { return float64(r.Clashes) })},
		{Name: "clash_fraction", Unit: "fraction", Doc: "clashes over SYNs that reached conntrack confirm; undefined with one CPU", Better: -1,
			Pooled: func(r *Run) (uint64, uint64) { return uint64(r.Clashes), uint64(r.Clashes + r.Successes) },
			Value: race(func(r *Run) float64 {
				if n := r.Clashes + r.Successes; n > 0 {
					return float64(r.Clashes) / float64(n)
				}
				return math.NaN()
			})},
		{Name: "syn_retransmits", Unit: "SYNs", Doc: "SYNs sent again after a clash, a retransmission timeout later; undefined with one CPU", Better: -1,
			Value: race(func(r *Run) float64 { return float64(r.SynRetransmits) })},
		{Name: "connect_failures", Unit: "connects", Doc: "connects that clashed on every SYN retransmission and failed; undefined with one CPU", Better: -1,
			Value: race(func(r *Run) float64 { return float64(r.ConnectFailures) })},
		{Name: "connect_p50_s", Unit: "s", Doc: "median time from a connect's first SYN to its confirmed NAT entry, retransmissions included; undefined with one CPU", Better: -1,
			Value: lat(0.5)},
		{Name: "connect_p99_s", Unit: "s", Doc: "99th percentile of the time from a connect's first SYN to its confirmed NAT entry; undefined with one CPU", Better: -1,
			Value: lat(0.99)},
		{Name: "connect_max_s", Unit: "s", Doc: "longest time from a connect's first SYN to its confirmed NAT entry; undefined with one CPU", Better: -1,
			Value: func(r *Run) float64 {
				if r.ConnectLatency == nil || r.ConnectLatency.Count() == 0 {
					return math.NaN()
				}
				return ns(float64(r.ConnectLatency.Max()))
			}},
		{Name: "simulated_s", Unit: "s", Doc: "virtual time the run covered",
			Value: func(r *Run) float64 { return ns(float64(r.SimulatedNS)) }},
		{Name: "events", Unit: "events", Doc: "events the simulator processed",
			Value: func(r *Run) float64 { return float64(r.Events) }},
	}
}

// LookupMetric returns the metric called name from Metrics.
func LookupMetric(name string) (Metric, bool) {
	for _, m := range Metrics() {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// MetricValues returns the value of every metric of Metrics on r, keyed
// by metric name (the runs.csv column), for JSON output beside the raw
// histograms: an undefined value (NaN) is nil, so it encodes as null.
func MetricValues(r *Run) map[string]*float64 {
	ms := Metrics()
	out := make(map[string]*float64, len(ms))
	for _, m := range ms {
		if v := m.Value(r); !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[m.Name] = &v
		} else {
			out[m.Name] = nil
		}
	}
	return out
}
