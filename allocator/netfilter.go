package allocator

import (
	"math/rand/v2"
	"time"
)

// netfilterSpec is Linux SNAT / MASQUERADE source-port selection since
// Linux 6.5, which may evict a closing TCP entry on the last attempts of
// each round.
func netfilterSpec() Spec {
	return newNetfilterSpec("netfilter",
		"Linux NAT since 6.5 (SNAT/MASQUERADE): keep the original port if its tuple is unique, else runs of 128/64/32/16/8 ports "+
			"from random offsets (<= 248 probes), the last 32 of each run (120 in all) evicting a TCP entry in TIME_WAIT; then drop",
		"torvalds/linux net/netfilter/nf_nat_core.c get_unique_tuple, nf_nat_l4proto_unique_tuple (commit a504b703bb1d), "+
			"nf_nat_used_tuple_harder (commit 458972550287, Linux 6.5)",
		true)
}

// netfilter64Spec is the same before Linux 6.5: no eviction.
func netfilter64Spec() Spec {
	return newNetfilterSpec("netfilter-6.4",
		"Linux NAT 5.19 to 6.4 (SNAT/MASQUERADE): keep the original port if its tuple is unique, else runs of 128/64/32/16/8 ports "+
			"from random offsets (<= 248 probes), then drop; never evicts",
		"torvalds/linux net/netfilter/nf_nat_core.c get_unique_tuple, nf_nat_l4proto_unique_tuple (commit a504b703bb1d, before commit 458972550287)",
		false)
}

func newNetfilterSpec(name, summary, source string, evict bool) Spec {
	return Spec{
		Name:    name,
		Summary: summary,
		Source:  source,
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
			return &netfilter{lo: cfg.Range.Lo, n: cfg.Range.Size(), random: random, evict: evict, rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// netfilterMaxAttempts is max_attempts in nf_nat_l4proto_unique_tuple: the
// first run is at most 128 ports long.
const netfilterMaxAttempts = 128

// netfilterHarderThresh is NF_NAT_HARDER_THRESH (NF_NAT_MAX_ATTEMPTS / 4):
// a try with at most this many attempts left in its round may evict.
const netfilterHarderThresh = netfilterMaxAttempts / 4

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
//
// Since Linux 6.5 (commit 458972550287,
// "netfilter: snat: evict closing tcp entries on reply tuple collision")
// each try asks nf_nat_used_tuple_harder(tuple, ct, attempts - i). With
// more than NF_NAT_HARDER_THRESH = 32 attempts left in the round, or for
// anything but a TCP SYN (a Flow whose Path is not Connect), it is the old
// lookup. On the last 32 tries of each round (all of a round of 32, 16 or
// 8: 120 of the 248) a tuple taken by an entry that nf_nat_may_kill
// accepts — TCP state TIME_WAIT or later, IPS_SRC_NAT set, neither dying
// nor with a fixed timeout — whose sequence number the new SYN has passed
// (nf_seq_has_advanced) is killed (nf_ct_kill) and the tuple used. The
// model asks an allocator.Evicter Checker FreeOrEvict there, which takes
// over a 4-tuple held only in TIME_WAIT: every entry in the simulated NAT
// is one of this rule's SNAT mappings, none is offloaded, and a new
// connection's initial sequence number, drawn from a clock that advances
// 2^32 in about 275 s (secure_tcp_seq), is taken to have passed the old
// connection's last one. With another Checker the tries ask Free.
type netfilter struct {
	lo     uint16
	n      int
	random bool
	evict  bool // since 6.5: the last tries of a round may evict
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
	var ev Evicter
	if nf.evict && f.Path == Connect {
		ev, _ = c.(Evicter)
	}
	for attempts := min(nf.n, netfilterMaxAttempts); ; attempts /= 2 {
		off := int(uint16(nf.rng.Uint32()))
		plain := attempts
		if ev != nil {
			plain = max(0, attempts-netfilterHarderThresh)
		}
		if p, ok := nf.scan(c, f, off, plain); ok {
			return p, nil
		}
		for i := plain; i < attempts; i++ {
			p := nf.lo + uint16(int(uint16(off+i))%nf.n)
			if ev.FreeOrEvict(p, f) {
				return p, nil
			}
		}
		if attempts >= nf.n || attempts < 16 {
			return 0, ErrExhausted
		}
	}
}

// scan tries the first k tuples of a round from the u16 offset off: off,
// off+1, ... as u16, so the first 65536-off values, then 0, 1, ...
func (nf *netfilter) scan(c Checker, f Flow, off, k int) (uint16, bool) {
	cyc := Cycle{Base: nf.lo, Len: nf.n, Step: 1}
	run := min(k, 1<<16-off)
	if p, _, ok := Scan(c, f, cyc, off%nf.n, run); ok {
		return p, true
	}
	if run < k {
		if p, _, ok := Scan(c, f, cyc, 0, k-run); ok {
			return p, true
		}
	}
	return 0, false
}
