// Package compare tells whether two result sets differ, and by how much:
// for every cell (scenario, sweep point and allocator) present in both,
// each metric's mean and 95 % confidence interval over seeds on either
// side, the relative change, and Welch's two-sample t-test across seeds.
// A change is reported as significant only when the test rejects "no
// difference" at the chosen level (α = 0.05 by default); otherwise it is
// shown as "~", as benchstat does.
//
// Welch's test is used rather than Mann–Whitney U because suites run few
// seeds: with 3 seeds a side, the smallest two-sided p-value Mann–Whitney
// can reach is 0.1, so it could never call a change significant, while a
// t-test can when the seeds agree closely. Metrics that every seed
// reproduces exactly (zero variance on both sides) are compared exactly:
// equal means are "~" with p = 1, different means significant with
// p = 0.
package compare

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// DefaultAlpha is the significance level used when Options.Alpha is 0.
const DefaultAlpha = 0.05

// DefaultMetrics names the metrics compared when none are chosen: the
// failures, the probes, how soon ports come back and how predictable
// they are.
var DefaultMetrics = []string{
	"failure_fraction", "probes_mean", "probes_p99",
	"reuse_interval_p1_s", "reuse_distance_min", "oarc_score", "guess_1",
}

// Options chooses what Sets and Allocators compare.
type Options struct {
	// Metrics are the metrics to compare, in the order of the output.
	// Empty means the metrics named by DefaultMetrics.
	Metrics []results.Metric
	// Alpha is the significance level of the test, in (0, 1); 0 means
	// DefaultAlpha.
	Alpha float64
}

func (o Options) alpha() float64 {
	if o.Alpha == 0 {
		return DefaultAlpha
	}
	return o.Alpha
}

func (o Options) metrics() []results.Metric {
	if len(o.Metrics) > 0 {
		return o.Metrics
	}
	ms := make([]results.Metric, 0, len(DefaultMetrics))
	for _, name := range DefaultMetrics {
		if m, ok := results.LookupMetric(name); ok {
			ms = append(ms, m)
		}
	}
	return ms
}

// Result is a comparison of two sides, A (the baseline: the old result
// set, or allocator -a) and B (the new one, or allocator -b).
type Result struct {
	// A and B name the two sides, for headers ("old.jsonl", "linux").
	A string `json:"a"`
	B string `json:"b"`
	// Alpha is the significance level used.
	Alpha float64 `json:"alpha"`
	// Tables holds one table per metric, in the order of Options.Metrics.
	Tables []Table `json:"tables"`
	// OnlyA and OnlyB list the cells found on one side only, by name.
	OnlyA []string `json:"only_a,omitempty"`
	OnlyB []string `json:"only_b,omitempty"`
}

// Table compares one metric over every cell the two sides share.
type Table struct {
	// Metric and Unit name the metric; Better is -1 when lower values are
	// better, +1 when higher are, 0 when neither.
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	Better int    `json:"better"`
	// Rows holds one row per shared cell, in the order of side A.
	Rows []Row `json:"rows"`
}

// Row is one cell's comparison of one metric.
type Row struct {
	// Cell names the cell: scenario, sweep labels and (when comparing two
	// result sets) allocator.
	Cell string `json:"cell"`
	// A and B are the mean, its 95 % confidence half-width and the number
	// of seeds with a defined value on each side.
	A Side `json:"a"`
	B Side `json:"b"`
	// Delta is the relative change (B − A) / |A|: 0 when both means are
	// equal, ±Inf when only A is 0, NaN when a side has no value.
	Delta float64 `json:"delta"`
	// DiffCI95 is the half-width of the 95 % Welch confidence interval of
	// the difference B − A, in the metric's unit (NaN when a side has
	// fewer than 2 values).
	DiffCI95 float64 `json:"diff_ci95"`
	// P is the two-sided p-value of Welch's t-test (NaN when it cannot be
	// computed: fewer than 2 values on a side).
	P float64 `json:"p"`
	// Verdict is "better", "worse" or "changed" (for metrics with no
	// better direction) when the change is significant at Alpha, "~" when
	// it is not, "?" when there are too few seeds to tell, and
	// "undefined" when the metric has no value on either side (no
	// reuses, no hash table, ...).
	Verdict string `json:"verdict"`
}

