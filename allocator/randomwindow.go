package allocator

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/dchest/siphash"
)

// rwPerturbSize is the number of cells of the kernel's table_perturb
// (1 << CONFIG_INET_TABLE_PERTURB_ORDER, default order 16).
const rwPerturbSize = 1 << 16

// rwShuffle is the period at which the kernel re-salts the port offset
// (the jiffies / (10 * HZ) input of secure_ipv4_port_ephemeral).
const rwShuffle = 10 * time.Second

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
			k := rfcKeys(cfg.Seed)
			a := &randomWindow{
				lo:      cfg.Range.Lo,
				size:    cfg.Range.Size(),
				span:    min(w, cfg.Range.Size()-1),
				k0:      k[0],
				k1:      k[1],
				perturb: make([]uint32, rwPerturbSize),
				rng:     newRNG(cfg.Seed, streamPick),
				phase:   time.Duration(newRNG(cfg.Seed, streamClock).Int64N(int64(rwShuffle))),
			}
			r := newRNG(cfg.Seed, streamTable)
			for i := range a.perturb {
				a.perturb[i] = r.Uint32() // get_random_sleepable_once fills the table
			}
			return a, nil
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
// Kernel, __inet_hash_connect before 6.8, on the window [low, high]:
//
//	high++; remaining = high - low; if (remaining > 1) remaining &= ~1U;
//	index = port_offset & (INET_TABLE_PERTURB_SIZE - 1);
//	offset = (table_perturb[index] + (port_offset >> 32)) % remaining;
//	offset &= ~1U;
//	other_parity_scan:
//	port = low + offset;
//	for (i = 0; i < remaining; i += 2, port += 2) { if (port >= high) port -= remaining; ...try port... }
//	offset++; if ((offset & 1) && remaining > 1) goto other_parity_scan;
//	return -EADDRNOTAVAIL;
//	ok: i = max(i, get_random_u32_below(8) * 2); table_perturb[index] += i + 2;
//
// The in-window offset is modelled as the kernel computes it, not as a
// fresh random number, because that is what the workaround runs on: the
// window moves at random, but inside it the kernel still starts from its
// keyed-hash offset plus the destination's table_perturb cell, which
// advances by 2..16 per connection. port_offset is SipHash-2-4 under a key
// from the seed over (source IP, destination IP, destination port, 10 s
// time bucket), as secure_ipv4_port_ephemeral computes it since 5.18; the
// phase of the 10 s buckets comes from the seed. The window itself is the
// only user-space randomness.
//
// An odd-sized window (W even, the post's 500 and 1000) has remaining =
// W, one less than its ports, and the wrap test port >= high lets the
// first pass reach the top port low+W while skipping low, unless the pass
// starts at offset 0; the model reproduces this. Reserved ports are
// refused by the Checker, one probe each (the kernel skips them without a
// lookup).
type randomWindow struct {
	lo      uint16
	size    int // ports in the system range
	span    int // W, clamped to size-1
	k0, k1  uint64
	perturb []uint32
	rng     *rand.Rand
	phase   time.Duration
	buf     [rfcTupleLen + 8]byte
}

// Allocate places a random window and runs the kernel's two parity passes
// over it.
func (a *randomWindow) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	low := a.lo + uint16(a.rng.IntN(a.size-a.span)) // randint(sys.lo, sys.hi - W)
	count := a.span + 1
	remaining := rwRemaining(count)

	rfcPutTuple(a.buf[:], f)
	binary.BigEndian.PutUint64(a.buf[rfcTupleLen:], uint64((now+a.phase)/rwShuffle))
	h := siphash.Hash(a.k0, a.k1, a.buf[:])
	index := h & (rwPerturbSize - 1)
	off := int((a.perturb[index] + uint32(h>>32)) % uint32(remaining))
	off &^= 1

	cyc := Cycle{Base: low, Len: remaining, Step: 2}
	if remaining == 1 {
		cyc.Step = 1
	}
	var (
		p     uint16
		i     int // the kernel's i: port units into the pass that found p
		found bool
	)
	// First pass: offsets of low's parity.
	if count > remaining && off > 0 {
		// Odd-sized window: off, off+2, ..., remaining (the top port
		// low+W, which the mod-remaining cycle does not hold), then
		// 2, 4, ..., off-2.
		n1 := (remaining - off) / 2
		var k int
		if p, k, found = Scan(c, f, cyc, off, n1); found {
			i = 2 * (k - 1)
		} else if top := low + uint16(remaining); c.Free(top, f) {
			p, i, found = top, 2*n1, true
		} else if p, k, found = Scan(c, f, cyc, 2, (off-2)/2); found {
			i = 2 * (n1 + 1 + k - 1)
		}
	} else {
		var k int
		if p, k, found = Scan(c, f, cyc, off, (remaining+1)/2); found {
			i = 2 * (k - 1)
		}
	}
	// Second pass: the other parity.
	if !found && remaining > 1 {
		var k int
		if p, k, found = Scan(c, f, cyc, off+1, remaining/2); found {
			i = 2 * (k - 1)
		}
	}
	if !found {
		return 0, ErrExhausted
	}
	i = max(i, 2*a.rng.IntN(8))
	a.perturb[index] += uint32(i + 2)
	return p, nil
}
