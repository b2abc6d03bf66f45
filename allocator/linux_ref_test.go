package allocator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// This file holds naive references for the Linux allocators, written
// straight from the kernel code quoted in their doc comments (one Free call
// per candidate, the kernel's own wrap rule, no Cycle or Scan), and the
// differential tests that compare the allocators with them, through a
// plain Checker and through a batch one. It also checks the SipHash input
// packing against a SipHash written from the paper.

// lxRefSipHash is SipHash-2-4 written from Aumasson and Bernstein,
// "SipHash: a fast short-input PRF" (2012), over a byte string.
func lxRefSipHash(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	b := uint64(n) << 56
	for i, c := range msg {
		b |= uint64(c) << (8 * i)
	}
	v3 ^= b
	round()
	round()
	v0 ^= b
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}

// lxRefWords hashes u64 words as siphash_2u64 / siphash_3u32 do: the words
// are the message, little-endian, followed by an optional u32 tail.
func lxRefWords(k0, k1 uint64, words []uint64, tail []uint32) uint64 {
	var msg []byte
	for _, w := range words {
		msg = binary.LittleEndian.AppendUint64(msg, w)
	}
	for _, t := range tail {
		msg = binary.LittleEndian.AppendUint32(msg, t)
	}
	return lxRefSipHash(k0, k1, msg)
}

// lxBE32 is (__force u32) of a __be32 on a little-endian host: the
// address bytes read as a little-endian u32.
func lxBE32(a [4]byte) uint32 { return binary.LittleEndian.Uint32(a[:]) }

// lxBE16 is (__force u16) of a __be16 on a little-endian host.
func lxBE16(p uint16) uint32 { return uint32(bits.ReverseBytes16(p)) }

// lxRefPortOffset is the current secure_ipv4_port_ephemeral, as
// siphash_4u32(a, b, c, d) = siphash_2u64(b<<32|a, d<<32|c), and
// secure_ipv6_port_ephemeral over its struct laid out byte by byte.
func lxRefPortOffset(k0, k1 uint64, src netip.Addr, dst netip.AddrPort, timeseed uint32) uint64 {
	d := dst.Addr().Unmap()
	if d.Is4() {
		s := src.Unmap()
		var s4 [4]byte
		if s.Is4() {
			s4 = s.As4()
		}
		a, b := lxBE32(s4), lxBE32(d.As4())
		c := lxBE16(dst.Port())
		return lxRefWords(k0, k1, []uint64{uint64(b)<<32 | uint64(a), uint64(timeseed)<<32 | uint64(c)}, nil)
	}
	s16, d16 := src.As16(), d.As16()
	var msg []byte
	msg = append(msg, s16[:]...)
	msg = append(msg, d16[:]...)
	msg = binary.LittleEndian.AppendUint32(msg, timeseed) // unsigned int timeseed
	msg = binary.BigEndian.AppendUint16(msg, dst.Port())  // __be16 dport
	return lxRefSipHash(k0, k1, msg[:offsetofendDport6])  // offsetofend(typeof(combined), dport)
}

// offsetofendDport6 is offsetofend(struct {in6_addr saddr, daddr; unsigned
// int timeseed; __be16 dport}, dport) = 16 + 16 + 4 + 2.
const offsetofendDport6 = 38

// lxRefPortOffset32 is the 4.11..5.17.8 u32 secure_ipv4_port_ephemeral,
// siphash_3u32(saddr, daddr, (u16)dport), and its IPv6 twin.
func lxRefPortOffset32(k0, k1 uint64, src netip.Addr, dst netip.AddrPort) uint32 {
	d := dst.Addr().Unmap()
	if d.Is4() {
		s := src.Unmap()
		var s4 [4]byte
		if s.Is4() {
			s4 = s.As4()
		}
		a, b := lxBE32(s4), lxBE32(d.As4())
		return uint32(lxRefWords(k0, k1, []uint64{uint64(b)<<32 | uint64(a)}, []uint32{lxBE16(dst.Port())}))
	}
	s16, d16 := src.As16(), d.As16()
	var msg []byte
	msg = append(msg, s16[:]...)
	msg = append(msg, d16[:]...)
	msg = binary.BigEndian.AppendUint16(msg, dst.Port())
	return uint32(lxRefSipHash(k0, k1, msg))
}

