// Package capacity answers the question users ask most (docs/figures.md#questions-users-ask
// item 1): how many new connections per second can a host open before
// connect() runs out of ports? It finds the highest sustainable rate of a
// setup by simulation and sets it beside the analytic bound
// Sources·Ports / (hold + TIME_WAIT) (docs/figures.md#t4-ports-per-time_wait) and, for Poisson
// arrivals, beside the Erlang B rate of a loss system of that many ports.
//
// # What "sustainable" means
//
// A rate λ is sustainable when the steady-state share of connection
// attempts that find no free port stays at most Options.Target (default
// 0.001), with confidence Options.Confidence (default 95 %): each of
// Options.Seeds replicates (default 8) simulates the setup at λ for a
// warm-up and then a measurement window, and counts only the attempts
// made in the measurement window; λ is sustainable when the one-sided
// upper confidence bound of the mean of those per-seed failure fractions,
// mean + t(Confidence, Seeds−1)·s/√Seeds (Student's t), is at most the
// target. The warm-up (default two port cycles, a cycle being the mean
// hold plus the time a closed port stays unusable) lets the first
// TIME_WAITs expire; the measurement window (default two cycles) spans
// whole cycles, so for constant arrivals above the knee it measures
// exactly the steady state 1 − knee/λ.
//
// Search brackets λ from just above bound/(1 − target), the most any
// allocator can sustain by Little's law, and a few rates below the bound,
// then bisects until the bracket is narrower than Options.Resolution
// (default 0.2 %) of its top. Every rate
// uses the same seeds (common random numbers), so the failure fraction
// grows with λ seed by seed and the bisection does not chase noise.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// Defaults of Options.
const (
	// DefaultTarget is the failure fraction a sustainable rate may reach.
	DefaultTarget = 0.001
	// DefaultConfidence is the one-sided confidence of the bound on the
	// failure fraction.
	DefaultConfidence = 0.95
	// DefaultSeeds is the number of replicates per rate.
	DefaultSeeds = 8
	// DefaultResolution is the relative width of the final bracket.
	DefaultResolution = 0.002
	// DefaultWarmupCycles and DefaultMeasureCycles are the warm-up and
	// measurement windows in port cycles (mean hold + unusable time).
	DefaultWarmupCycles  = 2
	DefaultMeasureCycles = 2
	// DefaultMaxAttempts caps the attempts of one run.
	DefaultMaxAttempts = 50_000_000
	// maxSteps bounds the bisection, whatever the resolution.
	maxSteps = 40
)

// Options control a search. The zero value takes every default.
type Options struct {
	// Target is the largest acceptable steady-state failure fraction, in
	// (0, 1) (default DefaultTarget, 0.1 %).
	Target float64
	// Confidence is the one-sided confidence level of the upper bound on
	// the failure fraction, in [0.5, 1) (default 0.95).
	Confidence float64
	// Seeds is the number of replicates per rate, at least 2 (default 8).
	Seeds int
	// Seed derives the workload and allocator seeds of every replicate.
	Seed uint64
	// Warmup and Measure are the simulated time before the measurement
	// window and its length. Zero means DefaultWarmupCycles and
	// DefaultMeasureCycles port cycles (Bound.Cycle).
	Warmup, Measure time.Duration
	// Resolution is the relative width of the bracket at which the search
	// stops, in (0, 1) (default 0.002).
	Resolution float64
	// Jobs is the number of runs in parallel (default GOMAXPROCS).
	Jobs int
	// MaxAttempts refuses a rate whose run would make more attempts
	// (default DefaultMaxAttempts).
	MaxAttempts int64
	// Progress, when not nil, is called after each rate is evaluated.
	Progress func(Point)
}

