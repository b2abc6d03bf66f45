package bench

import (
	"fmt"
	"hash/fnv"
	"maps"
	"strconv"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
)

// Cell is one point of a suite: a scenario at one point of its sweep, with
// one allocator. It runs once per seed.
type Cell struct {
	Suite    *Suite
	Scenario *Scenario
	// Labels holds the swept settings' values at this point.
	Labels map[string]string
	Alloc  AllocRef
	// Index numbers the cells of the suite in file order from 0.
	Index int
}

// Unit is one run: a cell and a replicate.
type Unit struct {
	Cell      *Cell
	Replicate int
	// Index numbers the units of the suite from 0, in the order runs.jsonl
	// lists them.
	Index int
}

// Cells returns every cell of the suite in file order: scenarios, then
// sweep points (the product of the swept settings in the order they
// appear), then allocators.
func (s *Suite) Cells() ([]*Cell, error) {
	var out []*Cell
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		var order []string
		vals := map[string][]string{}
		for _, v := range sc.Settings {
			if len(v.Values) > 1 {
				order = append(order, v.Key)
				vals[v.Key] = v.Values
			}
		}
		for _, point := range product(order, vals) {
			for _, a := range sc.Allocators {
				out = append(out, &Cell{Suite: s, Scenario: sc, Labels: point, Alloc: a, Index: len(out)})
			}
		}
	}
	return out, nil
}

// Units returns every run of the suite: each cell once per seed, cells in
// order, replicates inside.
func (s *Suite) Units() ([]Unit, error) {
	cells, err := s.Cells()
	if err != nil {
		return nil, err
	}
	var out []Unit
	for _, c := range cells {
		for r := range s.Seeds {
			out = append(out, Unit{Cell: c, Replicate: r, Index: len(out)})
		}
	}
	return out, nil
}

// Setup applies the suite defaults and the scenario's settings, at this
// cell's sweep point, to the allocator's profile, and validates the
// result. Errors name the suite file and line of the setting.
func (c *Cell) Setup() (Setup, error) {
	spec, err := c.Suite.Registry.Lookup(c.Alloc.Name)
	if err != nil {
		return Setup{}, fmt.Errorf("%s:%d: %w", c.Suite.File, c.Alloc.Line, err)
	}
	st := NewSetup(spec.Profile)
	st.Registry = c.Suite.Registry
	st.Dir = c.Suite.Dir
	apply := func(vals []Value) error {
		for _, v := range vals {
			set, err := LookupSetting(v.Key)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", c.Suite.File, v.Line, err)
			}
			val := v.Values[0]
			if len(v.Values) > 1 {
				val = c.Labels[v.Key]
			}
			if err := set.Apply(&st, val); err != nil {
				return fmt.Errorf("%s:%d: scenario %q: %w", c.Suite.File, v.Line, c.Scenario.Name, err)
			}
		}
		return nil
	}
	if err := apply(c.Suite.Defaults); err != nil {
		return Setup{}, err
	}
	if err := apply(c.Scenario.Settings); err != nil {
		return Setup{}, err
	}
	if err := st.Validate(); err != nil {
		return Setup{}, fmt.Errorf("%s:%d: scenario %q with %s: %w", c.Suite.File, c.Scenario.Line, c.Scenario.Name, c.Alloc.Label(), err)
	}
	return st, nil
}

// Seeds returns the workload and allocator seeds of replicate r. The
// workload seed depends only on the suite seed, the scenario and the
// replicate, so every allocator and every sweep point of a scenario sees
// the same random arrivals (common random numbers); the allocator seed
// depends on the allocator and the replicate, so adding a scenario or an
// allocator changes no other run.
func (c *Cell) Seeds(r int) (workloadSeed, allocSeed uint64) {
	return hashSeed(c.Suite.Seed, "workload", c.Scenario.Name, strconv.Itoa(r)),
		hashSeed(c.Suite.Seed, "allocator", c.Alloc.Label(), strconv.Itoa(r))
}

func hashSeed(seed uint64, parts ...string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d", seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum64()
}

// Config returns the simulation of replicate r of the cell.
func (c *Cell) Config(r int) (sim.Config, error) {
	st, err := c.Setup()
	if err != nil {
		return sim.Config{}, err
	}
	spec, err := c.Suite.Registry.Lookup(c.Alloc.Name)
	if err != nil {
		return sim.Config{}, fmt.Errorf("%s:%d: %w", c.Suite.File, c.Alloc.Line, err)
	}
	ws, as := c.Seeds(r)
	return st.Config(spec, c.Alloc.Params, as, ws), nil
}

// Identify fills in the suite identity of a run of replicate r.
func (c *Cell) Identify(run *results.Run, r int) {
	run.Suite = c.Suite.Name
	run.Scenario = c.Scenario.Name
	run.Labels = maps.Clone(c.Labels)
	run.Allocator = c.Alloc.Name
	run.Params = maps.Clone(c.Alloc.Params)
	run.Replicate = r
}

// Key identifies replicate r of the cell, as results.Run.Key does.
func (c *Cell) Key(r int) string {
	run := results.Run{}
	c.Identify(&run, r)
	return run.Key()
}
