package allocator

import (
	"math/rand/v2"
	"time"
)

// The connect() allocators of older Linux kernels, each written from the
// torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect of its era.
// Their port offset is the pre-2022 u32 secure_ipv4_port_ephemeral
// (linuxSecurePortEphemeral32), with no 10 s re-salting.

// linux512Spec is Linux 5.12 to 5.17.8: RFC 6056 Algorithm 4 with a table
// of 256 counters.
func linux512Spec() Spec {
	return Spec{
		Name:    "linux-5.12",
		Summary: "Linux 5.12-5.17.8 connect(): 256-cell perturb table picked by hash_32, lo's parity then the other, cell += i + 2 (+2 extra w.p. 1/16)",
		Source:  "torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect after commits 190cc82489f4 and c579bd1b4021 (Feb 2021)",
		Profile: linuxProfile(),
		Params: []Param{
			{Name: "entropy", Default: "true", Doc: "commit c579bd1b4021 \"tcp: add some entropy in __inet_hash_connect()\" (merged with 190cc82489f4, so in 5.12): when the first candidate of a pass is taken, skip one more port with probability 1/16; false models 190cc82489f4 alone"},
		},
		Bound:      func(cfg Config) int { return linuxConnectBound(cfg.Range.Size(), false) },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			entropy, err := cfg.Bool("entropy")
			if err != nil {
				return nil, err
			}
			return newLinux512(cfg.Range, cfg.Seed, entropy), nil
		},
	}
}

// linux512TableShift is INET_TABLE_PERTURB_SHIFT in 5.12: 2^8 cells.
const linux512TableShift = 8

// linux512 is __inet_hash_connect as commit 190cc82489f4 ("tcp: change
// source port randomizarion at connect() time") left it:
//
//	index  = hash_32(port_offset, INET_TABLE_PERTURB_SHIFT);
//	offset = (table_perturb[index] + port_offset) % remaining;
//	offset &= ~1;                 // even pass, then odd pass, step 2
//	...
//	ok: if (!i && !(prandom_u32() % 16)) i = 2;   // c579bd1b4021
//	    table_perturb[index] += i + 2;
type linux512 struct {
	lo      uint16
	n       int
	entropy bool
	k0, k1  uint64
	table   [1 << linux512TableShift]uint32
	rng     *rand.Rand
}

func newLinux512(r Range, seed uint64, entropy bool) *linux512 {
	l := &linux512{lo: r.Lo, n: r.Size(), entropy: entropy, rng: newRNG(seed, streamPick)}
	l.k0, l.k1 = secretKey(seed)
	fill := newRNG(seed, streamTable)
	for i := range l.table {
		l.table[i] = fill.Uint32()
	}
	return l
}

// Cell implements Celler: hash_32 of the port offset, one of 256 cells.
// It does not change with time.
func (l *linux512) Cell(_ time.Duration, f Flow) (cell, size int) {
	po := linuxSecurePortEphemeral32(l.k0, l.k1, f.Src, f.Dst)
	return int(linuxHash32(po, linux512TableShift)), len(l.table)
}

// Allocate is the 5.12 __inet_hash_connect for a socket with no local port.
func (l *linux512) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	po := linuxSecurePortEphemeral32(l.k0, l.k1, f.Src, f.Dst)
	index := linuxHash32(po, linux512TableShift)
	remaining := linuxRemaining(l.n, true)
	offset := int((l.table[index]+po)%uint32(remaining)) &^ 1
	port, i, ok := linuxPass(c, f, l.lo, l.n, remaining, offset, 2)
	if !ok && remaining > 1 {
		port, i, ok = linuxPass(c, f, l.lo, l.n, remaining, offset+1, 2)
	}
	if !ok {
		return 0, ErrExhausted
	}
	if l.entropy && i == 0 && l.rng.Uint32N(16) == 0 {
		i = 2
	}
	l.table[index] += uint32(i + 2)
	return port, nil
}

