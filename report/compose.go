package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/results"
)

// Suite is what a report is composed from: a suite's name and text and,
// per scenario, its runs and the charts drawn from them.
type Suite struct {
	// Name and Description are the suite's.
	Name        string
	Description string
	// Seeds is the number of replicates per cell.
	Seeds int
	// Scenarios come in suite order.
	Scenarios []Scenario
	// Manifest, when set, closes the report as its provenance.
	Manifest *results.Manifest
}

// Scenario is one scenario of a suite with its runs.
type Scenario struct {
	// Name and Description are the scenario's.
	Name        string
	Description string
	// Settings lists the scenario's settings as "key=v1|v2" words.
	Settings []string
	// Swept names the settings with more than one value, in suite
	// order; X is the one whose values make the columns of the tables
	// ("" for a scenario that sweeps nothing).
	Swept []string
	X     string
	// Metrics name the metrics of the tables (default DefaultMetrics,
	// or DefaultSweptMetrics for a swept scenario).
	Metrics []string
	// Runs are the scenario's runs.
	Runs []results.Run
	// Blocks come after the tables (published figures, for instance).
	Blocks []Block
	// Charts come last; Missing names charts left out for lack of data.
	Charts  []Chart
	Missing []string
}

// DefaultMetrics are the columns of a scenario's table.
var DefaultMetrics = []string{"failure_fraction", "probes_mean", "probes_p99", "reuse_interval_p1_s", "reuse_distance_min", "oarc_score"}

// DefaultSweptMetrics are the tables of a swept scenario, one per metric.
var DefaultSweptMetrics = []string{"failure_fraction", "probes_mean"}

// Compose builds the document of a suite: the summary (the answer of
// each scenario in sentences and a ranking table), then per scenario its
// description, settings, tables, extra blocks and charts. It reports an
// error for a scenario that names an unknown metric.
func Compose(s Suite) (Document, error) {
	d := Document{Title: "portsim report: " + s.Name, Intro: s.Description, Manifest: s.Manifest}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		metrics, err := lookupMetrics(sc)
		if err != nil {
			return d, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		sec := Section{Title: sc.Name}
		if sc.Description != "" {
			sec.Blocks = append(sec.Blocks, Para(oneLine(sc.Description)))
		}
		set := ""
		if len(sc.Settings) > 0 {
			set = fmt.Sprintf("Settings: `%s`; anything unset is the allocator's OS default. ", strings.Join(sc.Settings, " "))
		}
		sec.Blocks = append(sec.Blocks, Para(fmt.Sprintf("%s%d runs (%d seeds each).", set, len(sc.Runs), s.Seeds)))
		if len(sc.Runs) == 0 {
			sec.Blocks = append(sec.Blocks, Para("No runs of this scenario are in this result set (a shard of the suite?)."))
			d.Sections = append(d.Sections, sec)
			continue
		}
		v := newView(sc, metrics)
		d.Summary = append(d.Summary, v.summary())
		sec.Blocks = append(sec.Blocks, v.tables()...)
		sec.Blocks = append(sec.Blocks, sc.Blocks...)
		for _, c := range sc.Charts {
			sec.Blocks = append(sec.Blocks, c)
		}
		if len(sc.Missing) > 0 {
			sec.Blocks = append(sec.Blocks, Para("Charts left out for lack of data: "+strings.Join(sc.Missing, "; ")+"."))
		}
		d.Sections = append(d.Sections, sec)
	}
	if len(d.Summary) > 0 {
		d.Summary = append(d.Summary, Section{Title: "How to read the numbers", Blocks: []Block{Para(
			"Each value is the mean over seeds; shares are in per cent. " + results.IntervalMethod +
				" Rows whose values are equal in every column are merged into one row that lists the allocators.")}})
	}
	return d, nil
}

