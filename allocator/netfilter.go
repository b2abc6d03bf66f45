package allocator

import (
	"math/rand/v2"
	"time"
)

// netfilterSpec is Linux SNAT / MASQUERADE source-port selection.
func netfilterSpec() Spec {
	return Spec{
		Name:    "netfilter",
		Summary: "Linux NAT (SNAT/MASQUERADE): keep the original port if its tuple is unique, else runs of 128/64/32/16/8 ports from random offsets (<= 248 probes), then drop",
		Source:  "torvalds/linux net/netfilter/nf_nat_core.c get_unique_tuple, nf_nat_l4proto_unique_tuple (commit a504b703bb1d)",
		Profile: Profile{
			Range:    Range{Lo: 1024, Hi: 65535}, // nf_nat_l4proto_unique_tuple, no --to-ports, original port >= 1024
			TimeWait: 120 * time.Second,          // nf_conntrack_tcp_timeout_time_wait
			Scope:    FourTuple,                  // the conntrack reply tuple
		},
		Params: []Param{
			{Name: "random", Default: "false", Doc: "the rule has --random or --random-fully (NF_NAT_RANGE_PROTO_RANDOM_ALL): never keep the original port, always search"},
		},
		Bound: func(cfg Config) int {
			random, err := cfg.Bool("random")
			if err != nil {
				random = false
			}
			return netfilterBound(cfg.Range.Size(), random)
		},
		Exhaustive: false,
		New: func(cfg Config) (Allocator, error) {
			random, err := cfg.Bool("random")
			if err != nil {
				return nil, err
			}
			return &netfilter{lo: cfg.Range.Lo, n: cfg.Range.Size(), random: random, rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// netfilterMaxAttempts is max_attempts in nf_nat_l4proto_unique_tuple: the
// first run is at most 128 ports long.
const netfilterMaxAttempts = 128

// netfilterSearchBound is the most tuples nf_nat_l4proto_unique_tuple
// tries for a range of n ports: one run of n when n <= 128, otherwise runs
// of 128, 64, 32, 16 and 8 = 248.
func netfilterSearchBound(n int) int {
	total := 0
	for attempts := min(n, netfilterMaxAttempts); ; attempts /= 2 {
		total += attempts
		if attempts >= n || attempts < 16 {
			return total
		}
	}
}

// netfilterBound is the most probes one new flow costs: the preservation
// probe of its original port (unless random), then the search. A
// one-port range never searches after the preservation probe, since
// get_unique_tuple keeps an in-range tuple when min == max.
func netfilterBound(n int, random bool) int {
	if random {
		return netfilterSearchBound(n)
	}
	if n == 1 {
		return 1
	}
	return 1 + netfilterSearchBound(n)
}

// netfilter is the source-port part of get_unique_tuple for a SNAT or
// MASQUERADE rule whose port range is Config.Range (--to-ports LO-HI,
// NF_NAT_RANGE_PROTO_SPECIFIED; MASQUERADE without --to-ports uses
// 1024-65535 for original ports >= 1024, the Profile default).
//
// First, unless the rule has --random or --random-fully, the original
// source port is kept if it is in the range and the tuple is unique
// (get_unique_tuple step 3, "only bother mapping if it's not already in
// range and unique"). With min == max the kernel keeps it without a
// lookup and a clash is dropped at conntrack confirm; that is modelled as
// one probe. Step 1, reuse of an existing mapping of the same inside
// address and port (find_appropriate_src), is not modelled: a Flow
// carries no inside address.
//
// Otherwise nf_nat_l4proto_unique_tuple searches:
//
//	off = get_random_u16();               // u16: off++ wraps at 65536
//	attempts = min(range_size, 128);
//	another_round:
//	for (i = 0; i < attempts; i++, off++)
//		try min + off % range_size;
//	if (attempts >= range_size || attempts < 16)
//		return;                           // clash: the packet is dropped
//	attempts /= 2; off = get_random_u16(); goto another_round;
//
// Since 65536 is not a multiple of range_size, a run that wraps off past
// 65535 jumps back to position 0; the scan is split there. Runs at fresh
// offsets may overlap, so a port can be probed twice.
type netfilter struct {
	lo     uint16
	n      int
	random bool
	rng    *rand.Rand
}

// Allocate chooses the external source port for a new conntrack entry;
// ErrExhausted means the packet is dropped.
func (nf *netfilter) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	hi := nf.lo + uint16(nf.n-1)
	if !nf.random && f.OrigPort >= nf.lo && f.OrigPort <= hi {
		if c.Free(f.OrigPort, f) {
			return f.OrigPort, nil
		}
		if nf.n == 1 {
			return 0, ErrExhausted
		}
	}
	cyc := Cycle{Base: nf.lo, Len: nf.n, Step: 1}
	for attempts := min(nf.n, netfilterMaxAttempts); ; attempts /= 2 {
		off := int(uint16(nf.rng.Uint32()))
		// off, off+1, ... as u16: the first 65536-off values, then 0, 1, ...
		run := min(attempts, 1<<16-off)
		if p, _, ok := Scan(c, f, cyc, off%nf.n, run); ok {
			return p, nil
		}
		if run < attempts {
			if p, _, ok := Scan(c, f, cyc, 0, attempts-run); ok {
				return p, nil
			}
		}
		if attempts >= nf.n || attempts < 16 {
			return 0, ErrExhausted
		}
	}
}
