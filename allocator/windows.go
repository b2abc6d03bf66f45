package allocator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// windowsSpec models Windows (Vista and later). Microsoft documents the
// dynamic port range, the TIME_WAIT length and the sharing rule of
// connect(), but not the order in which ports are chosen; that order is a
// parameter.
//
// Evidence, all public:
//   - range 49152-65535 for TCP and UDP since Vista (Microsoft Learn,
//     "Troubleshoot port exhaustion issues"; KB 929851); TIME_WAIT
//     TcpTimedWaitDelay, 120 s when unset;
//   - order: the Windows SDK header ws2def.h defines SO_RANDOMIZE_PORT
//     (0x3005, "randomize assignment of wildcard ports"), an option a socket
//     must set, so wildcard (port 0) binds are not randomized by default; the
//     DNS client and server send from random ports since MS08-037 (July 2008)
//     through their own socket pool, not through the stack's default. No
//     published source, capture or paper found gives the algorithm, so
//     order=sequential (a rising counter, the default, which fits an
//     opt-in randomization) and order=random bracket it, for TCP and, with
//     udp_order, for UDP;
//   - sharing: Microsoft Learn, "SOL_SOCKET socket options",
//     SO_REUSE_UNICASTPORT (Windows 10 / Server 2016): "connection functions
//     with an implicit bind (such as connect without an explicit bind) have
//     this option set by default", so connect() on an unbound socket may
//     share a local port across destinations: the profile's scope is
//     4-tuple. A socket bound to port 0 before connecting (ConnectEx, and
//     every Go dial on Windows, golang/go src/net/fd_windows.go) holds its
//     port exclusively: run with scope exclusive, or path bind.
func windowsSpec() Spec {
	return Spec{
		Name: "windows",
		Summary: "Windows: rising counter per protocol (order=sequential, the default) or a random start (order=random); " +
			"Microsoft does not document the order, so it is an assumption bracketed by the parameter; range 49152-65535, " +
			"connect() shares ports across destinations (SO_REUSE_UNICASTPORT on implicit binds), TIME_WAIT 120 s",
		Source: "Microsoft Learn \"Troubleshoot port exhaustion issues\", KB 929851 (range, TcpTimedWaitDelay); " +
			"Microsoft Learn \"SOL_SOCKET socket options\" (SO_REUSE_UNICASTPORT set by default on implicit binds); " +
			"Windows SDK ws2def.h SO_RANDOMIZE_PORT (opt-in randomization); selection order undocumented",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535}, // netsh int ipv4 show dynamicport tcp
			TimeWait: twWindows,                   // TcpTimedWaitDelay default
			Scope:    FourTuple,                   // SO_REUSE_UNICASTPORT on implicit binds
		},
		Params: []Param{
			{Name: "order", Default: "sequential", Doc: "order of TCP ports: sequential (a rising counter, +1 from the last port) or random (a uniform start on every allocation, then +1); Microsoft documents neither"},
			{Name: "udp_order", Default: "sequential", Doc: "the same for UDP: sequential, or random as the DNS client's own socket pool draws (MS08-037)"},
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			var a windowsAlloc
			for i, name := range []string{"order", "udp_order"} {
				random, err := windowsOrder(cfg, name)
				if err != nil {
					return nil, err
				}
				a.random[i] = random
				a.proto[i] = newSequential(cfg.Range, false)
			}
			a.rng = newRNG(cfg.Seed, streamPick)
			return &a, nil
		},
	}
}

// windowsOrder parses an order parameter: true for random.
func windowsOrder(cfg Config, name string) (bool, error) {
	switch strings.TrimSpace(cfg.Params[name]) {
	case "sequential":
		return false, nil
	case "random":
		return true, nil
	}
	return false, fmt.Errorf("param %s=%q: expected sequential or random", name, cfg.Params[name])
}

// windowsAlloc keeps one counter per protocol, since TCP and UDP have
// separate dynamic port ranges. Each counter starts at the bottom of the
// range (its initial value is not documented either). A protocol with
// random order moves its counter to a uniform port before each
// allocation, then searches up from it.
type windowsAlloc struct {
	proto  [2]*sequential
	random [2]bool
	rng    *rand.Rand
}

// Allocate takes the next free port of the flow's protocol counter.
func (a *windowsAlloc) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	i := bsdProto(f)
	s := a.proto[i]
	if a.random[i] {
		s.next = a.rng.IntN(s.cyc.Len)
	}
	return s.Allocate(now, f, c)
}