// withDefaults fills in the defaults and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.Target == 0 {
		o.Target = DefaultTarget
	}
	if o.Confidence == 0 {
		o.Confidence = DefaultConfidence
	}
	if o.Seeds == 0 {
		o.Seeds = DefaultSeeds
	}
	if o.Resolution == 0 {
		o.Resolution = DefaultResolution
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.GOMAXPROCS(0)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	switch {
	case !(o.Target > 0 && o.Target < 1):
		return o, fmt.Errorf("capacity: target %v: expected a failure fraction in (0, 1) such as 0.001", o.Target)
	case !(o.Confidence >= 0.5 && o.Confidence < 1):
		return o, fmt.Errorf("capacity: confidence %v: expected a level in [0.5, 1) such as 0.95", o.Confidence)
	case o.Seeds < 2 || o.Seeds > 1000:
		return o, fmt.Errorf("capacity: seeds %d: expected 2 to 1000 replicates (a confidence bound needs at least 2)", o.Seeds)
	case !(o.Resolution > 0 && o.Resolution < 1):
		return o, fmt.Errorf("capacity: resolution %v: expected a relative width in (0, 1) such as 0.002", o.Resolution)
	case o.Warmup < 0 || o.Measure < 0:
		return o, fmt.Errorf("capacity: warm-up %v and measurement window %v must not be negative", o.Warmup, o.Measure)
	case o.MaxAttempts < 0:
		return o, fmt.Errorf("capacity: max attempts %d must not be negative", o.MaxAttempts)
	}
	return o, nil
}

// Point is the evaluation of one rate.
type Point struct {
	// Rate is the offered rate, in connections per second.
	Rate float64 `json:"rate"`
	// Fractions holds each seed's failure fraction in the measurement
	// window.
	Fractions []float64 `json:"fractions"`
	// Mean is their mean; Upper the one-sided upper confidence bound of
	// the mean.
	Mean  float64 `json:"mean"`
	Upper float64 `json:"upper"`
	// Sustainable reports Upper <= the target.
	Sustainable bool `json:"sustainable"`
	// Attempts counts the attempts simulated at this rate, warm-up
	// included, over all seeds.
	Attempts int64 `json:"attempts"`
	// Metrics holds the mean over seeds of every metric of the runs at
	// this rate (results.Metrics, named as the columns of runs.csv), over
	// the whole run, warm-up included; nil (JSON null) where a metric is
	// undefined on every seed.
	Metrics map[string]*float64 `json:"metrics,omitempty"`
}

// Result is the outcome of Search.
type Result struct {
	// Allocator and Params name the allocator.
	Allocator string            `json:"allocator"`
	Params    map[string]string `json:"params,omitempty"`
	// Bound is the analytic bound of the setup.
	Bound results.Bound `json:"bound"`
	// BoundRate repeats Bound.Rate; ErlangRate is the Erlang B rate of
	// the target when arrivals are Poisson and one pool takes every
	// attempt (one source, and one destination or exclusive ports), else
	// NaN (written as null in JSON).
	BoundRate  float64 `json:"-"`
	ErlangRate float64 `json:"-"`
	// Rate is the highest rate found sustainable and Unsustainable the
	// lowest found not to be: the answer lies between them. Rate is +Inf
	// when ports are never held.
	Rate          float64 `json:"-"`
	Unsustainable float64 `json:"-"`
	// At is the evaluation at Rate (the zero Point when Rate is 0 or
	// +Inf).
	At Point `json:"at"`
	// Steps lists every rate evaluated, in order.
	Steps []Point `json:"steps"`
	// The options the search ran with.
	Target     float64       `json:"target"`
	Confidence float64       `json:"confidence"`
	Seeds      int           `json:"seeds"`
	Warmup     time.Duration `json:"warmup_ns"`
	Measure    time.Duration `json:"measure_ns"`
	Resolution float64       `json:"resolution"`
	// Runs and Attempts count the simulations and their attempts.
	Runs     int   `json:"runs"`
	Attempts int64 `json:"attempts"`
}

// ErrNoRate is returned when ports are held forever: the pool runs dry
// after its size in connections whatever the rate.
var ErrNoRate = errors.New("connections that never close hold every port eventually: no rate is sustainable")

