package workload

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/portsim/portsim/allocator"
)

// nextOf returns the next attempt of w as a value, for tests that keep
// attempts.
func nextOf(w Workload) (Arrival, bool) {
	var a Arrival
	ok := w.Next(&a)
	return a, ok
}

// take returns the first n attempts of the workload of s and seed,
// calling Done(ok) for closed loops.
func take(t *testing.T, s Spec, seed uint64, n int) []Arrival {
	t.Helper()
	w, err := s.New(seed)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	fb, _ := w.(Feedback)
	out := make([]Arrival, 0, n)
	for len(out) < n {
		a, ok := nextOf(w)
		if !ok {
			t.Fatalf("workload ended after %d attempts: %v", len(out), w.Err())
		}
		if fb != nil {
			fb.Done(a, len(out)%3 != 0) // a third of the attempts fail
		}
		out = append(out, a)
	}
	return out
}

// destIndex returns the index of a synthetic destination (the inverse of
// DestAddr for non-loopback destinations).
func destIndex(d netip.AddrPort) int {
	b := d.Addr().As4()
	a := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return int(a-0xc6120001) + int(d.Port()-DestPort)*hostsBenchmark
}

// specs returns one spec of each synthetic arrival process and
// destination order, all with random holds.
func specs() map[string]Spec {
	base := Spec{Rate: 1000, Destinations: 50, Sources: 3, Hold: MustParseDist("exp:100ms")}
	m := map[string]Spec{}
	add := func(name string, edit func(*Spec)) {
		s := base
		edit(&s)
		m[name] = s
	}
	add("poisson", func(s *Spec) {})
	add("constant", func(s *Spec) { s.Arrivals = Constant })
	add("burst", func(s *Spec) { s.Arrivals, s.BurstOn, s.BurstOff = Burst, 100*time.Millisecond, 300*time.Millisecond })
	add("closed", func(s *Spec) { s.Arrivals, s.Clients, s.Think = Closed, 20, MustParseDist("exp:10ms") })
	add("zipf", func(s *Spec) { s.DestOrder, s.ZipfS = Zipf, 1 })
	add("round-robin", func(s *Spec) { s.DestOrder = RoundRobin })
	add("origports", func(s *Spec) { s.OrigPorts = allocator.Range{Lo: 1024, Hi: 65535} })
	return m
}

func TestDeterminism(t *testing.T) {
	for name, s := range specs() {
		a, b := take(t, s, 7, 2000), take(t, s, 7, 2000)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: attempt %d differs between two runs with seed 7: %+v vs %+v", name, i, a[i], b[i])
			}
		}
		c := take(t, s, 8, 2000)
		same := 0
		for i := range a {
			if a[i] == c[i] {
				same++
			}
		}
		if same > 10 {
			t.Errorf("%s: seeds 7 and 8 gave %d identical attempts of 2000", name, same)
		}
	}
}

// TestStreamsIndependent checks common random numbers: changing how holds,
// sources, NAT ports, close side or path are drawn leaves the arrival
// times and destinations of every open process unchanged, and changing
// the destination order leaves the times unchanged.
func TestStreamsIndependent(t *testing.T) {
	for _, name := range []string{"poisson", "burst", "constant"} {
		base := specs()[name]
		ref := take(t, base, 3, 3000)
		edits := map[string]func(*Spec){
			"hold lognormal": func(s *Spec) { s.Hold = MustParseDist("lognormal:1s,2") },
			"hold fixed":     func(s *Spec) { s.Hold = Fixed(time.Second) },
			"hold forever":   func(s *Spec) { s.Hold = Fixed(Forever) },
			"sources":        func(s *Spec) { s.Sources = 1000 },
			"orig ports":     func(s *Spec) { s.OrigPorts = allocator.Range{Lo: 2000, Hi: 3000} },
			"close rst":      func(s *Spec) { s.Close = RST },
			"path udp":       func(s *Spec) { s.Path = allocator.UDP },
			"loopback":       func(s *Spec) { s.Loopback = true },
		}
		for what, edit := range edits {
			s := base
			edit(&s)
			got := take(t, s, 3, 3000)
			for i := range ref {
				di, dj := ref[i].Flow.Dst.Addr().As4(), got[i].Flow.Dst.Addr().As4()
				if got[i].At != ref[i].At || di[3] != dj[3] || di[2] != dj[2] {
					t.Fatalf("%s, %s: attempt %d is at %v to %v, want %v to %v", name, what, i, got[i].At, got[i].Flow.Dst, ref[i].At, ref[i].Flow.Dst)
				}
			}
		}
		s := base
		s.DestOrder, s.ZipfS = Zipf, 1.2
		for i, a := range take(t, s, 3, 3000) {
			if a.At != ref[i].At {
				t.Fatalf("%s, zipf: attempt %d at %v, want %v", name, i, a.At, ref[i].At)
			}
		}
	}
}

