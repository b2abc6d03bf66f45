package workload

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/portsim/portsim/allocator"
)

// The purposes of the random streams of one workload. Each purpose has its
// own PCG stream, so that, for one seed, changing how one quantity is drawn
// (the hold distribution, say) leaves every other quantity unchanged.
const (
	streamArrivals  = 1 // gaps between attempts of Poisson and Burst
	streamHolds     = 2 // hold times
	streamDests     = 3 // destination choice (Uniform, Zipf)
	streamThink     = 4 // closed-loop think times
	streamOrigPorts = 5 // inside-host source ports (OrigPorts)
)

// newStream returns the PCG stream for one purpose of the workload with
// the given seed. Its two state words are the seed and the purpose mixed
// by the SplitMix64 finaliser, so that nearby seeds and purposes give
// unrelated streams. Results depend on this derivation: changing it
// changes every workload.
func newStream(seed, purpose uint64) *rand.PCG {
	hi := mix64(seed + purpose*0x9e3779b97f4a7c15)
	lo := mix64(hi ^ (purpose << 32) ^ 0x6a09e667f3bcc909)
	return rand.NewPCG(hi, lo)
}

// mix64 is the SplitMix64 finaliser, a bijection on uint64.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// uintN returns a uniform integer in [0, n) from p (Lemire's method, exact).
func uintN(p *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(p.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(p.Uint64(), n)
		}
	}
	return hi
}

// DestPort is the destination port of synthetic destinations (HTTPS),
// before any overflow described at DestAddr.
const DestPort = 443

// Address blocks of synthetic flows.
const (
	// hostsBenchmark is the number of addresses used in 198.18.0.0/15
	// (RFC 2544 benchmarking), without the first and the last.
	hostsBenchmark = 1<<17 - 2
	// hostsLoopback is the number of addresses used in 127.0.0.0/8,
	// without the first and the last.
	hostsLoopback = 1<<24 - 2
)

// SourceAddr returns source address i (from 0): 10.0.0.0 plus
// (i+1) mod 65536, so 10.0.0.1, 10.0.0.2, ..., 10.0.255.255 and, for
// i = 65535, 10.0.0.0. i must be in 0..MaxSources-1; other values wrap.
func SourceAddr(i int) netip.Addr {
	h := uint16(i + 1)
	return netip.AddrFrom4([4]byte{10, 0, byte(h >> 8), byte(h)})
}

// DestAddr returns destination i (from 0) at port DestPort. With loopback
// the addresses are 127.0.0.1, 127.0.0.2, ...; otherwise they are
// 198.18.0.1, 198.18.0.2, ... up to 198.19.255.254 (131,070 addresses of
// the benchmarking block 198.18.0.0/15), after which the addresses repeat
// with the port one higher: destination 131070 is 198.18.0.1 port 444.
// i must be in 0..MaxDestinations-1.
func DestAddr(i int, loopback bool) netip.AddrPort {
	u := uint32(i)
	if loopback {
		a := 0x7f000001 + u%hostsLoopback
		return netip.AddrPortFrom(addr4(a), DestPort+uint16(u/hostsLoopback))
	}
	a := 0xc6120001 + u%hostsBenchmark
	return netip.AddrPortFrom(addr4(a), DestPort+uint16(u/hostsBenchmark))
}

func addr4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// flows builds the flow, hold and close of each synthetic attempt.
type flows struct {
	path     allocator.Path
	close    Close
	loopback bool
	nsrc     int // number of sources
	src      int // source of the next attempt
	ndst     uint64
	order    DestOrder
	rr       uint64    // destination of the next RoundRobin attempt
	dst      *rand.PCG // destination stream
	zipf     alias
	hold     sampler
	orig     origin
}

func newFlows(s Spec, seed uint64) flows {
	f := flows{
		path:     s.Path,
		close:    s.Close,
		loopback: s.Loopback,
		nsrc:     s.Sources,
		ndst:     uint64(s.Destinations),
		order:    s.DestOrder,
		dst:      newStream(seed, streamDests),
		hold:     newSampler(s.Hold, newStream(seed, streamHolds)),
		orig:     newOrigin(s.OrigPorts, seed),
	}
	if s.DestOrder == Zipf {
		f.zipf = newZipf(s.Destinations, s.ZipfS)
	}
	return f
}

// fill sets *a to the attempt at time at.
func (f *flows) fill(a *Arrival, at time.Duration) {
	a.At, a.Hold, a.Close, a.Client = at, f.hold.draw(), f.close, -1
	a.Flow.Path = f.path
	a.Flow.Src = SourceAddr(f.src)
	if f.src++; f.src == f.nsrc {
		f.src = 0
	}
	d := f.dest()
	a.Flow.Dst = netip.AddrPort{}
	if f.path != allocator.Bind {
		a.Flow.Dst = DestAddr(int(d), f.loopback)
	}
	a.Flow.OrigPort = f.orig.draw()
}

// dest returns the index of the next destination.
func (f *flows) dest() uint64 {
	switch f.order {
	case RoundRobin:
		d := f.rr
		if f.rr++; f.rr == f.ndst {
			f.rr = 0
		}
		return d
	case Zipf:
		return f.zipf.draw(f.dst)
	}
	if f.ndst == 1 {
		return 0
	}
	return uintN(f.dst, f.ndst)
}

// origin draws inside-host source ports for NAT flows.
type origin struct {
	src    *rand.PCG // nil: no OrigPorts
	lo     uint16
	size   uint64
	usable []uint16 // the non-reserved ports when some are reserved
}