func lookupMetrics(sc *Scenario) ([]results.Metric, error) {
	names := sc.Metrics
	if len(names) == 0 {
		names = DefaultMetrics
		if sc.X != "" {
			names = DefaultSweptMetrics
		}
	}
	all := results.Metrics()
	var out []results.Metric
	for _, n := range names {
		m, ok := results.LookupMetric(n)
		if !ok {
			known := make([]string, len(all))
			for i, m := range all {
				known[i] = m.Name
			}
			return nil, fmt.Errorf("unknown metric %q%s", n, suggest.Hint(n, known))
		}
		out = append(out, m)
	}
	return out, nil
}

// view is a scenario's runs summarised per row (allocator and the swept
// settings other than X) and point (value of X).
type view struct {
	sc      *Scenario
	metrics []results.Metric
	rows    []string // row keys in order of first run
	points  []string // values of X in order of first run ("" unswept)
	cell    map[[2]string]*results.Summary
	stack   map[string]string // row -> stack defaults, when they vary
}

func newView(sc *Scenario, metrics []results.Metric) *view {
	v := &view{sc: sc, metrics: metrics, cell: map[[2]string]*results.Summary{}, stack: map[string]string{}}
	all := results.Metrics()
	sums := results.SummarizeMetrics(sc.Runs, func(r *results.Run) string {
		return v.rowOf(r) + "\x00" + v.pointOf(r)
	}, all)
	for i := range sums {
		r := sums[i].First
		row, pt := v.rowOf(r), v.pointOf(r)
		if !slices.Contains(v.rows, row) {
			v.rows = append(v.rows, row)
		}
		if !slices.Contains(v.points, pt) {
			v.points = append(v.points, pt)
		}
		v.cell[[2]string{row, pt}] = &sums[i]
	}
	// The stack defaults that drive the result, when allocators differ.
	varies := func(f func(results.Setup) string) bool {
		for i := range sc.Runs {
			if f(sc.Runs[i].Setup) != f(sc.Runs[0].Setup) {
				return true
			}
		}
		return false
	}
	if varies(func(s results.Setup) string { return strconv.Itoa(s.Ports) }) ||
		varies(func(s results.Setup) string { return strconv.FormatInt(s.TimeWaitNS, 10) }) ||
		varies(func(s results.Setup) string { return s.Scope }) {
		for i := range sc.Runs {
			r := &sc.Runs[i]
			v.stack[v.rowOf(r)] = StackDefaults(r.Setup)
		}
	}
	return v
}

// StackDefaults describes the stack settings that bound a run's ports:
// "28232 ports, TIME_WAIT 60 s, 4-tuple".
func StackDefaults(s results.Setup) string {
	return fmt.Sprintf("%d ports, TIME_WAIT %s, %s", s.Ports, format.Seconds(s.TimeWaitNS), s.Scope)
}

func (v *view) rowOf(r *results.Run) string {
	k := r.AllocLabel()
	for _, key := range v.sc.Swept {
		if key != v.sc.X {
			k += " " + key + "=" + r.Labels[key]
		}
	}
	return k
}

func (v *view) pointOf(r *results.Run) string {
	if v.sc.X == "" {
		return ""
	}
	return r.Labels[v.sc.X]
}

func (v *view) stat(row, pt string, m results.Metric) (results.Stat, int, bool) {
	s := v.cell[[2]string{row, pt}]
	if s == nil {
		return results.Stat{}, 0, false
	}
	st, ok := s.Stat(m.Name)
	return st, s.Runs, ok && st.N > 0
}

func (v *view) hasStack() bool { return len(v.stack) > 0 }