// TestPoissonRate checks the gaps of Poisson arrivals: mean 1/Rate and
// P(gap > mean) = 1/e, within 6 standard errors at a fixed seed. Constant
// or uniform gaps with the right mean fail the second check.
func TestPoissonRate(t *testing.T) {
	for _, rate := range []float64{1000, 1e6} {
		const n = 200_000
		s := Spec{Rate: rate, Destinations: 1, Sources: 1}
		w, err := s.New(11)
		if err != nil {
			t.Fatal(err)
		}
		mean := 1e9 / rate // ns
		above := 0
		prev := time.Duration(0)
		var a Arrival
		for range n {
			if !w.Next(&a) {
				t.Fatalf("rate %g: the workload ended", rate)
			}
			if a.At < prev {
				t.Fatalf("rate %g: time went back from %v to %v", rate, prev, a.At)
			}
			if float64(a.At-prev) > mean {
				above++
			}
			prev = a.At
		}
		got := float64(a.At) / n
		t.Logf("rate %g: mean gap %.4g ns (want %.4g), P(gap > mean) %.4f (want %.4f)", rate, got, mean, float64(above)/n, 1/math.E)
		within(t, "mean gap (ns)", got, mean, 6*mean/math.Sqrt(n))
		within(t, "P(gap > mean)", float64(above)/n, 1/math.E, 6*0.5/math.Sqrt(n))
	}
}

// TestPoissonMaxRate checks that at MaxRate (mean gap 1ns) whole
// nanoseconds do not bias the rate: the fraction of a nanosecond is carried.
func TestPoissonMaxRate(t *testing.T) {
	const n = 200_000
	as := take(t, Spec{Rate: MaxRate, Destinations: 1, Sources: 1}, 5, n)
	within(t, "time of attempt n (ns)", float64(as[n-1].At), n, 6*math.Sqrt(n))
}

func TestConstantExact(t *testing.T) {
	tests := []struct {
		rate float64
		at   func(i int64) time.Duration
	}{
		{1000, func(i int64) time.Duration { return time.Duration(i) * time.Millisecond }},
		{3, func(i int64) time.Duration { return time.Duration(math.Round(float64(i) * 1e9 / 3)) }},
		{0.5, func(i int64) time.Duration { return time.Duration(i) * 2 * time.Second }},
		{MaxRate, func(i int64) time.Duration { return time.Duration(i) }},
	}
	for _, tt := range tests {
		s := Spec{Arrivals: Constant, Rate: tt.rate, Destinations: 1, Sources: 1}
		for i, a := range take(t, s, 1, 10_000) {
			if want := tt.at(int64(i)); a.At != want {
				t.Fatalf("rate %g: attempt %d at %v, want %v", tt.rate, i, a.At, want)
			}
		}
	}
	// Far into a run, times are still i/rate to the nanosecond: every 3rd
	// attempt of rate 3 falls on a whole second.
	o := newOpen(Spec{Arrivals: Constant, Rate: 3, Destinations: 1, Sources: 1}, 1)
	for _, k := range []int64{1, 1000, 1_000_000, 1_000_000_000} {
		if got, want := o.constantAt(3*k), time.Duration(k)*time.Second; got != want {
			t.Errorf("rate 3: attempt %d at %v, want %v", 3*k, got, want)
		}
	}
	if got := o.constantAt(math.MaxInt64); got != Forever {
		t.Errorf("attempt MaxInt64 at %v, want Forever (saturated)", got)
	}
}

