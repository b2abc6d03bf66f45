package allocator

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/dchest/siphash"
)

// Linux TCP connect() on an unbound socket, as mainline does it since the
// May 2022 hardening (5.17.9 / 5.18, backported to 4.9..5.15 stable) and
// through 6.x. It is RFC 6056 Algorithm 4 with Linux's own details:
//
//   - torvalds/linux net/core/secure_seq.c secure_ipv4_port_ephemeral and
//     secure_ipv6_port_ephemeral: port_offset is the 64-bit SipHash-2-4,
//     under the boot-time secret net_secret, of (saddr, daddr, dport,
//     jiffies / EPHEMERAL_PORT_SHUFFLE_PERIOD), the period being 10 s
//     (commit 4dfa9b438ee3);
//   - torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect and
//     inet_sk_port_offset: table_perturb holds
//     2^CONFIG_INET_TABLE_PERTURB_ORDER (default 16) u32 counters filled
//     with random bytes; index = port_offset & (size-1) and the offset adds
//     the high 32 bits (commits 9e9b70ae923b, 4c2c8f03a5ab, "tcp: drop the
//     hash_32() part from the index calculation"); the search tries the
//     ports of lo's parity, then the other parity, stepping by 2
//     (commit 1580ab63fc9a); on success the cell grows by
//     max(i, get_random_u32_below(8) * step) + step (commit ca7af0402550);
//   - with IP_LOCAL_PORT_RANGE set on the socket (commit 207184853dbd,
//     6.8) the search steps by 1 over the whole range in one pass.
//
// Reserved ports (net.ipv4.ip_local_reserved_ports) are skipped by
// __inet_hash_connect with inet_is_local_reserved_port before any hash
// lookup, and still count against `remaining` (the loop's i advances). The
// model refuses them through the Checker, which counts each as one probe:
// a probe is one candidate the search loop examines, so probes stay equal
// to the loop's iterations and to Spec.Bound on a full range, and compare
// across allocators, at the price of counting a bitmap test as a lookup.
// OpenBSD (in_baddynamic) and XNU (IS_RESTRICTED_IN_PORT) do the same and
// are modelled the same way.

// linuxShufflePeriod is EPHEMERAL_PORT_SHUFFLE_PERIOD (10 * HZ jiffies) in
// net/core/secure_seq.c: the secret input to the port offset changes every
// 10 s.
const linuxShufflePeriod = 10 * time.Second

// linuxMaxPerturbTable caps the model's table_perturb size: the kernel's
// Kconfig option has no upper bound, but 2^20 u32 cells (4 MiB) is far
// beyond any shipped configuration.
const linuxMaxPerturbTable = 1 << 20

// linuxSpec is mainline Linux TCP connect() (__inet_hash_connect).
func linuxSpec() Spec {
	return Spec{
		Name:    "linux",
		Summary: "Linux >= 5.18 connect(): SipHash offset re-salted every 10 s + 2^16-cell perturb table, ports of lo's parity then the other, cell += max(i, 2*rand8) + 2",
		Source:  "torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect; net/core/secure_seq.c secure_ipv4_port_ephemeral",
		Profile: linuxProfile(),
		Params: []Param{
			{Name: "table", Default: "65536", Doc: "table_perturb cells, a power of two in 1..1048576 (2^CONFIG_INET_TABLE_PERTURB_ORDER; 256 before commit 4c2c8f03a5ab)"},
			{Name: "per_socket_range", Default: "false", Doc: "model a socket with IP_LOCAL_PORT_RANGE set (Linux 6.8+, commit 207184853dbd): step 1 over the whole range in one pass, no parity split"},
		},
		Bound: func(cfg Config) int {
			perSocket, err := cfg.Bool("per_socket_range")
			if err != nil {
				perSocket = false
			}
			return linuxConnectBound(cfg.Range.Size(), perSocket)
		},
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			size, err := cfg.PowerOfTwo("table", 1, linuxMaxPerturbTable)
			if err != nil {
				return nil, err
			}
			perSocket, err := cfg.Bool("per_socket_range")
			if err != nil {
				return nil, err
			}
			return newLinuxConnect(cfg.Range, cfg.Seed, size, perSocket), nil
		},
	}
}

