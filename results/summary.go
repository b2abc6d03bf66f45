package results

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Summary gives statistics over a group of runs, typically the seeds of
// one cell.
type Summary struct {
	// Key is the group's key, as returned by the key function.
	Key string
	// Runs is the number of runs in the group.
	Runs int
	// First is the first run of the group, for its identity (scenario,
	// labels, allocator, setup). Its histograms are those of that run
	// alone.
	First *Run
	// Stats holds one entry per metric, in the order of the metrics
	// summarised.
	Stats []Stat
}

// Stat is the mean of one metric over a group of runs with its 95 %
// confidence interval.
type Stat struct {
	// Metric is the metric's name, Unit its unit.
	Metric string
	Unit   string
	// N is the number of runs whose value was defined (not NaN); only
	// those enter Mean and CI95.
	N int
	// Mean is the sample mean, NaN when N is 0.
	Mean float64
	// CI95 is the half-width of the two-sided 95 % confidence interval
	// of the mean from Student's t distribution, t(0.975, N-1)·s/√N with
	// s the sample standard deviation. It is NaN when N < 2.
	CI95 float64
	// Lo and Hi bound the 95 % confidence interval the report shows,
	// which never leaves the metric's domain (see Interval95). Both are
	// NaN when no interval can be given.
	Lo, Hi float64
	// Pooled is the metric of the group's counts added up (events over
	// trials, see Metric.Pooled), NaN for other metrics or without
	// trials.
	Pooled float64
}

// Stat returns the statistics of the metric called name.
func (s *Summary) Stat(name string) (Stat, bool) {
	for _, st := range s.Stats {
		if st.Metric == name {
			return st, true
		}
	}
	return Stat{}, false
}

// CellKey returns a string identifying the run's cell, its Key without
// the replicate: runs with the same CellKey differ only by seed. It is
// the usual key for Summarize.
func (r *Run) CellKey() string {
	return r.Scenario + "|" + formatMap(r.Labels) + "|" + r.Allocator + "|" + formatMap(r.Params)
}

// Summarize groups runs by key and gives, for each group and each of
// Metrics, the number of defined values, their mean and the 95 %
// confidence half-width. Groups come in the order of their first run.
func Summarize(runs []Run, key func(*Run) string) []Summary {
	return SummarizeMetrics(runs, key, Metrics())
}

// SummarizeMetrics is Summarize over the given metrics.
func SummarizeMetrics(runs []Run, key func(*Run) string, metrics []Metric) []Summary {
	var order []string
	groups := map[string][]*Run{}
	for i := range runs {
		k := key(&runs[i])
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], &runs[i])
	}
	out := make([]Summary, 0, len(order))
	vals := make([]float64, 0, len(runs))
	for _, k := range order {
		g := groups[k]
		s := Summary{Key: k, Runs: len(g), First: g[0], Stats: make([]Stat, 0, len(metrics))}
		for _, m := range metrics {
			vals = vals[:0]
			for _, r := range g {
				if v := m.Value(r); !math.IsNaN(v) {
					vals = append(vals, v)
				}
			}
			st := MeanCI95(vals)
			st.Metric, st.Unit = m.Name, m.Unit
			var k, n uint64
			if m.Pooled != nil {
				for _, r := range g {
					rk, rn := m.Pooled(r)
					k, n = k+rk, n+rn
				}
			}
			st.Lo, st.Hi, st.Pooled = Interval95(m, st, k, n)
			s.Stats = append(s.Stats, st)
		}
		out = append(out, s)
	}
	return out
}

// IntervalMethod says in one sentence how Interval95 bounds a mean, for
// reports.
const IntervalMethod = "Intervals are 95 % confidence intervals over the seeds: " +
	"for a share of counted events (failures out of attempts) the wider of the Wilson score interval " +
	"on the counts pooled over seeds and Student's t interval of the per-seed shares; " +
	"for every other metric Student's t interval of the per-seed values; " +
	"either cut to the metric's domain (no count, time or share below 0, no share above 1), " +
	"which keeps at least 95 % coverage because the true value lies in the domain. " +
	"A value without an interval comes from a single run."

// Interval95 returns the bounds of the 95 % confidence interval of a
// metric's value over a group of runs, and the pooled share k/n (NaN
// when the metric is not pooled or n is 0). st holds the per-run mean
// and its Student's t half-width (MeanCI95); k and n are the events and
// trials summed over the runs when m.Pooled is set. The interval is
// st.Mean ± st.CI95, widened for a pooled metric to cover the Wilson
// score interval of k out of n, then cut to [0, ∞), or to [0, 1] for a
// fraction (see IntervalMethod). Lo and Hi are NaN when there is
// neither a t interval (fewer than two runs) nor a pooled count.
func Interval95(m Metric, st Stat, k, n uint64) (lo, hi, pooled float64) {
	lo, hi, pooled = math.NaN(), math.NaN(), math.NaN()
	if !math.IsNaN(st.CI95) && !math.IsNaN(st.Mean) {
		lo, hi = st.Mean-st.CI95, st.Mean+st.CI95
	}
	if m.Pooled != nil && n > 0 {
		pooled = float64(k) / float64(n)
		wl, wh := Wilson95(k, n)
		if math.IsNaN(lo) {
			lo, hi = wl, wh
		} else {
			lo, hi = math.Min(lo, wl), math.Max(hi, wh)
		}
	}
	if math.IsNaN(lo) {
		return lo, hi, pooled
	}
	lo = math.Max(lo, 0)
	if m.Unit == "fraction" {
		hi = math.Min(hi, 1)
	}
	return lo, hi, pooled
}

// Wilson95 returns the two-sided 95 % Wilson score interval of a
// binomial proportion with k events in n trials (n > 0): with z the
// 0.975 quantile of the standard normal and p = k/n, the centre is
// (p + z²/2n)/(1 + z²/n) and the half-width
// z/(1 + z²/n)·√(p(1−p)/n + z²/4n²). Its bounds lie in [0, 1]; it is 0
// at the bottom when k is 0 and 1 at the top when k is n.
func Wilson95(k, n uint64) (lo, hi float64) {
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	z := distuv.UnitNormal.Quantile(0.975)
	fn := float64(n)
	p := float64(k) / fn
	d := 1 + z*z/fn
	c := (p + z*z/(2*fn)) / d
	h := z / d * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	lo, hi = math.Max(0, c-h), math.Min(1, c+h)
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// MeanCI95 returns N, the mean and the 95 % confidence half-width of xs
// (see Stat). NaN values in xs are skipped.
func MeanCI95(xs []float64) Stat {
	clean := xs
	for _, x := range xs {
		if math.IsNaN(x) {
			clean = make([]float64, 0, len(xs))
			for _, x := range xs {
				if !math.IsNaN(x) {
					clean = append(clean, x)
				}
			}
			break
		}
	}
	n := len(clean)
	st := Stat{N: n, Mean: math.NaN(), CI95: math.NaN()}
	if n == 0 {
		return st
	}
	if n == 1 {
		st.Mean = clean[0]
		return st
	}
	mean, sd := stat.MeanStdDev(clean, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	st.Mean = mean
	st.CI95 = t * sd / math.Sqrt(float64(n))
	return st
}