// TestBurstWindows checks that Burst attempts fall only in on-periods,
// every on-period gets its share, and the long-run rate is MeanRate.
func TestBurstWindows(t *testing.T) {
	const on, off = 100 * time.Millisecond, 300 * time.Millisecond
	s := Spec{Arrivals: Burst, Rate: 10_000, BurstOn: on, BurstOff: off, Destinations: 1, Sources: 1}
	const n = 200_000 // 200 cycles of 1,000 expected attempts
	as := take(t, s, 2, n)
	perCycle := map[time.Duration]int{}
	for _, a := range as {
		if a.At%(on+off) >= on {
			t.Fatalf("attempt at %v falls in an off-period", a.At)
		}
		perCycle[a.At/(on+off)]++
	}
	last := as[n-1].At / (on + off)
	for k := time.Duration(0); k < last; k++ {
		// Poisson count with mean 1000: 8 sigma is about 253.
		if c := perCycle[k]; c < 1000-253 || c > 1000+253 {
			t.Errorf("on-period %d has %d attempts, want 1000 ± 253", k, c)
		}
	}
	got := float64(n) / as[n-1].At.Seconds()
	within(t, "long-run rate", got, s.MeanRate(), 6*s.MeanRate()/math.Sqrt(n))

	// With no off-period, Burst is exactly Poisson on the same stream.
	s.BurstOff = 0
	p := Spec{Rate: s.Rate, Destinations: 1, Sources: 1}
	b, q := take(t, s, 9, 1000), take(t, p, 9, 1000)
	for i := range b {
		if b[i].At != q[i].At {
			t.Fatalf("attempt %d: burst without off-period at %v, Poisson at %v", i, b[i].At, q[i].At)
		}
	}
}

