// Package bench runs suites: scenarios × allocators × seeds described in
// YAML, in parallel, with sharding and resumption, and writes the result
// files and the report of a suite run.
package bench

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/results/chart"
	"github.com/portsim/portsim/sim/workload"
)

//go:embed suites/*.yaml
var embedded embed.FS

// Suite is a parsed suite file.
type Suite struct {
	// Name identifies the suite; Description says what it answers.
	Name        string
	Description string
	// Seed is the suite seed every run's seeds derive from (default 1).
	Seed uint64
	// Seeds is the number of replicates of every cell (default 3).
	Seeds int
	// Defaults are settings every scenario starts from.
	Defaults []Value
	// Allocators run in every scenario that does not list its own.
	Allocators []AllocRef
	// Charts are drawn for every scenario that does not list its own.
	Charts []string
	// Scenarios in file order.
	Scenarios []Scenario

	// File names the suite in errors ("standard" for an embedded suite);
	// Dir resolves relative paths in it; Data is its text, whose SHA-256 is
	// the suite hash in the manifest.
	File string
	Dir  string
	Data []byte

	// Registry is the set of allocators the suite's names resolve
	// against: portsim's built-in ones unless the suite was read with
	// LoadWith or ParseWith.
	Registry allocator.Set

	// traces describes each trace the suite replays, by path.
	traces map[string]*workload.TraceStats
}

// Trace returns the description of the trace at path (a Setup's
// Workload.TraceName) read when the suite was parsed.
func (s *Suite) Trace(path string) (*workload.TraceStats, bool) {
	t, ok := s.traces[path]
	return t, ok
}

// Value is one setting in a suite: a key and one value, or several for a
// sweep.
type Value struct {
	Key    string
	Values []string
	Line   int
}

// AllocRef is an allocator with parameters, as a suite lists it.
type AllocRef struct {
	Name   string
	Params map[string]string
	Line   int
}

// Label returns the name an allocator reference goes by in tables,
// legends and file names (results.AllocLabel): the name, with its
// parameters in brackets.
func (a AllocRef) Label() string { return results.AllocLabel(a.Name, a.Params) }

// Scenario is one workload and stack, possibly swept, run with a list of
// allocators.
type Scenario struct {
	Name        string
	Description string
	Settings    []Value
	Allocators  []AllocRef
	Charts      []string
	// X is the swept setting charts put on their x axis (default: the
	// first swept setting).
	X string
	// ChartAt picks the sweep point that distribution and time-series
	// charts of a swept scenario show: a value for each swept setting
	// other than the one on the chart's x axis (suite key "chart-at",
	// a mapping such as {rate: 100}). Without it such a chart is drawn
	// once per sweep point.
	ChartAt map[string]string
	// Events writes the per-attempt event log of the first replicate of
	// every cell (the one event-log charts draw).
	Events bool
	// Metrics name the metrics of the scenario's summary tables (default:
	// failure fraction, mean and 99th-percentile probes, reuse interval
	// p1, reuse distance minimum, DNS-OARC score). A swept scenario gets one
	// table per metric, allocators by sweep values.
	Metrics []string
	// Published lists published figures this scenario reproduces.
	Published []Published
	Line      int
}

// Published is a published figure and where in the results to find its
// reproduction.
type Published struct {
	// What says what the number is; Source who published it.
	What   string
	Source string
	// Metric names a results metric (see results.Metrics).
	Metric string
	// Allocator, Params and Labels select the runs (all that match).
	Allocator string
	Params    map[string]string
	Labels    map[string]string
	// Value is the published number; Tolerance the relative difference
	// within which the reproduction agrees (e.g. 0.15).
	Value     float64
	Tolerance float64
	// Cmd is a `portsim run` command that reproduces it alone.
	Cmd  string
	Line int
}

