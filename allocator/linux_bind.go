package allocator

import (
	"math/rand/v2"
	"time"
)

// linuxBindSpec is Linux TCP bind() to port 0 (and listen() without bind):
// inet_csk_find_open_port.
func linuxBindSpec() Spec {
	p := linuxProfile()
	p.Scope = Exclusive
	return Spec{
		Name:    "linux-bind",
		Summary: "Linux TCP bind(0): random odd offset, odd ports then even ports, step 2; reuseaddr=true tries the lower half of the range first",
		Source:  "torvalds/linux net/ipv4/inet_connection_sock.c inet_csk_find_open_port",
		Profile: p,
		Params: []Param{
			{Name: "reuseaddr", Default: "false", Doc: "the socket has SO_REUSEADDR (sk_reuse == SK_CAN_REUSE): with 4 or more ports, search [lo, lo+2*floor(n/4)) first and then the rest, each half with its own random odd offset"},
		},
		Bound: func(cfg Config) int {
			reuse, err := cfg.Bool("reuseaddr")
			if err != nil {
				reuse = false
			}
			return linuxBindBound(cfg.Range.Size(), reuse)
		},
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			reuse, err := cfg.Bool("reuseaddr")
			if err != nil {
				return nil, err
			}
			return &linuxBind{lo: cfg.Range.Lo, n: cfg.Range.Size(), reuseaddr: reuse, rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// linuxBindHalf is where inet_csk_find_open_port splits a range of n ports
// for an SO_REUSEADDR socket: half = low + (((high - low) >> 2) << 1). It
// returns 0 when the range is not split (fewer than 4 ports or no
// SO_REUSEADDR).
func linuxBindHalf(n int, reuseaddr bool) int {
	if !reuseaddr || n < 4 {
		return 0
	}
	return (n >> 2) << 1
}

// linuxBindRangeBound is the candidates one range of n ports costs: two
// passes of remaining/2, or, for a single port, two passes of one
// candidate each (the same port twice: offset 1 wraps to lo, then offset
// 0).
func linuxBindRangeBound(n int) int {
	if n == 1 {
		return 2
	}
	return linuxRemaining(n, true)
}

// linuxBindBound is the number of candidates inet_csk_find_open_port looks
// at before bind() fails with EADDRINUSE (ip_autobind_reuse = 0).
func linuxBindBound(n int, reuseaddr bool) int {
	if h := linuxBindHalf(n, reuseaddr); h > 0 {
		return linuxBindRangeBound(h) + linuxBindRangeBound(n-h)
	}
	return linuxBindRangeBound(n)
}

// linuxBind is inet_csk_find_open_port with net.ipv4.ip_autobind_reuse = 0:
//
//	attempt_half = SO_REUSEADDR ? 1 : 0;
//	other_half_scan:
//	  if (high - low < 4) attempt_half = 0;
//	  if (attempt_half) { half = low + (((high - low) >> 2) << 1); pick one half }
//	  remaining = high - low; if (remaining > 1) remaining &= ~1;
//	  offset = get_random_u32_below(remaining) | 1;    // odd ports first
//	  other_parity_scan: port = low + offset; for (i = 0; i < remaining; i += 2, port += 2) ...
//	  offset--; if (!(offset & 1)) goto other_parity_scan;
//	  if (attempt_half == 1) { attempt_half = 2; goto other_half_scan; }
//
// __inet_hash_connect favours lo's parity; bind(0) takes the other one so
// that listeners and connect() rarely meet (docs/allocators.md#linux-bind).
type linuxBind struct {
	lo        uint16
	n         int
	reuseaddr bool
	rng       *rand.Rand
}

// Allocate is inet_csk_find_open_port for a socket bound to port 0.
func (b *linuxBind) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	if h := linuxBindHalf(b.n, b.reuseaddr); h > 0 {
		if p, ok := b.search(f, c, b.lo, h); ok {
			return p, nil
		}
		if p, ok := b.search(f, c, b.lo+uint16(h), b.n-h); ok {
			return p, nil
		}
		return 0, ErrExhausted
	}
	if p, ok := b.search(f, c, b.lo, b.n); ok {
		return p, nil
	}
	return 0, ErrExhausted
}

// search is one other_half_scan round over the n ports from lo.
func (b *linuxBind) search(f Flow, c Checker, lo uint16, n int) (uint16, bool) {
	remaining := linuxRemaining(n, true)
	offset := int(b.rng.Uint32N(uint32(remaining))) | 1
	if p, _, ok := linuxPass(c, f, lo, n, remaining, offset, 2); ok {
		return p, true
	}
	p, _, ok := linuxPass(c, f, lo, n, remaining, offset-1, 2)
	return p, ok
}

// Kernel bounds of the UDP hash table (include/linux/udp.h).
const (
	linuxUDPTableMinPernet = 128   // UDP_HTABLE_SIZE_MIN_PERNET (and UDP_HTABLE_SIZE_MIN with CONFIG_BASE_SMALL)
	linuxUDPTableMax       = 65536 // UDP_HTABLE_SIZE_MAX
)

// linuxUDPSpec is Linux UDP autobind and UDP bind() to port 0:
// udp_lib_get_port.
func linuxUDPSpec() Spec {
	p := linuxProfile()
	p.Scope = Exclusive
	return Spec{
		Name:    "linux-udp",
		Summary: "Linux UDP autobind/bind(0): uniform first port, then each hash chain walked with an odd multiple of the table size as stride",
		Source:  "torvalds/linux net/ipv4/udp.c udp_lib_get_port",
		Profile: p,
		Params: []Param{
			{Name: "table", Default: "4096", Doc: "UDP hash table slots (udp_table.mask + 1), a power of two in 128..65536: one slot per 2 MiB of RAM at boot (udp_table_init, uhash_entries=), so 4096 is an 8 GiB host; 256 is the global minimum, 128 the per-netns one"},
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			size, err := cfg.PowerOfTwo("table", linuxUDPTableMinPernet, linuxUDPTableMax)
			if err != nil {
				return nil, err
			}
			return &linuxUDP{lo: cfg.Range.Lo, hi: cfg.Range.Hi, n: cfg.Range.Size(), slots: size, rng: newRNG(cfg.Seed, streamPick)}, nil
		},
	}
}

// linuxUDP is the port search of udp_lib_get_port for snum == 0:
//
//	remaining = (high - low) + 1;
//	rand  = get_random_u32();
//	first = reciprocal_scale(rand, remaining) + low;   // unsigned short
//	rand  = (rand | 1) * (udptable->mask + 1);         // odd multiple of the table size
//	last  = first + udptable->mask + 1;
//	do {                                               // one hash chain per round
//		snum = first;
//		do {
//			if (low <= snum && snum <= high && !test_bit(snum >> log, bitmap) && !reserved(snum))
//				goto found;
//			snum += rand;                              // unsigned short: mod 65536
//		} while (snum != first);
//	} while (++first != last);
//
// Every 16-bit value is visited once; only those inside [low, high] are
// looked up (the range test comes first), so only they are probes. The
// first candidate is uniform over the range, both parities.
type linuxUDP struct {
	lo, hi uint16
	n      int
	slots  int // UDP hash table size
	rng    *rand.Rand
}

// Allocate is udp_lib_get_port for a socket with no local port. A UDP
// chain is not a contiguous run of ports, so each candidate is one Free
// call.
func (u *linuxUDP) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	rnd := u.rng.Uint32()
	first := uint16(uint64(rnd)*uint64(u.n)>>32) + u.lo
	stride := uint16((rnd | 1) * uint32(u.slots))
	last := first + uint16(u.slots)
	for {
		snum := first
		for {
			if u.lo <= snum && snum <= u.hi && c.Free(snum, f) {
				return snum, nil
			}
			snum += stride
			if snum == first {
				break
			}
		}
		first++
		if first == last {
			break
		}
	}
	return 0, ErrExhausted
}
