package report

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/portsim/portsim/results"
)

// raceSuite is a small SNAT race scenario swept over rate and CPUs: one
// allocator that never clashes, one whose SYNs clash on 2 % of
// connects at 400/s on 4 CPUs and on 0.5 % elsewhere, and one that
// clashes on 3 % everywhere; two seeds.
func raceSuite() Suite {
	sc := Scenario{
		Name: "node", Description: "A node masquerading its pods.",
		Settings: []string{"rate=100|400", "cpus=2|4"},
		Swept:    []string{"rate", "cpus"}, X: "rate",
		Metrics: []string{"clash_fraction", "connect_p99_s"},
	}
	for _, alloc := range []string{"calm", "racy", "worst"} {
		for _, cpus := range []int{2, 4} {
			for _, rate := range []float64{100, 400} {
				for seed := range 2 {
					r := results.Run{
						Scenario: "node", Allocator: alloc, Seed: uint64(seed + 1), Replicate: seed,
						Labels: map[string]string{"rate": strconv.Itoa(int(rate)), "cpus": strconv.Itoa(cpus)},
						Setup: results.Setup{
							Range: "1024-65535", Ports: 64512, TimeWaitNS: int64(120 * time.Second), Scope: "4-tuple",
							Sources: 1, Destinations: 1, Path: "connect", Close: "client", Arrivals: "poisson",
							RatePerSec: rate, HoldMeanNS: int64(50 * time.Millisecond),
							CPUs: cpus, ConfirmDelay: "exp:50us", ConfirmDelayMeanNS: 50000, SynRTONS: int64(time.Second), SynRetries: 6,
						},
						FirstFailureNS: -1,
					}
					conns := uint64(rate * 100)
					slow := uint64(0)
					switch {
					case alloc == "racy" && rate == 400 && cpus == 4:
						slow = conns / 50
					case alloc == "racy":
						slow = conns / 200
					case alloc == "worst":
						slow = conns * 3 / 100
					}
					lat := &results.Hist{}
					lat.RecordN(60_000, conns-slow)
					lat.RecordN(1_000_005_000, slow)
					r.ConnectLatency = lat
					r.Clashes = int64(slow)
					r.Successes = int64(conns)
					r.Attempts = r.Successes + r.Clashes
					r.SynRetransmits = r.Clashes
					sc.Runs = append(sc.Runs, r)
				}
			}
		}
	}
	return Suite{Name: "race", Description: "The SNAT race.", Seeds: 2, Scenarios: []Scenario{sc}}
}

// TestLatencyLimitGolden checks the summary's answer for the SNAT race:
// up to which rate each allocator keeps the p99 connect latency under
// the SYN retransmission timeout, per CPU count, first in the summary.
func TestLatencyLimitGolden(t *testing.T) {
	d, err := Compose(raceSuite())
	if err != nil {
		t.Fatal(err)
	}
	// The answer's sentence and table open the scenario's summary; the
	// golden file holds them alone, so that other parts of the summary
	// may change without it.
	sec := d.Summary[0]
	if len(sec.Blocks) < 2 {
		t.Fatalf("summary has %d blocks", len(sec.Blocks))
	}
	sec.Blocks = sec.Blocks[:2]
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, Document{Title: d.Title, Summary: []Section{sec}}); err != nil {
		t.Fatal(err)
	}
	golden(t, "race-summary.md", buf.Bytes())
}

// TestLatencyLimitOtherScenarios checks that a scenario without the race
// or without a rate sweep gets no such answer.
func TestLatencyLimitOtherScenarios(t *testing.T) {
	s := raceSuite()
	sc := &s.Scenarios[0]
	noRace := *sc
	noRace.Runs = nil
	for _, r := range sc.Runs {
		r.ConnectLatency = nil
		noRace.Runs = append(noRace.Runs, r)
	}
	noSweep := *sc
	noSweep.X = "cpus"
	noSweep.Runs = nil
	for _, r := range sc.Runs {
		if r.Labels["rate"] == "100" {
			noSweep.Runs = append(noSweep.Runs, r)
		}
	}
	for name, c := range map[string]*Scenario{"no race": &noRace, "no rate sweep": &noSweep} {
		m, err := lookupMetrics(c)
		if err != nil {
			t.Fatal(err)
		}
		if b := newView(c, m).latencyLimit(); b != nil {
			t.Errorf("%s: %d blocks, want none", name, len(b))
		}
	}
}
