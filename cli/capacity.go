package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/capacity"
	"github.com/portsim/portsim/report"
	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

const capacityUsage = `
Usage: portsim capacity [flags]

Finds, by simulation, the highest rate of new connections per second that
a setup sustains, and prints it beside the analytic bound
sources × ports ÷ (mean hold + TIME_WAIT), where tcp_tw_reuse, when it
applies, replaces TIME_WAIT by tcp_tw_reuse_delay. With Poisson arrivals
to one pool of ports it also prints the Erlang B rate, the exact answer
for an allocator that finds every free port.

A rate is sustainable when the share of connection attempts that find no
free port, measured after a warm-up (default two port cycles, a cycle
being the mean hold plus TIME_WAIT) over a window of two more cycles, has
a one-sided upper confidence bound (default 95 %, Student's t over -seeds
replicates) at or below -target (default 0.001). The search brackets the
rate from just above bound ÷ (1 − target), the most any allocator can
sustain, and bisects to -resolution (0.2 %). Every rate uses the same
seeds.

Every setting that is not given takes the default of the allocator's
modelled OS (range, TIME_WAIT, sharing scope, tcp_tw_reuse) and of
'portsim run' (Poisson arrivals to one destination from one source, holds
exponential with a 100 ms mean, closed by the client). With -rate the
question turns around: the fewest source addresses that sustain that rate.

Examples:

	# How many new connections per second to one backend? (Linux: 28232 ports / 60 s)
	portsim capacity -allocator linux -hold 0s

	# Does tcp_tw_reuse help? (1 = always; it needs TCP timestamps, on by default)
	portsim capacity -allocator linux -hold 0s -tw-reuse 1

	# How many source IPs for 2000 new connections per second?
	portsim capacity -allocator linux -hold 0s -rate 2000

	# Linux against Windows as they ship, constant arrivals, as JSON
	portsim capacity -allocator linux,windows -arrivals constant -hold 0s -json

	# A stricter target with more seeds
	portsim capacity -allocator linux -target 0.0001 -seeds 16
`

// capacityFixed are the settings the search sets itself.
var capacityFixed = map[string]string{
	"duration": "the search chooses the run length; use -warmup and -measure",
	"attempts": "the search chooses the run length; use -warmup and -measure",
	"trace":    "a trace has no rate to search",
}