func newOrigin(r allocator.Range, seed uint64) origin {
	if isZeroRange(r) {
		return origin{}
	}
	o := origin{src: newStream(seed, streamOrigPorts), lo: r.Lo, size: uint64(r.Size())}
	if len(r.Reserved) > 0 {
		o.usable = make([]uint16, 0, r.Usable())
		for p := int(r.Lo); p <= int(r.Hi); p++ {
			if !r.IsReserved(uint16(p)) {
				o.usable = append(o.usable, uint16(p))
			}
		}
		o.size = uint64(len(o.usable))
	}
	return o
}

func (o *origin) draw() uint16 {
	if o.src == nil {
		return 0
	}
	i := uintN(o.src, o.size)
	if o.usable != nil {
		return o.usable[i]
	}
	return o.lo + uint16(i)
}

// alias draws destination indexes 0..K-1 with probability proportional to
// 1/(i+1)^s by Walker's alias method (Vose's construction): one 64-bit
// draw picks a column with its high product bits and decides between the
// column and its alias with the low ones, in constant time.
type alias struct {
	n    uint64
	cols []column
}

// column is one column of an alias table, in one cache line.
type column struct {
	thresh uint64 // keep the column when the low bits are below it
	other  uint32 // the column's alias
}

func newZipf(k int, s float64) alias {
	w := make([]float64, k)
	sum := 0.0
	// Add the smallest weights first, for accuracy.
	for i := k - 1; i >= 0; i-- {
		w[i] = math.Pow(float64(i+1), -s)
		sum += w[i]
	}
	for i := range w {
		w[i] *= float64(k) / sum
	}
	a := alias{n: uint64(k), cols: make([]column, k)}
	small := make([]uint32, 0, k)
	large := make([]uint32, 0, k)
	for i, x := range w {
		if x < 1 {
			small = append(small, uint32(i))
		} else {
			large = append(large, uint32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l, g := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.cols[l] = column{thresh: fraction64(w[l]), other: g}
		w[g] -= 1 - w[l]
		if w[g] < 1 {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	// What is left has weight 1 up to rounding: always keep the column.
	for _, i := range large {
		a.cols[i] = column{thresh: math.MaxUint64, other: i}
	}
	for _, i := range small {
		a.cols[i] = column{thresh: math.MaxUint64, other: i}
	}
	return a
}

// fraction64 returns p·2^64 for p in [0, 1), saturating near 1.
func fraction64(p float64) uint64 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return math.MaxUint64
	}
	return uint64(p * (1 << 64))
}

func (a *alias) draw(p *rand.PCG) uint64 {
	i, frac := bits.Mul64(p.Uint64(), a.n)
	c := &a.cols[i]
	if frac < c.thresh {
		return i
	}
	return uint64(c.other)
}

// open generates Poisson, Constant and Burst arrivals.
type open struct {
	kind Arrivals
	f    flows

	// Poisson and Burst: exponential gaps in nanoseconds, and the time of
	// the last attempt (for Burst, counted in on-time only) as whole
	// nanoseconds plus a fraction carried to the next gap, so that
	// rounding does not accumulate.
	gaps distuv.Exponential
	at   time.Duration
	frac float64
	// Burst: on-period length and on+off.
	on, cycle time.Duration

	// Constant: the index of the next attempt, and the period when it is
	// a whole number of nanoseconds (else 0, and times come from rate).
	i      int64
	period time.Duration
	rate   float64
}

func newOpen(s Spec, seed uint64) *open {
	o := &open{kind: s.Arrivals, f: newFlows(s, seed), rate: s.Rate}
	switch s.Arrivals {
	case Constant:
		p := 1e9 / s.Rate
		if p == math.Trunc(p) && p < float64(MaxSample) {
			o.period = time.Duration(p)
		}
	case Poisson, Burst:
		o.gaps = distuv.Exponential{Rate: s.Rate / 1e9, Src: newStream(seed, streamArrivals)}
		o.on, o.cycle = s.BurstOn, s.BurstOn+s.BurstOff
	}
	return o
}

// Next sets *a to the next attempt; an open process never ends.
func (o *open) Next(a *Arrival) bool {
	var at time.Duration
	switch o.kind {
	case Constant:
		at = o.constantAt(o.i)
		o.i++
	case Poisson:
		at = o.gap()
	default:
		at = o.burstAt(o.gap())
	}
	o.f.fill(a, at)
	return true
}

// Err returns nil: generators do not fail.
func (o *open) Err() error { return nil }

// gap advances o.at by one exponential gap and returns it.
func (o *open) gap() time.Duration {
	g := o.gaps.Rand() + o.frac
	if !(g < float64(math.MaxInt64)) {
		o.at = Forever
		return o.at
	}
	whole := math.Floor(g)
	o.frac = g - whole
	o.at = satAdd(o.at, time.Duration(whole))
	return o.at
}

// constantAt returns the time of attempt i of a Constant process, i/rate.
func (o *open) constantAt(i int64) time.Duration {
	if o.period > 0 {
		if i > int64(Forever/o.period) {
			return Forever
		}
		return time.Duration(i) * o.period
	}
	ns := math.Round(float64(i) * 1e9 / o.rate)
	if !(ns < float64(math.MaxInt64)) {
		return Forever
	}
	return time.Duration(ns)
}

// burstAt maps on-time u (time counted only during on-periods) to virtual
// time: the k-th on-period starts at k·(on+off).
func (o *open) burstAt(u time.Duration) time.Duration {
	if o.cycle == o.on || u == Forever {
		return u
	}
	k := u / o.on
	if k > (Forever-o.on)/o.cycle {
		return Forever
	}
	return k*o.cycle + u%o.on
}

// satAdd returns a+b for non-negative a and b, or Forever if it overflows.
func satAdd(a, b time.Duration) time.Duration {
	if a > Forever-b {
		return Forever
	}
	return a + b
}
