package report

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/results"
)

// latencyLimit answers, for a scenario of the SNAT race (runs with a
// connect-latency histogram, Run.ConnectLatency) swept over the offered
// rate, up to which rate the 99th percentile of the connect latency stays
// under the first SYN retransmission timeout (Setup.SynRTONS, 1 s): a
// sentence and a table with one row per allocator and one column per
// setting of the other swept labels (CPUs and confirm delay). The p99 is
// that of the seeds' histograms merged. A connect either finishes within
// its confirm delays or waits a whole timeout after a clash, so the p99
// is under the timeout exactly when it is under half of it, which the
// test uses: the histogram's buckets put a latency of 1.000005 s at
// 0.998 s. A rate counts when it and every lower rate tried keep the p99
// under. It returns nothing for other scenarios.
func (v *view) latencyLimit() []Block {
	if v.sc.X == "" || !v.rateSwept() {
		return nil
	}
	type cellKey struct{ row, col, pt string }
	hists := map[cellKey]*results.Hist{}
	clashes := map[cellKey][2]int64{} // clashes and SYNs confirmed or clashed
	var rows, cols []string
	rto := int64(0)
	for i := range v.sc.Runs {
		r := &v.sc.Runs[i]
		if r.ConnectLatency == nil || r.Setup.SynRTONS <= 0 {
			continue
		}
		if rto == 0 {
			rto = r.Setup.SynRTONS
		}
		if r.Setup.SynRTONS != rto {
			return nil // one threshold per table
		}
		row := r.AllocLabel()
		var parts []string
		for _, k := range v.sc.Swept {
			if k != v.sc.X {
				parts = append(parts, k+"="+r.Labels[k])
			}
		}
		col := strings.Join(parts, " ")
		if !slices.Contains(rows, row) {
			rows = append(rows, row)
		}
		if !slices.Contains(cols, col) {
			cols = append(cols, col)
		}
		k := cellKey{row, col, v.pointOf(r)}
		if hists[k] == nil {
			hists[k] = &results.Hist{}
		}
		hists[k].Merge(r.ConnectLatency)
		c := clashes[k]
		clashes[k] = [2]int64{c[0] + r.Clashes, c[1] + r.Clashes + r.Successes}
	}
	if len(rows) == 0 {
		return nil
	}
	pts := slices.Clone(v.points)
	slices.SortStableFunc(pts, func(a, b string) int {
		ra, rb := v.rateAt(a), v.rateAt(b)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	top := v.rateAt(pts[len(pts)-1])
	limit := format.Seconds(rto)

	// For each row and column: the highest rate kept under the limit
	// (NaN for none) and the p99 at the first rate that is not.
	type answer struct {
		rate   float64
		over   float64 // the first rate over the limit, NaN for none
		p99    float64 // its p99 in seconds
		clash  float64 // its share of SYNs that clashed
		tested bool
	}
	ans := map[[2]string]answer{}
	for _, row := range rows {
		for _, col := range cols {
			a := answer{rate: math.NaN(), over: math.NaN()}
			for _, pt := range pts {
				h := hists[cellKey{row, col, pt}]
				if h == nil || h.Count() == 0 {
					continue
				}
				a.tested = true
				q := h.Quantile(0.99)
				if q >= float64(rto)/2 {
					a.over, a.p99 = v.rateAt(pt), q/1e9
					if c := clashes[cellKey{row, col, pt}]; c[1] > 0 {
						a.clash = float64(c[0]) / float64(c[1])
					}
					break
				}
				a.rate = v.rateAt(pt)
			}
			ans[[2]string{row, col}] = a
		}
	}
	// at says what happens at the first rate over the limit.
	at := func(a answer) string {
		return fmt.Sprintf("p99 %s s at %s, %s %% of SYNs clashed", format.Sig(a.p99, 2), format.Rate(a.over), format.Sig(100*a.clash, 3))
	}
	cell := func(a answer) string {
		switch {
		case !a.tested:
			return "n/a"
		case math.IsNaN(a.over):
			return format.Rate(a.rate) + " (all)"
		case math.IsNaN(a.rate):
			return "none (" + at(a) + ")"
		}
		return format.Rate(a.rate) + " (" + at(a) + ")"
	}
	t := &Table{
		Caption: fmt.Sprintf("**Highest rate with the p99 connect latency under %s**, this rate and every lower one tried "+
			"(up to %s), the seeds' latencies merged; in brackets the next rate, where at least 1 %% of "+
			"connects waited for a SYN retransmission, with its p99 and its share of SYNs that clashed.", limit, format.Rate(top)),
		Header:  []string{"allocator"},
		Numeric: []bool{false},
	}
	for _, col := range cols {
		h := col
		if h == "" {
			h = "p99 under " + limit + " up to"
		}
		t.Header, t.Numeric = append(t.Header, h), append(t.Numeric, true)
	}
	var all, some []string
	for _, row := range rows {
		cells := []string{row}
		every := true
		for _, col := range cols {
			a := ans[[2]string{row, col}]
			cells = append(cells, cell(a))
			if !a.tested || !math.IsNaN(a.over) {
				every = false
			}
		}
		t.Rows = append(t.Rows, cells)
		if every {
			all = append(all, row)
		} else {
			some = append(some, row)
		}
	}
	var sent []string
	if len(all) > 0 {
		where := " in every setting"
		if len(cols) == 1 {
			where = ""
		}
		sent = append(sent, fmt.Sprintf("The p99 connect latency stays under %s at every rate tried, up to %s, with %s%s.",
			limit, format.Rate(top), names(all, len(all)), where))
	}
	for _, row := range some {
		// Group the columns by their answer.
		var order []string
		by := map[string][]string{}
		for _, col := range cols {
			a := ans[[2]string{row, col}]
			var s string
			switch {
			case !a.tested:
				continue
			case math.IsNaN(a.over):
				s = "up to " + format.Rate(a.rate)
			case math.IsNaN(a.rate):
				s = "at no rate tried (" + at(a) + ")"
			default:
				s = "only up to " + format.Rate(a.rate) + " (" + at(a) + ")"
			}
			if _, ok := by[s]; !ok {
				order = append(order, s)
			}
			by[s] = append(by[s], col)
		}
		var parts []string
		for _, s := range order {
			if len(order) == 1 || len(cols) == 1 {
				parts = append(parts, s)
				continue
			}
			parts = append(parts, s+" with "+names(by[s], len(by[s])))
		}
		sent = append(sent, fmt.Sprintf("With %s it stays under %s %s.", row, limit, strings.Join(parts, "; ")))
	}
	return []Block{Para(strings.Join(sent, " ")), t}
}
