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
			s.Stats = append(s.Stats, st)
		}
		out = append(out, s)
	}
	return out
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
