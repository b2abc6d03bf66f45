package allocator

import (
	"math/rand/v2"
	"time"
)

// bsdTCP and bsdUDP index the per-protocol state of the BSD models: each
// protocol has its own PCB table (struct inpcbinfo), and with it its own
// last-port counter.
const (
	bsdTCP = 0
	bsdUDP = 1
)

// bsdProto returns which PCB table a flow's port comes from.
func bsdProto(f Flow) int {
	if f.Path == UDP {
		return bsdUDP
	}
	return bsdTCP
}

// freebsdSpec models FreeBSD 14: every allocation starts at a random point
// and searches up; connect() shares ports across destinations.
func freebsdSpec() Spec {
	return Spec{
		Name:    "freebsd",
		Summary: "FreeBSD 14: random start on every allocation, then +1 with wrap; connect() shares ports across destinations",
		Source:  "freebsd/freebsd-src sys/netinet/in_pcb.c in_pcb_lport_dest (net.inet.ip.portrange.randomized=1)",
		Profile: Profile{
			Range:    Range{Lo: 10000, Hi: 65535}, // IPPORT_EPHEMERALFIRST..IPPORT_EPHEMERALLAST
			TimeWait: twBSD,                       // 2 x net.inet.tcp.msl (30 s)
			Scope:    FourTuple,                   // connect() looks up the full 4-tuple
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			return newBSDPick(cfg, bsdArc4Mod), nil
		},
	}
}

// freebsd13Spec models FreeBSD 13, whose random start is turned off for
// TCP while allocations come faster than randomcps a second.
func freebsd13Spec() Spec {
	return freebsdThrottledSpec("freebsd-13",
		"FreeBSD 13: as freebsd, but TCP turns sequential (+1 from the last port) after more than "+
			"randomcps allocations in a second, until randomtime quiet seconds pass; UDP stays random",
		"freebsd/freebsd-src sys/netinet/in_pcb.c in_pcb_lport_dest and ipport_tick (stable/13)",
		FourTuple)
}

// freebsd12Spec models FreeBSD 12 and earlier: as FreeBSD 13, but every
// port is held exclusively, since in_pcb_lport looks up only the local
// address and port.
func freebsd12Spec() Spec {
	return freebsdThrottledSpec("freebsd-12",
		"FreeBSD 12 and earlier: as freebsd-13 (random start, TCP sequential above randomcps a second), "+
			"but a port in use towards any destination is skipped: ports held exclusively",
		"freebsd/freebsd-src sys/netinet/in_pcb.c in_pcb_lport (in_pcblookup_local on the local address and port) and ipport_tick (stable/12)",
		Exclusive)
}

// freebsdThrottledSpec is the spec of a FreeBSD with ipport_tick's
// throttle of random allocation, before it was removed in FreeBSD 14.
func freebsdThrottledSpec(name, summary, source string, scope Scope) Spec {
	return Spec{
		Name:    name,
		Summary: summary,
		Source:  source,
		Profile: Profile{
			Range:    Range{Lo: 10000, Hi: 65535},
			TimeWait: twBSD,
			Scope:    scope,
		},
		Params: []Param{
			{Name: "randomcps", Default: "10", Doc: "net.inet.ip.portrange.randomcps: a second with more allocations than this (TCP and UDP counted) stops random TCP allocation, 0..1000000"},
			{Name: "randomtime", Default: "45", Doc: "net.inet.ip.portrange.randomtime: quiet seconds (at most randomcps allocations each) before random TCP allocation resumes, 0..1000000"},
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			cps, err := cfg.Int("randomcps", 0, 1_000_000)
			if err != nil {
				return nil, err
			}
			rt, err := cfg.Int("randomtime", 0, 1_000_000)
			if err != nil {
				return nil, err
			}
			a := newBSDPick(cfg, bsdArc4Mod)
			a.throttle = true
			a.randomcps, a.randomtime = cps, rt
			// The callout runs once a second from boot; its phase relative
			// to the start of the run is unknown, so it comes from the seed.
			a.nextTick = time.Duration(newRNG(cfg.Seed, streamClock).Int64N(int64(time.Second)))
			return a, nil
		},
	}
}