// tables lays out the scenario's tables: one row per allocator and one
// column per metric for an unswept scenario, one table per metric with a
// column per value of X for a swept one. Rows equal in every column
// merge into one that lists the allocators.
func (v *view) tables() []Block {
	var out []Block
	if v.sc.X == "" {
		t := &Table{Header: []string{"allocator"}, Numeric: []bool{false}}
		if v.hasStack() {
			t.Header, t.Numeric = append(t.Header, "stack (OS defaults)"), append(t.Numeric, false)
		}
		t.Header, t.Numeric = append(t.Header, "n"), append(t.Numeric, true)
		for _, m := range v.metrics {
			t.Header, t.Numeric = append(t.Header, ColumnTitle(m)), append(t.Numeric, true)
		}
		for _, row := range v.rows {
			s := v.cell[[2]string{row, ""}]
			cells := []string{row}
			if v.hasStack() {
				cells = append(cells, v.stack[row])
			}
			cells = append(cells, strconv.Itoa(s.Runs))
			for _, m := range v.metrics {
				st, _ := s.Stat(m.Name)
				cells = append(cells, FormatStat(m, st, s.Runs))
			}
			t.Rows = append(t.Rows, cells)
		}
		t.Rows = mergeRows(t.Rows)
		return append(out, t)
	}
	for _, m := range v.metrics {
		t := &Table{
			Caption: fmt.Sprintf("**%s** by %s: %s.", ColumnTitle(m), v.sc.X, m.Doc),
			Header:  []string{"allocator"}, Numeric: []bool{false},
		}
		if v.hasStack() {
			t.Header, t.Numeric = append(t.Header, "stack (OS defaults)"), append(t.Numeric, false)
		}
		for _, pt := range v.points {
			t.Header, t.Numeric = append(t.Header, v.pointHeader(pt)), append(t.Numeric, true)
		}
		for _, row := range v.rows {
			cells := []string{row}
			if v.hasStack() {
				cells = append(cells, v.stack[row])
			}
			for _, pt := range v.points {
				st, n, ok := v.stat(row, pt, m)
				if !ok && n == 0 {
					cells = append(cells, "n/a")
					continue
				}
				cells = append(cells, FormatStat(m, st, n))
			}
			t.Rows = append(t.Rows, cells)
		}
		t.Rows = mergeRows(t.Rows)
		out = append(out, t)
	}
	return out
}

// mergeRows merges rows whose cells after the first are all equal into
// the first such row, its first cell listing the merged keys.
func mergeRows(rows [][]string) [][]string {
	var out [][]string
	var keys [][]string
	for _, r := range rows {
		found := false
		for i, o := range out {
			if slices.Equal(o[1:], r[1:]) {
				keys[i] = append(keys[i], r[0])
				found = true
				break
			}
		}
		if !found {
			out = append(out, slices.Clone(r))
			keys = append(keys, []string{r[0]})
		}
	}
	for i := range out {
		out[i][0] = strings.Join(keys[i], ", ")
	}
	return out
}

// entry is one row's value of a metric at a point.
type entry struct {
	row  string
	st   results.Stat
	runs int
	text string
}

// ranked returns the rows' values of m at pt, NaN left out, best first.
func (v *view) ranked(m results.Metric, pt string) []entry {
	var es []entry
	for _, row := range v.rows {
		st, n, ok := v.stat(row, pt, m)
		if !ok || math.IsNaN(st.Mean) {
			continue
		}
		es = append(es, entry{row: row, st: st, runs: n, text: FormatStat(m, st, n)})
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		c := 0
		switch {
		case a.st.Mean < b.st.Mean:
			c = -1
		case a.st.Mean > b.st.Mean:
			c = 1
		}
		if m.Better > 0 {
			c = -c
		}
		return c
	})
	return es
}

// tied returns the rows at the head of es whose value reads the same as
// the first's.
func tied(es []entry) []string {
	var out []string
	for _, e := range es {
		if e.text != es[0].text {
			break
		}
		out = append(out, e.row)
	}
	return out
}

func (v *view) who(rows []string) string {
	if v.hasStack() {
		for i, r := range rows {
			rows[i] = r + " (" + v.stack[r] + ")"
		}
	}
	return names(rows, 4)
}

