package workload

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDistRoundTrip(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"100ms", "100ms"},
		{" 1m30s ", "1m30s"},
		{"0", "0s"},
		{"1.5ns", "1ns"},
		{"fixed:2s", "2s"},
		{"exp:100ms", "exp:100ms"},
		{"EXP: 1s", "exp:1s"},
		{"exponential:1h", "exp:1h0m0s"},
		{"lognormal:100ms,1.0", "lognormal:100ms,1"},
		{"log-normal:1s, 0.25", "lognormal:1s,0.25"},
		{"pareto:10ms,1.5", "pareto:10ms,1.5"},
		{"pareto:1us,1e-3", "pareto:1µs,0.001"},
		{"uniform:1s,2s", "uniform:1s,2s"},
		{"uniform:0s,0s", "uniform:0s,0s"},
		{"forever", "forever"},
		{"Forever", "forever"},
	}
	for _, tt := range tests {
		d, err := ParseDist(tt.in)
		if err != nil {
			t.Errorf("ParseDist(%q): %v", tt.in, err)
			continue
		}
		if got := d.String(); got != tt.want {
			t.Errorf("ParseDist(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseDist(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDist(%q) = %#v, %v; want %#v", d.String(), back, err, d)
		}
		var u Dist
		if text, _ := d.MarshalText(); u.UnmarshalText(text) != nil || !u.Equal(d) {
			t.Errorf("text round trip of %q gave %v", tt.in, u)
		}
	}
	if got := (Dist{}).String(); got != "0s" {
		t.Errorf("zero Dist = %q, want 0s", got)
	}
	if Fixed(Forever) != MustParseDist("forever") {
		t.Errorf("Fixed(Forever) = %v, want forever", Fixed(Forever))
	}
	// go-cmp uses Equal, so structs holding a Dist can be diffed.
	type holder struct{ D Dist }
	if diff := cmp.Diff(holder{MustParseDist("exp:1s")}, holder{MustParseDist("exp:2s")}); diff == "" {
		t.Error("cmp.Diff found no difference between exp:1s and exp:2s")
	}
}

func TestParseDistErrors(t *testing.T) {
	const forms = "expected DURATION (fixed, e.g. 100ms), exp:MEAN, lognormal:MEDIAN,SIGMA, pareto:MIN,SHAPE, uniform:LO,HI or forever"
	tests := []struct {
		in, want string
	}{
		{"", `distribution "": duration "" is not a Go duration; ` + forms},
		{"100", `distribution "100": duration "100" is not a Go duration; ` + forms},
		{"-1s", `distribution "-1s": duration -1s is negative; expected a duration >= 0`},
		{"exp:0s", `distribution "exp:0s": mean is 0; expected a positive duration`},
		{"exp:1s,2s", `distribution "exp:1s,2s": expected exp:MEAN such as exp:100ms (1 parameters, got 2)`},
		{"exp:soon", `distribution "exp:soon": mean "soon" is not a Go duration; ` + forms},
		{"lognormal:1s", `distribution "lognormal:1s": expected lognormal:MEDIAN,SIGMA such as lognormal:100ms,1.0 (2 parameters, got 1)`},
		{"lognormal:1s,0", `distribution "lognormal:1s,0": sigma "0": expected a positive finite number such as 1.5`},
		{"lognormal:1s,NaN", `distribution "lognormal:1s,NaN": sigma "NaN": expected a positive finite number such as 1.5`},
		{"lognormal:0s,1", `distribution "lognormal:0s,1": median is 0; expected a positive duration`},
		{"pareto:1s,inf", `distribution "pareto:1s,inf": shape "inf": expected a positive finite number such as 1.5`},
		{"pareto:0s,1", `distribution "pareto:0s,1": minimum is 0; expected a positive duration`},
		{"pareto:-1s,1", `distribution "pareto:-1s,1": minimum -1s is negative; expected a duration >= 0`},
		{"uniform:2s,1s", `distribution "uniform:2s,1s": HI 1s is below LO 2s; expected uniform:LO,HI with LO <= HI`},
		{"uniform:1s", `distribution "uniform:1s": expected uniform:LO,HI such as uniform:1s,2s (2 parameters, got 1)`},
		{"fixed:", `distribution "fixed:": duration "" is not a Go duration; ` + forms},
		{"gamma:1s,2", `distribution "gamma:1s,2": unknown kind "gamma"; ` + forms},
		{"forever:1s", `distribution "forever:1s": unknown kind "forever"; ` + forms},
	}
	for _, tt := range tests {
		_, err := ParseDist(tt.in)
		if err == nil {
			t.Errorf("ParseDist(%q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseDist(%q) error\n got %q\nwant %q", tt.in, err, tt.want)
		}
	}
}

func TestDistMean(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"100ms", 100 * time.Millisecond},
		{"exp:2s", 2 * time.Second},
		{"lognormal:1s,1", 1648721271}, // e^(1/2) s
		{"pareto:10ms,1.5", 30 * time.Millisecond},
		{"pareto:10ms,1", Forever},
		{"pareto:10ms,0.5", Forever},
		{"uniform:1s,2s", 1500 * time.Millisecond},
		{"forever", Forever},
		{"lognormal:1000000h,10", Forever}, // too large for a Duration
	}
	for _, tt := range tests {
		if got := MustParseDist(tt.in).Mean(); got != tt.want {
			t.Errorf("Mean(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := (Dist{}).Mean(); got != 0 {
		t.Errorf("Mean(zero Dist) = %v, want 0", got)
	}
}

// draws returns n draws of d from the hold stream of seed 1.
func draws(d Dist, n int) []time.Duration {
	s := newSampler(d, newStream(1, streamHolds))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = s.draw()
	}
	return out
}