// Side is one side of a row.
type Side struct {
	Mean float64 `json:"mean"`
	CI95 float64 `json:"ci95"`
	N    int     `json:"n"`
}

// cell is the runs of one cell on one side.
type cell struct {
	name string
	runs []*results.Run
}

// group splits runs into cells by key, in the order of their first run.
func group(runs []results.Run, key func(*results.Run) string, name func(*results.Run) string) ([]string, map[string]*cell) {
	var order []string
	cells := map[string]*cell{}
	for i := range runs {
		r := &runs[i]
		k := key(r)
		c, ok := cells[k]
		if !ok {
			c = &cell{name: name(r)}
			cells[k] = c
			order = append(order, k)
		}
		c.runs = append(c.runs, r)
	}
	return order, cells
}

// Sets compares two result sets cell by cell: a is the baseline (old),
// b the new one; nameA and nameB name them in the output. Cells are
// matched by scenario, sweep labels, allocator and parameters.
func Sets(a, b []results.Run, nameA, nameB string, opt Options) Result {
	key := func(r *results.Run) string { return r.CellKey() }
	return compareCells(a, b, key, key, CellName, nameA, nameB, opt)
}

// Allocators compares two allocators within one result set: every cell
// (scenario and sweep labels) that ran both. allocA and allocB are
// spelled as in the tables: a name ("linux"), or a name with parameters
// ("random-window[window=500]") when a suite runs it with several.
// An allocator that matches no run, or a bare name that matches runs
// with different parameters, is an error.
func Allocators(runs []results.Run, allocA, allocB string, opt Options) (Result, error) {
	pick := func(spelling string) ([]results.Run, error) {
		var out []results.Run
		variants := map[string]bool{}
		for i := range runs {
			r := &runs[i]
			full := r.AllocLabel()
			if full == spelling || r.Allocator == spelling {
				out = append(out, *r)
				variants[full] = true
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no run of allocator %q (the result set has %s)", spelling, strings.Join(allocatorNames(runs), ", "))
		}
		if len(variants) > 1 {
			vs := slices.Sorted(func(yield func(string) bool) {
				for v := range variants {
					if !yield(v) {
						return
					}
				}
			})
			return nil, fmt.Errorf("allocator %q ran with several parameter sets (%s): name one", spelling, strings.Join(vs, ", "))
		}
		return out, nil
	}
	ra, err := pick(allocA)
	if err != nil {
		return Result{}, err
	}
	rb, err := pick(allocB)
	if err != nil {
		return Result{}, err
	}
	key := func(r *results.Run) string { return r.Scenario + "|" + formatLabels(r.Labels) }
	name := func(r *results.Run) string { return pointName(r) }
	return compareCells(ra, rb, key, key, name, allocA, allocB, opt), nil
}

func compareCells(a, b []results.Run, keyA, keyB func(*results.Run) string, name func(*results.Run) string, nameA, nameB string, opt Options) Result {
	orderA, cellsA := group(a, keyA, name)
	orderB, cellsB := group(b, keyB, name)
	res := Result{A: nameA, B: nameB, Alpha: opt.alpha()}
	for _, k := range orderA {
		if _, ok := cellsB[k]; !ok {
			res.OnlyA = append(res.OnlyA, cellsA[k].name)
		}
	}
	for _, k := range orderB {
		if _, ok := cellsA[k]; !ok {
			res.OnlyB = append(res.OnlyB, cellsB[k].name)
		}
	}
	for _, m := range opt.metrics() {
		t := Table{Metric: m.Name, Unit: m.Unit, Better: m.Better}
		for _, k := range orderA {
			cb, ok := cellsB[k]
			if !ok {
				continue
			}
			ca := cellsA[k]
			row := compareValues(values(ca.runs, m), values(cb.runs, m), m.Better, res.Alpha)
			row.Cell = ca.name
			t.Rows = append(t.Rows, row)
		}
		res.Tables = append(res.Tables, t)
	}
	return res
}

// values returns the metric's defined values over runs.
func values(runs []*results.Run, m results.Metric) []float64 {
	vs := make([]float64, 0, len(runs))
	for _, r := range runs {
		if v := m.Value(r); !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	return vs
}

// compareValues compares two samples of one metric.
func compareValues(a, b []float64, better int, alpha float64) Row {
	sa, sb := results.MeanCI95(a), results.MeanCI95(b)
	row := Row{
		A:     Side{Mean: sa.Mean, CI95: sa.CI95, N: sa.N},
		B:     Side{Mean: sb.Mean, CI95: sb.CI95, N: sb.N},
		Delta: relChange(sa.Mean, sb.Mean),
	}
	row.P, row.DiffCI95 = Welch(a, b)
	switch {
	case sa.N == 0 && sb.N == 0:
		row.Verdict = "undefined"
	case math.IsNaN(row.P):
		row.Verdict = "?"
	case row.P >= alpha:
		row.Verdict = "~"
	case better == 0:
		row.Verdict = "changed"
	case (sb.Mean-sa.Mean)*float64(better) > 0:
		row.Verdict = "better"
	default:
		row.Verdict = "worse"
	}
	return row
}

// relChange returns (b − a) / |a|, 0 when a == b, ±Inf when a is 0 and b
// is not, NaN when either is NaN.
func relChange(a, b float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return math.NaN()
	case a == b:
		return 0
	case a == 0:
		return math.Inf(int(math.Copysign(1, b)))
	}
	return (b - a) / math.Abs(a)
}

// Welch returns the two-sided p-value of Welch's unequal-variance t-test
// of "the means of a and b are equal", and the half-width of the 95 %
// confidence interval of the difference of means. Both are NaN when a
// side has fewer than 2 values. When both samples have zero variance the
// test is exact: p = 1 and half-width 0 for equal means, p = 0 otherwise.
func Welch(a, b []float64) (p, ci95 float64) {
	na, nb := float64(len(a)), float64(len(b))
	if len(a) < 2 || len(b) < 2 {
		return math.NaN(), math.NaN()
	}
	ma, va := stat.MeanVariance(a, nil)
	mb, vb := stat.MeanVariance(b, nil)
	ea, eb := va/na, vb/nb
	se2 := ea + eb
	if se2 == 0 {
		if ma == mb {
			return 1, 0
		}
		return 0, 0
	}
	// Welch–Satterthwaite degrees of freedom.
	df := se2 * se2 / (ea*ea/(na-1) + eb*eb/(nb-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}
	se := math.Sqrt(se2)
	p = 2 * t.Survival(math.Abs(mb-ma)/se)
	return math.Min(p, 1), t.Quantile(0.975) * se
}

// CellName names a run's cell for the output: the scenario, its sweep
// labels as key=value in key order, and the allocator as the tables
// spell it.
func CellName(r *results.Run) string {
	return pointName(r) + " " + r.AllocLabel()
}

// pointName names a run's scenario and sweep point.
func pointName(r *results.Run) string {
	s := r.Scenario
	if s == "" {
		s = "run"
	}
	if l := formatLabels(r.Labels); l != "" {
		s += " " + l
	}
	return s
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func allocatorNames(runs []results.Run) []string {
	seen := map[string]bool{}
	var out []string
	for i := range runs {
		n := runs[i].AllocLabel()
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Counts tallies the verdicts of a table; unknown counts rows with too
// few seeds, and rows where the metric is undefined on both sides are
// not counted.
func (t Table) Counts() (better, worse, changed, same, unknown int) {
	for _, r := range t.Rows {
		switch r.Verdict {
		case "better":
			better++
		case "worse":
			worse++
		case "changed":
			changed++
		case "~":
			same++
		case "?":
			unknown++
		}
	}
	return
}