// pointHeader heads the column of a sweep point: "rate=100", and for
// burst arrivals, whose configured rate holds in the on-periods only,
// "rate=100 (mean 10/s)" — the rate charts put on their x axis.
func (v *view) pointHeader(pt string) string {
	h := v.sc.X + "=" + pt
	for i := range v.sc.Runs {
		r := &v.sc.Runs[i]
		if v.pointOf(r) == pt && r.Setup.Arrivals == "burst" && r.Setup.RatePerSec > 0 {
			return h + " (mean " + format.Rate(r.Setup.RatePerSec) + ")"
		}
	}
	return h
}

// atText names a point for a sentence: "at rate=100" or "".
func (v *view) atText(pt string) string {
	if v.sc.X == "" {
		return ""
	}
	return " at " + v.sc.X + "=" + pt
}

// summary states the scenario's answer: for the SNAT race, up to which
// rate the p99 connect latency stays under the SYN retransmission
// timeout (latencyLimit); a sentence on failures (with the knee), one on cost, one on reuse and predictability when the
// scenario measures them, and a ranking table.
func (v *view) summary() Section {
	sec := Section{Title: v.sc.Name}
	sec.Blocks = append(sec.Blocks, v.latencyLimit()...)
	var sent []string
	sent = append(sent, v.failureSentence()...)
	last := v.points[len(v.points)-1]
	if pm, ok := results.LookupMetric("probes_mean"); ok {
		es := v.ranked(pm, last)
		if len(es) > 1 && es[0].text != es[len(es)-1].text {
			best := tied(es)
			rev := slices.Clone(es)
			slices.Reverse(rev)
			worst := tied(rev)
			sent = append(sent, fmt.Sprintf("Fewest candidate ports checked per connection%s: %s (%s); most: %s (%s).",
				v.atText(last), v.who(best), es[0].text, v.who(worst), rev[0].text))
		}
	}
	for _, m := range v.metrics {
		var tmpl string
		switch m.Name {
		case "reuse_interval_p1_s":
			tmpl = "Shortest time before a closed 4-tuple is used again (1st percentile)%s: %s (%s s); longest: %s (%s s)."
		case "oarc_score":
			tmpl = "Least predictable ports (highest DNS-OARC score)%s: %s (%s); most predictable: %s (%s)."
		default:
			continue
		}
		es := v.ranked(m, last)
		if len(es) < 2 {
			continue
		}
		rev := slices.Clone(es)
		slices.Reverse(rev)
		first, second := es, rev
		if m.Name == "reuse_interval_p1_s" {
			first, second = rev, es // shortest first
		}
		sent = append(sent, fmt.Sprintf(tmpl, v.atText(last), v.who(tied(first)), first[0].text, v.who(tied(second)), second[0].text))
	}
	sec.Blocks = append(sec.Blocks, Para(strings.Join(sent, " ")))
	if t := v.ranking(); t != nil {
		sec.Blocks = append(sec.Blocks, t)
	}
	return sec
}

// ranking is the table of the best and worst rows per metric (and
// point of a swept scenario).
func (v *view) ranking() *Table {
	t := &Table{Header: []string{"metric", "best", "value", "worst", "value"}, Numeric: []bool{false, false, true, false, true}}
	if v.sc.X != "" {
		t.Header = slices.Insert(t.Header, 1, v.sc.X)
		t.Numeric = slices.Insert(t.Numeric, 1, true)
	}
	for _, m := range v.metrics {
		if m.Better == 0 {
			continue
		}
		for _, pt := range v.points {
			es := v.ranked(m, pt)
			if len(es) < 2 {
				continue
			}
			rev := slices.Clone(es)
			slices.Reverse(rev)
			best, worst := tied(es), tied(rev)
			row := []string{ColumnTitle(m), names(best, 4), es[0].text, names(worst, 4), rev[0].text}
			if es[0].text == rev[0].text {
				row = []string{ColumnTitle(m), "all equal", es[0].text, "", ""}
			}
			if v.sc.X != "" {
				row = slices.Insert(row, 1, pt)
			}
			t.Rows = append(t.Rows, row)
		}
	}
	if len(t.Rows) == 0 {
		return nil
	}
	t.Caption = "Best and worst allocator per metric (ties listed together)."
	return t
}

