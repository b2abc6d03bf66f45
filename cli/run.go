package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/report"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
)

const runUsage = `
Usage: portsim run [flags]

Simulates one scenario with one or more allocators and prints a table per
allocator: attempts, failures, probes per allocation, reuse interval and
distance, and the DNS-OARC randomness score. Every setting that is not
given takes the default of the allocator's modelled OS (range, TIME_WAIT,
sharing scope, tcp_tw_reuse), so "-allocator linux,windows" compares two
stacks as they ship.

Examples:

	# How many new connections per second to one backend? (knee: 28232/60s = 470/s)
	portsim run -allocator linux -arrivals constant -rate 600 -hold 0s -tw-reuse 0 -duration 10m

	# Does tcp_tw_reuse help? (it needs timestamps and, with 2, a loopback backend)
	portsim run -allocator linux -rate 600 -tw-reuse 1 -duration 10m

	# How many source IPs do I need for 2000/s?
	portsim run -allocator linux -rate 2000 -sources 5 -tw-reuse 0 -duration 10m

	# Compare allocators on 1000 Zipf-distributed destinations, keep the event log
	portsim run -allocator linux,freebsd,openbsd,rfc6056-2 -destinations 1000 -dest-order zipf -rate 300 -events events.csv

	# An allocator parameter (applies to every allocator that has it; NAME:KEY=VALUE for one)
	portsim run -allocator random-window -param window=1000 -hold forever -attempts 56512 -range 9024-65535
`

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// settingFlags registers one string flag per bench setting and returns a
// function that lists the ones the user gave, in the order of
// bench.Settings: settings mean the same in any order, so the suite a
// command line builds does not depend on the order of its flags.
func settingFlags(fs *flag.FlagSet) func() [][2]string {
	for _, st := range bench.Settings() {
		fs.String(st.Name, "", st.Usage)
	}
	return func() [][2]string {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		var out [][2]string
		for _, st := range bench.Settings() {
			if set[st.Name] {
				out = append(out, [2]string{st.Name, fs.Lookup(st.Name).Value.String()})
			}
		}
		return out
	}
}

// runOptions are what run and capacity share: the allocators, their
// parameters and the settings given as flags.
type runOptions struct {
	allocs   []string
	params   map[string]map[string]string // allocator -> params
	settings [][2]string
	// reg is the set the allocator names resolve against.
	reg allocator.Set
}

// parseAllocs reads -allocator and -param values.
func parseAllocs(reg allocator.Set, list string, params []string) (runOptions, error) {
	o := runOptions{params: map[string]map[string]string{}, reg: reg}
	if strings.TrimSpace(list) == "all" {
		list = strings.Join(reg.Names(), ",")
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if _, err := reg.Lookup(name); err != nil {
			return o, usagef("flag -allocator: %v", err)
		}
		o.allocs = append(o.allocs, name)
		o.params[name] = map[string]string{}
	}
	if len(o.allocs) == 0 {
		return o, usagef("flag -allocator: expected one or more allocator names separated by commas (see `portsim list`)")
	}
	for _, p := range params {
		kv, val, ok := strings.Cut(p, "=")
		if !ok || kv == "" {
			return o, usagef("flag -param %q: expected KEY=VALUE or ALLOCATOR:KEY=VALUE", p)
		}
		target, key, scoped := strings.Cut(kv, ":")
		if !scoped {
			key, target = kv, ""
		}
		matched := false
		for _, a := range o.allocs {
			spec, _ := o.reg.Lookup(a)
			if target != "" && target != a {
				continue
			}
			has := false
			for _, sp := range spec.Params {
				has = has || sp.Name == key
			}
			if has || target == a {
				o.params[a][key] = val
				matched = true
			}
		}
		if !matched {
			var known []string
			for _, a := range o.allocs {
				spec, _ := o.reg.Lookup(a)
				for _, sp := range spec.Params {
					known = append(known, a+":"+sp.Name)
				}
			}
			if len(known) == 0 {
				known = []string{"none"}
			}
			return o, usagef("flag -param %q: no allocator given takes a param %q (their params: %s)", p, key, strings.Join(known, ", "))
		}
	}
	// Let the allocators check their params now, so the error names the flag.
	for _, a := range o.allocs {
		spec, _ := o.reg.Lookup(a)
		if _, err := spec.Build(allocator.Config{Range: spec.Profile.Range, Seed: 1, Params: o.params[a]}); err != nil {
			return o, usagef("flag -param: %v", err)
		}
	}
	return o, nil
}

