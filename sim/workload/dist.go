package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// MaxSample is the largest duration a distribution yields other than
// Forever, about 73 years. Larger draws (a heavy Pareto tail, a log-normal
// with a large sigma, a fixed value above it) are capped to MaxSample, so
// that At + Hold + Think never overflows a time.Duration.
const MaxSample time.Duration = 1 << 61

// distKind names the family of a Dist.
type distKind uint8

const (
	kindFixed     distKind = iota // always a
	kindExp                       // exponential with mean a
	kindLogNormal                 // log-normal with median a and sigma shape
	kindPareto                    // Pareto with minimum a and shape shape
	kindUniform                   // uniform between a and b
	kindForever                   // always Forever
)

// Dist is a distribution of durations: a hold time or a think time. The
// zero Dist is the fixed duration 0. Build one with ParseDist, Fixed or
// MustParseDist. Dists are comparable with == (and with go-cmp through
// Equal), and they read and write themselves as text (MarshalText,
// UnmarshalText), so YAML, JSON and flag.TextVar can hold them.
type Dist struct {
	kind distKind
	// a is the fixed value, the exponential mean, the log-normal median,
	// the Pareto minimum or the uniform lower bound.
	a time.Duration
	// b is the uniform upper bound.
	b time.Duration
	// shape is the log-normal sigma or the Pareto shape.
	shape float64
}

// distForms is the grammar ParseDist accepts, for error messages.
const distForms = "expected DURATION (fixed, e.g. 100ms), exp:MEAN, lognormal:MEDIAN,SIGMA, pareto:MIN,SHAPE, uniform:LO,HI or forever"

// Fixed returns the distribution that is always d. Fixed(Forever) is the
// distribution of connections that are never closed; a negative d makes
// a Dist that Spec.Validate rejects.
func Fixed(d time.Duration) Dist {
	if d == Forever {
		return Dist{kind: kindForever}
	}
	return Dist{kind: kindFixed, a: d}
}

