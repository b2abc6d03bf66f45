package allocator

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/dchest/siphash"
)

// The five ephemeral port selection algorithms of RFC 6056 §3.3, written
// from the RFC's pseudo-code and checked against NetBSD's implementation of
// all five (NetBSD/src sys/netinet/portalgo.c algo_random_start,
// algo_random_pick, algo_hash, algo_doublehash, algo_randinc).
//
// Every algorithm makes at most N = Hi-Lo+1 attempts, each one probe; the
// RFC's check_suitable_port() is the Checker. Where NetBSD departs from the
// RFC (it redraws the hash secret on every call, which turns Algorithms 3
// and 4 into random-offset schemes) these models follow the RFC: the keys
// are fixed for the life of the allocator, since the RFC (§3.4) has them
// change rarely, e.g. at boot.
//
// The keyed function F (and G for Algorithm 4) is SipHash-2-4 under a
// 128-bit key drawn from the seed, over the 34-byte message
// local IP (16 bytes, IPv4 as IPv4-mapped IPv6) || remote IP (16 bytes) ||
// remote port (2 bytes, big endian). The RFC asks for a keyed hash such as
// MD5 of exactly these three fields; SipHash is the keyed PRF Linux uses for
// the same purpose (net/core/secure_seq.c secure_ipv4_port_ephemeral), and
// a 64-bit output is plenty for a 16-bit port. A bind(0) flow has no remote
// endpoint; its remote fields hash as zeros.

// rfc6056Profile is the profile of the RFC algorithms: the whole range the
// RFC recommends (§3.2: 1024-65535), a Linux-like 60 s TIME_WAIT, and
// 4-tuple sharing, since check_suitable_port() tests that the resulting
// five-tuple is unique rather than that the port is unused.
func rfc6056Profile() Profile {
	return Profile{
		Range:    Range{Lo: 1024, Hi: 65535},
		TimeWait: twLinux,
		Scope:    FourTuple,
	}
}

// rfcTupleLen is the length of the message F and G hash.
const rfcTupleLen = 34

// rfcPutTuple writes (local IP, remote IP, remote port) into b, which has
// at least rfcTupleLen bytes.
func rfcPutTuple(b []byte, f Flow) {
	s := f.Src.As16()
	d := f.Dst.Addr().As16()
	copy(b[0:16], s[:])
	copy(b[16:32], d[:])
	binary.BigEndian.PutUint16(b[32:34], f.Dst.Port())
}

// rfcKeys derives four 64-bit key words from the seed's secret stream:
// words 2i and 2i+1 form the SipHash key of the i-th keyed function.
func rfcKeys(seed uint64) (k [4]uint64) {
	r := newRNG(seed, streamSecret)
	for i := range k {
		k[i] = r.Uint64()
	}
	return k
}

