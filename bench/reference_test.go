package bench

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/results/chart"
)

// TestSnatRaceReference checks that the snat-race suite's reference
// report in docs/snat-race is the model's current answer: the runs of
// its busiest sweep points (400 connections a second; 8 CPUs with 50 µs
// confirm delays in the node scenario), run again here, must have the
// rows of docs/snat-race/runs.csv byte for byte. When the model changes
// on purpose, regenerate the reference: portsim bench snat-race -o DIR,
// then copy report.md, report.html, runs.csv, bench.txt, manifest.json,
// suite.yaml and charts/*.png into docs/snat-race.
func TestSnatRaceReference(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs 30 simulations of 240 s")
	}
	ref, err := os.ReadFile(filepath.Join("..", "docs", "snat-race", "runs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	runs := snatRaceRuns(t, snatReferenceCell)
	if len(runs) != 30 {
		t.Fatalf("%d runs, want 30 (5 variants × 3 seeds × 2 scenarios)", len(runs))
	}
	var buf bytes.Buffer
	if err := results.WriteCSV(&buf, runs); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := strings.Split(strings.TrimSuffix(string(ref), "\n"), "\n")
	if got[0] != want[0] {
		t.Fatalf("runs.csv header\n%s\nwant (docs/snat-race/runs.csv)\n%s", got[0], want[0])
	}
	rows := map[string]bool{}
	for _, row := range want[1:] {
		rows[row] = true
	}
	for i, row := range got[1:] {
		if !rows[row] {
			r := &runs[i]
			t.Errorf("%s %s %v replicate %d: row\n%s\nis not in docs/snat-race/runs.csv: regenerate the reference report", r.Scenario, r.AllocLabel(), r.Labels, r.Replicate, row)
		}
	}
}

// snatReferenceCell reports whether TestSnatRaceReference checks the
// runs of cell c of the snat-race suite.
func snatReferenceCell(c *Cell) bool {
	l := c.Labels
	switch c.Scenario.Name {
	case "node":
		return l["rate"] == "400" && l["cpus"] == "8" && l["confirm-delay"] == "exp:50us"
	case "pods":
		return l["rate"] == "400"
	}
	return false
}

// snatAnalyticCell reports whether TestSnatRaceAnalytic checks the runs
// of cell c of the snat-race suite.
func snatAnalyticCell(c *Cell) bool {
	return c.Scenario.Name == "node" && c.Labels["rate"] == "400" && c.Alloc.Name == "netfilter-rover" && c.Alloc.Params["random-fully"] != "true"
}

// snatRace holds the runs of the snat-race units that
// TestSnatRaceReference or TestSnatRaceAnalytic checks, simulated once
// for both (six runs are in both sets) by the first to ask.
var snatRace struct {
	once  sync.Once
	units []Unit
	runs  []results.Run
	err   error
}

// snatRaceRuns returns the runs of the snat-race units whose cell keep
// accepts (snatReferenceCell or snatAnalyticCell), in suite order,
// identified as the runner identifies them.
func snatRaceRuns(t *testing.T, keep func(*Cell) bool) []results.Run {
	t.Helper()
	snatRace.once.Do(func() {
		s, err := Load("snat-race")
		if err != nil {
			snatRace.err = err
			return
		}
		units, err := s.Units()
		if err != nil {
			snatRace.err = err
			return
		}
		for _, u := range units {
			if snatReferenceCell(u.Cell) || snatAnalyticCell(u.Cell) {
				snatRace.units = append(snatRace.units, u)
			}
		}
		snatRace.runs, snatRace.err = simulate(snatRace.units, nil)
	})
	if snatRace.err != nil {
		t.Fatal(snatRace.err)
	}
	var runs []results.Run
	for i, u := range snatRace.units {
		if keep(u.Cell) {
			runs = append(runs, snatRace.runs[i])
		}
	}
	return runs
}

// TestSnatRaceAnalytic checks the claim of docs/allocators.md#the-snat-race
// that at 400 connections a second the shared rover's simulated clash
// shares (default rule and --random, pooled over the seeds) lie within
// 15 % of the analytic share the chart draws, in every setting of the
// node scenario.
func TestSnatRaceAnalytic(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs 36 simulations of 240 s")
	}
	runs := snatRaceRuns(t, snatAnalyticCell)
	cells := map[string][]results.Run{}
	var order []string
	for _, r := range runs {
		k := r.AllocLabel() + " cpus=" + r.Labels["cpus"] + " confirm-delay=" + r.Labels["confirm-delay"]
		if _, ok := cells[k]; !ok {
			order = append(order, k)
		}
		cells[k] = append(cells[k], r)
	}
	if len(order) != 12 {
		t.Fatalf("%d cells, want 12 (2 rules × 3 CPU counts × 2 delays)", len(order))
	}
	for _, k := range order {
		rs := cells[k]
		want, ok := chart.ClashAnalytic(rs)
		if !ok {
			t.Errorf("%s: no analytic share", k)
			continue
		}
		var clashes, syns int64
		for _, r := range rs {
			clashes += r.Clashes
			syns += r.Clashes + r.Successes
		}
		got := float64(clashes) / float64(syns)
		t.Logf("%s: %d clashes in %d SYNs = %.3e, analytic %.3e (ratio %.3f)", k, clashes, syns, got, want, got/want)
		if math.Abs(got/want-1) > 0.15 {
			t.Errorf("%s: clash share %.3e, analytic %.3e: ratio %.3f, outside 1 ± 0.15", k, got, want, got/want)
		}
	}
}