// MustParseDist is ParseDist for constants known to be valid; it panics
// if s does not parse.
func MustParseDist(s string) Dist {
	d, err := ParseDist(s)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDist parses a distribution of durations:
//
//	100ms                   fixed
//	exp:100ms               exponential with mean 100ms
//	lognormal:100ms,1.0     log-normal with median 100ms and sigma 1.0
//	pareto:10ms,1.5         Pareto with minimum 10ms and shape 1.5
//	uniform:1s,2s           uniform between 1s and 2s
//	forever                 never (hold times only)
//
// Durations are Go durations (time.ParseDuration: 1.5s, 1m30s, 250us) and
// must not be negative; the exponential mean, the log-normal median and
// the Pareto minimum must be positive. Sigma and shape are positive finite
// numbers; a Pareto shape at or below 1 has an infinite mean. The kind
// (exp or exponential, lognormal or log-normal, pareto, uniform, and
// fixed:D for D) is case-insensitive and spaces around the parts are
// ignored. String gives back text that ParseDist reads as the same Dist.
func ParseDist(s string) (Dist, error) {
	text := strings.TrimSpace(s)
	kind, params, hasKind := strings.Cut(text, ":")
	kind = strings.ToLower(strings.TrimSpace(kind))
	if !hasKind {
		if kind == "forever" {
			return Dist{kind: kindForever}, nil
		}
		d, err := parseParamDuration(s, "duration", text)
		if err != nil {
			return Dist{}, err
		}
		return Dist{kind: kindFixed, a: d}, nil
	}
	args := strings.Split(params, ",")
	for i := range args {
		args[i] = strings.TrimSpace(args[i])
	}
	want := func(n int, form string) error {
		if len(args) != n {
			return fmt.Errorf("distribution %q: expected %s (%d parameters, got %d)", s, form, n, len(args))
		}
		return nil
	}
	switch kind {
	case "fixed":
		if err := want(1, "fixed:DURATION such as fixed:100ms"); err != nil {
			return Dist{}, err
		}
		d, err := parseParamDuration(s, "duration", args[0])
		if err != nil {
			return Dist{}, err
		}
		return Dist{kind: kindFixed, a: d}, nil
	case "exp", "exponential":
		if err := want(1, "exp:MEAN such as exp:100ms"); err != nil {
			return Dist{}, err
		}
		mean, err := parsePositiveDuration(s, "mean", args[0])
		if err != nil {
			return Dist{}, err
		}
		return Dist{kind: kindExp, a: mean}, nil
	case "lognormal", "log-normal":
		if err := want(2, "lognormal:MEDIAN,SIGMA such as lognormal:100ms,1.0"); err != nil {
			return Dist{}, err
		}
		median, err := parsePositiveDuration(s, "median", args[0])
		if err != nil {
			return Dist{}, err
		}
		sigma, err := parseShape(s, "sigma", args[1])
		if err != nil {
			return Dist{}, err
		}
		return Dist{kind: kindLogNormal, a: median, shape: sigma}, nil
	case "pareto":
		if err := want(2, "pareto:MIN,SHAPE such as pareto:10ms,1.5"); err != nil {
			return Dist{}, err
		}
		lo, err := parsePositiveDuration(s, "minimum", args[0])
		if err != nil {
			return Dist{}, err
		}
		shape, err := parseShape(s, "shape", args[1])
		if err != nil {
			return Dist{}, err
		}
		return Dist{kind: kindPareto, a: lo, shape: shape}, nil
	case "uniform":
		if err := want(2, "uniform:LO,HI such as uniform:1s,2s"); err != nil {
			return Dist{}, err
		}
		lo, err := parseParamDuration(s, "LO", args[0])
		if err != nil {
			return Dist{}, err
		}
		hi, err := parseParamDuration(s, "HI", args[1])
		if err != nil {
			return Dist{}, err
		}
		if hi < lo {
			return Dist{}, fmt.Errorf("distribution %q: HI %v is below LO %v; expected uniform:LO,HI with LO <= HI", s, hi, lo)
		}
		return Dist{kind: kindUniform, a: lo, b: hi}, nil
	}
	return Dist{}, fmt.Errorf("distribution %q: unknown kind %q; %s", s, kind, distForms)
}

// parseParamDuration parses a non-negative Go duration named what.
func parseParamDuration(s, what, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("distribution %q: %s %q is not a Go duration; %s", s, what, v, distForms)
	}
	if d < 0 {
		return 0, fmt.Errorf("distribution %q: %s %v is negative; expected a duration >= 0", s, what, d)
	}
	return d, nil
}

// parsePositiveDuration parses a positive Go duration named what.
func parsePositiveDuration(s, what, v string) (time.Duration, error) {
	d, err := parseParamDuration(s, what, v)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, fmt.Errorf("distribution %q: %s is 0; expected a positive duration", s, what)
	}
	return d, nil
}

// parseShape parses a positive finite number named what.
func parseShape(s, what, v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) || x <= 0 {
		return 0, fmt.Errorf("distribution %q: %s %q: expected a positive finite number such as 1.5", s, what, v)
	}
	return x, nil
}