// linuxRemaining is the kernel's `remaining` for a range of n ports:
// rounded down to even when the search goes by parity and n > 1.
func linuxRemaining(n int, parity bool) int {
	if parity && n > 1 {
		return n &^ 1
	}
	return n
}

// linuxConnectBound is the number of candidates __inet_hash_connect looks
// at before it returns EADDRNOTAVAIL: `remaining`, split over two parity
// passes of remaining/2 each (one pass of one candidate when the range has
// one port), or every port of the range with a per-socket range. With an
// odd range size one port is never a candidate (see linuxPass).
func linuxConnectBound(n int, perSocket bool) int {
	return linuxRemaining(n, !perSocket)
}

// linuxConnect is the state of mainline __inet_hash_connect for one
// network namespace: the secret key, the phase of jiffies against the
// 10 s shuffle period, and table_perturb.
type linuxConnect struct {
	lo        uint16
	n         int // range size, hi - lo + 1
	perSocket bool
	k0, k1    uint64                  // net_secret
	phase     time.Duration           // jiffies offset, in [0, linuxShufflePeriod)
	table     *drawnTable             // table_perturb
	mask      uint32                  // table size - 1
	rng       *rand.Rand              // get_random_u32_below(8)
	memo      [offsetMemos]offsetMemo // recent port_offsets, by Flow.Slot
	lastMemo  int                     // the slot of memo used last
}

// offsetMemos is the number of port_offsets linuxConnect remembers, a
// power of two.
const offsetMemos = 8

// offsetMemo remembers a port_offset: successive connects from one source
// to one destination within a 10 s bucket hash the same input, so the
// SipHash is computed once per source, destination and bucket while the
// flow keeps its slot (Flow.Slot), as it does when a workload cycles
// through a few sources or destinations. It changes no result.
type offsetMemo struct {
	src  netip.Addr
	dst  netip.AddrPort
	seed uint32
	po   uint64
	ok   bool
	// from and to bound the virtual times whose time seed is seed, so that
	// a repeat within the bucket skips the division.
	from, to time.Duration
}

func newLinuxConnect(r Range, seed uint64, size int, perSocket bool) *linuxConnect {
	l := &linuxConnect{
		lo:        r.Lo,
		n:         r.Size(),
		perSocket: perSocket,
		table:     newDrawnTable(seed, size),
		mask:      uint32(size - 1),
		rng:       newRNG(seed, streamPick),
	}
	l.k0, l.k1 = secretKey(seed)
	l.phase = linuxPhase(seed)
	return l
}

// linuxPhase is where the run starts within a 10 s shuffle period: jiffies
// count from boot (INITIAL_JIFFIES), not from the start of the run, so the
// bucket boundaries fall at a seed-derived offset.
func linuxPhase(seed uint64) time.Duration {
	return time.Duration(newRNG(seed, streamClock).Int64N(int64(linuxShufflePeriod)))
}

// linuxTimeSeed is jiffies / EPHEMERAL_PORT_SHUFFLE_PERIOD at virtual time
// now, truncated to 32 bits as both secure_*_port_ephemeral functions do.
func linuxTimeSeed(now, phase time.Duration) uint32 {
	return uint32(uint64(now+phase) / uint64(linuxShufflePeriod))
}

