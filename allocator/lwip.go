package allocator

import "time"

// lwipSpec models lwIP's tcp_new_port and udp_new_port: a global counter per
// protocol, stepped by one before each try.
func lwipSpec() Spec {
	return Spec{
		Name:    "lwip",
		Summary: "lwIP: one global counter per protocol, +1 before each try with wrap, so the first port is the bottom of the range plus one; exclusive",
		Source:  "lwip-tcpip/lwip src/core/tcp.c tcp_new_port; src/core/udp.c udp_new_port",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535}, // TCP_LOCAL_PORT_RANGE_START..END = 0xc000..0xffff
			TimeWait: twLwIP,                      // 2 x TCP_MSL (60 s)
			Scope:    Exclusive,                   // any PCB with the local port blocks it
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			a := &lwipAlloc{}
			for i := range a.proto {
				s := newSequential(cfg.Range, false)
				s.next = 1 % s.cyc.Len // tcp_port holds the last port, START at boot
				a.proto[i] = s
			}
			return a, nil
		},
	}
}

// lwipAlloc keeps tcp_port and udp_port, "last local port" counters that
// start at TCP_LOCAL_PORT_RANGE_START:
//
//	again:
//	if (tcp_port++ == TCP_LOCAL_PORT_RANGE_END) tcp_port = TCP_LOCAL_PORT_RANGE_START;
//	for each PCB list, for each pcb: if (pcb->local_port == tcp_port) { if (++n > (END - START)) return 0; goto again; }
//	return tcp_port;
//
// The counter is incremented before the first try, so the first port after
// boot is START+1 and START comes up only after a wrap; the search gives up
// after N in-use ports. Builds that define LWIP_RAND start the counters at
// a random port instead (tcp_init); this model is the build without it.
type lwipAlloc struct {
	proto [2]*sequential
}

// Allocate takes the next free port after the protocol's last port.
func (a *lwipAlloc) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	return a.proto[bsdProto(f)].Allocate(now, f, c)
}
