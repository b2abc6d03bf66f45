package sim

import (
	"math/bits"
	"net/netip"

	"github.com/portsim/portsim/allocator"
)

// srcTable is what one source address holds in one protocol's port
// space: how many sockets hold each local port (established or in
// TIME_WAIT, any destination), and how many of those were bound
// explicitly (bind(0) sockets, which Linux connect() skips).
type srcTable struct {
	addr  netip.Addr
	udp   bool
	used  counts
	bound counts
}

// dstTable is what one (source, destination) pair holds: the 4-tuples
// blocked for a new connect() (established, or in TIME_WAIT and not yet
// reusable) and those in TIME_WAIT, plus the per-destination metric state.
type dstTable struct {
	src *srcTable
	dst netip.AddrPort
	id  int32 // index in state.dstList
	// block holds ports whose 4-tuple a new connection may not use; tw
	// holds ports whose 4-tuple is in TIME_WAIT. With tcp_tw_reuse in
	// force (reuse), a TIME_WAIT port leaves block once it is old enough to
	// be taken over but stays in tw until it expires.
	block, tw portSet
	reuse     bool
	// recs holds per-port history in pages of recPage ports.
	recs [65536 / recPage]*[recPage]portRec

	// Per-destination metric state.
	seq          uint64 // allocations to this destination
	prev         uint16 // previous port, 0 before the first
	wrapAcc      int    // forward distance since the last full turn
	wrapCnt      uint64 // allocations since the last full turn
	oarcN        int    // ports in the current 26-port window
	oarcS, oarcQ int64  // their sum and sum of squares
}

const recPage = 256

// portRec is the history of one 4-tuple.
type portRec struct {
	lastClose int64  // virtual time of the last close, or -1 when never closed
	lastSeq   uint64 // value of seq at the last allocation, 0 when never used
}

func (d *dstTable) rec(p uint16) *portRec {
	pg := d.recs[p/recPage]
	if pg == nil {
		pg = new([recPage]portRec)
		for i := range pg {
			pg[i].lastClose = -1
		}
		d.recs[p/recPage] = pg
	}
	return &pg[p%recPage]
}

// checker is the one allocator.Checker of a run. It answers for the flow
// the simulator is allocating for (cur), counts every probe, and answers
// runs of candidates with word operations (allocator.Scanner).
type checker struct {
	s *state
	// cur is the flow being allocated and its tables.
	cur      allocator.Flow
	curSrc   *srcTable
	curDst   *dstTable
	fourTup  bool     // the 4-tuple test applies (connect in a 4-tuple stack)
	primary  *portSet // the set that decides most answers
	second   *portSet // bound ports, for the 4-tuple test
	probes   int
	reserved *[numWords]uint64 // reserved ports and ports outside the range
}

// setFlow points the checker at the tables of f.
func (c *checker) setFlow(f allocator.Flow, src *srcTable, dst *dstTable) {
	c.cur, c.curSrc, c.curDst = f, src, dst
	c.fourTup = f.Path == allocator.Connect && c.s.cfg.Stack.Scope == allocator.FourTuple
	if c.fourTup {
		c.primary, c.second = &dst.block, nil
		if c.s.binds {
			c.second = &src.bound.nz
		}
	} else {
		c.primary, c.second = &src.used.nz, nil
	}
}

// resolve makes sure the checker answers for f, which is normally the flow
// being allocated; an allocator asking about another flow gets answers
// from that flow's tables.
func (c *checker) resolve(f allocator.Flow) {
	if f == c.cur {
		return
	}
	src, dst := c.s.tables(f)
	c.setFlow(f, src, dst)
}

// blocked reports whether port p is unusable for the current flow.
func (c *checker) blocked(p uint16) bool {
	w, b := int(p>>6), uint64(1)<<(p&63)
	if c.reserved[w]&b != 0 || c.primary.word(w)&b != 0 {
		return true
	}
	return c.second != nil && c.second.word(w)&b != 0
}

// Free answers one probe.
func (c *checker) Free(p uint16, f allocator.Flow) bool {
	c.resolve(f)
	c.probes++
	return !c.blocked(p)
}

// freeWord returns the ports of word w that are usable.
func (c *checker) freeWord(w int) uint64 {
	v := c.reserved[w] | c.primary.word(w)
	if c.second != nil {
		v |= c.second.word(w)
	}
	return ^v
}