// openbsdSpec models OpenBSD: a random start on every allocation, a linear
// search, ports never shared.
func openbsdSpec() Spec {
	return Spec{
		Name:    "openbsd",
		Summary: "OpenBSD: random start on every allocation, then +1 with wrap; ports held exclusively",
		Source:  "openbsd/src sys/netinet/in_pcb.c in_pcbpickport",
		Profile: Profile{
			// net.inet.ip.portfirst..portlast, less the default TCP
			// baddynamic ports inside it (openbsdBadDynamic).
			Range:    Range{Lo: 1024, Hi: 49151, Reserved: openbsdBadDynamic()},
			TimeWait: twBSD,     // 2 x TCPTV_MSL (30 s)
			Scope:    Exclusive, // in_pcblookup_local: local port test
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			return newBSDPick(cfg, bsdArc4Uniform), nil
		},
	}
}

// openbsdBadDynamic returns the ports of OpenBSD's default TCP
// baddynamic list (DEFBADDYNAMICPORTS_TCP in sys/netinet/in_pcb.h, set by
// ip_init; net.inet.tcp.baddynamic) inside the default range 1024-49151:
// 2049 (NFS) and 6000-6010 (X11). in_pcbpickport never hands them out.
// The list also holds 587, 749-751, 853 and 871, below the range. The UDP
// list differs (623, 664, 749-751, 2049, 3784, 3785 and 7784); a Profile
// has one reserved list, so UDP runs with the TCP one: 3784, 3785 and 7784
// stay available to UDP autobind in the model, and 6000-6010 are refused.
//
// The kernel skips a baddynamic candidate before looking it up
// (in_baddynamic, in the inner loop of in_pcbpickport) while counting it
// against the search bound; the model refuses it through the Checker,
// which counts one probe, as for every reserved port (see the sim package
// documentation).
func openbsdBadDynamic() []Span {
	return []Span{{Lo: 2049, Hi: 2049}, {Lo: 6000, Hi: 6010}}
}

// netbsdSpec models NetBSD's default algorithm, "bsd": a counter per
// protocol that counts down from the top of the range.
func netbsdSpec() Spec {
	return Spec{
		Name:    "netbsd",
		Summary: "NetBSD default (bsd): one counter per protocol counting down from the top of the range (65535, 65534, ...); exclusive",
		Source:  "NetBSD/src sys/netinet/portalgo.c algo_bsd (inet4_portalgo = PORTALGO_BSD)",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535}, // anonportmin..anonportmax
			TimeWait: twBSD,                       // 2 x tcp_msl_remote (30 s)
			Scope:    Exclusive,                   // check_suitable_port: in_pcblookup_port + vestigial TIME_WAIT
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			a := &netbsdAlloc{}
			for i := range a.ctr {
				a.ctr[i] = newSequential(cfg.Range, true)
			}
			return a, nil
		},
	}
}

// netbsdAlloc keeps one algo_bsd counter per protocol class and address
// family (portalgo_next_ephemeral[proto][af][range][algo], chosen in
// pcb_getports by so_type and inph_af): TCP over IPv4, TCP over IPv6, UDP
// over IPv4 and UDP over IPv6 count independently. A flow's family is its
// source address's; an IPv4-mapped IPv6 source counts as IPv6 (an
// AF_INET6 socket). Each counter starts at 0, which is outside the range,
// so the first port is mymax; after a try at port p the counter is p-1,
// wrapping to mymax below mymin.
type netbsdAlloc struct {
	ctr [4]*sequential // [proto*2 + family], family 1 for IPv6
}

// Allocate counts down from the counter of the flow's protocol and family.
func (a *netbsdAlloc) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	i := 2 * bsdProto(f)
	if f.Src.Is6() {
		i++
	}
	return a.ctr[i].Allocate(now, f, c)
}