// TestLxRefSipHashPaperVector checks the reference SipHash against the
// test vector of the SipHash paper (appendix A).
func TestLxRefSipHashPaperVector(t *testing.T) {
	var k [16]byte
	msg := make([]byte, 15)
	for i := range k {
		k[i] = byte(i)
	}
	for i := range msg {
		msg[i] = byte(i)
	}
	got := lxRefSipHash(binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:]), msg)
	if got != 0xa129ca6149be45e5 {
		t.Fatalf("reference SipHash = %#x, want 0xa129ca6149be45e5", got)
	}
}

// TestLinuxPortOffsetPacking checks that the allocators hash exactly the
// kernel's inputs (net/core/secure_seq.c): the u32 words of
// siphash_4u32 / siphash_3u32 and the IPv6 structs.
func TestLinuxPortOffsetPacking(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		k0, k1 := r.Uint64(), r.Uint64()
		var src netip.Addr
		var dst netip.AddrPort
		switch i % 4 {
		case 0, 1:
			src = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
			dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}), uint16(r.Uint32()))
		case 2:
			var a, b [16]byte
			for j := range a {
				a[j], b[j] = byte(r.Uint32()), byte(r.Uint32())
			}
			src, dst = netip.AddrFrom16(a), netip.AddrPortFrom(netip.AddrFrom16(b), uint16(r.Uint32()))
		case 3: // IPv4-mapped: takes the IPv4 path
			src = netip.AddrFrom16(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}).As16())
			dst = netip.AddrPortFrom(netip.AddrFrom16(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).As16()), 443)
		}
		ts := r.Uint32()
		if got, want := linuxSecurePortEphemeral(k0, k1, src, dst, ts), lxRefPortOffset(k0, k1, src, dst, ts); got != want {
			t.Fatalf("secure_port_ephemeral(%v, %v, %d) = %#x, reference %#x", src, dst, ts, got, want)
		}
		if got, want := linuxSecurePortEphemeral32(k0, k1, src, dst), lxRefPortOffset32(k0, k1, src, dst); got != want {
			t.Fatalf("u32 secure_port_ephemeral(%v, %v) = %#x, reference %#x", src, dst, got, want)
		}
	}
	// The mapped form hashes as plain IPv4.
	k0, k1 := uint64(3), uint64(4)
	v4 := linuxSecurePortEphemeral(k0, k1, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddrPort("192.0.2.7:443"), 9)
	mapped := linuxSecurePortEphemeral(k0, k1, netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddrPort("[::ffff:192.0.2.7]:443"), 9)
	if v4 != mapped {
		t.Errorf("IPv4-mapped flow hashed %#x, plain IPv4 %#x; want equal", mapped, v4)
	}
}

// TestLinuxHash32 checks hash_32 (include/linux/hash.h) on values worked by
// hand: 1 * 0x61C88647 has top byte 0x61; 2 * 0x61C88647 = 0xC3910C8E.
func TestLinuxHash32(t *testing.T) {
	for _, tc := range []struct {
		val  uint32
		bits uint
		want uint32
	}{
		{1, 8, 0x61}, {2, 8, 0xC3}, {2, 16, 0xC391}, {0, 8, 0}, {3, 8, 0x25},
	} {
		if got := linuxHash32(tc.val, tc.bits); got != tc.want {
			t.Errorf("hash_32(%d, %d) = %#x, want %#x", tc.val, tc.bits, got, tc.want)
		}
	}
}

// lxRefConnect is __inet_hash_connect of one kernel era, written as the
// kernel loop. era selects the details.
type lxRefConnect struct {
	era       string // "mainline", "5.12", "4.6"
	low, high int    // high is hi+1
	perSocket bool
	k0, k1    uint64
	phase     time.Duration
	table     []uint32
	hint      uint32
	entropy   bool
	rng       *rand.Rand
}