// failureSentence states the knee and who fails.
func (v *view) failureSentence() []string {
	ff, _ := results.LookupMetric("failure_fraction")
	var out []string
	knee, kneeText, oneKnee := v.knee()
	rateSweep := v.sc.X != "" && v.rateSwept()
	if rateSweep && oneKnee {
		out = append(out, "The analytic knee is "+kneeText+".")
		var below, above string
		for _, pt := range v.points {
			r := v.rateAt(pt)
			if r < knee {
				below = pt
			} else if above == "" || r > v.rateAt(above) {
				above = pt
			}
		}
		if below != "" {
			out = append(out, "Below it, "+v.failingAt(ff, below, true))
		} else {
			out = append(out, "Every rate tried is above it.")
		}
		if above != "" {
			r := v.rateAt(above)
			out = append(out, fmt.Sprintf("At %s the analytic share 1 − knee/rate is %s %%, and %s",
				format.Rate(r), format.Sig(100*(1-knee/r), 3), strings.TrimPrefix(v.failingAt(ff, above, false), "at "+v.sc.X+"="+above+", ")))
		}
		return out
	}
	if oneKnee && !math.IsInf(knee, 0) && knee > 0 {
		out = append(out, "The analytic knee is "+kneeText+".")
	}
	var parts []string
	for _, pt := range v.points {
		s := v.failingAt(ff, pt, false)
		if !oneKnee && v.sc.X != "" {
			if _, kt, ok := v.kneeAt(pt); ok {
				s = strings.TrimSuffix(s, ".") + " (knee: " + kt + ")."
			}
		}
		parts = append(parts, s)
	}
	if v.sc.X == "" {
		return append(out, "Failed attempts: "+parts[0])
	}
	for i := range parts {
		parts[i] = strings.TrimSuffix(parts[i], ".")
	}
	return append(out, "A"+strings.Join(parts, "; ")[1:]+".")
}

// failingAt says who fails at a point: "at 57/s, random-window fails
// 0.50 % [0, 1.03], netfilter 0.005 % [0, 0.027]; the other 20 fail
// none."
func (v *view) failingAt(ff results.Metric, pt string, rate bool) string {
	es := v.ranked(ff, pt)
	at := strings.TrimPrefix(v.atText(pt), " ")
	if rate {
		at = "at " + format.Rate(v.rateAt(pt))
		if v.burst() {
			at = "at a mean " + format.Rate(v.rateAt(pt))
		}
	}
	if at != "" {
		at += ", "
	}
	if len(es) == 0 {
		return at + "no allocator made an attempt."
	}
	var fail, none []entry
	for _, e := range es {
		if e.st.Mean > 0 {
			fail = append(fail, e)
		} else {
			none = append(none, e)
		}
	}
	rows := func(es []entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.row)
		}
		return out
	}
	switch {
	case len(fail) == 0 && len(es) == 1:
		return at + v.who(rows(es)) + " fails none of its attempts."
	case len(fail) == 0:
		return at + "no allocator fails."
	case len(es) == 1:
		return at + v.who(rows(es)) + " fails " + pct(es[0].text) + " of its attempts."
	case len(none) == 0 && es[0].text == es[len(es)-1].text:
		return at + "every allocator fails " + pct(es[0].text) + " of its attempts."
	case len(fail) <= 3:
		slices.Reverse(fail)
		var ps []string
		for _, e := range fail {
			ps = append(ps, v.who([]string{e.row})+" fails "+pct(e.text))
		}
		s := at + strings.Join(ps, ", ")
		if len(none) > 0 {
			s += fmt.Sprintf("; %s %s none", names(rows(none), 4), failVerb(len(none)))
		}
		return s + "."
	}
	rev := slices.Clone(fail)
	slices.Reverse(rev)
	s := fmt.Sprintf("%sfailures range from %s (%s) to %s (%s)", at, pct(fail[0].text), v.who(tied(fail)), pct(rev[0].text), v.who(tied(rev)))
	if len(none) > 0 {
		s += fmt.Sprintf("; %s %s none", names(rows(none), 4), failVerb(len(none)))
	}
	return s + "."
}

