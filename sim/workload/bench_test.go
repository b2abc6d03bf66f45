package workload

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
)

// benchTrace returns a trace of n lines, one attempt per millisecond from
// four sources to 64 destinations, with times and holds in several forms.
func benchTrace(n int) []byte {
	var b bytes.Buffer
	b.WriteString(TraceHeader + "\n")
	for i := range n {
		fmt.Fprintf(&b, "%.3f,10.0.0.%d,198.18.0.%d,443,%dms,client\n", float64(i)/1000, 1+i/256%4, 1+i%64, 100+i%7)
	}
	return b.Bytes()
}

// BenchmarkNext measures one call of Next (and of Done for the closed
// loop), the simulator's hot path. Each case reports allocs/op.
func BenchmarkNext(b *testing.B) {
	base := Spec{Rate: 1000, Destinations: 1000, Sources: 4, Hold: MustParseDist("exp:100ms")}
	with := func(f func(*Spec)) Spec { s := base; f(&s); return s }
	cases := []struct {
		name string
		spec Spec
	}{
		{"poisson", base},
		{"constant", with(func(s *Spec) { s.Arrivals = Constant; s.Rate = 3 })},
		{"burst", with(func(s *Spec) { s.Arrivals = Burst; s.BurstOn, s.BurstOff = time.Second, 3*time.Second })},
		{"closed", with(func(s *Spec) { s.Arrivals = Closed; s.Clients = 1000; s.Think = MustParseDist("exp:10ms") })},
		{"zipf", with(func(s *Spec) { s.DestOrder = Zipf; s.ZipfS = 1 })},
		{"zipf-1e6", with(func(s *Spec) { s.DestOrder = Zipf; s.ZipfS = 1; s.Destinations = 1_000_000 })},
		{"round-robin", with(func(s *Spec) { s.DestOrder = RoundRobin })},
		{"hold=fixed", with(func(s *Spec) { s.Hold = Fixed(time.Second) })},
		{"hold=lognormal", with(func(s *Spec) { s.Hold = MustParseDist("lognormal:100ms,1") })},
		{"hold=pareto", with(func(s *Spec) { s.Hold = MustParseDist("pareto:10ms,1.5") })},
		{"origports", with(func(s *Spec) { s.OrigPorts.Lo, s.OrigPorts.Hi = 1024, 65535 })},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w, err := c.spec.New(1)
			if err != nil {
				b.Fatal(err)
			}
			fb, _ := w.(Feedback)
			b.ReportAllocs()
			var a Arrival
			for b.Loop() {
				if !w.Next(&a) {
					b.Fatalf("workload ended: %v", w.Err())
				}
				if fb != nil {
					fb.Done(a, true)
				}
			}
		})
	}
	b.Run("trace", func(b *testing.B) {
		data := benchTrace(100_000)
		spec := Spec{Arrivals: Trace, TraceOpen: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}
		w, err := spec.New(1)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var a Arrival
		for b.Loop() {
			if !w.Next(&a) {
				if w.Err() != nil {
					b.Fatal(w.Err())
				}
				if w, err = spec.New(1); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkDraw measures one draw of each distribution family on its PCG
// stream, in nanoseconds as a Duration.
func BenchmarkDraw(b *testing.B) {
	for _, d := range []string{"100ms", "exp:100ms", "lognormal:100ms,1", "pareto:10ms,1.5", "uniform:1s,2s"} {
		b.Run(d, func(b *testing.B) {
			s := newSampler(MustParseDist(d), newStream(1, streamHolds))
			var sum time.Duration
			b.ReportAllocs()
			for b.Loop() {
				sum += s.draw()
			}
			if sum < 0 {
				b.Fatal("negative sum")
			}
		})
	}
	b.Run("gap", func(b *testing.B) {
		o := newOpen(Spec{Rate: 1000, Destinations: 1, Sources: 1}, 1)
		b.ReportAllocs()
		for b.Loop() {
			o.gap()
		}
	})
	b.Run("zipf-1000", func(b *testing.B) {
		a, src := newZipf(1000, 1), newStream(1, streamDests)
		b.ReportAllocs()
		for b.Loop() {
			a.draw(src)
		}
	})
}