func lxNewRefConnect(era string, r Range, seed uint64, size int, perSocket, entropy bool) *lxRefConnect {
	ref := &lxRefConnect{era: era, low: int(r.Lo), high: int(r.Hi) + 1, perSocket: perSocket, entropy: entropy, rng: newRNG(seed, streamPick)}
	ref.k0, ref.k1 = secretKey(seed)
	ref.phase = time.Duration(newRNG(seed, streamClock).Int64N(int64(10 * time.Second)))
	if era == "5.12" {
		size = 256
	}
	if era != "4.6" {
		ref.table = make([]uint32, size)
		fill := newRNG(seed, streamTable)
		for i := range ref.table {
			ref.table[i] = fill.Uint32()
		}
	}
	return ref
}

func (ref *lxRefConnect) Allocate(now time.Duration, f Flow, c Checker) (uint16, error) {
	step := 2
	if ref.perSocket {
		step = 1
	}
	remaining := uint32(ref.high - ref.low)
	if !ref.perSocket && remaining > 1 {
		remaining &= ^uint32(1)
	}
	var index, offset uint32
	switch ref.era {
	case "mainline":
		jiffiesBucket := uint32(uint64(now+ref.phase) / uint64(10*time.Second))
		po := lxRefPortOffset(ref.k0, ref.k1, f.Src, f.Dst, jiffiesBucket)
		index = uint32(po) & uint32(len(ref.table)-1)
		offset = ref.table[index] + uint32(po>>32)
		offset %= remaining
	case "5.12":
		po := lxRefPortOffset32(ref.k0, ref.k1, f.Src, f.Dst)
		index = (po * 0x61C88647) >> (32 - 8)
		offset = (ref.table[index] + po) % remaining
	case "4.6":
		po := lxRefPortOffset32(ref.k0, ref.k1, f.Src, f.Dst)
		offset = (ref.hint + po) % remaining
	}
	if !ref.perSocket {
		offset &= ^uint32(1)
	}
	var i, port int
otherParityScan:
	port = ref.low + int(offset)
	for i = 0; i < int(remaining); i, port = i+step, port+step {
		if port >= ref.high {
			port -= int(remaining)
		}
		if c.Free(uint16(port), f) {
			goto ok
		}
	}
	if !ref.perSocket {
		offset++
		if offset&1 == 1 && remaining > 1 {
			goto otherParityScan
		}
	}
	return 0, ErrExhausted
ok:
	switch ref.era {
	case "mainline":
		i = max(i, int(ref.rng.Uint32N(8))*step)
		ref.table[index] += uint32(i + step)
	case "5.12":
		if ref.entropy && i == 0 && ref.rng.Uint32N(16) == 0 {
			i = 2
		}
		ref.table[index] += uint32(i + 2)
	case "4.6":
		ref.hint += uint32(i + 2)
	}
	return uint16(port), nil
}

// lxRefConnect41 is the pre-4.2 __inet_hash_connect.
type lxRefConnect41 struct {
	low, remaining int
	k0, k1         uint64
	hint           uint32
}

func (ref *lxRefConnect41) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	offset := ref.hint + lxRefPortOffset32(ref.k0, ref.k1, f.Src, f.Dst)
	for i := 1; i <= ref.remaining; i++ {
		port := ref.low + int((uint32(i)+offset)%uint32(ref.remaining))
		if c.Free(uint16(port), f) {
			ref.hint += uint32(i)
			return uint16(port), nil
		}
	}
	return 0, ErrExhausted
}

// lxRefBind is inet_csk_find_open_port.
type lxRefBind struct {
	low, high int
	reuse     bool
	rng       *rand.Rand
}

func (ref *lxRefBind) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	attemptHalf := 0
	if ref.reuse {
		attemptHalf = 1
	}
otherHalfScan:
	low, high := ref.low, ref.high
	if high-low < 4 {
		attemptHalf = 0
	}
	if attemptHalf != 0 {
		half := low + (((high - low) >> 2) << 1)
		if attemptHalf == 1 {
			high = half
		} else {
			low = half
		}
	}
	remaining := uint32(high - low)
	if remaining > 1 {
		remaining &= ^uint32(1)
	}
	offset := ref.rng.Uint32N(remaining)
	offset |= 1
