package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/results/chart"
	"github.com/portsim/portsim/sim"
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
	s, err := Load("snat-race")
	if err != nil {
		t.Fatal(err)
	}
	keep := func(c *Cell) bool {
		l := c.Labels
		switch c.Scenario.Name {
		case "node":
			return l["rate"] == "400" && l["cpus"] == "8" && l["confirm-delay"] == "exp:50us"
		case "pods":
			return l["rate"] == "400"
		}
		return false
	}
	runs := runUnits(t, s, keep)
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

// runUnits runs the units of s whose cell keep accepts, in suite order,
// identified as the runner identifies them.
func runUnits(t *testing.T, s *Suite, keep func(*Cell) bool) []results.Run {
	t.Helper()
	units, err := s.Units()
	if err != nil {
		t.Fatal(err)
	}
	var runs []results.Run
	for _, u := range units {
		if !keep(u.Cell) {
			continue
		}
		cfg, err := u.Cell.Config(u.Replicate)
		if err != nil {
			t.Fatal(err)
		}
		r, err := sim.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		u.Cell.Identify(&r, u.Replicate)
		runs = append(runs, r)
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
	s, err := Load("snat-race")
	if err != nil {
		t.Fatal(err)
	}
	runs := runUnits(t, s, func(c *Cell) bool {
		return c.Scenario.Name == "node" && c.Labels["rate"] == "400" && c.Alloc.Name == "netfilter-rover" && c.Alloc.Params["random-fully"] != "true"
	})
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
