package report

import (
	"fmt"
	"io"
	"math"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/capacity"
	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// CapacityStep writes one rate a capacity search tried, for -v: its
// failure share, the upper bound of that share and the verdict.
func CapacityStep(w io.Writer, p capacity.Point) {
	verdict := "sustainable"
	if !p.Sustainable {
		verdict = "not sustainable"
	}
	fmt.Fprintf(w, "  %s: failure share %s (upper bound %s): %s\n",
		format.Rate(p.Rate), format.Percent(p.Mean), format.Percent(p.Upper), verdict)
}

// Sizing says in one line what a capacity search sizes: the stack and the
// workload of cfg.
func Sizing(cfg sim.Config) string {
	st, w := cfg.Stack, cfg.Workload
	return fmt.Sprintf("range %d-%d (%d ports), TIME_WAIT %v, %s, tw_reuse %d (delay %v, timestamps %v); %s arrivals to %d destination(s)%s from %d source(s), hold %s, close %s, %s",
		st.Range.Lo, st.Range.Hi, st.Range.Usable(), st.TimeWait, st.Scope, st.TWReuse, st.TWReuseDelay, st.Timestamps,
		w.Arrivals, w.Destinations, loopbackNote(w.Loopback), w.Sources, w.Hold, w.Close, w.Path)
}

func loopbackNote(lo bool) string {
	if lo {
		return " on loopback"
	}
	return ""
}

// Capacity writes the answer of capacity.Search for allocator alloc as
// plain sentences: the rate sustained, the analytic bound and, for
// Poisson arrivals, Erlang B's.
func Capacity(w io.Writer, alloc string, cfg sim.Config, r capacity.Result) {
	fmt.Fprintf(w, "%s: %s\n", alloc, Sizing(cfg))
	b := r.Bound
	switch {
	case math.IsInf(r.Rate, 1) && math.IsInf(r.BoundRate, 1):
		fmt.Fprintf(w, "No port stays held (%s; hold %s): every rate is sustainable as far as ports go.\n",
			b.Why, cfg.Workload.Hold)
		return
	case math.IsInf(r.Unsustainable, 1):
		fmt.Fprintf(w, "Sustains at least %s new connections per second, 32 times the analytic bound, with failures at or below %s; the bound does not describe this setup.\n",
			format.Number(r.Rate), format.Percent(r.Target))
	case r.Rate == 0:
		fmt.Fprintf(w, "No rate down to %s new connections per second keeps failures at or below %s.\n",
			format.Number(r.Unsustainable), format.Percent(r.Target))
	default:
		fmt.Fprintf(w, "Sustains %s new connections per second (%s is too many): failures stay at or below %s with %.0f %% confidence (%d seeds; %v warm-up, then %v counted).\n",
			format.Number(r.Rate), format.Rate(r.Unsustainable), format.Percent(r.Target), 100*r.Confidence, r.Seeds, r.Warmup, r.Measure)
		if r.At.Mean > 0 {
			fmt.Fprintf(w, "At that rate %s of attempts failed (upper bound %s).\n", format.Percent(r.At.Mean), format.Percent(r.At.Upper))
		}
	}
	fmt.Fprintf(w, "Analytic bound: %s.\n", Knee(b))
	if twReuseIgnored(cfg) {
		fmt.Fprintf(w, "tcp_tw_reuse=2 applies to loopback destinations only (-loopback true); here TIME_WAIT is not taken over.\n")
	}
	if !math.IsNaN(r.ErlangRate) {
		fmt.Fprintf(w, "Erlang B for Poisson arrivals to %d ports held %v each: %s fail at most %s.\n",
			b.Ports, b.Cycle(), format.Rate(r.ErlangRate), format.Percent(r.Target))
	}
}

// twReuseIgnored reports a tcp_tw_reuse=2 stack whose destinations are
// not on loopback, where the user may expect take-over.
func twReuseIgnored(cfg sim.Config) bool {
	st, w := cfg.Stack, cfg.Workload
	return st.TWReuse == 2 && !w.Loopback && w.Path == allocator.Connect && w.Close == workload.ClientClose && st.TimeWait > 0
}

// Sources writes the answer of capacity.FewestSources for allocator alloc
// as plain sentences: the source addresses needed and the analytic count.
func Sources(w io.Writer, alloc string, cfg sim.Config, r capacity.SourcesResult) {
	fmt.Fprintf(w, "%s: %s\n", alloc, Sizing(cfg))
	var fewer *capacity.SourcesStep
	for i := range r.Steps {
		if s := &r.Steps[i]; s.Sources == r.Sources-1 {
			fewer = s
		}
	}
	switch {
	case r.Sources == 0:
		last := r.Steps[len(r.Steps)-1]
		fmt.Fprintf(w, "%s new connections per second fail more than %s even from %d source addresses (%s failed).\n",
			format.Number(r.Rate), format.Percent(r.Target), last.Sources, format.Percent(last.Point.Mean))
	case fewer != nil:
		fmt.Fprintf(w, "%s new connections per second need %d source address(es): with %d, %s of attempts fail; with %d, at most %s with %.0f %% confidence (%d seeds).\n",
			format.Number(r.Rate), r.Sources, fewer.Sources, format.Percent(fewer.Point.Mean), r.Sources, format.Percent(r.Target), 100*r.Confidence, r.Seeds)
	default:
		fmt.Fprintf(w, "%s new connections per second need %d source address(es): failures stay at or below %s with %.0f %% confidence (%d seeds).\n",
			format.Number(r.Rate), r.Sources, format.Percent(r.Target), 100*r.Confidence, r.Seeds)
	}
	fmt.Fprintf(w, "Analytic bound: %s per source address, so ⌈%s ÷ %s⌉ = %d.\n",
		Knee(r.PerSource), format.Number(r.Rate), format.Number(r.PerSource.Rate), r.Analytic)
}