// How a BSD model draws its random start offset in [0, m).
const (
	bsdArc4Mod     = iota // FreeBSD: arc4random() % m
	bsdArc4Uniform        // OpenBSD: arc4random_uniform(m)
)

// bsdPick is the loop FreeBSD's in_pcb_lport_dest and OpenBSD's
// in_pcbpickport share:
//
//	if random: lastport = first + rand(last - first)
//	count = last - first
//	do { if (count-- < 0) return EADDRNOTAVAIL; ++lastport; if outside [first, last]: lastport = first; } while (port in use)
//
// count = N-1 lets the loop try N ports, and the first candidate is
// uniform over [first+1, last]: first itself comes up only by wrapping.
// lastport belongs to the protocol's PCB table, so TCP and UDP keep
// separate counters; it starts at 0, outside the range, so a sequential
// first allocation takes first.
//
// With throttle set (FreeBSD 13 and earlier) the model also runs
// ipport_tick, the once-a-second callout:
//
//	if (ipport_tcpallocs <= ipport_tcplastcount + ipport_randomcps) { if (ipport_stoprandom > 0) ipport_stoprandom--; }
//	else ipport_stoprandom = ipport_randomtime;
//	ipport_tcplastcount = ipport_tcpallocs;
//
// and draws a random start only when ipport_stoprandom is 0 or the socket
// is UDP. Every allocation counts in ipport_tcpallocs, UDP included: the
// guard meant to leave UDP out (pcbinfo != &V_udbinfo || pcbinfo !=
// &V_ulitecbinfo) is always true. Callouts due at or before an
// allocation's time run before it.
type bsdPick struct {
	cyc  Cycle
	last [2]int // lastport - first per protocol; -1 before the first allocation
	rng  *rand.Rand
	draw int // bsdArc4Mod or bsdArc4Uniform

	throttle   bool
	randomcps  int
	randomtime int
	allocs     int           // ipport_tcpallocs
	lastCount  int           // ipport_tcplastcount
	stop       int           // ipport_stoprandom
	nextTick   time.Duration // when ipport_tick runs next
}

func newBSDPick(cfg Config, draw int) *bsdPick {
	return &bsdPick{
		cyc:  Cycle{Base: cfg.Range.Lo, Len: cfg.Range.Size(), Step: 1},
		last: [2]int{-1, -1},
		rng:  newRNG(cfg.Seed, streamPick),
		draw: draw,
	}
}

// tick runs the ipport_tick callouts due at or before now. Only the first
// of them can see allocations; the rest are quiet and just count down.
func (a *bsdPick) tick(now time.Duration) {
	if now < a.nextTick {
		return
	}
	if a.allocs <= a.lastCount+a.randomcps {
		if a.stop > 0 {
			a.stop--
		}
	} else {
		a.stop = a.randomtime
	}
	a.lastCount = a.allocs
	a.nextTick += time.Second
	if now >= a.nextTick {
		k := int((now-a.nextTick)/time.Second) + 1
		a.stop = max(0, a.stop-k)
		a.nextTick += time.Duration(k) * time.Second
	}
}

// Allocate draws a random start unless the throttle holds TCP sequential,
// then tries up to N ports going up from it.
func (a *bsdPick) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	proto := bsdProto(f)
	random := true
	if a.throttle {
		a.tick(now)
		random = a.stop == 0 || proto == bsdUDP
		a.allocs++
	}
	n := a.cyc.Len
	if n == 1 {
		random = false // "no point in random allocation if we have the only port"
	}
	if random {
		if a.draw == bsdArc4Uniform {
			a.last[proto] = a.rng.IntN(n - 1)
		} else {
			a.last[proto] = int(a.rng.Uint32() % uint32(n-1))
		}
	}
	p, _, ok := Scan(c, f, a.cyc, (a.last[proto]+1)%n, n)
	if !ok {
		// lastport went round the whole range and is back where it was.
		return 0, ErrExhausted
	}
	a.last[proto] = int(p - a.cyc.Base)
	return p, nil
}