// failVerb agrees "fail" with the number of allocators named before it.
func failVerb(n int) string {
	if n == 1 {
		return "fails"
	}
	return "fail"
}

// pct puts the per cent sign after the value of a formatted share:
// "0.50 [0, 1.03]" becomes "0.50 % [0, 1.03]", "33.9 ± 2.2" "33.9 ± 2.2 %".
func pct(s string) string {
	if i := strings.Index(s, " ["); i >= 0 {
		return s[:i] + " %" + s[i:]
	}
	return s + " %"
}

// burst reports burst arrivals, whose mean rate is below the
// configured one.
func (v *view) burst() bool {
	return len(v.sc.Runs) > 0 && v.sc.Runs[0].Setup.Arrivals == "burst"
}

// rateSwept reports whether X changes the offered rate.
func (v *view) rateSwept() bool {
	seen := map[float64]bool{}
	for i := range v.sc.Runs {
		seen[v.sc.Runs[i].Setup.RatePerSec] = true
	}
	return len(seen) > 1
}

func (v *view) rateAt(pt string) float64 {
	for i := range v.sc.Runs {
		if v.pointOf(&v.sc.Runs[i]) == pt {
			return v.sc.Runs[i].Setup.RatePerSec
		}
	}
	return math.NaN()
}

// knee returns the host knee when every run of the scenario shares one.
func (v *view) knee() (float64, string, bool) {
	return kneeOf(v.sc.Runs, func(*results.Run) bool { return true })
}

func (v *view) kneeAt(pt string) (float64, string, bool) {
	return kneeOf(v.sc.Runs, func(r *results.Run) bool { return v.pointOf(r) == pt })
}

func kneeOf(runs []results.Run, keep func(*results.Run) bool) (float64, string, bool) {
	k, text, n := 0.0, "", 0
	for i := range runs {
		r := &runs[i]
		if !keep(r) {
			continue
		}
		b := r.Setup.Bound()
		if n > 0 && b.Rate != k {
			return 0, "", false
		}
		k, text, n = b.Rate, Knee(b), n+1
	}
	if n == 0 || k <= 0 || math.IsInf(k, 0) || math.IsNaN(k) {
		return 0, "", false
	}
	return k, text, true
}

// Knee explains an analytic bound (results.Setup.Bound) as arithmetic
// on its inputs: "1 source × 28232 ports ÷ (mean hold 0.1 s + TIME_WAIT
// 60 s) = 470.5/s", with the take-over delay in place of TIME_WAIT where
// tcp_tw_reuse applies and "÷ 0.1 (the busiest destination's share of
// the attempts)" when each destination has a range of its own.
func Knee(b results.Bound) string {
	unit := "sources"
	if b.Sources == 1 {
		unit = "source"
	}
	hold := "connections never closed"
	if b.Hold != math.MaxInt64 {
		hold = "mean hold " + format.Seconds(int64(b.Hold))
	}
	var wait string
	switch b.Why {
	case "TIME_WAIT":
		wait = "TIME_WAIT " + format.Seconds(int64(b.Unusable))
	case "tcp_tw_reuse_delay":
		wait = "tcp_tw_reuse take-over after " + format.Seconds(int64(b.Unusable))
	default:
		wait = b.Why
	}
	t := fmt.Sprintf("%d %s × %d ports ÷ (%s + %s)", b.Sources, unit, b.Ports, hold, wait)
	if b.Share < 1 {
		t += " ÷ " + format.Number(b.Share) + " (the busiest destination's share of the attempts)"
	}
	return t + " = " + format.Rate(b.Rate)
}