// portOffset is inet_sk_port_offset at time now.
func (l *linuxConnect) portOffset(now time.Duration, f Flow) uint64 {
	// The slot used last first: a run to one destination from one
	// source finds its offset without computing the slot.
	m := &l.memo[l.lastMemo]
	if m.holds(now, &f) {
		return m.po
	}
	l.lastMemo = f.Slot(offsetMemos)
	m = &l.memo[l.lastMemo]
	if m.holds(now, &f) {
		return m.po
	}
	seed := linuxTimeSeed(now, l.phase)
	po := linuxSecurePortEphemeral(l.k0, l.k1, f.Src, f.Dst, seed)
	// The times of now's bucket, [q·P - phase, (q+1)·P - phase) where q
	// is the full quotient (the seed is its low 32 bits).
	from := now - time.Duration(uint64(now+l.phase)%uint64(linuxShufflePeriod))
	*m = offsetMemo{src: f.Src, dst: f.Dst, seed: seed, po: po, ok: true, from: from, to: from + linuxShufflePeriod}
	return po
}

// holds reports whether m is the port_offset of flow f at time now.
func (m *offsetMemo) holds(now time.Duration, f *Flow) bool {
	return m.ok && now >= m.from && now < m.to && m.dst == f.Dst && m.src == f.Src
}

// Cell implements Celler: the table_perturb cell that f uses at time now.
// It changes with the 10 s shuffle bucket.
func (l *linuxConnect) Cell(now time.Duration, f Flow) (cell, size int) {
	return int(uint32(l.portOffset(now, f)) & l.mask), l.table.size
}

// Allocate is __inet_hash_connect for a socket with no local port.
func (l *linuxConnect) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	return l.connectIn(now, f, c, l.lo, l.n)
}

// connectIn is __inet_hash_connect over the range lo..lo+n-1, which is the
// netns range or, narrowed by IP_LOCAL_PORT_RANGE, a socket's own.
func (l *linuxConnect) connectIn(now time.Duration, f Flow, c Checker, lo uint16, n int) (uint16, error) {
	po := l.portOffset(now, f)
	index := uint32(po) & l.mask
	step := 2
	if l.perSocket {
		step = 1
	}
	remaining := linuxRemaining(n, !l.perSocket)
	cell := l.table.at(index)
	offset := int((*cell + uint32(po>>32)) % uint32(remaining))
	if !l.perSocket {
		offset &^= 1 // first pass: ports of lo's parity
	}
	port, i, ok := linuxPass(c, f, lo, n, remaining, offset, step)
	if !ok && !l.perSocket && remaining > 1 {
		port, i, ok = linuxPass(c, f, lo, n, remaining, offset+1, step)
	}
	if !ok {
		return 0, ErrExhausted
	}
	i = max(i, int(l.rng.Uint32N(8))*step)
	*cell += uint32(i + step)
	return port, nil
}

// linuxPass runs one pass of the loop shared by __inet_hash_connect and
// inet_csk_find_open_port:
//
//	high = lo + n
//	port = lo + start
//	for (i = 0; i < remaining; i += step, port += step) {
//		if (port >= high) port -= remaining;
//		... try port ...
//	}
//
// and returns the first free port with the loop's i at that port (in port
// units, as the kernel uses it), or ok == false. remaining is n, or n
// rounded down to even when step is 2; start is in [0, remaining].
//
// When remaining == n the pass is the cycle lo + (start + k*step) mod n.
// When n is odd and step is 2, remaining = n-1 and the wrap rule makes the
// relative positions run start, start+2, ..., n-1, then 2, 4, ...: an even
// pass that starts above 0 reaches the last port hi and skips lo, while a
// pass from 0 skips hi; an odd pass is the plain cycle. So with an odd
// range size exactly one port (lo or hi, depending on the offset) is not a
// candidate.
func linuxPass(c Checker, f Flow, lo uint16, n, remaining, start, step int) (port uint16, i int, ok bool) {
	count := (remaining + step - 1) / step
	cyc := Cycle{Base: lo, Len: remaining, Step: step}
	off := start
	if remaining != n && start%2 == 0 && start > 0 {
		// Positions start..n-1 step 2, then wrap to 2: the cycle over
		// lo+1 .. hi taken from start-1.
		cyc.Base = lo + 1
		off = start - 1
	}
	port, tried, ok := Scan(c, f, cyc, off, count)
	return port, (tried - 1) * step, ok
}

