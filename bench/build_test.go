package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portsim/portsim/allocator"
)

// TestBuildText checks the exact suite text Build gives a suite made in
// Go: the format a user reads in suite.yaml, with strings quoted where
// YAML would read another type.
func TestBuildText(t *testing.T) {
	s, err := Build(allocator.Builtins(), Suite{
		Name: "mine", Seed: 7, Seeds: 2,
		Allocators: []AllocRef{{Name: "linux"}, {Name: "netfilter", Params: map[string]string{"random": "true"}}},
		Scenarios: []Scenario{{
			Name:    "a",
			Charts:  []string{"probes-cdf"},
			ChartAt: map[string]string{"hold": "exp:50ms"},
			Metrics: []string{"failure_fraction"},
			Settings: []Value{
				{Key: "rate", Values: []string{"100", "200"}},
				{Key: "hold", Values: []string{"exp:10ms", "exp:50ms"}},
				{Key: "duration", Values: []string{"2s"}},
			},
			X: "rate",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `name: mine
seed: 7
seeds: 2
allocators:
  - name: linux
  - name: netfilter
    params:
      random: "true"
scenarios:
  - name: a
    charts: [probes-cdf]
    x: rate
    chart-at:
      hold: exp:50ms
    events: false
    metrics: [failure_fraction]
    rate: ["100", "200"]
    hold: ['exp:10ms', 'exp:50ms']
    duration: 2s
`
	if string(s.Data) != want {
		t.Errorf("Build text:\n%s\nwant:\n%s", s.Data, want)
	}
	if s.File != "suite" {
		t.Errorf("File = %q, want %q (the name errors give a suite made in Go)", s.File, "suite")
	}
}

// TestBuildRoundTrip rebuilds every embedded suite from its parsed value
// and checks that the rebuilt suite has the same cells with the same
// setups, seeds, charts and published figures: nothing a suite file can
// say is lost when a suite is made in Go.
func TestBuildRoundTrip(t *testing.T) {
	for _, name := range SuiteNames() {
		t.Run(name, func(t *testing.T) {
			orig, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Build(orig.Registry, *orig)
			if err != nil {
				t.Fatalf("Build: %v\n%s", err, mustEncode(t, orig))
			}
			if got, want := describeSuite(t, again), describeSuite(t, orig); got != want {
				t.Errorf("rebuilt suite differs:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func mustEncode(t *testing.T, s *Suite) []byte {
	t.Helper()
	b, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describeSuite prints everything that decides what a suite runs and
// draws.
func describeSuite(t *testing.T, s *Suite) string {
	t.Helper()
	var out strings.Builder
	fmt.Fprintf(&out, "%s seed %d seeds %d\n", s.Name, s.Seed, s.Seeds)
	for _, sc := range s.Scenarios {
		fmt.Fprintf(&out, "scenario %s events %v x %q chart-at %v charts %v metrics %v\n", sc.Name, sc.Events, sc.X, sc.ChartAt, sc.Charts, sc.Metrics)
		for _, p := range sc.Published {
			p.Line = 0
			fmt.Fprintf(&out, "  published %+v\n", p)
		}
	}
	cells, err := s.Cells()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cells {
		st, err := c.Setup()
		if err != nil {
			t.Fatal(err)
		}
		st.Registry = allocator.Set{}
		fmt.Fprintf(&out, "cell %d %s %v %s %+v\n", c.Index, c.Scenario.Name, c.Labels, c.Alloc.Label(), st)
	}
	return out.String()
}

// TestWithSeedsKeepsRegistry checks that changing the seeds of a suite
// that names an allocator added by the program (not built in) still
// resolves that allocator.
func TestWithSeedsKeepsRegistry(t *testing.T) {
	spec, err := allocator.Builtins().Lookup("sequential")
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = "my-sequential"
	reg, err := allocator.NewSet(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build(reg, Suite{Name: "mine", Seed: 1, Seeds: 1,
		Allocators: []AllocRef{{Name: "my-sequential"}},
		Scenarios:  []Scenario{{Name: "a", Settings: []Value{{Key: "duration", Values: []string{"1s"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s5, err := s.WithSeeds(5)
	if err != nil {
		t.Fatalf("WithSeeds: %v", err)
	}
	if s5.Seeds != 5 || s5.Scenarios[0].Allocators[0].Name != "my-sequential" {
		t.Errorf("WithSeeds(5): seeds %d, allocators %v", s5.Seeds, s5.Scenarios[0].Allocators)
	}
}