otherParityScan:
	port := low + int(offset)
	for i := 0; i < int(remaining); i, port = i+2, port+2 {
		if port >= high {
			port -= int(remaining)
		}
		if c.Free(uint16(port), f) {
			return uint16(port), nil
		}
	}
	offset--
	if offset&1 == 0 {
		goto otherParityScan
	}
	if attemptHalf == 1 {
		attemptHalf = 2
		goto otherHalfScan
	}
	return 0, ErrExhausted
}

// lxRecorder is a 4-tuple Checker over a deny pattern that records every
// probe in order.
type lxRecorder struct {
	deny   func(port uint16) bool
	held   map[lxHeldKey]bool
	probes []uint16
}

type lxHeldKey struct {
	port uint16
	dst  netip.AddrPort
}

func (r *lxRecorder) Free(p uint16, f Flow) bool {
	r.probes = append(r.probes, p)
	return !r.deny(p) && !r.held[lxHeldKey{p, f.Dst}]
}

// lxBatch answers runs itself, positions from Cycle.Port, recording the
// same probes as Free would.
type lxBatch struct{ *lxRecorder }

func (b lxBatch) ScanFree(f Flow, c Cycle, off, n int) (uint16, int, bool) {
	for k := range n {
		p := c.Port(off, k)
		b.probes = append(b.probes, p)
		if !b.deny(p) && !b.held[lxHeldKey{p, f.Dst}] {
			return p, k + 1, true
		}
	}
	return 0, n, false
}