// up returns the first usable port of the parity mask in [from, to].
func (c *checker) up(from, to int, mask uint64) (int, bool) {
	if from > to {
		return 0, false
	}
	w, last := from>>6, to>>6
	free := c.freeWord(w) & mask & (^uint64(0) << (from & 63))
	for {
		if w == last {
			free &= ^uint64(0) >> (63 - to&63)
		}
		if free != 0 {
			return w<<6 + bits.TrailingZeros64(free), true
		}
		if w >= last {
			return 0, false
		}
		w = c.primary.nextCandidate(w+1, last, mask)
		if w > last {
			return 0, false
		}
		free = c.freeWord(w) & mask
	}
}

// down returns the last usable port of the parity mask in [to, from],
// scanning down from from.
func (c *checker) down(from, to int, mask uint64) (int, bool) {
	if from < to {
		return 0, false
	}
	w, first := from>>6, to>>6
	free := c.freeWord(w) & mask & (^uint64(0) >> (63 - from&63))
	for {
		if w == first {
			free &= ^uint64(0) << (to & 63)
		}
		if free != 0 {
			return w<<6 + 63 - bits.LeadingZeros64(free), true
		}
		if w <= first {
			return 0, false
		}
		w = c.primary.prevCandidate(w-1, first, mask)
		if w < first {
			return 0, false
		}
		free = c.freeWord(w) & mask
	}
}

// ScanFree answers the candidates of a cycle in order, with word
// operations for the three shapes allocators use (ascending, ascending by
// two over an even-length cycle, descending); other shapes are answered
// one probe at a time. The result and the probe count are exactly those of
// calling Free on each candidate in order.
func (c *checker) ScanFree(f allocator.Flow, cy allocator.Cycle, off, n int) (uint16, int, bool) {
	c.resolve(f)
	if n <= 0 {
		return 0, 0, false
	}
	L := cy.Len
	if off >= L {
		off %= L
	}
	step := cy.Step
	if step >= L {
		step %= L
	}
	base := int(cy.Base)
	var port, tried int
	found := false
	switch {
	case L == 1 || step == 1:
		// off, off+1, ..., L-1, then 0, 1, ... (repeating after L).
		n1 := min(n, L-off)
		start := base + off
		if q, ok := c.up(start, start+n1-1, ^uint64(0)); ok {
			port, tried, found = q, q-start+1, true
		} else if n2 := min(n-n1, off); n2 > 0 {
			if q, ok := c.up(base, base+n2-1, ^uint64(0)); ok {
				port, tried, found = q, n1+q-base+1, true
			}
		}
	case step == 2 && L%2 == 0:
		// One parity class: off, off+2, ... up to L-1, then off&1, ...
		mask := uint64(evenMask)
		if (base+off)&1 == 1 {
			mask = oddMask
		}
		n1 := min(n, (L-off+1)/2)
		start := base + off
		if q, ok := c.up(start, start+2*(n1-1), mask); ok {
			port, tried, found = q, (q-start)/2+1, true
		} else if n2 := min(n-n1, L/2-n1); n2 > 0 {
			s2 := base + off&1
			if q, ok := c.up(s2, s2+2*(n2-1), mask); ok {
				port, tried, found = q, n1+(q-s2)/2+1, true
			}
		}
	case step == L-1:
		// off, off-1, ..., 0, then L-1, L-2, ...
		n1 := min(n, off+1)
		start := base + off
		if q, ok := c.down(start, start-n1+1, ^uint64(0)); ok {
			port, tried, found = q, start-q+1, true
		} else if n2 := min(n-n1, L-off-1); n2 > 0 {
			top := base + L - 1
			if q, ok := c.down(top, top-n2+1, ^uint64(0)); ok {
				port, tried, found = q, n1+top-q+1, true
			}
		}
	default:
		p, k, ok := allocator.ScanEach(probeOnly{c}, f, cy, off, n)
		c.probes += k
		return p, k, ok
	}
	if !found {
		c.probes += n
		return 0, n, false
	}
	c.probes += tried
	return uint16(port), tried, true
}

// probeOnly answers Free without counting, for ScanFree's fallback, which
// counts the candidates it examined itself.
type probeOnly struct{ c *checker }

func (p probeOnly) Free(port uint16, _ allocator.Flow) bool { return !p.c.blocked(port) }