// Windows returns the warm-up and measurement windows a search uses for
// cfg with opt (the defaults are whole port cycles of cfg's bound).
func Windows(cfg sim.Config, opt Options) (warmup, measure time.Duration) {
	cycle := Analytic(cfg).Cycle()
	warmup, measure = opt.Warmup, opt.Measure
	if warmup == 0 {
		warmup = DefaultWarmupCycles * cycle
	}
	if measure == 0 {
		measure = DefaultMeasureCycles * cycle
	}
	return warmup, measure
}

// check rejects setups a rate search cannot vary.
func check(cfg sim.Config) error {
	if cfg.Script != nil {
		return errors.New("capacity: a scripted workload has no rate to search")
	}
	switch cfg.Workload.Arrivals {
	case workload.Constant, workload.Poisson:
	default:
		return fmt.Errorf("capacity: arrivals %v: expected constant or poisson (the search varies their rate)", cfg.Workload.Arrivals)
	}
	return nil
}

// Search finds the highest sustainable rate of cfg (see the package doc).
// cfg's Workload.Rate, seeds, Duration, MaxAttempts and OnAttempt are set
// by the search.
func Search(ctx context.Context, cfg sim.Config, opt Options) (Result, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if err := check(cfg); err != nil {
		return Result{}, err
	}
	b := Analytic(cfg)
	warm, meas := Windows(cfg, opt)
	res := Result{
		Allocator: cfg.Allocator.Name, Params: cfg.Params,
		Bound: b, BoundRate: b.Rate, ErlangRate: math.NaN(),
		Target: opt.Target, Confidence: opt.Confidence, Seeds: opt.Seeds,
		Warmup: warm, Measure: meas, Resolution: opt.Resolution,
	}
	if cfg.Workload.Arrivals == workload.Poisson && b.Sources == 1 && (b.Share == 1 || cfg.Workload.Destinations == 1) {
		res.ErlangRate = ErlangRate(b.Ports, b.Cycle(), opt.Target)
	}
	switch {
	case b.Rate == 0:
		return res, ErrNoRate
	case math.IsInf(b.Rate, 1):
		res.Rate, res.Unsustainable = math.Inf(1), math.Inf(1)
		return res, nil
	}
	eval := func(rate float64) (Point, error) {
		p, err := evaluate(ctx, cfg, rate, opt, warm, meas)
		if err != nil {
			return p, err
		}
		res.Steps = append(res.Steps, p)
		res.Runs += opt.Seeds
		res.Attempts += p.Attempts
		if opt.Progress != nil {
			opt.Progress(p)
		}
		return p, nil
	}

	// Bracket [lo, hi], lo sustainable (0 trivially) and hi not. Little's
	// law caps the successes at the bound, so a rate whose failure
	// fraction is at most Target is at most Rate/(1−Target): start just
	// above that, then try a few rates below the bound, closer first.
	// (With Zipf destinations the bound is that of the busiest pool and a
	// higher rate may still be sustainable: then widen.)
	lo, hi := 0.0, b.Rate*(1+2*opt.Target)/(1-opt.Target)
	var atLo Point
	for widen := 0; ; widen++ {
		p, err := eval(hi)
		if err != nil {
			return res, err
		}
		if !p.Sustainable {
			break
		}
		lo, atLo = hi, p
		if widen == 5 {
			// 32 times the analytic bound is still sustainable: the
			// bound does not describe this setup; report the bracket.
			res.Rate, res.Unsustainable, res.At = lo, math.Inf(1), atLo
			return res, nil
		}
		hi *= 2
	}
	if lo == 0 {
		for _, below := range []float64{0.01, 0.04, 0.16, 0.64} {
			r := b.Rate * (1 - below)
			p, err := eval(r)
			if err != nil {
				return res, err
			}
			if p.Sustainable {
				lo, atLo = r, p
				break
			}
			hi = r
		}
	}
	for step := 0; hi-lo > opt.Resolution*hi && step < maxSteps; step++ {
		mid := (lo + hi) / 2
		p, err := eval(mid)
		if err != nil {
			return res, err
		}
		if p.Sustainable {
			lo, atLo = mid, p
		} else {
			hi = mid
		}
	}
	res.Rate, res.Unsustainable, res.At = lo, hi, atLo
	return res, nil
}

