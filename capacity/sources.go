package capacity

import (
	"context"
	"fmt"
	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/results"
	"math"

	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// maxSourceSteps bounds how far FewestSources walks from the analytic
// number of sources.
const maxSourceSteps = 16

// SourcesStep is the evaluation of one number of sources.
type SourcesStep struct {
	// Sources is the number of source addresses.
	Sources int `json:"sources"`
	// Point is the evaluation at the rate asked.
	Point Point `json:"point"`
}

// SourcesResult is the outcome of FewestSources.
type SourcesResult struct {
	// Allocator and Params name the allocator.
	Allocator string            `json:"allocator"`
	Params    map[string]string `json:"params,omitempty"`
	// Rate is the rate asked, in connections per second.
	Rate float64 `json:"rate"`
	// Sources is the fewest source addresses found to sustain Rate, or 0
	// when none up to the search limit did.
	Sources int `json:"sources"`
	// Analytic is the fewest sources the analytic bound allows,
	// ⌈Rate / bound of one source⌉.
	Analytic int `json:"analytic"`
	// PerSource is the analytic bound of one source (Bound of the setup
	// with one source).
	PerSource results.Bound `json:"per_source"`
	// Steps lists every number of sources evaluated, in order.
	Steps []SourcesStep `json:"steps"`
	// The options the search ran with.
	Target     float64 `json:"target"`
	Confidence float64 `json:"confidence"`
	Seeds      int     `json:"seeds"`
	// Runs and Attempts count the simulations and their attempts.
	Runs     int   `json:"runs"`
	Attempts int64 `json:"attempts"`
}

// FewestSources finds the fewest source addresses (round-robin, as
// Workload.Sources) that sustain rate in cfg (see the package doc for
// "sustain"). It starts from the analytic number and walks down while
// fewer still sustain the rate, or up until one does, at most 16 steps
// and workload.MaxSources.
func FewestSources(ctx context.Context, cfg sim.Config, rate float64, opt Options) (SourcesResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return SourcesResult{}, err
	}
	if err := check(cfg); err != nil {
		return SourcesResult{}, err
	}
	one := cfg
	one.Workload.Sources = 1
	b := Analytic(one)
	res := SourcesResult{
		Allocator: cfg.Allocator.Name, Params: cfg.Params, Rate: rate, PerSource: b,
		Target: opt.Target, Confidence: opt.Confidence, Seeds: opt.Seeds,
	}
	switch {
	case b.Rate == 0:
		return res, ErrNoRate
	case math.IsInf(b.Rate, 1):
		res.Sources, res.Analytic = 1, 1
		return res, nil
	}
	res.Analytic = max(1, int(math.Ceil(rate/b.Rate)))
	if res.Analytic > workload.MaxSources {
		return res, fmt.Errorf("capacity: %s needs at least %d source addresses by the bound of %s each, more than the %d supported",
			format.Rate(rate), res.Analytic, format.Rate(b.Rate), workload.MaxSources)
	}
	eval := func(k int) (bool, error) {
		c := cfg
		c.Workload.Sources = k
		warm, meas := Windows(c, opt)
		p, err := evaluate(ctx, c, rate, opt, warm, meas)
		if err != nil {
			return false, err
		}
		res.Steps = append(res.Steps, SourcesStep{Sources: k, Point: p})
		res.Runs += opt.Seeds
		res.Attempts += p.Attempts
		if opt.Progress != nil {
			opt.Progress(p)
		}
		return p.Sustainable, nil
	}
	k := res.Analytic
	ok, err := eval(k)
	if err != nil {
		return res, err
	}
	if ok {
		res.Sources = k
		for step := 0; k > 1 && step < maxSourceSteps; step++ {
			k--
			if ok, err = eval(k); err != nil {
				return res, err
			}
			if !ok {
				break
			}
			res.Sources = k
		}
		return res, nil
	}
	for step := 0; k < workload.MaxSources && step < maxSourceSteps; step++ {
		k++
		if ok, err = eval(k); err != nil {
			return res, err
		}
		if ok {
			res.Sources = k
			break
		}
	}
	return res, nil
}