// lxFlows returns IPv4 and IPv6 flows to a few destinations.
func lxFlows() []Flow {
	return []Flow{
		{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")},
		{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.2:443")},
		{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:80")},
		{Path: Connect, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::443]:443")},
		{Path: Connect, Src: netip.MustParseAddr("::ffff:10.0.0.1"), Dst: netip.MustParseAddrPort("[::ffff:198.18.0.9]:8080")},
	}
}

// lxDiffCase is one differential scenario.
type lxDiffCase struct {
	name   string
	lo, hi uint16
	seed   uint64
	deny   func(uint16) bool
	ops    []byte // each op: flow, time step, hold or release
}

// lxRunDifferential drives the allocator a (built twice: plain and batch
// Checker) and the reference ref through the same calls and requires the
// same ports, errors and probe sequences.
func lxRunDifferential(t *testing.T, tc lxDiffCase, build func() Allocator, newRef func() Allocator) {
	t.Helper()
	impls := []Allocator{build(), build(), newRef()}
	recs := make([]*lxRecorder, 3)
	for i := range recs {
		recs[i] = &lxRecorder{deny: tc.deny, held: map[lxHeldKey]bool{}}
	}
	flows := lxFlows()
	now := time.Duration(0)
	var heldOrder []lxHeldKey
	for call, op := range tc.ops {
		f := flows[int(op)%len(flows)]
		now += time.Duration(op>>3) * 97 * time.Millisecond
		var got [3]string
		var port uint16
		var ok bool
		for j, a := range impls {
			recs[j].probes = recs[j].probes[:0]
			var c Checker = recs[j]
			if j == 1 {
				c = lxBatch{recs[j]}
			}
			p, err := a.Allocate(now, f, c)
			got[j] = fmt.Sprintf("port %d err %v probes %v", p, err, recs[j].probes)
			if err == nil {
				recs[j].held[lxHeldKey{p, f.Dst}] = true
				port, ok = p, true
			} else if !errors.Is(err, ErrExhausted) {
				t.Fatalf("%s call %d: unexpected error %v", tc.name, call, err)
			}
		}
		if got[0] != got[2] {
			t.Fatalf("%s call %d (%v at %v):\n  allocator %s\n  reference %s", tc.name, call, f.Dst, now, got[0], got[2])
		}
		if got[0] != got[1] {
			t.Fatalf("%s call %d (%v at %v):\n  plain Checker %s\n  batch Checker %s", tc.name, call, f.Dst, now, got[0], got[1])
		}
		if !ok {
			continue
		}
		heldOrder = append(heldOrder, lxHeldKey{port, f.Dst})
		if op&4 != 0 && len(heldOrder) > 0 { // release the oldest
			k := heldOrder[0]
			heldOrder = heldOrder[1:]
			for _, r := range recs {
				delete(r.held, k)
			}
		}
	}
}

// lxDiffCases returns ranges of every shape (even and odd sizes, one,
// two, three and four ports, the default range) with deny patterns that force
// second passes and failures.
func lxDiffCases(seed uint64, opsLen int) []lxDiffCase {
	r := rand.New(rand.NewPCG(seed, 77))
	ops := func() []byte {
		b := make([]byte, opsLen)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	return []lxDiffCase{
		{"default-range-sparse", 32768, 60999, seed, func(p uint16) bool { return p%7 == 3 }, ops()},
		{"even-denied", 32768, 36767, seed + 1, func(p uint16) bool { return p%2 == 0 && p%1009 != 5 }, ops()},
		{"odd-size-even-denied", 20000, 20100, seed + 9, func(p uint16) bool { return p%2 == 0 }, ops()},
		{"odd-size-101", 20000, 20100, seed + 2, func(p uint16) bool { return p%5 != 0 }, ops()},
		{"odd-size-tiny", 5000, 5004, seed + 3, func(p uint16) bool { return false }, ops()},
		{"one-port", 7000, 7000, seed + 4, func(p uint16) bool { return false }, ops()},
		{"two-ports", 7000, 7001, seed + 5, func(p uint16) bool { return false }, ops()},
		{"three-ports", 7001, 7003, seed + 6, func(p uint16) bool { return p == 7002 }, ops()},
		{"top-of-port-space", 65500, 65535, seed + 7, func(p uint16) bool { return p%3 == 0 }, ops()},
		{"all-denied", 40000, 40099, seed + 8, func(p uint16) bool { return true }, ops()},
		// Four ports: the smallest range that bind(0) with SO_REUSEADDR
		// splits in halves (high - low < 4 with high exclusive).
		{"four-ports", 7010, 7013, seed + 10, func(p uint16) bool { return p == 7011 }, ops()},
	}
}

// lxDiffAllocators builds each Linux allocator and its reference for a
// case.
func lxDiffAllocators(tc lxDiffCase) []struct {
	name       string
	build, ref func() Allocator
} {
	rg := Range{Lo: tc.lo, Hi: tc.hi}
	n := rg.Size()
	type pair = struct {
		name       string
		build, ref func() Allocator
	}
	return []pair{
		{"linux", func() Allocator { return newLinuxConnect(rg, tc.seed, 65536, false) },
			func() Allocator { return lxNewRefConnect("mainline", rg, tc.seed, 65536, false, false) }},
		{"linux/table=4", func() Allocator { return newLinuxConnect(rg, tc.seed, 4, false) },
			func() Allocator { return lxNewRefConnect("mainline", rg, tc.seed, 4, false, false) }},
		{"linux/per_socket_range", func() Allocator { return newLinuxConnect(rg, tc.seed, 65536, true) },
			func() Allocator { return lxNewRefConnect("mainline", rg, tc.seed, 65536, true, false) }},
		{"linux-5.12", func() Allocator { return newLinux512(rg, tc.seed, true) },
			func() Allocator { return lxNewRefConnect("5.12", rg, tc.seed, 256, false, true) }},
		{"linux-4.6", func() Allocator { return newLinux46(rg, tc.seed) },
			func() Allocator { return lxNewRefConnect("4.6", rg, tc.seed, 0, false, false) }},
		{"linux-4.1", func() Allocator { return newLinux41(rg, tc.seed) },
			func() Allocator {
				k0, k1 := secretKey(tc.seed)
				return &lxRefConnect41{low: int(tc.lo), remaining: n, k0: k0, k1: k1}
			}},
		{"linux-bind", func() Allocator { return &linuxBind{lo: tc.lo, n: n, rng: newRNG(tc.seed, streamPick)} },
			func() Allocator {
				return &lxRefBind{low: int(tc.lo), high: int(tc.hi) + 1, rng: newRNG(tc.seed, streamPick)}
			}},
		{"linux-bind/reuseaddr", func() Allocator {
			return &linuxBind{lo: tc.lo, n: n, reuseaddr: true, rng: newRNG(tc.seed, streamPick)}
		},
			func() Allocator {
				return &lxRefBind{low: int(tc.lo), high: int(tc.hi) + 1, reuse: true, rng: newRNG(tc.seed, streamPick)}
			}},
	}
}

// TestLinuxMatchesReference compares every Linux allocator with its naive
// kernel-loop reference on ranges of every shape, through a plain and a
// batch Checker: same ports, same errors, same probes in the same order.
func TestLinuxMatchesReference(t *testing.T) {
	for _, tc := range lxDiffCases(1, 400) {
		for _, a := range lxDiffAllocators(tc) {
			t.Run(a.name+"/"+tc.name, func(t *testing.T) {
				lxRunDifferential(t, tc, a.build, a.ref)
			})
		}
	}
}

// TestLinux41HintWrap forces the pre-4.2 u32 sum hint + port_offset + i to
// wrap at 2^32 in the middle of a search, where the candidate sequence
// jumps, and compares with the reference loop.
func TestLinux41HintWrap(t *testing.T) {
	rg := Range{Lo: 32768, Hi: 61000}
	f := lxFlows()[0]
	for _, back := range []uint32{0, 1, 5, 1000, 28232, 28233} {
		a := newLinux41(rg, 9)
		ref := &lxRefConnect41{low: int(rg.Lo), remaining: rg.Size(), k0: a.k0, k1: a.k1}
		po := linuxSecurePortEphemeral32(a.k0, a.k1, f.Src, f.Dst)
		// offset = hint + po = 2^32 - 1 - back: the sum wraps at i = back + 1.
		a.hint = ^uint32(0) - back - po
		ref.hint = a.hint
		deny := func(p uint16) bool { return p%11 != 0 }
		r1 := &lxRecorder{deny: deny, held: map[lxHeldKey]bool{}}
		r2 := &lxRecorder{deny: deny, held: map[lxHeldKey]bool{}}
		p1, err1 := a.Allocate(0, f, r1)
		p2, err2 := ref.Allocate(0, f, r2)
		if p1 != p2 || err1 != err2 || !slices.Equal(r1.probes, r2.probes) {
			t.Fatalf("back=%d: allocator %d %v (%d probes), reference %d %v (%d probes)", back, p1, err1, len(r1.probes), p2, err2, len(r2.probes))
		}
		if a.hint != ref.hint {
			t.Fatalf("back=%d: hint %d, reference %d", back, a.hint, ref.hint)
		}
	}
}

// FuzzLinuxConnect compares the mainline connect() allocator (and the
// older eras and bind(0)) with the naive references on fuzzed ranges,
// seeds, deny patterns and call sequences.
func FuzzLinuxConnect(f *testing.F) {
	f.Add(uint64(1), uint16(32768), uint16(28232), uint16(7), []byte{0, 9, 18, 200, 3, 4, 255, 17})
	f.Add(uint64(2), uint16(20000), uint16(101), uint16(2), []byte{1, 1, 1, 1, 1, 1, 1})
	f.Add(uint64(3), uint16(65534), uint16(2), uint16(1), []byte{5, 6, 7, 8})
	f.Add(uint64(4), uint16(1), uint16(3), uint16(0), []byte{0, 4, 8, 12, 16})
	f.Fuzz(func(t *testing.T, seed uint64, lo, size, mod uint16, ops []byte) {
		if lo == 0 || size == 0 || int(lo)+int(size)-1 > 65535 || len(ops) > 200 {
			t.Skip()
		}
		hi := lo + size - 1
		deny := func(p uint16) bool { return false }
		if mod > 1 {
			deny = func(p uint16) bool { return uint64(p%mod) == seed%uint64(mod) }
		}
		tc := lxDiffCase{name: "fuzz", lo: lo, hi: hi, seed: seed, deny: deny, ops: ops}
		for _, a := range lxDiffAllocators(tc) {
			lxRunDifferential(t, tc, a.build, a.ref)
		}
	})
}

// TestLinuxOffsetMemo checks the memoised port_offset against a fresh
// SipHash at every call, across bucket edges (one nanosecond either side),
// time going back, and alternating destinations and sources, two of
// which share a memo slot.
func TestLinuxOffsetMemo(t *testing.T) {
	l := newLinuxConnect(Range{Lo: 32768, Hi: 60999}, 7, 1<<16, false)
	rng := rand.New(rand.NewPCG(11, 12))
	flows := []Flow{
		{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")},
		{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.2:443")},
		{Path: Connect, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:443")},
		// The first flow's memo slot, from another source.
		{Path: Connect, Src: netip.MustParseAddr("10.0.1.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")},
	}
	var now time.Duration
	for i := range 20000 {
		switch rng.IntN(4) {
		case 0: // just before or at or after a bucket edge
			edge := (now+l.phase)/linuxShufflePeriod*linuxShufflePeriod + linuxShufflePeriod - l.phase
			now = edge + time.Duration(rng.IntN(3)-1)
		case 1:
			now = max(0, now-time.Duration(rng.Int64N(int64(time.Minute))))
		default:
			now += time.Duration(rng.Int64N(int64(3 * time.Second)))
		}
		f := flows[rng.IntN(len(flows))]
		want := linuxSecurePortEphemeral(l.k0, l.k1, f.Src, f.Dst, linuxTimeSeed(now, l.phase))
		if got := l.portOffset(now, f); got != want {
			t.Fatalf("call %d at %v for %v: memoised offset %#x, fresh %#x", i, now, f.Dst, got, want)
		}
	}
}

// TestLinux41OffsetWrap: the pre-4.2 loop computes (i + offset) %
// remaining with i + offset a u32, so when offset is within remaining of
// 2^32 the candidates run up to the wrap and then restart at position
// 0, not where (offset + i) mod remaining would continue; with a range
// size that does not divide 2^32 the two differ. The hint is set so
// that offset + 1 falls on every value from 2^32 - remaining - 1 to
// 2^32 + 1 (0 and 1 after the wrap), and the model must probe the same
// ports in the same order as the kernel loop, with every port refused and
// with a single free port at each position, and advance the hint alike.
func TestLinux41OffsetWrap(t *testing.T) {
	f := lxFlows()[0]
	for _, rg := range []Range{{Lo: 1000, Hi: 1009}, {Lo: 20000, Hi: 20006}, {Lo: 5000, Hi: 5002}} {
		n := rg.Size()
		for j := -1; j <= n+1; j++ {
			start := uint32(-j) // offset + 1: 2^32 - j
			frees := []int{-1}  // -1: every port refused
			for k := range n {
				frees = append(frees, k)
			}
			for _, free := range frees {
				deny := func(p uint16) bool { return free < 0 || int(p-rg.Lo) != free }
				m := newLinux41(rg, 9)
				k0, k1 := secretKey(9)
				ref := &lxRefConnect41{low: int(rg.Lo), remaining: n, k0: k0, k1: k1}
				po := linuxSecurePortEphemeral32(m.k0, m.k1, f.Src, f.Dst)
				m.hint = start - 1 - po
				ref.hint = m.hint
				var got, want string
				for _, x := range []struct {
					a   Allocator
					out *string
				}{{m, &got}, {ref, &want}} {
					rec := &lxRecorder{deny: deny, held: map[lxHeldKey]bool{}}
					p, err := x.a.Allocate(0, f, rec)
					*x.out = fmt.Sprintf("port %d err %v probes %v", p, err, rec.probes)
				}
				if got != want || m.hint != ref.hint {
					t.Fatalf("%v, offset+1 = 2^32-%d, free position %d:\n  model  %s hint %#x\n  kernel %s hint %#x", rg, j, free, got, m.hint, want, ref.hint)
				}
			}
		}
	}
}
