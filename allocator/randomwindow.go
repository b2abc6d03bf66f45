package allocator

import (
	"math/rand/v2"
	"time"
)

// randomWindowSpec models Cloudflare's 2024 workaround for slow connect()
// on kernels before 6.8: before each connect() the application narrows the
// socket's port range with IP_LOCAL_PORT_RANGE to a window at a random
// place, and the kernel searches only that window, with its usual parity
// passes.
func randomWindowSpec() Spec {
	return Spec{
		Name: "random-window",
		Summary: "Cloudflare 2024: each connect() sets IP_LOCAL_PORT_RANGE to a random window of `window` ports; " +
			"Linux (before 6.8) scans it even offsets first, then odd, and fails when the window is full",
		Source: "Cloudflare blog \"connect() - why are you so slow?\" (2024), random-shifted IP_LOCAL_PORT_RANGE; " +
			"torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect (6.3-6.7), inet_sk_get_local_port_range",
		Profile: linuxProfile(),
		Params: []Param{
			{Name: "window", Default: "500", Doc: "W, the span of the window: the socket's range is lo..lo+W with lo uniform over the range's Lo..Hi-W; " +
				"the kernel searches W ports of it when W is even (it drops one port of an odd-sized range), W+1 when W is odd; 1..65535, clamped to the range"},
		},
		Bound: func(cfg Config) int {
			w, err := cfg.Int("window", 1, 65535)
			if err != nil {
				return cfg.Range.Size()
			}
			return rwRemaining(min(w, cfg.Range.Size()-1) + 1)
		},
		Exhaustive: false,
		New: func(cfg Config) (Allocator, error) {
			w, err := cfg.Int("window", 1, 65535)
			if err != nil {
				return nil, err
			}
			return &randomWindow{
				lo:     cfg.Range.Lo,
				size:   cfg.Range.Size(),
				span:   min(w, cfg.Range.Size()-1),
				kernel: newLinuxConnect(cfg.Range, cfg.Seed, 1<<16, false),
				rng:    newRNG(cfg.Seed, streamWindow),
			}, nil
		},
	}
}

// rwRemaining is the kernel's number of candidates for a range of count
// ports: "remaining = high - low; if (likely(remaining > 1)) remaining &= ~1U;".
func rwRemaining(count int) int {
	if count > 1 {
		return count &^ 1
	}
	return count
}

// randomWindow is the user-space half and the kernel half of the
// workaround.
//
// User space (the post's code): offset = randint(sys.lo, sys.hi - W);
// IP_LOCAL_PORT_RANGE = offset | (offset + W) << 16; bind(src, 0) with
// IP_BIND_ADDRESS_NO_PORT; connect(). A W at least the size of the range
// leaves the whole range.
//
// Kernel: __inet_hash_connect of a kernel before 6.8 (where a socket range
// does not change the parity rule) on the window [low, low+W], which is
// the mainline connect() model (linuxConnect.connectIn) given the window
// as its range. The in-window offset is therefore the kernel's keyed-hash
// offset plus the destination's table_perturb cell, advancing by 2..16 per
// connection, not a fresh random number: that is what the workaround runs
// on. The window itself is the only user-space randomness.
//
// An odd-sized window (W even, the post's 500 and 1000) has remaining = W,
// one less than its ports, and the kernel's wrap test (port >= high) lets
// the first pass reach the top port low+W while skipping low, unless the
// pass starts at offset 0 (linuxPass). Reserved ports are refused by the
// Checker, one probe each (the kernel skips them without a lookup).
type randomWindow struct {
	lo     uint16
	size   int // ports in the system range
	span   int // W, clamped to size-1
	kernel *linuxConnect
	rng    *rand.Rand
}

// Allocate places a random window and runs the kernel's two parity passes
// over it.
func (a *randomWindow) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	low := a.lo + uint16(a.rng.IntN(a.size-a.span)) // randint(sys.lo, sys.hi - W)
	return a.kernel.connectIn(now, f, c, low, a.span+1)
}
