package allocator

import "time"

// windowsSpec models Windows (Vista and later) as a rising counter over the
// dynamic port range. Microsoft documents the range and the TIME_WAIT
// length but not the order in which ports are chosen; the counter is an
// assumption based on packet captures, which show TCP client ports rising
// in small steps from one connection to the next.
func windowsSpec() Spec {
	return Spec{
		Name: "windows",
		Summary: "Windows: assumed rising counter stepped by one per protocol (Microsoft does not document the order; " +
			"this is an assumption from observed captures); range 49152-65535, exclusive, TIME_WAIT 120 s",
		Source: "Microsoft Learn \"Troubleshoot port exhaustion issues\" and KB 929851 (range, TcpTimedWaitDelay); selection order undocumented",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535}, // netsh int ipv4 show dynamicport tcp
			TimeWait: twWindows,                   // TcpTimedWaitDelay default
			Scope:    Exclusive,                   // assumed: no SO_REUSE_UNICASTPORT
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			return &windowsAlloc{proto: [2]*sequential{newSequential(cfg.Range, false), newSequential(cfg.Range, false)}}, nil
		},
	}
}

// windowsAlloc keeps one rising counter per protocol, since TCP and UDP
// have separate dynamic port ranges. Each counter starts at the bottom of
// the range (its initial value is not documented either).
type windowsAlloc struct {
	proto [2]*sequential
}

// Allocate takes the next free port of the flow's protocol counter.
func (a *windowsAlloc) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	return a.proto[bsdProto(f)].Allocate(now, f, c)
}
