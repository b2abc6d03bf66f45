package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/dchest/siphash"
	"github.com/portsim/portsim/allocator"
)

// exampleSpec is the allocator this program adds to portsim: RFC 6056
// Algorithm 3 (§3.3.3) with the random increments of Algorithm 5
// (§3.3.5) kept per destination instead of globally.
//
// For a flow to destination d it computes, as Algorithm 3 does, an
// offset F(local address, remote address, remote port, secret) with a
// keyed hash, and searches the range linearly from offset + next[d]. Like
// Algorithm 5, after each allocation the counter advances by a random
// step in 1..incr, but the counter belongs to the destination, so
// connections to one server do not reveal how many went to others, and
// successive ports to one server differ by a random amount instead of
// by one.
func exampleSpec() allocator.Spec {
	return allocator.Spec{
		Name:    "example",
		Summary: "keyed-hash offset per destination plus a per-destination counter advanced by a random step 1..incr",
		Source:  "RFC 6056 §3.3.3 (Algorithm 3) with §3.3.5's random increments, kept per destination",
		// The defaults of the stack the example runs on: Linux's range and
		// TIME_WAIT, 4-tuple sharing, no tcp_tw_reuse.
		Profile: allocator.Profile{
			Range:    allocator.Range{Lo: 32768, Hi: 60999},
			TimeWait: 60 * time.Second,
			Scope:    allocator.FourTuple,
		},
		Params: []allocator.Param{
			{Name: "incr", Default: "500", Doc: "the largest random step of a destination's counter, 1..65535 (Algorithm 5's N)"},
		},
		// A search covers the whole range once.
		Bound:      func(cfg allocator.Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg allocator.Config) (allocator.Allocator, error) {
			incr, err := cfg.Int("incr", 1, 65535)
			if err != nil {
				return nil, err
			}
			rng := rand.New(rand.NewPCG(cfg.Seed, 0x6578616d706c65))
			return &perDest{
				cyc:  allocator.Cycle{Base: cfg.Range.Lo, Len: cfg.Range.Size(), Step: 1},
				k0:   rng.Uint64(),
				k1:   rng.Uint64(),
				rng:  rng,
				incr: incr,
				next: map[destKey]int{},
			}, nil
		},
	}
}

// destKey identifies a destination as the hash does: local address,
// remote address and remote port.
type destKey struct {
	src netip.Addr
	dst netip.AddrPort
}

// perDest is the example allocator's state: the hash key, the random
// source for the steps and one counter per destination.
type perDest struct {
	cyc    allocator.Cycle
	k0, k1 uint64
	rng    *rand.Rand
	incr   int
	next   map[destKey]int
	buf    [36]byte
}

// Allocate searches the range from the destination's hashed offset plus
// its counter, then advances the counter by a random step.
func (a *perDest) Allocate(_ time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	src, dst := f.Src.As16(), f.Dst.Addr().As16()
	copy(a.buf[0:16], src[:])
	copy(a.buf[16:32], dst[:])
	binary.BigEndian.PutUint16(a.buf[32:34], f.Dst.Port())
	binary.BigEndian.PutUint16(a.buf[34:36], uint16(f.Path))
	off := int(siphash.Hash(a.k0, a.k1, a.buf[:]) % uint64(a.cyc.Len))
	k := destKey{src: f.Src, dst: f.Dst}
	next := a.next[k]
	port, _, ok := allocator.Scan(c, f, a.cyc, (off+next)%a.cyc.Len, a.cyc.Len)
	a.next[k] = (next + 1 + a.rng.IntN(a.incr)) % a.cyc.Len
	if !ok {
		return 0, allocator.ErrExhausted
	}
	return port, nil
}

// String names the allocator in errors.
func (a *perDest) String() string { return fmt.Sprintf("example(incr=%d)", a.incr) }
