package allocator

import (
	"math/rand/v2"
	"time"
)

// netfilterRoverSpec is Linux SNAT / MASQUERADE source-port selection
// before commit 6ed5943f8735: a search of the whole range from a
// per-protocol "rover" shared by every CPU.
func netfilterRoverSpec() Spec {
	return Spec{
		Name: "netfilter-rover",
		Summary: "Linux NAT before 2022 (SNAT/MASQUERADE): keep the original port if its tuple is unique, else scan the whole range " +
			"from a rover shared by all flows of the protocol (--random: from a keyed hash of the addresses and destination port; " +
			"--random-fully: from a random offset)",
		Source: "torvalds/linux net/netfilter/nf_nat_proto_common.c nf_nat_l4proto_unique_tuple, nf_nat_proto_tcp.c tcp_port_rover, " +
			"nf_nat_core.c get_unique_tuple, before commit 6ed5943f8735 (\"netfilter: nat: remove l4 protocol port rovers\")",
		Profile: Profile{
			Range:    Range{Lo: 1024, Hi: 65535}, // no --to-ports, original port >= 1024
			TimeWait: 120 * time.Second,          // nf_conntrack_tcp_timeout_time_wait
			Scope:    FourTuple,                  // the conntrack reply tuple
		},
		Params: []Param{
			{Name: "random", Default: "false", Doc: "the rule has --random (NF_NAT_RANGE_PROTO_RANDOM): never keep the original port; start at a keyed hash of the NAT address, destination address and port"},
			{Name: "random-fully", Default: "false", Doc: "the rule has --random-fully (NF_NAT_RANGE_PROTO_RANDOM_FULLY, Linux 3.14): never keep the original port; start at a random offset"},
		},
		Bound: func(cfg Config) int {
			n := cfg.Range.Size()
			if n == 1 {
				return 1
			}
			return 1 + n
		},
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			random, err := cfg.Bool("random")
			if err != nil {
				return nil, err
			}
			fully, err := cfg.Bool("random-fully")
			if err != nil {
				return nil, err
			}
			k0, k1 := secretKey(cfg.Seed)
			return &netfilterRover{lo: cfg.Range.Lo, n: cfg.Range.Size(), random: random, fully: fully,
				k0: k0, k1: k1, rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// netfilterRover is get_unique_tuple and nf_nat_l4proto_unique_tuple as
// they were until commit 6ed5943f8735 (Florian Westphal, 2022, also taken
// into the stable kernels from 4.9 on): the kernels behind the SNAT race
// that Kubernetes and Docker users met with MASQUERADE.
//
// Unless the rule has --random or --random-fully
// (NF_NAT_RANGE_PROTO_RANDOM_ALL), the original source port is kept when it
// is in the range and its tuple unique (with min == max without a lookup;
// modelled as one probe, as in the netfilter allocator). Otherwise:
//
//	if (range->flags & NF_NAT_RANGE_PROTO_RANDOM)
//		off = l3proto->secure_port(tuple, tuple->dst.u.all);
//	else if (range->flags & NF_NAT_RANGE_PROTO_RANDOM_FULLY)
//		off = prandom_u32();
//	else
//		off = *rover;               // static u16 tcp_port_rover, udp_port_rover
//	for (i = 0; ; ++off) {          // u16 off
//		*portptr = htons(min + off % range_size);
//		if (++i != range_size && nf_nat_used_tuple(tuple, ct))
//			continue;
//		if (!(range->flags & NF_NAT_RANGE_PROTO_RANDOM_ALL))
//			*rover = off;
//		return;
//	}
//
// The rover is one variable per protocol for the whole host, read and
// written by every CPU without a lock, and nf_nat_used_tuple sees only
// confirmed entries: two flows translated at once start from the same
// rover and take the same port, and the later insert fails
// (commit 6ed5943f8735: "its likely that both cores end up computing the
// same 'available' port"). secure_port is secure_ipv4_port_ephemeral of
// the tuple's (new) source address, destination address and port, so
// with --random every flow to one service starts at one offset too.
//
// The kernel returns the last tuple of a full scan without testing it;
// the packet is then dropped at confirm. The model tests it (one more
// probe) and returns ErrExhausted when it is taken, the same outcome.
// Step 1 of get_unique_tuple (find_appropriate_src) is left out, as in the
// netfilter allocator.
type netfilterRover struct {
	lo            uint16
	n             int
	random, fully bool
	k0, k1        uint64
	rng           *rand.Rand
	rover         [2]uint16 // tcp_port_rover, udp_port_rover
}

// Allocate chooses the external source port for a new conntrack entry.
func (nr *netfilterRover) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	randomAll := nr.random || nr.fully
	hi := nr.lo + uint16(nr.n-1)
	if !randomAll && f.OrigPort >= nr.lo && f.OrigPort <= hi {
		if c.Free(f.OrigPort, f) {
			return f.OrigPort, nil
		}
		if nr.n == 1 {
			return 0, ErrExhausted
		}
	}
	proto := 0
	if f.Path == UDP {
		proto = 1
	}
	var off uint16
	switch {
	case nr.random:
		off = uint16(linuxSecurePortEphemeral32(nr.k0, nr.k1, f.Src, f.Dst))
	case nr.fully:
		off = uint16(nr.rng.Uint32())
	default:
		off = nr.rover[proto]
	}
	// The candidates are min + off % n for off, off+1, ... as a u16: the
	// first 65536-off of them from off % n on, then from 0 (Scan walks
	// the cycle; the wrap of off is split as in the netfilter allocator).
	// The first n-1 are tested; the n-th is taken untested by the kernel.
	cyc := Cycle{Base: nr.lo, Len: nr.n, Step: 1}
	k := nr.n - 1
	run := min(k, 1<<16-int(off))
	p, i, ok := Scan(c, f, cyc, int(off)%nr.n, run)
	if !ok && run < k {
		var j int
		p, j, ok = Scan(c, f, cyc, 0, k-run)
		i += j
	}
	if ok {
		off += uint16(i - 1)
	} else {
		off += uint16(k)
		p = nr.lo + uint16(int(off)%nr.n)
		ok = c.Free(p, f)
	}
	if !randomAll {
		nr.rover[proto] = off
	}
	if !ok {
		return 0, ErrExhausted
	}
	return p, nil
}