// checkSettings applies the settings to each allocator's profile so that a
// bad value is reported against its flag.
func (o runOptions) checkSettings() error {
	for _, a := range o.allocs {
		spec, _ := o.reg.Lookup(a)
		st := bench.NewSetup(spec.Profile)
		st.Registry = o.reg
		for _, kv := range o.settings {
			set, _ := bench.LookupSetting(kv[0])
			if err := set.Apply(&st, kv[1]); err != nil {
				return usagef("flag -%v", err)
			}
		}
		if err := st.Validate(); err != nil {
			if se, ok := errors.AsType[*bench.SettingError](err); ok {
				return usagef("flag -%v", se)
			}
			return usagef("with -allocator %s: %v", a, err)
		}
		if a != o.allocs[0] {
			continue // the trace is the same for every allocator: read it once
		}
		if _, err := st.CheckTrace(); err != nil {
			return usagef("flag -trace: %v", err)
		}
	}
	return nil
}

// suite builds the one-scenario suite the flags describe.
func (o runOptions) suite(seed uint64, seeds int, events bool) (*bench.Suite, error) {
	v := bench.Suite{Name: "run", File: "flags", Dir: ".", Seed: seed, Seeds: seeds,
		Charts: []string{"probes-cdf", "reuse-interval-cdf", "occupancy", "succ-diff", "port-usage"}}
	for _, a := range o.allocs {
		v.Allocators = append(v.Allocators, bench.AllocRef{Name: a, Params: o.params[a]})
	}
	sc := bench.Scenario{Name: "run", Events: events}
	for _, kv := range o.settings {
		sc.Settings = append(sc.Settings, bench.Value{Key: kv[0], Values: []string{kv[1]}})
	}
	v.Scenarios = []bench.Scenario{sc}
	s, err := bench.Build(o.reg, v)
	if err != nil {
		return nil, usageError{err}
	}
	s.Description = "portsim run " + describeFlags(o)
	return s, nil
}

func describeFlags(o runOptions) string {
	parts := []string{"-allocator " + strings.Join(o.allocs, ",")}
	for _, a := range o.allocs {
		for _, k := range slices.Sorted(maps.Keys(o.params[a])) {
			parts = append(parts, fmt.Sprintf("-param %s:%s=%s", a, k, o.params[a][k]))
		}
	}
	for _, kv := range o.settings {
		parts = append(parts, "-"+kv[0]+" "+kv[1])
	}
	return strings.Join(parts, " ")
}

