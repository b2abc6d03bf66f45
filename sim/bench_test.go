package sim

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// steadyConfig is benchmark (a) of the simulator: linux, one destination,
// Poisson arrivals, exponential 100 ms holds, client close, 60 s
// TIME_WAIT. At 300/s about 18,000 ports sit in TIME_WAIT, more than the
// 14,116 even ports, so every connect() pays the whole even pass
// (docs/allocators.md#properties-the-tests-check item 1) before it finds an odd port.
func steadyConfig(rate float64, d time.Duration) Config {
	w := workload.Spec{
		Arrivals:     workload.Poisson,
		Rate:         rate,
		Destinations: 1,
		Sources:      1,
		Hold:         workload.MustParseDist("exp:100ms"),
		Close:        workload.ClientClose,
		Path:         allocator.Connect,
	}
	st := Stack{Range: allocator.Range{Lo: 32768, Hi: 60999}, TimeWait: 60 * time.Second, Scope: allocator.FourTuple, TWReuse: 2, TWReuseDelay: time.Second, Timestamps: true}
	return Config{Allocator: mustSpec("linux"), AllocSeed: 1, Seed: 1, Stack: st, Workload: w, Duration: d, SampleEvery: time.Second}
}

// benchRun runs cfg b.N times and reports simulated attempts per second
// of wall time, probes per attempt and the peak heap.
func benchRun(b *testing.B, cfg Config) {
	var attempts, probes, fails int64
	var peak uint64
	var ms runtime.MemStats
	for b.Loop() {
		r, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		attempts += r.Attempts
		fails += r.Failures
		probes += int64(r.Probes.Sum())
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(attempts)/b.Elapsed().Seconds(), "attempts/s")
	b.ReportMetric(float64(probes)/float64(attempts), "probes/attempt")
	b.ReportMetric(float64(fails)/float64(attempts), "failure-fraction")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
}

// BenchmarkSteady is (a): 300/s for a simulated day, about 26 M
// connections. -short runs one simulated hour.
//
//	go test -run='^$' -bench=Steady -benchtime=1x -count=5 ./sim
func BenchmarkSteady(b *testing.B) {
	d := 24 * time.Hour
	if testing.Short() {
		d = time.Hour
	}
	benchRun(b, steadyConfig(300, d))
}

// BenchmarkOverloaded is (b): the same at 600/s, above the knee of
// 28,232 / 60 s = 470.5/s, for one simulated hour: a fifth of the attempts
// fail after probing the whole range.
func BenchmarkOverloaded(b *testing.B) {
	benchRun(b, steadyConfig(600, time.Hour))
}