// linux46Spec is Linux 4.6 to 5.11: RFC 6056 Algorithm 3 with one global
// hint and the parity passes.
func linux46Spec() Spec {
	// tcp_tw_reuse = 2 (take over TIME_WAIT on loopback only) is the
	// default from 4.18 (commit 79e9fed46038) to 5.11, the later part of
	// the kernels this model spans and the long-term 4.19, 5.4 and 5.10
	// among them, so the profile keeps linuxProfile's 2; 4.6 to 4.17 (the
	// long-term 4.9 and 4.14) had 0: run those with -tw-reuse 0.
	p := linuxProfile()
	return Spec{
		Name:       "linux-4.6",
		Summary:    "Linux 4.6-5.11 connect(): keyed-hash offset + one global hint, lo's parity then the other, hint += i + 2",
		Source:     "torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect after commit 1580ab63fc9a (Feb 2016)",
		Profile:    p,
		Bound:      func(cfg Config) int { return linuxConnectBound(cfg.Range.Size(), false) },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			return newLinux46(cfg.Range, cfg.Seed), nil
		},
	}
}

// linux46 is __inet_hash_connect from commit 1580ab63fc9a ("tcp/dccp:
// better use of ephemeral ports in connect()") to 5.11:
//
//	static u32 hint;
//	offset = (hint + port_offset) % remaining;
//	offset &= ~1;                 // even pass, then odd pass, step 2
//	...
//	ok: hint += i + 2;
//
// hint is global (shared by every destination and network namespace) and
// starts at 0, as a static does.
type linux46 struct {
	lo     uint16
	n      int
	k0, k1 uint64
	hint   uint32
}

func newLinux46(r Range, seed uint64) *linux46 {
	l := &linux46{lo: r.Lo, n: r.Size()}
	l.k0, l.k1 = secretKey(seed)
	return l
}

// Allocate is the 4.6-era __inet_hash_connect for a socket with no local
// port.
func (l *linux46) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	po := linuxSecurePortEphemeral32(l.k0, l.k1, f.Src, f.Dst)
	remaining := linuxRemaining(l.n, true)
	offset := int((l.hint+po)%uint32(remaining)) &^ 1
	port, i, ok := linuxPass(c, f, l.lo, l.n, remaining, offset, 2)
	if !ok && remaining > 1 {
		port, i, ok = linuxPass(c, f, l.lo, l.n, remaining, offset+1, 2)
	}
	if !ok {
		return 0, ErrExhausted
	}
	l.hint += uint32(i + 2)
	return port, nil
}

// linux41Spec is Linux up to 4.1: RFC 6056 Algorithm 3, step 1.
func linux41Spec() Spec {
	p := linuxProfile()
	p.Range = Range{Lo: 32768, Hi: 61000} // changed to 32768-60999 in 4.2, commit 07f4c90062f8
	p.TWReuse = 0
	return Spec{
		Name:       "linux-4.1",
		Summary:    "Linux <= 4.1 connect(): keyed-hash offset + one global hint, step 1 over the whole range, hint += i",
		Source:     "torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect before commit 07f4c90062f8 (May 2015)",
		Profile:    p,
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			return newLinux41(cfg.Range, cfg.Seed), nil
		},
	}
}

// linux41 is __inet_hash_connect before 4.2:
//
//	static u32 hint;
//	u32 offset = hint + port_offset;
//	remaining = (high - low) + 1;
//	for (i = 1; i <= remaining; i++) {
//		port = low + (i + offset) % remaining;
//		... try port ...
//	}
//	ok: hint += i;
//
// i + offset is u32 arithmetic, so it can wrap at 2^32 in the middle of a
// search; the scan is split there.
type linux41 struct {
	lo     uint16
	n      int
	k0, k1 uint64
	hint   uint32
}

func newLinux41(r Range, seed uint64) *linux41 {
	l := &linux41{lo: r.Lo, n: r.Size()}
	l.k0, l.k1 = secretKey(seed)
	return l
}

// Allocate is the 4.1-era __inet_hash_connect for a socket with no local
// port.
func (l *linux41) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	offset := l.hint + linuxSecurePortEphemeral32(l.k0, l.k1, f.Src, f.Dst)
	cyc := Cycle{Base: l.lo, Len: l.n, Step: 1}
	// Candidates i = 1..n are (offset+1) + (i-1) in u32; the sum wraps to
	// 0 after 2^32 - (offset+1) of them.
	start := offset + 1
	first := l.n
	if start != 0 && uint64(1)<<32-uint64(start) < uint64(l.n) {
		first = int(uint64(1)<<32 - uint64(start))
	}
	port, i, ok := Scan(c, f, cyc, int(start%uint32(l.n)), first)
	if !ok && first < l.n {
		var tried int
		port, tried, ok = Scan(c, f, cyc, 0, l.n-first)
		i = first + tried
	}
	if !ok {
		return 0, ErrExhausted
	}
	l.hint += uint32(i)
	return port, nil
}