// SuiteNames returns the names of the embedded suites.
func SuiteNames() []string {
	entries, _ := fs.ReadDir(embedded, "suites")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

// Load returns the embedded suite called nameOrPath, or parses the file at
// that path. A name that is neither gives an error suggesting the nearest
// embedded suite.
func Load(nameOrPath string) (*Suite, error) {
	return LoadWith(allocator.Builtins(), nameOrPath)
}

// LoadWith is Load with the suite's allocator names resolved against reg,
// for programs that add allocators of their own.
func LoadWith(reg allocator.Set, nameOrPath string) (*Suite, error) {
	if data, err := embedded.ReadFile(path.Join("suites", nameOrPath+".yaml")); err == nil {
		return ParseWith(reg, data, nameOrPath, "")
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("suite %q: no embedded suite by that name and no such file%s; embedded suites: %s",
				nameOrPath, suggest.Hint(nameOrPath, SuiteNames()), strings.Join(SuiteNames(), ", "))
		}
		return nil, fmt.Errorf("suite: %w", err)
	}
	return ParseWith(reg, data, nameOrPath, filepath.Dir(nameOrPath))
}

// Parse reads a suite from YAML. file names it in errors and dir resolves
// relative paths. Unknown keys, wrong types and bad values are errors that
// name the file and line.
func Parse(data []byte, file, dir string) (*Suite, error) {
	return ParseWith(allocator.Builtins(), data, file, dir)
}

// ParseWith is Parse with the suite's allocator names resolved against
// reg.
func ParseWith(reg allocator.Set, data []byte, file, dir string) (*Suite, error) {
	p := parser{file: file, reg: reg}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty suite; expected a mapping with name and scenarios", file)
	}
	s := &Suite{File: file, Dir: dir, Data: data, Seed: 1, Seeds: 3, Registry: reg}
	root := doc.Content[0]
	if err := p.suite(root, s); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

type parser struct {
	file string
	reg  allocator.Set
}

func (p parser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
}

// mapping calls fn for each key of a mapping node, in order, rejecting
// duplicate keys.
func (p parser) mapping(n *yaml.Node, what string, fn func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s: expected a mapping of keys to values", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "%s: expected a key name", what)
		}
		if seen[k.Value] {
			return p.errf(k, "%s: key %q given twice", what, k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p parser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(n, "%s: expected a single value, got a %s", what, kindName(n))
	}
	return n.Value, nil
}

// scalars reads one value or a list of values.
func (p parser) scalars(n *yaml.Node, what string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "%s: expected a value or a list of values, got a %s", what, kindName(n))
	}
	if len(n.Content) == 0 {
		return nil, p.errf(n, "%s: empty list; give at least one value", what)
	}
	var out []string
	for _, c := range n.Content {
		v, err := p.scalar(c, what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "value"
	}
	return "node"
}

var (
	suiteKeys    = []string{"name", "description", "seed", "seeds", "allocators", "charts", "scenarios"}
	scenarioKeys = []string{"name", "description", "allocators", "charts", "x", "chart-at", "events", "metrics", "published"}
)

