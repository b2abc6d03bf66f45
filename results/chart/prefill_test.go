package chart

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/portsim/portsim/results"
)

// prefillRuns returns a hand-made occupancy sweep in the shape of
// docs/figures.md#t5-nat-port-clash-resolution: a search bounded at 248 probes failing p^248 of
// 10,000 attempts, and an exhaustive one that never fails.
func prefillRuns() []results.Run {
	var runs []results.Run
	for _, alloc := range []string{"netfilter", "rfc6056-1"} {
		for _, p := range []float64{0.9, 0.98, 0.99, 0.995} {
			r := results.Run{
				Scenario: "random-occupancy", Allocator: alloc,
				Labels: map[string]string{"prefill": strconv.FormatFloat(p, 'f', -1, 64)},
				Setup:  results.Setup{Prefill: p, Ports: 64512},
			}
			r.Attempts = 10000
			if alloc == "netfilter" {
				r.Failures = int64(math.Round(math.Pow(p, 248) * 10000))
				r.ProbesFail.RecordN(248, uint64(r.Failures))
			}
			r.Successes = r.Attempts - r.Failures
			runs = append(runs, r)
		}
	}
	return runs
}

// TestFailureVsPrefill draws the T5 chart and checks that the bound of a
// bounded search is recognised from its failed allocations.
func TestFailureVsPrefill(t *testing.T) {
	runs := prefillRuns()
	dir := t.TempDir()
	if err := FailureVsPrefill().Render(runs, dir, ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"failure-vs-prefill.png", "failure-vs-prefill.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	var nf, ex []*results.Run
	for i := range runs {
		if runs[i].Allocator == "netfilter" {
			nf = append(nf, &runs[i])
		} else {
			ex = append(ex, &runs[i])
		}
	}
	if b, ok := fixedFailureProbes(nf); !ok || b != 248 {
		t.Errorf("bound of the netfilter runs: %d, %v; want 248", b, ok)
	}
	if _, ok := fixedFailureProbes(ex); ok {
		t.Error("runs without failures report a bound")
	}
	nf[0].ProbesFail.Record(3)
	if _, ok := fixedFailureProbes(nf); ok {
		t.Error("failures of different probe counts report a bound")
	}
	if _, err := FailureVsPrefill().Draw(nil); !errors.Is(err, ErrNoData) {
		t.Errorf("no runs: %v, want ErrNoData", err)
	}
}
