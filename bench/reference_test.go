package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsim/portsim/results"
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
