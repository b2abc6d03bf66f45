package allocator

import (
	"math/rand/v2"
	"time"
)

// macosSpec models macOS (XNU): TCP takes one global counter stepped by one,
// UDP a random start; ports are held exclusively.
func macosSpec() Spec {
	return Spec{
		Name:    "macos",
		Summary: "macOS: TCP uses one global counter stepped by one (randomize_ports=0), UDP a random start (randomize_ports=1); exclusive",
		Source:  "apple-oss-distributions/xnu bsd/netinet/in_pcb.c in_pcbbind (net.inet.tcp.randomize_ports=0, net.inet.udp.randomize_ports=1)",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535}, // ipport_firstauto..lastauto = IPPORT_HIFIRSTAUTO..IPPORT_HILASTAUTO
			TimeWait: twMacOS,                     // 2 x TCPTV_MSL (15 s)
			Scope:    Exclusive,                   // in_pcblookup_local_and_cleanup: local port test
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			return &xnuAlloc{
				cyc:  Cycle{Base: cfg.Range.Lo, Len: cfg.Range.Size(), Step: 1},
				last: [2]int{-1, -1},
				rng:  newRNG(cfg.Seed, streamPick),
			}, nil
		},
	}
}

// xnuAlloc is in_pcbbind with lport == 0, counting up (first < last):
//
//	randomport = SOF_BINDRANDOMPORT || (SOCK_STREAM ? tcp_use_randomport : udp_use_randomport)
//	if (first == last) randomport = 0
//	if (randomport) { read_frandom(&rand_port, sizeof(rand_port)); *lastport = first + (rand_port % (first - last)); }
//	count = last - first
//	do { if (count-- < 0) return EADDRNOTAVAIL; ++*lastport; if outside [first, last]: *lastport = first;
//	     skip restricted ports; found = no PCB holds the local port } while (!found)
//
// rand_port is a 16-bit in_port_t, and the C remainder of a positive value
// by the negative int first - last is rand_port % (last - first), so the
// start carries the small modulo bias of a 16-bit draw. lastport belongs to
// the protocol's PCB table (tcbinfo, udbinfo) and starts at 0, so the first
// TCP port after boot is first. Restricted ports are the Checker's
// reserved ports here, each one probe (the kernel skips them before the
// lookup but counts them against count; see the linux allocator's note on
// reserved ports).
//
// Sockets of Network.framework and other Skywalk flows take their port
// from netns_reserve_ephemeral (bsd/skywalk/namespace/netns.c) instead:
// the same net.inet.{tcp,udp}.randomize_ports sysctls choose between a
// random start and a counter, but the counter (ns_last_ephemeral_port_up)
// belongs to the namespace of one local address and protocol rather than
// to the protocol's PCB table, and UDP refuses to go below 4,096 free
// ports. That path is not modelled: for one source address its TCP
// sequence is the same rising counter, and with several source addresses
// the model keeps the BSD socket path's one counter per protocol.
type xnuAlloc struct {
	cyc  Cycle
	last [2]int // *lastport - first per protocol; -1 before the first allocation
	rng  *rand.Rand
}

// Allocate steps the protocol's counter from its last port, after a random
// jump for UDP.
func (a *xnuAlloc) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	proto := bsdProto(f)
	n := a.cyc.Len
	if proto == bsdUDP && n > 1 {
		r := uint16(a.rng.Uint32()) // a 16-bit rand_port
		a.last[proto] = int(r) % (n - 1)
	}
	p, _, ok := Scan(c, f, a.cyc, (a.last[proto]+1)%n, n)
	if !ok {
		return 0, ErrExhausted
	}
	a.last[proto] = int(p - a.cyc.Base)
	return p, nil
}
