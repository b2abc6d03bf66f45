package allocator

import "time"

// lwipSpec models lwIP's tcp_new_port and udp_new_port: a global counter per
// protocol, stepped by one before each try; and its fixed pool of TCP PCBs.
func lwipSpec() Spec {
	return Spec{
		Name: "lwip",
		Summary: "lwIP: one global counter per protocol, +1 before each try with wrap, so the first port is the bottom of the range plus one; exclusive; " +
			"TCP PCBs (live and TIME_WAIT) from a pool of MEMP_NUM_TCP_PCB = 5, the oldest TIME_WAIT freed when it is full",
		Source: "lwip-tcpip/lwip src/core/tcp.c tcp_new_port, tcp_alloc, tcp_kill_timewait; src/core/udp.c udp_new_port; src/include/lwip/opt.h MEMP_NUM_TCP_PCB",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535}, // TCP_LOCAL_PORT_RANGE_START..END = 0xc000..0xffff
			TimeWait: twLwIP,                      // 2 x TCP_MSL (60 s)
			Scope:    Exclusive,                   // any PCB with the local port blocks it
		},
		Params: []Param{
			{Name: "pcbs", Default: "5", Doc: "MEMP_NUM_TCP_PCB (default 5 in src/include/lwip/opt.h): TCP PCBs in the pool, shared by live connections and those in TIME_WAIT, 1..1000000, or 0 for no pool limit"},
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			pcbs, err := cfg.Int("pcbs", 0, 1_000_000)
			if err != nil {
				return nil, err
			}
			a := &lwipAlloc{pcbs: pcbs}
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
//
// Every TCP PCB, live or in TIME_WAIT (tcp_tw_pcbs), comes from one
// memory pool of MEMP_NUM_TCP_PCB entries. tcp_new calls tcp_alloc, which,
// when memp_malloc(MEMP_TCP_PCB) fails, calls tcp_kill_timewait — abort
// the TIME_WAIT PCB with the largest tcp_ticks - pcb->tmr, the oldest —
// and tries again; then tcp_kill_prio, which only kills PCBs of lower
// priority than the new one (all connections here have the same
// priority), then tcp_kill_state for LAST_ACK and CLOSING, which the
// simulator does not hold. So a pool full of live connections fails the
// new socket before any port is chosen, and real lwIP holds at most the
// pool's worth of TIME_WAIT ports. lwipAlloc is an allocator.Pooler: the
// simulator keeps the pool, frees the oldest TIME_WAIT when it is full and
// counts a failure with no TIME_WAIT to free apart (results.Run
// PoolFailures). UDP PCBs come from their own pool (MEMP_NUM_UDP_PCB),
// which is not modelled.
type lwipAlloc struct {
	proto [2]*sequential
	pcbs  int
}

// PCBs returns MEMP_NUM_TCP_PCB, or 0 for no pool limit.
func (a *lwipAlloc) PCBs() int { return a.pcbs }

// Allocate takes the next free port after the protocol's last port.
func (a *lwipAlloc) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	return a.proto[bsdProto(f)].Allocate(now, f, c)
}