// Evaluate simulates cfg at rate with opt's seeds and windows and returns
// the failure fractions of the measurement window and whether the rate is
// sustainable.
func Evaluate(ctx context.Context, cfg sim.Config, rate float64, opt Options) (Point, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return Point{}, err
	}
	if err := check(cfg); err != nil {
		return Point{}, err
	}
	if Analytic(cfg).Rate == 0 {
		return Point{}, ErrNoRate
	}
	warm, meas := Windows(cfg, opt)
	return evaluate(ctx, cfg, rate, opt, warm, meas)
}

func evaluate(ctx context.Context, cfg sim.Config, rate float64, opt Options, warm, meas time.Duration) (Point, error) {
	if !(rate > 0 && rate <= workload.MaxRate) {
		return Point{}, fmt.Errorf("capacity: rate %v: expected a rate in (0, %g] connections per second", rate, float64(workload.MaxRate))
	}
	total := warm + meas
	if want := rate * total.Seconds(); want > float64(opt.MaxAttempts) {
		return Point{}, fmt.Errorf("capacity: at %s a run of %v makes about %.3g attempts, more than the limit of %d; shorten the windows or raise the limit",
			format.Rate(rate), total, want, opt.MaxAttempts)
	}
	p := Point{Rate: rate, Fractions: make([]float64, opt.Seeds)}
	attempts := make([]int64, opt.Seeds)
	perSeed := make([]map[string]*float64, opt.Seeds)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.Jobs)
	for i := range opt.Seeds {
		g.Go(func() error {
			c := cfg
			c.Workload.Rate = rate
			c.Seed = splitmix(opt.Seed, 2*uint64(i))
			c.AllocSeed = splitmix(opt.Seed, 2*uint64(i)+1)
			c.Duration = total
			c.MaxAttempts = 0
			var n, fails int64
			c.OnAttempt = func(a results.Attempt) error {
				if a.At >= warm {
					n++
					if !a.OK {
						fails++
					}
				}
				return nil
			}
			r, err := sim.Run(gctx, c)
			if err != nil {
				return fmt.Errorf("capacity: %s at %s, seed %d: %w", cfg.Allocator.Name, format.Rate(rate), i, err)
			}
			attempts[i] = r.Attempts
			perSeed[i] = results.MetricValues(&r)
			if n > 0 {
				p.Fractions[i] = float64(fails) / float64(n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return p, err
	}
	for _, a := range attempts {
		p.Attempts += a
	}
	p.Metrics = meanMetrics(perSeed)
	mean, sd := stat.MeanStdDev(p.Fractions, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(opt.Seeds - 1)}.Quantile(opt.Confidence)
	p.Mean = mean
	p.Upper = mean + t*sd/math.Sqrt(float64(opt.Seeds))
	p.Sustainable = p.Upper <= opt.Target
	return p, nil
}

// meanMetrics returns the mean over seeds of each metric, over the seeds
// where it is defined, or nil where it is defined on none.
func meanMetrics(perSeed []map[string]*float64) map[string]*float64 {
	out := map[string]*float64{}
	for _, m := range results.Metrics() {
		sum, n := 0.0, 0
		for _, vs := range perSeed {
			if v := vs[m.Name]; v != nil {
				sum += *v
				n++
			}
		}
		if n == 0 {
			out[m.Name] = nil
			continue
		}
		mean := sum / float64(n)
		out[m.Name] = &mean
	}
	return out
}

// splitmix returns the i-th output of the SplitMix64 sequence of seed: a
// well-mixed seed for each replicate and purpose.
func splitmix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Check reports the first option out of its range, naming it and the
// expected form, after filling in the defaults.
func (o Options) Check() error {
	_, err := o.withDefaults()
	return err
}
