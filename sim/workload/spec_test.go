package workload

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// validSpec returns a valid Poisson spec that tests change one field of.
func validSpec() Spec {
	return Spec{Rate: 100, Destinations: 1, Sources: 1, Hold: MustParseDist("exp:1s")}
}

func TestValidateOK(t *testing.T) {
	traceOpen := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(TraceHeader + "\n")), nil }
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{"poisson", func(s *Spec) {}},
		{"constant at MaxRate", func(s *Spec) { s.Arrivals, s.Rate = Constant, MaxRate }},
		{"burst", func(s *Spec) { s.Arrivals, s.BurstOn, s.BurstOff = Burst, time.Second, 0 }},
		{"closed", func(s *Spec) { s.Arrivals, s.Clients, s.Think, s.Rate = Closed, 1000, Fixed(1), 0 }},
		{"closed uniform think", func(s *Spec) { s.Arrivals, s.Clients, s.Think = Closed, 1, MustParseDist("uniform:0s,1ms") }},
		{"trace ignores the synthetic fields", func(s *Spec) { *s = Spec{Arrivals: Trace, TraceOpen: traceOpen} }},
		{"zipf s=0.5", func(s *Spec) { s.DestOrder, s.ZipfS = Zipf, 0.5 }},
		{"most destinations and sources", func(s *Spec) { s.Destinations, s.Sources = MaxDestinations, MaxSources }},
		{"forever", func(s *Spec) { s.Hold = Fixed(Forever) }},
		{"zero hold", func(s *Spec) { s.Hold = Dist{} }},
		{"udp, rst", func(s *Spec) { s.Path, s.Close = allocator.UDP, RST }},
		{"orig ports", func(s *Spec) { s.OrigPorts = allocator.Range{Lo: 1024, Hi: 65535} }},
	}
	for _, tt := range tests {
		s := validSpec()
		tt.edit(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tt.name, err)
		}
		if _, err := s.New(1); err != nil {
			t.Errorf("%s: New: %v", tt.name, err)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	const rateWant = "expected a finite rate in attempts per second, > 0 and <= 1e+09"
	closed := func(s *Spec) { s.Arrivals, s.Clients, s.Think = Closed, 4, Fixed(time.Millisecond) }
	tests := []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Rate = -1 }, "workload: Rate -1: " + rateWant},
		{func(s *Spec) { s.Rate = 0 }, "workload: Rate 0: " + rateWant},
		{func(s *Spec) { s.Rate = math.NaN() }, "workload: Rate NaN: " + rateWant},
		{func(s *Spec) { s.Rate = math.Inf(1) }, "workload: Rate +Inf: " + rateWant},
		{func(s *Spec) { s.Arrivals, s.Rate = Constant, 2e9 }, "workload: Rate 2e+09: " + rateWant},
		{func(s *Spec) { s.Arrivals = 9 }, "workload: Arrivals Arrivals(9): expected poisson, constant, burst, closed or trace"},
		{func(s *Spec) { s.Arrivals = Burst }, "workload: BurstOn 0s: expected a positive duration up to MaxSample (about 73 years), such as 10s"},
		{func(s *Spec) { s.Arrivals, s.BurstOn, s.BurstOff = Burst, time.Second, -time.Second },
			"workload: BurstOff -1s: expected a duration from 0 to MaxSample (about 73 years), such as 50s"},
		{func(s *Spec) { closed(s); s.Clients = 0 }, "workload: Clients 0: expected 1..10000000 closed-loop clients"},
		{func(s *Spec) { closed(s); s.Clients = MaxClients + 1 }, "workload: Clients 10000001: expected 1..10000000 closed-loop clients"},
		{func(s *Spec) { closed(s); s.Think = Dist{} },
			"workload: Think 0s: expected a think time that is not always 0 (a client whose attempt failed would retry at the same instant forever), such as 1ms or exp:10ms"},
		{func(s *Spec) { closed(s); s.Think = MustParseDist("uniform:0s,0s") },
			"workload: Think uniform:0s,0s: expected a think time that is not always 0 (a client whose attempt failed would retry at the same instant forever), such as 1ms or exp:10ms"},
		{func(s *Spec) { closed(s); s.Think = Fixed(Forever) },
			"workload: Think forever: forever is for hold times only; expected a finite distribution such as 10ms or exp:10ms"},
		{func(s *Spec) { closed(s); s.Think = Fixed(-time.Second) }, "workload: Think -1s: expected a distribution of durations >= 0"},
		{func(s *Spec) { s.Arrivals = Trace }, "workload: TraceOpen nil: expected a function opening the CSV trace for Trace arrivals"},
		{func(s *Spec) { s.Destinations = 0 }, "workload: Destinations 0: expected 1..1000000 destinations"},
		{func(s *Spec) { s.Destinations = MaxDestinations + 1 }, "workload: Destinations 1000001: expected 1..1000000 destinations"},
		{func(s *Spec) { s.DestOrder = 7 }, "workload: DestOrder DestOrder(7): expected uniform, zipf or round-robin"},
		{func(s *Spec) { s.DestOrder = Zipf }, "workload: ZipfS 0: expected a positive finite Zipf exponent such as 1 or 1.2"},
		{func(s *Spec) { s.DestOrder, s.ZipfS = Zipf, -1 }, "workload: ZipfS -1: expected a positive finite Zipf exponent such as 1 or 1.2"},
		{func(s *Spec) { s.DestOrder, s.ZipfS = Zipf, math.NaN() }, "workload: ZipfS NaN: expected a positive finite Zipf exponent such as 1 or 1.2"},
		{func(s *Spec) { s.DestOrder, s.ZipfS = Zipf, math.Inf(1) }, "workload: ZipfS +Inf: expected a positive finite Zipf exponent such as 1 or 1.2"},
		{func(s *Spec) { s.Sources = 0 }, "workload: Sources 0: expected 1..65536 source addresses"},
		{func(s *Spec) { s.Sources = 65537 }, "workload: Sources 65537: expected 1..65536 source addresses"},
		{func(s *Spec) { s.Hold = Fixed(-time.Millisecond) }, "workload: Hold -1ms: expected a distribution of durations >= 0"},
		{func(s *Spec) { s.Close = 3 }, "workload: Close Close(?): expected client, server or rst"},
		{func(s *Spec) { s.Path = 3 }, "workload: Path Path(3): expected connect, bind or udp"},
		{func(s *Spec) { s.OrigPorts = allocator.Range{Hi: 10} },
			"workload: OrigPorts 0-10: range 0-10: port 0 is not an ephemeral port; expected LO-HI with 1 <= LO <= HI <= 65535"},
	}
	for _, tt := range tests {
		s := validSpec()
		tt.edit(&s)
		err := s.Validate()
		if err == nil {
			t.Errorf("Validate succeeded, want %q", tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Validate error\n got %q\nwant %q", err, tt.want)
		}
		var se *SpecError
		if !errors.As(err, &se) || !strings.HasPrefix(tt.want, "workload: "+se.Field+" ") {
			t.Errorf("Validate error %q is not a *SpecError naming the field", err)
		}
		if _, nerr := s.New(1); nerr == nil || nerr.Error() != err.Error() {
			t.Errorf("New error %v, want the Validate error %v", nerr, err)
		}
	}
}