func (a *app) runCapacity(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlags("capacity", capacityUsage, stdout)
	alloc := fs.String("allocator", "linux", "allocator `NAME[,NAME...]` (or all) whose OS profile sets the stack defaults (see `portsim list`)")
	var params stringList
	fs.Var(&params, "param", "allocator parameter `KEY=VALUE` or ALLOCATOR:KEY=VALUE (repeatable)")
	target := fs.Float64("target", capacity.DefaultTarget, "largest acceptable share of failed connection attempts, in (0, 1)")
	confidence := fs.Float64("confidence", capacity.DefaultConfidence, "one-sided confidence that the failure share is at most -target, in [0.5, 1)")
	seeds := fs.Int("seeds", capacity.DefaultSeeds, "replicates per rate, 2 to 1000")
	seed := fs.Uint64("seed", 1, "seed the replicates' workload and allocator seeds derive from")
	resolution := fs.Float64("resolution", capacity.DefaultResolution, "stop when the bracket is narrower than this share of the rate")
	warmup := fs.Duration("warmup", 0, "simulated time before failures are counted (default two port cycles)")
	measure := fs.Duration("measure", 0, "simulated time over which failures are counted (default two port cycles)")
	jobs := fs.Int("j", 0, "runs in parallel (default: the number of CPUs)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	verbose := fs.Bool("v", false, "print every rate evaluated to stderr")
	maxMem := fs.String("max-memory", "4GiB", "refuse a search whose runs are estimated to need more than `SIZE` each")
	given := settingFlags(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	o, err := parseAllocs(a.reg, *alloc, params)
	if err != nil {
		return err
	}
	o.settings = given()
	var rate float64
	var settings [][2]string
	for _, kv := range o.settings {
		if why, fixed := capacityFixed[kv[0]]; fixed {
			return usagef("flag -%s: not a capacity flag: %s", kv[0], why)
		}
		if kv[0] == "arrivals" && kv[1] != "constant" && kv[1] != "poisson" {
			return usagef("flag -arrivals %s: capacity searches the rate of constant or poisson arrivals", kv[1])
		}
		if kv[0] == "rate" {
			set, _ := bench.LookupSetting("rate")
			st := bench.NewSetup(allocator.Profile{})
			if err := set.Apply(&st, kv[1]); err != nil {
				return usagef("flag -%v", err)
			}
			rate = st.Workload.Rate
			continue
		}
		settings = append(settings, kv)
	}
	o.settings = settings
	if err := o.checkSettings(); err != nil {
		return err
	}
	if *jobs < 0 {
		return usagef("flag -j %d: expected a number of parallel runs >= 1", *jobs)
	}
	opt := capacity.Options{
		Target: *target, Confidence: *confidence, Seeds: *seeds, Seed: *seed,
		Warmup: *warmup, Measure: *measure, Resolution: *resolution, Jobs: *jobs,
	}
	if *verbose {
		opt.Progress = func(p capacity.Point) { report.CapacityStep(stderr, p) }
	}
	// A flag given as 0 is an error, not the option's default.
	zero := map[string]string{
		"target":     "expected a failure fraction in (0, 1) such as 0.001",
		"confidence": "expected a level in [0.5, 1) such as 0.95",
		"seeds":      "expected 2 to 1000 replicates (a confidence bound needs at least 2)",
		"resolution": "expected a relative width in (0, 1) such as 0.002",
	}
	var zeroErr error
	fs.Visit(func(f *flag.Flag) {
		if want, ok := zero[f.Name]; ok && zeroErr == nil {
			if v, _ := strconv.ParseFloat(f.Value.String(), 64); v == 0 {
				zeroErr = usagef("flag -%s %s: %s", f.Name, f.Value, want)
			}
		}
	})
	if zeroErr != nil {
		return zeroErr
	}
	// Check each option against its flag before any work.
	for _, c := range []struct {
		flag string
		opt  capacity.Options
	}{
		{"target", capacity.Options{Target: opt.Target}},
		{"confidence", capacity.Options{Confidence: opt.Confidence}},
		{"seeds", capacity.Options{Seeds: opt.Seeds}},
		{"resolution", capacity.Options{Resolution: opt.Resolution}},
		{"warmup", capacity.Options{Warmup: opt.Warmup}},
		{"measure", capacity.Options{Measure: opt.Measure}},
	} {
		if err := c.opt.Check(); err != nil {
			return usagef("flag -%s: %v", c.flag, err)
		}
	}

	budget, err := bench.ParseBytes(*maxMem)
	if err != nil {
		return usagef("flag -max-memory: %v", err)
	}
	for _, a := range o.allocs {
		if err := capacityMemory(a, o, rate, budget); err != nil {
			return err
		}
	}
	ctx, limit, stopGuard := memoryGuard(ctx, 0)
	defer stopGuard()
	defer func() {
		if errors.Is(context.Cause(ctx), errMemory) {
			err = memoryError(limit, err)
		}
	}()
	start := time.Now()
	var out []any
	var runs int
	var attempts int64
	for i, a := range o.allocs {
		cfg, err := capacityConfig(a, o)
		if err != nil {
			return err
		}
		if *verbose {
			fmt.Fprintf(stderr, "%s: %s\n", a, report.Sizing(cfg))
		}
		var (
			result any
			nRuns  int
			nTried int64
			show   func()
		)
		if rate > 0 {
			r, err := capacity.FewestSources(ctx, cfg, rate, opt)
			if err != nil {
				return capacityError(a, err)
			}
			result, nRuns, nTried = r, r.Runs, r.Attempts
			show = func() { report.Sources(stdout, a, cfg, r) }
		} else {
			r, err := capacity.Search(ctx, cfg, opt)
			if err != nil {
				return capacityError(a, err)
			}
			result, nRuns, nTried = r, r.Runs, r.Attempts
			show = func() { report.Capacity(stdout, a, cfg, r) }
		}
		runs, attempts = runs+nRuns, attempts+nTried
		out = append(out, result)
		if !*asJSON {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			show()
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	wall := time.Since(start)
	fmt.Fprintf(stderr, "%d runs, %d simulated attempts in %.2fs of wall time\n", runs, attempts, wall.Seconds())
	return nil
}

// capacityError turns a search error into the command's error: a setup
// with no sustainable rate is the user's to change.
func capacityError(alloc string, err error) error {
	msg := fmt.Errorf("capacity of %s: %w", alloc, err)
	if errors.Is(err, capacity.ErrNoRate) {
		return asUsage(msg)
	}
	return msg
}

// capacityMemory estimates the memory of the heaviest run a search of
// alloc makes — at 32 times the analytic bound, the highest rate it
// tries, or at the -rate given — and refuses it above budget.
func capacityMemory(alloc string, o runOptions, rate, budget float64) error {
	spec, err := o.reg.Lookup(alloc)
	if err != nil {
		return usagef("flag -allocator: %v", err)
	}
	st := bench.NewSetup(spec.Profile)
	st.Registry = o.reg
	for _, kv := range o.settings {
		set, _ := bench.LookupSetting(kv[0])
		if err := set.Apply(&st, kv[1]); err != nil {
			return usagef("flag -%v", err)
		}
	}
	top := 32 * capacity.Analytic(st.Config(spec, o.params[alloc], 0, 0)).Rate
	if rate > 0 {
		top = rate
	}
	if math.IsInf(top, 0) || math.IsNaN(top) || top <= 0 {
		return nil
	}
	top = min(top, workload.MaxRate)
	st.Workload.Rate = top
	st.Duration, st.Attempts = 0, capacity.DefaultMaxAttempts
	if m := st.EstimateMemory(nil); m > budget {
		return usagef("capacity of %s: a run at %s would need about %s, above the budget of %s: lower destinations, sources or hold time, or raise the budget with -max-memory",
			alloc, format.Rate(top), bench.FormatBytes(m), bench.FormatBytes(budget))
	}
	return nil
}

// capacityConfig builds the simulation template of one allocator from
// the flags.
func capacityConfig(alloc string, o runOptions) (sim.Config, error) {
	spec, err := o.reg.Lookup(alloc)
	if err != nil {
		return sim.Config{}, usagef("flag -allocator: %v", err)
	}
	st := bench.NewSetup(spec.Profile)
	st.Registry = o.reg
	for _, kv := range o.settings {
		set, _ := bench.LookupSetting(kv[0])
		if err := set.Apply(&st, kv[1]); err != nil {
			return sim.Config{}, usagef("flag -%v", err)
		}
	}
	if a := st.Workload.Arrivals; a != workload.Constant && a != workload.Poisson {
		return sim.Config{}, usagef("flag -arrivals %s: capacity searches the rate of constant or poisson arrivals", a)
	}
	cfg := st.Config(spec, o.params[alloc], 0, 0)
	cfg.Duration, cfg.MaxAttempts = 0, 0
	return cfg, nil
}