// String returns the text ParseDist reads back as the same Dist, such as
// "100ms", "exp:100ms", "lognormal:100ms,1" or "forever".
func (d Dist) String() string {
	switch d.kind {
	case kindFixed:
		return d.a.String()
	case kindExp:
		return "exp:" + d.a.String()
	case kindLogNormal:
		return "lognormal:" + d.a.String() + "," + formatFloat(d.shape)
	case kindPareto:
		return "pareto:" + d.a.String() + "," + formatFloat(d.shape)
	case kindUniform:
		return "uniform:" + d.a.String() + "," + d.b.String()
	case kindForever:
		return "forever"
	}
	return fmt.Sprintf("Dist(%d)", d.kind)
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// Equal reports whether d and o are the same distribution. It lets go-cmp
// compare structs that hold a Dist.
func (d Dist) Equal(o Dist) bool { return d == o }

// MarshalText returns String as bytes.
func (d Dist) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText sets d from text in the form ParseDist reads.
func (d *Dist) UnmarshalText(b []byte) error {
	v, err := ParseDist(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Mean returns the distribution's mean, or Forever for forever, for a
// Pareto with shape <= 1 (whose mean is infinite) and for a mean too large
// for a time.Duration. It is the mean of the distribution as specified,
// before draws are capped at MaxSample.
func (d Dist) Mean() time.Duration {
	switch d.kind {
	case kindFixed:
		return d.a
	case kindExp:
		return d.a
	case kindLogNormal:
		return meanDuration(float64(d.a) * math.Exp(d.shape*d.shape/2))
	case kindPareto:
		if d.shape <= 1 {
			return Forever
		}
		return meanDuration(float64(d.a) * d.shape / (d.shape - 1))
	case kindUniform:
		return d.a + (d.b-d.a)/2
	}
	return Forever
}

// meanDuration converts nanoseconds to a Duration, Forever when too large.
func meanDuration(ns float64) time.Duration {
	if !(ns < float64(math.MaxInt64)) {
		return Forever
	}
	return time.Duration(math.Round(ns))
}

// forever reports whether d never ends.
func (d Dist) forever() bool { return d.kind == kindForever }

// alwaysZero reports whether every draw of d is 0.
func (d Dist) alwaysZero() bool {
	switch d.kind {
	case kindFixed:
		return d.a == 0
	case kindUniform:
		return d.b == 0
	}
	return false
}

// check reports what is wrong with a Dist built without ParseDist (the
// zero Dist and Fixed), naming the field.
func (d Dist) check(field string) error {
	switch d.kind {
	case kindFixed, kindUniform:
		if d.a < 0 {
			return &SpecError{Field: field, Value: d.String(), Want: "expected a distribution of durations >= 0"}
		}
	case kindExp, kindLogNormal, kindPareto, kindForever:
	default:
		return &SpecError{Field: field, Value: d.String(), Want: distForms}
	}
	return nil
}

// sampler draws from a Dist with its own random stream. Draws are in
// nanoseconds, rounded to the nearest one and capped at MaxSample.
type sampler struct {
	kind  distKind
	fixed time.Duration
	exp   distuv.Exponential
	logn  distuv.LogNormal
	par   distuv.Pareto
	uni   distuv.Uniform
}

// newSampler returns a sampler of d drawing from src.
func newSampler(d Dist, src rand.Source) sampler {
	s := sampler{kind: d.kind}
	switch d.kind {
	case kindFixed:
		s.fixed = min(d.a, MaxSample)
	case kindForever:
		s.fixed = Forever
	case kindExp:
		s.exp = distuv.Exponential{Rate: 1 / float64(d.a), Src: src}
	case kindLogNormal:
		s.logn = distuv.LogNormal{Mu: math.Log(float64(d.a)), Sigma: d.shape, Src: src}
	case kindPareto:
		s.par = distuv.Pareto{Xm: float64(d.a), Alpha: d.shape, Src: src}
	case kindUniform:
		s.uni = distuv.Uniform{Min: float64(d.a), Max: float64(d.b), Src: src}
	}
	return s
}

// draw returns the next duration.
func (s *sampler) draw() time.Duration {
	var ns float64
	switch s.kind {
	case kindExp:
		ns = s.exp.Rand()
	case kindLogNormal:
		ns = s.logn.Rand()
	case kindPareto:
		ns = s.par.Rand()
	case kindUniform:
		ns = s.uni.Rand()
	default:
		return s.fixed
	}
	return sampleDuration(ns)
}

// sampleDuration converts a draw in nanoseconds to a Duration in
// 0..MaxSample; NaN and negative values (which no valid Dist yields) give 0.
func sampleDuration(ns float64) time.Duration {
	if ns >= float64(MaxSample) {
		return MaxSample
	}
	if !(ns > 0) {
		return 0
	}
	return time.Duration(ns + 0.5)
}

// Sampler draws durations from a Dist with its own random stream, for a
// caller outside the package that needs draws of a setting's distribution
// (the simulator's confirm delays). Draws are in nanoseconds, rounded and
// capped at MaxSample, as hold times are.
type Sampler struct{ s sampler }

// NewSampler returns a Sampler of d drawing from src.
func (d Dist) NewSampler(src rand.Source) *Sampler {
	return &Sampler{s: newSampler(d, src)}
}

// Draw returns the next duration.
func (s *Sampler) Draw() time.Duration { return s.s.draw() }
