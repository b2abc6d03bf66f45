package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/portsim/portsim/allocator"
)

// Inside is the inside hosts behind a NAT (pods or containers behind a
// masquerading node), each choosing its own connections' source ports
// with its own allocator, as each network namespace has its own port
// table and secret. Their choices are the flows' original ports
// (allocator.Flow.OrigPort), which a NAT tries to keep. With Hosts 0 the
// workload's own original ports are used (Workload.OrigPorts).
type Inside struct {
	// Hosts is the number of inside hosts, 0 for none; a flow comes from
	// one of them chosen uniformly at random.
	Hosts int
	// Spec is the allocator of every inside host (each with its own seed)
	// and Params its parameters; the host's stack is the allocator's
	// Profile (range, TIME_WAIT).
	Spec   allocator.Spec
	Params map[string]string
}

// insideKey is a port of one inside host towards one destination,
// packed as host<<48 | destination index<<16 | port so that the map of
// held ports hashes one word. The destination index is the inside
// hosts' own numbering of the destinations they have met (inside.dsts).
type insideKey uint64

// noInside is the insideKey of no port: its host, 65535, is above the
// most inside hosts there may be (65000).
const noInside = ^insideKey(0)

func makeInsideKey(host, dst int32, port uint16) insideKey {
	return insideKey(uint64(uint16(host))<<48 | uint64(uint32(dst))<<16 | uint64(port))
}

func (k insideKey) host() int32                 { return int32(k >> 48) }
func (k insideKey) dst() int32                  { return int32(uint32(k >> 16)) }
func (k insideKey) port() uint16                { return uint16(k) }
func (k insideKey) withPort(p uint16) insideKey { return k&^0xffff | insideKey(p) }

// insideTW is an inside host's TIME_WAIT entry ending at at.
type insideTW struct {
	at  int64
	key insideKey
}

// inside is the state of the inside hosts: their allocators and the
// ports their connections hold (established or in TIME_WAIT), by
// destination.
type inside struct {
	allocs []allocator.Allocator
	rels   []allocator.Releaser
	held   map[insideKey]int32
	dstIDs map[netip.AddrPort]int32 // index of each destination met
	dsts   []netip.AddrPort         // the destinations by index
	conns  []insideKey              // by connection id: its inside port (noInside: none)
	tw     []insideTW               // TIME_WAIT entries in time order, from twHead on
	twHead int
	twLen  int64
	lo, hi uint16
	rng    *rand.Rand
	probes int
	cur    insideKey // the inside port of the attempt being made
	ok     bool      // cur holds a port
}

func newInside(in Inside, allocSeed, seed uint64) (*inside, error) {
	if in.Hosts < 0 || in.Hosts > 65000 {
		return nil, fmt.Errorf("sim: inside-hosts %d: expected a whole number in 0..65000", in.Hosts)
	}
	spec := in.Spec
	if spec.New == nil {
		return nil, fmt.Errorf("sim: inside-hosts %d needs an inside allocator", in.Hosts)
	}
	s := &inside{held: map[insideKey]int32{}, dstIDs: map[netip.AddrPort]int32{}, twLen: int64(spec.Profile.TimeWait),
		lo: spec.Profile.Range.Lo, hi: spec.Profile.Range.Hi, rng: rand.New(rand.NewPCG(seed, 0x696e73696465))} // "inside"
	for h := range in.Hosts {
		a, err := spec.Build(allocator.Config{Range: spec.Profile.Range, Seed: allocSeed ^ (uint64(h+1) * 0x9e3779b97f4a7c15), Params: in.Params})
		if err != nil {
			return nil, fmt.Errorf("sim: inside allocator: %w", err)
		}
		r, _ := a.(allocator.Releaser)
		s.allocs, s.rels = append(s.allocs, a), append(s.rels, r)
	}
	return s, nil
}

// hostAddr is the address of inside host h: 10.244.0.0/16 from .0.1 on.
func hostAddr(h int32) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 244, byte((h + 1) >> 8), byte(h + 1)})
}

// Free reports whether port p is free on the inside host of f towards
// f's destination (allocator.Checker).
func (in *inside) Free(p uint16, f allocator.Flow) bool {
	in.probes++
	if p < in.lo || p > in.hi {
		return false
	}
	k := in.cur
	if f.Dst != in.dsts[k.dst()] {
		// The allocator asks about another destination than the one of
		// the attempt being made.
		d, ok := in.dstIDs[f.Dst]
		if !ok {
			return true // no inside port towards it was ever held
		}
		k = makeInsideKey(k.host(), d, 0)
	}
	return in.held[k.withPort(p)] == 0
}

// pick chooses the inside port of flow f from a random inside host at
// now and sets f.OrigPort; false means the inside host has no port free.
func (in *inside) pick(now int64, f *allocator.Flow) bool {
	for in.twHead < len(in.tw) && in.tw[in.twHead].at <= now {
		in.drop(in.tw[in.twHead].key)
		in.twHead++
	}
	h := int32(in.rng.IntN(len(in.allocs)))
	d, ok := in.dstIDs[f.Dst]
	if !ok {
		d = int32(len(in.dsts))
		in.dstIDs[f.Dst] = d
		in.dsts = append(in.dsts, f.Dst)
	}
	in.cur = makeInsideKey(h, d, 0)
	in.ok = false
	hf := allocator.Flow{Path: f.Path, Src: hostAddr(h), Dst: f.Dst}
	p, err := in.allocs[h].Allocate(time.Duration(now), hf, in)
	if err != nil {
		return false
	}
	in.cur = in.cur.withPort(p)
	in.held[in.cur]++
	in.ok = true
	f.OrigPort = p
	return true
}

// drop releases one hold of key.
func (in *inside) drop(k insideKey) {
	if n := in.held[k]; n > 1 {
		in.held[k] = n - 1
	} else {
		delete(in.held, k)
	}
	if r := in.rels[k.host()]; r != nil {
		r.Release(0, allocator.Flow{Src: hostAddr(k.host()), Dst: in.dsts[k.dst()]}, k.port())
	}
}

// abandon releases the port of a connect that failed: the socket closes
// without TIME_WAIT.
func (in *inside) abandon(k insideKey) { in.drop(k) }

// close ends connection id's inside socket at now: a client close holds
// TIME_WAIT on the inside host, other closes free the port.
func (in *inside) close(id int32, now int64, clientClose bool) {
	if int(id) >= len(in.conns) || in.conns[id] == noInside {
		return
	}
	k := in.conns[id]
	in.conns[id] = noInside
	if clientClose && in.twLen > 0 {
		if in.twHead > 0 && in.twHead >= len(in.tw)/2 {
			// Move the live entries to the front instead of letting
			// append copy them to a new array again and again.
			n := copy(in.tw, in.tw[in.twHead:])
			in.tw, in.twHead = in.tw[:n], 0
		}
		in.tw = append(in.tw, insideTW{at: now + in.twLen, key: k})
		return
	}
	in.drop(k)
}

// opened records that connection id holds the inside port of the attempt
// just made.
func (in *inside) opened(id int32) {
	for int(id) >= len(in.conns) {
		in.conns = append(in.conns, noInside)
	}
	in.conns[id] = in.cur
}