// rfc6056Alg1Spec is RFC 6056 §3.3.1, Algorithm 1, "Simple Port
// Randomization": a random start, then a linear search.
func rfc6056Alg1Spec() Spec {
	return Spec{
		Name:       "rfc6056-1",
		Summary:    "random start, then linear search with wrap-around; no state between calls",
		Source:     "RFC 6056 §3.3.1 (Algorithm 1); NetBSD sys/netinet/portalgo.c algo_random_start",
		Profile:    rfc6056Profile(),
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			n := cfg.Range.Size()
			return &rfcAlg1{cyc: Cycle{Base: cfg.Range.Lo, Len: n, Step: 1}, rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// rfcAlg1 is Algorithm 1:
//
//	next_ephemeral = min_ephemeral + (random() % num_ephemeral)
//	count = num_ephemeral
//	do { if suitable(next_ephemeral) return it; next_ephemeral++ (wrapping); count-- } while count > 0
type rfcAlg1 struct {
	cyc Cycle
	rng *rand.Rand
}

// Allocate draws a start uniformly over the range and scans up from it.
func (a *rfcAlg1) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	p, _, ok := Scan(c, f, a.cyc, a.rng.IntN(a.cyc.Len), a.cyc.Len)
	if !ok {
		return 0, ErrExhausted
	}
	return p, nil
}

// rfc6056Alg2Spec is RFC 6056 §3.3.2, Algorithm 2, "Another Simple Port
// Randomization": a fresh random pick on every try, N tries.
func rfc6056Alg2Spec() Spec {
	return Spec{
		Name:    "rfc6056-2",
		Summary: "a fresh uniform random pick on every try, at most N tries; may fail while ports are free",
		Source:  "RFC 6056 §3.3.2 (Algorithm 2); NetBSD sys/netinet/portalgo.c algo_random_pick",
		Profile: rfc6056Profile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		// Picks repeat and miss ports, so a free port can go unseen.
		Exhaustive: false,
		New: func(cfg Config) (Allocator, error) {
			return &rfcAlg2{lo: cfg.Range.Lo, n: cfg.Range.Size(), rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// rfcAlg2 is Algorithm 2:
//
//	next_ephemeral = min_ephemeral + (random() % num_ephemeral)
//	count = num_ephemeral
//	do { if suitable(next_ephemeral) return it; next_ephemeral = min_ephemeral + (random() % num_ephemeral); count-- } while count > 0
type rfcAlg2 struct {
	lo  uint16
	n   int
	rng *rand.Rand
}

// Allocate asks the Checker about N independent uniform picks and returns
// the first free one.
func (a *rfcAlg2) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	for range a.n {
		p := a.lo + uint16(a.rng.IntN(a.n))
		if c.Free(p, f) {
			return p, nil
		}
	}
	return 0, ErrExhausted
}

// rfc6056Alg3Spec is RFC 6056 §3.3.3, Algorithm 3, "Simple Hash-Based Port
// Selection": a keyed-hash offset per (local IP, remote IP, remote port)
// plus one global counter.
func rfc6056Alg3Spec() Spec {
	return Spec{
		Name:       "rfc6056-3",
		Summary:    "keyed-hash (SipHash) offset per destination plus one global counter stepped on every try",
		Source:     "RFC 6056 §3.3.3 (Algorithm 3); NetBSD sys/netinet/portalgo.c algo_hash",
		Profile:    rfc6056Profile(),
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			k := rfcKeys(cfg.Seed)
			return &rfcAlg3{cyc: Cycle{Base: cfg.Range.Lo, Len: cfg.Range.Size(), Step: 1}, k0: k[0], k1: k[1]}, nil
		},
	}
}

// rfcAlg3 is Algorithm 3:
//
//	offset = F(local_IP, remote_IP, remote_port, secret_key)
//	count = num_ephemeral
//	do { port = min_ephemeral + (next_ephemeral + offset) % num_ephemeral; next_ephemeral++; if suitable(port) return port; count-- } while count > 0
//
// next_ephemeral is global and starts at 0. The RFC gives its
// arithmetic no width; the model keeps it exact (next is held modulo N),
// so a search always covers N consecutive ports.
type rfcAlg3 struct {
	cyc    Cycle
	next   int // next_ephemeral modulo N
	k0, k1 uint64
	buf    [rfcTupleLen]byte
}

// Allocate scans N consecutive ports from the destination's offset plus the
// global counter, and advances the counter by the number of tries.
func (a *rfcAlg3) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	rfcPutTuple(a.buf[:], f)
	off := int(siphash.Hash(a.k0, a.k1, a.buf[:]) % uint64(a.cyc.Len))
	p, tried, ok := Scan(c, f, a.cyc, (a.next+off)%a.cyc.Len, a.cyc.Len)
	a.next = (a.next + tried) % a.cyc.Len
	if !ok {
		return 0, ErrExhausted
	}
	return p, nil
}

// rfc6056Alg4Spec is RFC 6056 §3.3.4, Algorithm 4, "Double-Hash Port
// Selection": a keyed-hash offset plus a table of counters, one of which a
// second keyed hash selects.
func rfc6056Alg4Spec() Spec {
	return Spec{
		Name:    "rfc6056-4",
		Summary: "keyed-hash (SipHash) offset plus one of `table` 16-bit counters chosen by a second keyed hash",
		Source:  "RFC 6056 §3.3.4 (Algorithm 4); NetBSD sys/netinet/portalgo.c algo_doublehash",
		Profile: rfc6056Profile(),
		Params: []Param{
			{Name: "table", Default: "10", Doc: "TABLE_LENGTH, the number of counters (cells), 1..1048576; the RFC suggests 10"},
		},
		Bound: func(cfg Config) int { return cfg.Range.Size() },
		// The counters are short (16-bit) integers, as in the RFC: when a
		// search crosses a counter's wrap from 65535 to 0, and 65536 is
		// not a multiple of N, the positions jump, so some ports are tried
		// twice and others not at all (the flaw Linux's comment above
		// table_perturb in net/ipv4/inet_hashtables.c points out).
		Exhaustive: false,
		New: func(cfg Config) (Allocator, error) {
			size, err := cfg.Int("table", 1, 1<<20)
			if err != nil {
				return nil, err
			}
			k := rfcKeys(cfg.Seed)
			a := &rfcAlg4{lo: cfg.Range.Lo, n: uint64(cfg.Range.Size()), table: make([]uint16, size),
				fk0: k[0], fk1: k[1], gk0: k[2], gk1: k[3]}
			r := newRNG(cfg.Seed, streamTable)
			for i := range a.table {
				a.table[i] = uint16(r.Uint32()) // random() % 65536
			}
			return a, nil
		},
	}
}

// rfcAlg4 is Algorithm 4:
//
//	for i in 0..TABLE_LENGTH-1: table[i] = random() % 65536      (at boot)
//	offset = F(local_IP, remote_IP, remote_port, secret_key1)
//	index  = G(local_IP, remote_IP, remote_port, secret_key2)
//	count = num_ephemeral
//	do { port = min_ephemeral + (offset + table[index]) % num_ephemeral; table[index]++; if suitable(port) return port; count-- } while count > 0
//
// F's result is taken as a 32-bit offset; G's 64-bit result is reduced
// modulo TABLE_LENGTH. The sum offset + table[index] is exact.
type rfcAlg4 struct {
	lo       uint16
	n        uint64
	table    []uint16
	fk0, fk1 uint64
	gk0, gk1 uint64
	buf      [rfcTupleLen]byte
}

// cell returns G's table index for f, leaving f's tuple in a.buf.
func (a *rfcAlg4) cell(f Flow) int {
	rfcPutTuple(a.buf[:], f)
	return int(siphash.Hash(a.gk0, a.gk1, a.buf[:]) % uint64(len(a.table)))
}

// Cell reports the table cell f uses and the table size.
func (a *rfcAlg4) Cell(_ time.Duration, f Flow) (cell, size int) {
	return a.cell(f), len(a.table)
}

// Allocate tries offset + table[index] and steps the cell on every try.
func (a *rfcAlg4) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	idx := a.cell(f)
	off := uint64(uint32(siphash.Hash(a.fk0, a.fk1, a.buf[:])))
	// The candidates are consecutive until the 16-bit counter wraps; scan
	// up to the wrap in one run, then continue from the wrapped value.
	left := int(a.n)
	for left > 0 {
		t := a.table[idx]
		run := min(left, 65536-int(t))
		cyc := Cycle{Base: a.lo, Len: int(a.n), Step: 1}
		p, tried, ok := Scan(c, f, cyc, int((off+uint64(t))%a.n), run)
		a.table[idx] = t + uint16(tried) // wraps at 65536
		if ok {
			return p, nil
		}
		left -= tried
	}
	return 0, ErrExhausted
}

// rfc6056Alg5Spec is RFC 6056 §3.3.5, Algorithm 5, "Random-Increments Port
// Selection".
func rfc6056Alg5Spec() Spec {
	return Spec{
		Name:    "rfc6056-5",
		Summary: "one global counter advanced by a random increment 1..n on every try (mean step about n/2)",
		Source:  "RFC 6056 §3.3.5 (Algorithm 5); NetBSD sys/netinet/portalgo.c algo_randinc",
		Profile: rfc6056Profile(),
		Params: []Param{
			{Name: "n", Default: "500", Doc: "N, the largest increment: each try adds 1 + random() % n to the counter, 1..65536; the RFC and NetBSD use 500"},
		},
		Bound: func(cfg Config) int { return cfg.Range.Size() },
		// Random increments revisit some ports and jump over others.
		Exhaustive: false,
		New: func(cfg Config) (Allocator, error) {
			inc, err := cfg.Int("n", 1, 1<<16)
			if err != nil {
				return nil, err
			}
			rng := newRNG(cfg.Seed, streamPick)
			n := cfg.Range.Size()
			return &rfcAlg5{lo: cfg.Range.Lo, n: n, inc: inc, next: uint16(rng.IntN(65536)), rng: rng}, nil
		},
	}
}

// rfcAlg5 is Algorithm 5:
//
//	next_ephemeral = random() % 65536        (at boot)
//	count = num_ephemeral
//	do { next_ephemeral = next_ephemeral + (random() % N) + 1; port = min_ephemeral + (next_ephemeral % num_ephemeral); if suitable(port) return port; count-- } while count > 0
//
// The counter is 16 bits wide: the RFC initialises it to random() % 65536,
// and NetBSD's algo_randinc keeps it in a uint16_t (portalgo_next_ephemeral,
// sys/netinet/portalgo.c). When num_ephemeral does not divide 65536, the
// step at which the counter wraps past 65535 moves the port by
// (step - 65536) mod num_ephemeral instead of the step itself.
type rfcAlg5 struct {
	lo   uint16
	n    int    // num_ephemeral
	inc  int    // the RFC's N
	next uint16 // next_ephemeral
	rng  *rand.Rand
}

// Allocate steps the counter by a random increment before each try.
func (a *rfcAlg5) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	for range a.n {
		a.next += uint16(a.rng.IntN(a.inc) + 1)
		p := a.lo + uint16(int(a.next)%a.n)
		if c.Free(p, f) {
			return p, nil
		}
	}
	return 0, ErrExhausted
}