// chiSquare returns Pearson's statistic of counts against probabilities
// p (summing to 1).
func chiSquare(counts []int, p []float64) float64 {
	n := 0
	for _, c := range counts {
		n += c
	}
	x := 0.0
	for i, c := range counts {
		e := float64(n) * p[i]
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

// zipfProbs returns the Zipf(s) probabilities of k destinations.
func zipfProbs(k int, s float64) []float64 {
	p := make([]float64, k)
	sum := 0.0
	for i := range p {
		p[i] = math.Pow(float64(i+1), -s)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// critical is the chi-square value exceeded with probability 1e-6.
func critical(df int) float64 { return distuv.ChiSquared{K: float64(df)}.Quantile(1 - 1e-6) }

// destCounts counts the destinations of n attempts of s.
func destCounts(t *testing.T, s Spec, n int) []int {
	t.Helper()
	w, err := s.New(4)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	counts := make([]int, s.Destinations)
	var a Arrival
	for i := range n {
		if !w.Next(&a) {
			t.Fatalf("workload ended after %d attempts: %v", i, w.Err())
		}
		counts[destIndex(a.Flow.Dst)]++
	}
	return counts
}

// TestZipf checks destination frequencies against 1/i^s with a chi-square
// test at alpha = 1e-6, and that the same counts reject a neighbouring
// exponent (so the test has the power to catch a wrong one).
func TestZipf(t *testing.T) {
	const k, n = 50, 500_000
	for _, s := range []float64{0.5, 1, 1.2} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			t.Parallel()
			spec := Spec{Rate: 1000, Destinations: k, DestOrder: Zipf, ZipfS: s, Sources: 1}
			counts := destCounts(t, spec, n)
			x, c := chiSquare(counts, zipfProbs(k, s)), critical(k-1)
			t.Logf("s=%g: chi-square %.1f, critical value %.1f (df %d, alpha 1e-6)", s, x, c, k-1)
			if x > c {
				t.Errorf("s=%g: chi-square %.1f above the critical value %.1f", s, x, c)
			}
			if x, c := chiSquare(counts, zipfProbs(k, s+0.05)), critical(k-1); x <= c {
				t.Errorf("s=%g: the counts also fit s=%g (chi-square %.1f <= %.1f)", s, s+0.05, x, c)
			}
		})
	}
}

// TestZipfLarge checks a million destinations at s = 1: all indexes in
// range and the top destination's share 1/H(K) within 6 sigma.
func TestZipfLarge(t *testing.T) {
	t.Parallel()
	const k, n = 1_000_000, 200_000
	a := newZipf(k, 1)
	src := newStream(1, streamDests)
	top := 0
	for range n {
		i := a.draw(src)
		if i >= k {
			t.Fatalf("index %d out of range", i)
		}
		if i == 0 {
			top++
		}
	}
	h := 0.0
	for i := k; i >= 1; i-- {
		h += 1 / float64(i)
	}
	p := 1 / h
	within(t, "share of destination 0", float64(top)/n, p, 6*math.Sqrt(p*(1-p)/n))
	one := newZipf(1, 1)
	for range 100 {
		if i := one.draw(src); i != 0 {
			t.Fatalf("one destination: drew %d", i)
		}
	}
}

func TestUniformDest(t *testing.T) {
	const k, n = 20, 200_000
	counts := destCounts(t, Spec{Rate: 1000, Destinations: k, Sources: 1}, n)
	p := make([]float64, k)
	for i := range p {
		p[i] = 1.0 / k
	}
	if x, c := chiSquare(counts, p), critical(k-1); x > c {
		t.Errorf("chi-square %.1f above the critical value %.1f", x, c)
	}
}

func TestRoundRobin(t *testing.T) {
	s := Spec{Arrivals: Constant, Rate: 1, Destinations: 5, DestOrder: RoundRobin, Sources: 3}
	for i, a := range take(t, s, 1, 40) {
		if got, want := a.Flow.Dst, DestAddr(i%5, false); got != want {
			t.Errorf("attempt %d to %v, want %v", i, got, want)
		}
		if got, want := a.Flow.Src, SourceAddr(i%3); got != want {
			t.Errorf("attempt %d from %v, want %v", i, got, want)
		}
		if a.Client != -1 || a.Flow.Path != allocator.Connect || a.Flow.OrigPort != 0 || a.Close != ClientClose {
			t.Errorf("attempt %d: %+v, want client -1, connect, no OrigPort, client close", i, a)
		}
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got  any
		want string
	}{
		{SourceAddr(0), "10.0.0.1"},
		{SourceAddr(254), "10.0.0.255"},
		{SourceAddr(255), "10.0.1.0"},
		{SourceAddr(65534), "10.0.255.255"},
		{SourceAddr(65535), "10.0.0.0"},
		{DestAddr(0, false), "198.18.0.1:443"},
		{DestAddr(131069, false), "198.19.255.254:443"},
		{DestAddr(131070, false), "198.18.0.1:444"},
		{DestAddr(MaxDestinations-1, false), "198.19.66.78:450"},
		{DestAddr(0, true), "127.0.0.1:443"},
		{DestAddr(MaxDestinations-1, true), "127.15.66.64:443"},
	}
	for _, tt := range tests {
		if s := tt.got.(interface{ String() string }).String(); s != tt.want {
			t.Errorf("got %s, want %s", s, tt.want)
		}
	}
	// Mapping back to its index makes every destination distinct: two
	// indexes with one destination would map back to one index.
	for i := range MaxDestinations {
		if d := DestAddr(i, false); destIndex(d) != i {
			t.Fatalf("destination %d (%v) does not map back", i, d)
		}
	}
	srcs := make(map[netip.Addr]bool, MaxSources)
	for i := range MaxSources {
		srcs[SourceAddr(i)] = true
	}
	if len(srcs) != MaxSources {
		t.Errorf("%d distinct sources, want %d", len(srcs), MaxSources)
	}
}

// TestPath checks that Bind flows have no destination but otherwise the
// same attempts as Connect, and that UDP flows keep theirs.
func TestPath(t *testing.T) {
	s := specs()["poisson"]
	conn := take(t, s, 1, 500)
	s.Path = allocator.Bind
	bind := take(t, s, 1, 500)
	s.Path = allocator.UDP
	udp := take(t, s, 1, 500)
	for i := range conn {
		want := conn[i]
		want.Flow.Path, want.Flow.Dst = allocator.Bind, netip.AddrPort{}
		if bind[i] != want {
			t.Fatalf("bind attempt %d = %+v, want %+v", i, bind[i], want)
		}
		want = conn[i]
		want.Flow.Path = allocator.UDP
		if udp[i] != want {
			t.Fatalf("udp attempt %d = %+v, want %+v", i, udp[i], want)
		}
	}
}

// TestOrigPorts checks that NAT inside ports are uniform over the
// non-reserved ports of OrigPorts.
func TestOrigPorts(t *testing.T) {
	r := allocator.Range{Lo: 1000, Hi: 1019, Reserved: []allocator.Span{{Lo: 1005, Hi: 1009}, {Lo: 1019, Hi: 2000}}}
	s := Spec{Rate: 1000, Destinations: 1, Sources: 1, OrigPorts: r}
	const n = 150_000
	counts := map[uint16]int{}
	for _, a := range take(t, s, 1, n) {
		p := a.Flow.OrigPort
		if !r.Contains(p) || r.IsReserved(p) {
			t.Fatalf("OrigPort %d outside %v", p, r)
		}
		counts[p]++
	}
	if len(counts) != r.Usable() {
		t.Fatalf("%d distinct ports drawn, want all %d usable ports", len(counts), r.Usable())
	}
	c := make([]int, 0, len(counts))
	p := make([]float64, 0, len(counts))
	for _, v := range counts {
		c = append(c, v)
		p = append(p, 1/float64(r.Usable()))
	}
	if x, crit := chiSquare(c, p), critical(len(c)-1); x > crit {
		t.Errorf("chi-square %.1f above the critical value %.1f", x, crit)
	}
}

// TestNewStream checks that the streams of one seed differ from each other
// and from those of the next seed.
func TestNewStream(t *testing.T) {
	seen := map[uint64]string{}
	for seed := uint64(0); seed < 4; seed++ {
		for purpose := uint64(streamArrivals); purpose <= streamOrigPorts; purpose++ {
			v := newStream(seed, purpose).Uint64()
			if prev, ok := seen[v]; ok {
				t.Errorf("seed %d purpose %d starts like %s", seed, purpose, prev)
			}
			seen[v] = "another stream"
		}
	}
}

// TestNextAllocs checks that Next (and Done) allocate nothing per call,
// for every synthetic process and for trace lines with IPv4 addresses.
func TestNextAllocs(t *testing.T) {
	ws := map[string]Workload{}
	for name, s := range specs() {
		w, err := s.New(1)
		if err != nil {
			t.Fatal(err)
		}
		ws[name] = w
	}
	w, err := traceSpec(string(benchTrace(10_000))).New(1)
	if err != nil {
		t.Fatal(err)
	}
	ws["trace"] = w
	for name, w := range ws {
		fb, _ := w.(Feedback)
		var a Arrival
		allocs := testing.AllocsPerRun(1000, func() {
			if !w.Next(&a) {
				t.Fatalf("%s ended: %v", name, w.Err())
			}
			if fb != nil {
				fb.Done(a, true)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %g allocations per Next", name, allocs)
		}
	}
}