// meanSD returns the mean and standard deviation of f over xs.
func meanSD(xs []time.Duration, f func(time.Duration) float64) (mean, sd float64) {
	for _, x := range xs {
		mean += f(x)
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		d := f(x) - mean
		sd += d * d
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

// within fails t unless |got-want| <= bound.
func within(t *testing.T, what string, got, want, bound float64) {
	t.Helper()
	if math.Abs(got-want) > bound {
		t.Errorf("%s = %g, want %g ± %g", what, got, want, bound)
	}
}

// TestDistSamples checks each family's draws against its parameters. The
// bounds are 6 standard errors wide at a fixed seed.
func TestDistSamples(t *testing.T) {
	const n = 200_000
	sqrtN := math.Sqrt(n)
	secs := func(d time.Duration) float64 { return d.Seconds() }

	t.Run("fixed", func(t *testing.T) {
		for _, x := range draws(MustParseDist("250ms"), 1000) {
			if x != 250*time.Millisecond {
				t.Fatalf("draw %v, want 250ms", x)
			}
		}
	})
	t.Run("forever", func(t *testing.T) {
		for _, x := range draws(MustParseDist("forever"), 1000) {
			if x != Forever {
				t.Fatalf("draw %v, want Forever", x)
			}
		}
	})
	t.Run("exp", func(t *testing.T) {
		xs := draws(MustParseDist("exp:100ms"), n)
		mean, sd := meanSD(xs, secs)
		within(t, "mean", mean, 0.1, 6*0.1/sqrtN)
		within(t, "sd", sd, 0.1, 0.002) // an exponential's sd is its mean (6.3 standard errors)
		// P(X > mean) = 1/e; the binomial sd is below 0.5/sqrt(n).
		above := 0
		for _, x := range xs {
			if x > 100*time.Millisecond {
				above++
			}
		}
		within(t, "P(X > mean)", float64(above)/n, 1/math.E, 6*0.5/sqrtN)
	})
	t.Run("lognormal", func(t *testing.T) {
		xs := draws(MustParseDist("lognormal:100ms,0.5"), n)
		logs := func(d time.Duration) float64 { return math.Log(d.Seconds() / 0.1) }
		mu, sigma := meanSD(xs, logs)
		within(t, "mean of log(X/median)", mu, 0, 6*0.5/sqrtN)
		within(t, "sd of log(X)", sigma, 0.5, 6*0.5/math.Sqrt(2*n))
		slices.Sort(xs)
		// The sample median of a normal has sd sigma·sqrt(pi/2)/sqrt(n).
		within(t, "log(sample median/median)", logs(xs[n/2]), 0, 6*0.5*1.2534/sqrtN)
	})
	t.Run("pareto", func(t *testing.T) {
		xs := draws(MustParseDist("pareto:10ms,1.5"), n)
		if m := slices.Min(xs); m < 10*time.Millisecond {
			t.Errorf("min draw %v below the minimum 10ms", m)
		}
		// log(X/min) is exponential with mean 1/shape.
		mean, _ := meanSD(xs, func(d time.Duration) float64 { return math.Log(d.Seconds() / 0.01) })
		within(t, "mean of log(X/min)", mean, 1/1.5, 6/1.5/sqrtN)
	})
	t.Run("uniform", func(t *testing.T) {
		xs := draws(MustParseDist("uniform:1s,2s"), n)
		if lo, hi := slices.Min(xs), slices.Max(xs); lo < time.Second || hi > 2*time.Second {
			t.Errorf("draws span %v..%v, want within 1s..2s", lo, hi)
		}
		mean, sd := meanSD(xs, secs)
		within(t, "mean", mean, 1.5, 6/math.Sqrt(12)/sqrtN)
		within(t, "sd", sd, 1/math.Sqrt(12), 0.002)
	})
}

// TestDrawCap checks that draws too large for a Duration are capped at
// MaxSample and never negative.
func TestDrawCap(t *testing.T) {
	for _, in := range []string{"pareto:1h,0.01", "lognormal:1000h,100", "exp:1000000h"} {
		capped := 0
		for _, x := range draws(MustParseDist(in), 10_000) {
			if x < 0 || x > MaxSample {
				t.Fatalf("%s: draw %v outside 0..MaxSample", in, x)
			}
			if x == MaxSample {
				capped++
			}
		}
		if in != "exp:1000000h" && capped == 0 {
			t.Errorf("%s: no draw reached MaxSample; the cap is not exercised", in)
		}
	}
	if got := draws(Fixed(Forever-1), 1)[0]; got != MaxSample {
		t.Errorf("Fixed(Forever-1) draws %v, want MaxSample", got)
	}
	for _, tt := range []struct {
		ns   float64
		want time.Duration
	}{
		{math.NaN(), 0}, {-1, 0}, {math.Inf(1), MaxSample}, {1e300, MaxSample},
		{float64(MaxSample), MaxSample}, {0.4, 0}, {0.6, 1}, {1e9, time.Second},
	} {
		if got := sampleDuration(tt.ns); got != tt.want {
			t.Errorf("sampleDuration(%g) = %v, want %v", tt.ns, got, tt.want)
		}
	}
}