func (a *app) runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", runUsage, stdout)
	alloc := fs.String("allocator", "linux", "allocator `NAME[,NAME...]`, or all (see `portsim list`)")
	var params stringList
	fs.Var(&params, "param", "allocator parameter `KEY=VALUE` or ALLOCATOR:KEY=VALUE (repeatable)")
	seed := fs.Uint64("seed", 1, "seed of the workload and allocator randomness")
	seeds := fs.Int("seeds", 1, "replicates: runs per allocator with derived seeds, averaged in the table")
	events := fs.String("events", "", "write the per-attempt event log CSV to `FILE` (FILE-ALLOCATOR.csv for several allocators)")
	out := fs.String("o", "", "also write runs.jsonl, runs.csv, bench.txt, charts and report.md to `DIR`")
	asJSON := fs.Bool("json", false, "print the runs as JSON instead of a table")
	maxMem := fs.String("max-memory", "4GiB", "refuse a run estimated to need more than `SIZE`")
	maxAttempts := fs.Float64("max-attempts", bench.DefaultMaxAttempts, "refuse runs estimated to simulate more than `N` attempts in all")
	extra := fs.String("metrics", "", "add the metrics `NAME[,NAME...]` (columns of runs.csv, e.g. wrap_mean,probes_odd_mean) to the table")
	given := settingFlags(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *seeds < 1 || *seeds > 1000 {
		return usagef("flag -seeds %d: expected 1 to 1000", *seeds)
	}
	var extraMetrics []string
	for _, m := range strings.Split(*extra, ",") {
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if _, ok := results.LookupMetric(m); !ok {
			var names []string
			for _, mm := range results.Metrics() {
				names = append(names, mm.Name)
			}
			return usagef("flag -metrics: unknown metric %q%s; metrics: %s", m, suggest.Hint(m, names), strings.Join(names, ", "))
		}
		extraMetrics = append(extraMetrics, m)
	}
	o, err := parseAllocs(a.reg, *alloc, params)
	if err != nil {
		return err
	}
	o.settings = given()
	if err := o.checkSettings(); err != nil {
		return err
	}
	s, err := o.suite(*seed, *seeds, false)
	if err != nil {
		return err
	}
	budget, err := bench.ParseBytes(*maxMem)
	if err != nil {
		return usagef("flag -max-memory: %v", err)
	}
	if err := checkBudget(s, budget); err != nil {
		return err
	}
	if err := checkWork(s, 0, 0, *maxAttempts, stderr); err != nil {
		return err
	}
	start := time.Now()
	gctx, limit, stopGuard := memoryGuard(ctx, 0)
	defer stopGuard()
	runs, err := runAll(gctx, s, *out, *events, start)
	if err != nil {
		if errors.Is(context.Cause(gctx), errMemory) {
			return memoryError(limit, err)
		}
		return err
	}
	wall := time.Since(start)
	if *asJSON {
		// Each run as in runs.jsonl, with the metrics the tables show
		// (named as the columns of runs.csv) beside its histograms.
		type runJSON struct {
			*results.Run
			Metrics map[string]*float64 `json:"metrics"`
		}
		out := make([]runJSON, len(runs))
		for i := range runs {
			out[i] = runJSON{Run: &runs[i], Metrics: results.MetricValues(&runs[i])}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		trace, traceName := suiteTrace(s)
		report.RunTable(stdout, runs, s.Seeds, extraMetrics, trace, traceName)
	}
	var attempts int64
	for _, r := range runs {
		attempts += r.Attempts
	}
	fmt.Fprintf(stderr, "simulated %d attempts in %.2fs of wall time (%.3g attempts/s)\n", attempts, wall.Seconds(), float64(attempts)/wall.Seconds())
	if *out != "" {
		fmt.Fprintf(stderr, "report: %s\n", filepath.Join(*out, bench.ReportFile))
	}
	return nil
}

// runAll runs the suite of portsim run, writing the result files to out
// and event logs to events when they are set.
func runAll(ctx context.Context, s *bench.Suite, out, events string, start time.Time) ([]results.Run, error) {
	opt := bench.Options{Out: out, Start: start}
	if events != "" {
		units, err := s.Units()
		if err != nil {
			return nil, err
		}
		opt.Events = func(u bench.Unit) string { return eventsPath(events, u, len(units), s.Seeds) }
	}
	oc, err := bench.Run(ctx, s, opt)
	if err != nil {
		if ee, ok := errors.AsType[*bench.EventsError](err); ok {
			return nil, usagef("flag -events: %v", ee.Err)
		}
		return nil, dirFlag(err, false)
	}
	return oc.Runs, nil
}

// eventsPath is the event log of unit u of n: path itself for one run,
// else path with -ALLOCATOR (and -REPLICATE with several seeds) before
// its extension.
func eventsPath(path string, u bench.Unit, n, seeds int) string {
	if n == 1 {
		return path
	}
	ext := filepath.Ext(path)
	path = strings.TrimSuffix(path, ext) + "-" + u.Cell.Alloc.Label()
	if seeds > 1 {
		path += "-" + strconv.Itoa(u.Replicate)
	}
	return path + ext
}

// suiteTrace returns the trace the (one-scenario) suite of portsim run
// replays, if any, and its name as given.
func suiteTrace(s *bench.Suite) (*workload.TraceStats, string) {
	for _, v := range s.Scenarios[0].Settings {
		if v.Key != "trace" {
			continue
		}
		cells, _ := s.Cells()
		if len(cells) == 0 {
			return nil, ""
		}
		st, err := cells[0].Setup()
		if err != nil {
			return nil, ""
		}
		t, _ := s.Trace(st.Workload.TraceName)
		return t, v.Values[0]
	}
	return nil, ""
}

// checkWork estimates the work of the suite's runs (of shard k of n),
// says it on w when it is large, and refuses it beyond maxAttempts.
func checkWork(s *bench.Suite, k, n int, maxAttempts float64, w io.Writer) error {
	if !(maxAttempts > 0) {
		return usagef("flag -max-attempts %g: expected a positive number", maxAttempts)
	}
	work, err := s.EstimateWork(k, n)
	if err != nil {
		return err
	}
	if err := work.Check(maxAttempts); err != nil {
		return usageError{err}
	}
	if work.Large() {
		fmt.Fprintf(w, "portsim: %s\n", work)
	}
	return nil
}

// checkBudget refuses a suite whose runs would need more than budget
// bytes each.
func checkBudget(s *bench.Suite, budget float64) error {
	if err := s.CheckMemory(budget); err != nil {
		return usageError{err}
	}
	return nil
}