func (p parser) suite(n *yaml.Node, s *Suite) error {
	settingNames := SettingNames()
	err := p.mapping(n, "suite", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "name":
			if s.Name, err = p.scalar(v, key); err == nil {
				if err = CheckName(s.Name); err != nil {
					err = p.errf(v, "suite name %v", err)
				}
			}
		case "description":
			s.Description, err = p.scalar(v, key)
		case "seed":
			var str string
			if str, err = p.scalar(v, key); err == nil {
				if s.Seed, err = strconv.ParseUint(str, 10, 64); err != nil {
					err = p.errf(v, "seed: %q: expected a whole number >= 0", str)
				}
			}
		case "seeds":
			var str string
			if str, err = p.scalar(v, key); err == nil {
				if s.Seeds, err = strconv.Atoi(str); err != nil || s.Seeds < 1 || s.Seeds > 1000 {
					err = p.errf(v, "seeds: %q: expected a whole number from 1 to 1000", str)
				}
			}
		case "allocators":
			s.Allocators, err = p.allocators(v)
		case "charts":
			s.Charts, err = p.charts(v)
		case "scenarios":
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				return p.errf(v, "scenarios: expected a non-empty list of scenarios")
			}
			for _, c := range v.Content {
				sc := Scenario{Line: c.Line}
				if err := p.scenario(c, &sc); err != nil {
					return err
				}
				s.Scenarios = append(s.Scenarios, sc)
			}
		default:
			if !slices.Contains(settingNames, key) {
				return p.errf(k, "suite: unknown key %q%s; expected one of %s, or a setting (%s)", key,
					suggest.Hint(key, append(slices.Clone(suiteKeys), settingNames...)), strings.Join(suiteKeys, ", "), strings.Join(settingNames, ", "))
			}
			var vals []string
			if vals, err = p.scalars(v, key); err == nil {
				s.Defaults = append(s.Defaults, Value{Key: key, Values: vals, Line: v.Line})
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if s.Name == "" {
		return p.errf(n, "suite: missing name")
	}
	if len(s.Scenarios) == 0 {
		return p.errf(n, "suite %q: no scenarios", s.Name)
	}
	return nil
}

func (p parser) scenario(n *yaml.Node, sc *Scenario) error {
	settingNames := SettingNames()
	err := p.mapping(n, "scenario", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "name":
			if sc.Name, err = p.scalar(v, key); err == nil {
				if err = CheckName(sc.Name); err != nil {
					err = p.errf(v, "scenario name %v", err)
				}
			}
		case "description":
			sc.Description, err = p.scalar(v, key)
		case "allocators":
			sc.Allocators, err = p.allocators(v)
		case "charts":
			sc.Charts, err = p.charts(v)
		case "x":
			sc.X, err = p.scalar(v, key)
		case "chart-at":
			sc.ChartAt = map[string]string{}
			err = p.mapping(v, "chart-at", func(key string, _, v *yaml.Node) error {
				val, err := p.scalar(v, key)
				sc.ChartAt[key] = val
				return err
			})
		case "events":
			var str string
			if str, err = p.scalar(v, key); err == nil {
				if sc.Events, err = strconv.ParseBool(str); err != nil {
					err = p.errf(v, "events: %q: expected true or false", str)
				}
			}
		case "published":
			sc.Published, err = p.published(v)
		case "metrics":
			if sc.Metrics, err = p.scalars(v, key); err == nil {
				for _, m := range sc.Metrics {
					if _, ok := results.LookupMetric(m); !ok {
						return p.errf(v, "metrics: unknown metric %q%s", m, suggest.Hint(m, metricNames()))
					}
				}
			}
		default:
			if !slices.Contains(settingNames, key) {
				return p.errf(k, "scenario %q: unknown key %q%s; expected one of %s, or a setting (%s)", sc.Name, key,
					suggest.Hint(key, append(slices.Clone(scenarioKeys), settingNames...)), strings.Join(scenarioKeys, ", "), strings.Join(settingNames, ", "))
			}
			var vals []string
			if vals, err = p.scalars(v, key); err == nil {
				st, _ := LookupSetting(key)
				if len(vals) > 1 && !st.Sweepable {
					return p.errf(v, "%s: cannot be swept; give one value", key)
				}
				sc.Settings = append(sc.Settings, Value{Key: key, Values: vals, Line: v.Line})
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if sc.Name == "" {
		return p.errf(n, "scenario: missing name")
	}
	return nil
}

// allocators reads a list of allocator names or {name, params} mappings,
// or "all". A list of values for a parameter expands into one reference
// per value.
func (p parser) allocators(n *yaml.Node) ([]AllocRef, error) {
	if n.Kind == yaml.ScalarNode && n.Value == "all" {
		var out []AllocRef
		for _, name := range p.reg.Names() {
			out = append(out, AllocRef{Name: name, Line: n.Line})
		}
		return out, nil
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, "allocators: expected \"all\" or a non-empty list of allocator names or {name, params} mappings")
	}
	var out []AllocRef
	for _, c := range n.Content {
		switch c.Kind {
		case yaml.ScalarNode:
			if err := p.checkAllocator(c, c.Value, nil); err != nil {
				return nil, err
			}
			out = append(out, AllocRef{Name: c.Value, Line: c.Line})
		case yaml.MappingNode:
			var name string
			sweeps := map[string][]string{}
			var order []string
			err := p.mapping(c, "allocator", func(key string, k, v *yaml.Node) error {
				switch key {
				case "name":
					var err error
					name, err = p.scalar(v, key)
					return err
				case "params":
					return p.mapping(v, "params", func(pk string, _, pv *yaml.Node) error {
						vals, err := p.scalars(pv, "param "+pk)
						sweeps[pk] = vals
						order = append(order, pk)
						return err
					})
				}
				return p.errf(k, "allocator: unknown key %q%s; expected name or params", key, suggest.Hint(key, []string{"name", "params"}))
			})
			if err != nil {
				return nil, err
			}
			if name == "" {
				return nil, p.errf(c, "allocator: missing name")
			}
			combos := 1
			for _, k := range order {
				if combos *= len(sweeps[k]); combos > MaxRuns {
					return nil, p.errf(c, "allocator %s: more than %d combinations of params; sweep fewer values", name, MaxRuns)
				}
			}
			for _, params := range product(order, sweeps) {
				if err := p.checkAllocator(c, name, params); err != nil {
					return nil, err
				}
				out = append(out, AllocRef{Name: name, Params: params, Line: c.Line})
			}
		default:
			return nil, p.errf(c, "allocators: expected a name or a {name, params} mapping")
		}
	}
	return out, nil
}

func (p parser) checkAllocator(n *yaml.Node, name string, params map[string]string) error {
	spec, err := p.reg.Lookup(name)
	if err != nil {
		return p.errf(n, "%v", err)
	}
	cfg := allocator.Config{Range: spec.Profile.Range, Seed: 1, Params: params}
	if _, err := spec.Build(cfg); err != nil {
		return p.errf(n, "%v", err)
	}
	return nil
}

func (p parser) charts(n *yaml.Node) ([]string, error) {
	names, err := p.scalars(n, "charts")
	if err != nil {
		return nil, err
	}
	for _, c := range names {
		if _, isAttempt := attemptChart(c); isAttempt {
			continue
		}
		if _, err := chart.Lookup(c); err != nil {
			return nil, p.errf(n, "charts: %v", err)
		}
	}
	return names, nil
}

func (p parser) published(n *yaml.Node) ([]Published, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "published: expected a list of published figures")
	}
	var out []Published
	for _, c := range n.Content {
		pb := Published{Line: c.Line, Tolerance: 0.1}
		err := p.mapping(c, "published", func(key string, k, v *yaml.Node) error {
			var err error
			var str string
			switch key {
			case "what":
				pb.What, err = p.scalar(v, key)
			case "source":
				pb.Source, err = p.scalar(v, key)
			case "metric":
				if pb.Metric, err = p.scalar(v, key); err == nil {
					if _, ok := results.LookupMetric(pb.Metric); !ok {
						return p.errf(v, "metric: unknown metric %q%s", pb.Metric, suggest.Hint(pb.Metric, metricNames()))
					}
				}
			case "allocator":
				pb.Allocator, err = p.scalar(v, key)
			case "cmd":
				pb.Cmd, err = p.scalar(v, key)
			case "value", "tolerance":
				if str, err = p.scalar(v, key); err == nil {
					var f float64
					if f, err = strconv.ParseFloat(str, 64); err != nil {
						return p.errf(v, "%s: %q: expected a number", key, str)
					}
					if key == "value" {
						pb.Value = f
					} else {
						pb.Tolerance = f
					}
				}
			case "params", "labels":
				m := map[string]string{}
				err = p.mapping(v, key, func(mk string, _, mv *yaml.Node) error {
					s, err := p.scalar(mv, key+" "+mk)
					m[mk] = s
					return err
				})
				if key == "params" {
					pb.Params = m
				} else {
					pb.Labels = m
				}
			default:
				keys := []string{"what", "source", "metric", "allocator", "params", "labels", "value", "tolerance", "cmd"}
				return p.errf(k, "published: unknown key %q%s; expected one of %s", key, suggest.Hint(key, keys), strings.Join(keys, ", "))
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if pb.Metric == "" || pb.What == "" {
			return nil, p.errf(c, "published: what and metric are required")
		}
		out = append(out, pb)
	}
	return out, nil
}

func metricNames() []string {
	var out []string
	for _, m := range results.Metrics() {
		out = append(out, m.Name)
	}
	return out
}

// attemptChart returns the chart drawn from event logs called name.
func attemptChart(name string) (chart.AttemptChart, bool) {
	for _, c := range chart.AttemptCharts() {
		if c.Name == name {
			return c, true
		}
	}
	return chart.AttemptChart{}, false
}

// product expands swept values into every combination, keys in order.
func product(order []string, vals map[string][]string) []map[string]string {
	out := []map[string]string{nil}
	for _, k := range order {
		var next []map[string]string
		for _, m := range out {
			for _, v := range vals[k] {
				c := make(map[string]string, len(m)+1)
				for mk, mv := range m {
					c[mk] = mv
				}
				c[k] = v
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

// MaxRuns is the most runs (cells × seeds) a suite may have.
const MaxRuns = 100_000

// check validates what needs the whole suite: scenario names, the x axis,
// and that every cell's setup is valid.
func (s *Suite) check() error {
	names := map[string]bool{}
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		if names[sc.Name] {
			return fmt.Errorf("%s:%d: scenario name %q used twice", s.File, sc.Line, sc.Name)
		}
		names[sc.Name] = true
		if len(sc.Allocators) == 0 {
			sc.Allocators = s.Allocators
		}
		if len(sc.Allocators) == 0 {
			return fmt.Errorf("%s:%d: scenario %q: no allocators (give allocators in the scenario or the suite)", s.File, sc.Line, sc.Name)
		}
		if len(sc.Charts) == 0 {
			sc.Charts = s.Charts
		}
		for _, c := range sc.Charts {
			if _, isAttempt := attemptChart(c); isAttempt && !sc.Events {
				return fmt.Errorf("%s:%d: scenario %q: chart %s is drawn from event logs; set events: true", s.File, sc.Line, sc.Name, c)
			}
		}
		swept := sc.swept()
		for _, k := range slices.Sorted(maps.Keys(sc.ChartAt)) {
			vals := sc.values(k)
			if !slices.Contains(swept, k) {
				return fmt.Errorf("%s:%d: scenario %q: chart-at %s: not a swept setting (swept: %s)", s.File, sc.Line, sc.Name, k, strings.Join(swept, ", "))
			}
			if !slices.Contains(vals, sc.ChartAt[k]) {
				return fmt.Errorf("%s:%d: scenario %q: chart-at %s=%s: expected one of the swept values %s", s.File, sc.Line, sc.Name, k, sc.ChartAt[k], strings.Join(vals, ", "))
			}
		}
		if sc.X == "" && len(swept) > 0 {
			sc.X = swept[0]
		} else if sc.X != "" && !slices.Contains(swept, sc.X) {
			return fmt.Errorf("%s:%d: scenario %q: x %q is not a swept setting (swept: %s)", s.File, sc.Line, sc.Name, sc.X, strings.Join(swept, ", "))
		}
	}
	runs := 0
	for i := range s.Scenarios {
		sc := &s.Scenarios[i]
		n := len(sc.Allocators)
		for _, v := range sc.Settings {
			n *= len(v.Values)
			if n > MaxRuns {
				break
			}
		}
		runs += n * s.Seeds
		if runs > MaxRuns {
			return fmt.Errorf("%s:%d: scenario %q: the suite has more than %d runs (cells × seeds) by here; split it into several suites or sweep fewer values", s.File, sc.Line, sc.Name, MaxRuns)
		}
	}
	cells, err := s.Cells()
	if err != nil {
		return err
	}
	s.traces = map[string]*workload.TraceStats{}
	for _, c := range cells {
		st, err := c.Setup()
		if err != nil {
			return err
		}
		if name := st.Workload.TraceName; name != "" && s.traces[name] == nil {
			ts, err := st.CheckTrace()
			if err != nil {
				return err
			}
			s.traces[name] = ts
		}
	}
	return nil
}

// swept returns the keys of the settings given as lists.
// values returns the values of the scenario's setting key.
func (sc *Scenario) values(key string) []string {
	for _, v := range sc.Settings {
		if v.Key == key {
			return v.Values
		}
	}
	return nil
}

func (sc *Scenario) swept() []string {
	var out []string
	for _, v := range sc.Settings {
		if len(v.Values) > 1 {
			out = append(out, v.Key)
		}
	}
	return out
}

// WithSeeds returns the suite with its number of seeds set to n, its text
// rewritten to say so (so that the copy kept with the results, and its
// hash, describe what ran).
func (s *Suite) WithSeeds(n int) (*Suite, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(s.Data, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	set := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "seeds" {
			root.Content[i+1].Value = strconv.Itoa(n)
			root.Content[i+1].Tag = "!!int"
			set = true
		}
	}
	if !set {
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: "seeds"},
			&yaml.Node{Kind: yaml.ScalarNode, Value: strconv.Itoa(n), Tag: "!!int"})
	}
	data, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	return ParseWith(s.Registry, data, s.File, s.Dir)
}