// linuxSecurePortEphemeral is the current secure_ipv4_port_ephemeral /
// secure_ipv6_port_ephemeral (net/core/secure_seq.c): the 64-bit
// SipHash-2-4 of the local address, the remote address and port, and the
// time seed, packed as the kernel lays them out on a little-endian host:
//
//	IPv4: siphash_4u32(saddr, daddr, (u16)dport, timeseed), i.e. the 16
//	      bytes saddr, daddr (network order), dport (network order, then
//	      two zero bytes), timeseed (little-endian);
//	IPv6: siphash(&{saddr[16], daddr[16], u32 timeseed, __be16 dport}, 38).
//
// A connect() to an IPv4 or IPv4-mapped destination takes the IPv4 path
// (tcp_v4_connect), as an AF_INET6 socket does for a mapped address.
func linuxSecurePortEphemeral(k0, k1 uint64, src netip.Addr, dst netip.AddrPort, timeseed uint32) uint64 {
	d := dst.Addr().Unmap()
	if d.Is4() || !d.IsValid() {
		var b [16]byte
		s4, d4 := linuxAddr4(src), linuxAddr4(d)
		copy(b[0:4], s4[:])
		copy(b[4:8], d4[:])
		binary.BigEndian.PutUint16(b[8:10], dst.Port())
		binary.LittleEndian.PutUint32(b[12:16], timeseed)
		return siphash.Hash(k0, k1, b[:])
	}
	var b [38]byte
	s16, d16 := src.As16(), d.As16()
	copy(b[0:16], s16[:])
	copy(b[16:32], d16[:])
	binary.LittleEndian.PutUint32(b[32:36], timeseed)
	binary.BigEndian.PutUint16(b[36:38], dst.Port())
	return siphash.Hash(k0, k1, b[:])
}

// linuxSecurePortEphemeral32 is secure_ipv4_port_ephemeral /
// secure_ipv6_port_ephemeral as they were from 4.11 (SipHash replaced keyed
// MD5, commit 7cd23e5300c1) until May 2022: a u32, with no time input:
//
//	IPv4: siphash_3u32(saddr, daddr, (u16)dport), i.e. 12 bytes;
//	IPv6: siphash(&{saddr[16], daddr[16], __be16 dport}, 34).
//
// The older kernels modelled with it (4.1, 4.6) used keyed MD5
// (md5_transform over the same inputs); both are keyed PRFs of the same
// 3-tuple, which is all the allocator depends on.
func linuxSecurePortEphemeral32(k0, k1 uint64, src netip.Addr, dst netip.AddrPort) uint32 {
	d := dst.Addr().Unmap()
	if d.Is4() || !d.IsValid() {
		var b [12]byte
		s4, d4 := linuxAddr4(src), linuxAddr4(d)
		copy(b[0:4], s4[:])
		copy(b[4:8], d4[:])
		binary.BigEndian.PutUint16(b[8:10], dst.Port())
		return uint32(siphash.Hash(k0, k1, b[:]))
	}
	var b [34]byte
	s16, d16 := src.As16(), d.As16()
	copy(b[0:16], s16[:])
	copy(b[16:32], d16[:])
	binary.BigEndian.PutUint16(b[32:34], dst.Port())
	return uint32(siphash.Hash(k0, k1, b[:]))
}

// linuxAddr4 returns an IPv4 (or IPv4-mapped) address in network byte
// order, and 0.0.0.0 for anything else (an unbound or IPv6 source on the
// IPv4 path).
func linuxAddr4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if a.Is4() {
		return a.As4()
	}
	return [4]byte{}
}

// linuxHash32 is hash_32(val, bits) from include/linux/hash.h: the top
// bits of val * GOLDEN_RATIO_32.
func linuxHash32(val uint32, bits uint) uint32 {
	const goldenRatio32 = 0x61C88647
	return (val * goldenRatio32) >> (32 - bits)
}