func TestEnumText(t *testing.T) {
	for a := Poisson; a <= Trace; a++ {
		if got, err := ParseArrivals(a.String()); err != nil || got != a {
			t.Errorf("ParseArrivals(%q) = %v, %v", a, got, err)
		}
		var u Arrivals
		if text, _ := a.MarshalText(); u.UnmarshalText(text) != nil || u != a {
			t.Errorf("text round trip of %v gave %v", a, u)
		}
	}
	for o := Uniform; o <= RoundRobin; o++ {
		if got, err := ParseDestOrder(o.String()); err != nil || got != o {
			t.Errorf("ParseDestOrder(%q) = %v, %v", o, got, err)
		}
		var u DestOrder
		if text, _ := o.MarshalText(); u.UnmarshalText(text) != nil || u != o {
			t.Errorf("text round trip of %v gave %v", o, u)
		}
	}
	for c := ClientClose; c <= RST; c++ {
		if got, err := ParseClose(c.String()); err != nil || got != c {
			t.Errorf("ParseClose(%q) = %v, %v", c, got, err)
		}
		var u Close
		if text, _ := c.MarshalText(); u.UnmarshalText(text) != nil || u != c {
			t.Errorf("text round trip of %v gave %v", c, u)
		}
	}
	if o, err := ParseDestOrder("rr"); err != nil || o != RoundRobin {
		t.Errorf("ParseDestOrder(rr) = %v, %v", o, err)
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{second(ParseArrivals("open")), `arrivals "open": expected poisson, constant, burst, closed, trace`},
		{second(ParseDestOrder("hot")), `destination order "hot": expected uniform, zipf or round-robin`},
		{second(ParseClose("both")), `close "both": expected client, server or rst`},
	} {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("error %v, want %q", tt.err, tt.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestMeanRate(t *testing.T) {
	tests := []struct {
		spec Spec
		want float64
	}{
		{Spec{Arrivals: Poisson, Rate: 250}, 250},
		{Spec{Arrivals: Constant, Rate: 3}, 3},
		{Spec{Arrivals: Burst, Rate: 1000, BurstOn: time.Second, BurstOff: 3 * time.Second}, 250},
		{Spec{Arrivals: Burst, Rate: 1000, BurstOn: time.Second}, 1000},
		{Spec{Arrivals: Closed, Rate: 1000, Clients: 5}, 0},
		{Spec{Arrivals: Trace, Rate: 1000}, 0},
	}
	for _, tt := range tests {
		if got := tt.spec.MeanRate(); got != tt.want {
			t.Errorf("MeanRate(%v) = %g, want %g", tt.spec.Arrivals, got, tt.want)
		}
	}
}
