package results

import (
	"math"
	"testing"
	"time"
)

// TestBound checks the analytic knee against hand computations: Linux's
// 28,232 ports (32768-60999) and 60 s TIME_WAIT give 28232/60 = 470.5
// connections a second to one destination, and each setting changes
// that as the bound's formula says.
func TestBound(t *testing.T) {
	base := Setup{
		Ports: 28232, TimeWaitNS: int64(60 * time.Second), Scope: "4-tuple", TWReuse: 0,
		TWReuseDelayNS: int64(time.Second), Timestamps: true, Sources: 1, Destinations: 1,
		Path: "connect", Close: "client",
	}
	for _, c := range []struct {
		name     string
		mod      func(*Setup)
		want     float64
		unusable time.Duration
		why      string
	}{
		{"linux defaults", func(*Setup) {}, 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"3 sources", func(s *Setup) { s.Sources = 3 }, 3 * 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"hold 1 s", func(s *Setup) { s.HoldMeanNS = int64(time.Second) }, 28232.0 / 61, 60 * time.Second, "TIME_WAIT"},
		{"prefill 25 %", func(s *Setup) { s.Prefill = 0.25 }, 21174.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"prefill 10 %, rounded", func(s *Setup) { s.Prefill = 0.1 }, 25409.0 / 60, 60 * time.Second, "TIME_WAIT"},
		// Take-over waits the delay and up to 1 ms of the clock more.
		{"tw_reuse 1", func(s *Setup) { s.TWReuse = 1 }, 28232 / 1.001, 1001 * time.Millisecond, "tcp_tw_reuse_delay"},
		{"tw_reuse 2, loopback", func(s *Setup) { s.TWReuse, s.Loopback = 2, true }, 28232 / 1.001, 1001 * time.Millisecond, "tcp_tw_reuse_delay"},
		{"tw_reuse 2, not loopback", func(s *Setup) { s.TWReuse = 2 }, 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"tw_reuse 1 without timestamps", func(s *Setup) { s.TWReuse, s.Timestamps = 1, false }, 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"tw_reuse 1 in an exclusive stack", func(s *Setup) { s.TWReuse, s.Scope = 1, "exclusive" }, 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"tw_reuse 1, delay above TIME_WAIT", func(s *Setup) { s.TWReuse, s.TWReuseDelayNS = 1, int64(90*time.Second) }, 28232.0 / 60, 60 * time.Second, "tcp_tw_reuse_delay"},
		{"10 uniform destinations", func(s *Setup) { s.Destinations = 10 }, 10 * 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"10 round-robin destinations", func(s *Setup) { s.Destinations, s.DestOrder = 10, "round-robin" }, 10 * 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"10 destinations, exclusive", func(s *Setup) { s.Destinations, s.Scope = 10, "exclusive" }, 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"10 destinations, bind(0)", func(s *Setup) { s.Destinations, s.Path = 10, "bind" }, 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		// Zipf s=1 over 2: weights 1 and 1/2, the first gets 2/3.
		{"2 zipf:1 destinations", func(s *Setup) { s.Destinations, s.DestOrder, s.ZipfS = 2, "zipf", 1 }, 1.5 * 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"3 zipf:2 destinations", func(s *Setup) { s.Destinations, s.DestOrder, s.ZipfS = 3, "zipf", 2 }, (1 + 0.25 + 1.0/9) * 28232.0 / 60, 60 * time.Second, "TIME_WAIT"},
		{"rst close, hold 0", func(s *Setup) { s.Close = "rst" }, math.Inf(1), 0, "no TIME_WAIT, the server or a reset closes"},
		{"server close, hold 100 ms", func(s *Setup) { s.Close, s.HoldMeanNS = "server", int64(100*time.Millisecond) }, 282320, 0, "no TIME_WAIT, the server or a reset closes"},
		{"udp, hold 1 s", func(s *Setup) { s.Path, s.HoldMeanNS = "udp", int64(time.Second) }, 28232, 0, "no TIME_WAIT, UDP"},
		{"no TIME_WAIT", func(s *Setup) { s.TimeWaitNS, s.HoldMeanNS = 0, int64(time.Second) }, 28232, 0, "no TIME_WAIT"},
		{"held forever", func(s *Setup) { s.HoldMeanNS = -1 }, 0, 60 * time.Second, "TIME_WAIT"},
	} {
		s := base
		c.mod(&s)
		b := s.Bound()
		if !(b.Rate == c.want || math.Abs(b.Rate-c.want) <= 1e-9*c.want) {
			t.Errorf("%s: rate %v/s, want %v/s (%+v)", c.name, b.Rate, c.want, b)
		}
		if b.Unusable != c.unusable || b.Why != c.why {
			t.Errorf("%s: unusable %v (%s), want %v (%s)", c.name, b.Unusable, b.Why, c.unusable, c.why)
		}
	}
}

// TestBoundCycle checks that the cycle saturates instead of overflowing
// for connections held forever.
func TestBoundCycle(t *testing.T) {
	b := Setup{Ports: 10, TimeWaitNS: int64(time.Minute), Path: "connect", Close: "client", Scope: "4-tuple", HoldMeanNS: -1}.Bound()
	if b.Cycle() != math.MaxInt64 || b.Hold != math.MaxInt64 {
		t.Errorf("held forever: hold %v, cycle %v, want both the largest duration", b.Hold, b.Cycle())
	}
	if got := (Bound{Hold: time.Second, Unusable: time.Minute}).Cycle(); got != 61*time.Second {
		t.Errorf("cycle %v, want 1m1s", got)
	}
}
