package sim

import (
	"github.com/portsim/portsim/results"
	"math/bits"
	"net/netip"
	"slices"

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
//
// A pair starts small — sorted slices of its few ports and of the
// history of the ports it has used, a few hundred bytes — and its sets
// turn dense (bitsets with parity summaries) once it holds more than
// smallPorts ports, its history an array over the range once it has used
// more than smallRecs ports. So memory grows with the ports each
// destination actually uses: a run over 100,000 destinations that see a
// handful of connections each stays small, and one busy destination gets
// the word operations that make a full parity scan cheap.
type dstTable struct {
	src *srcTable
	dst netip.AddrPort
	id  int32 // index in state.dstList
	// reuse says tcp_tw_reuse applies: a TIME_WAIT port leaves the blocked
	// set once it is old enough to be taken over, but stays in TIME_WAIT
	// until it expires.
	reuse bool
	// taken says a TIME_WAIT 4-tuple of this pair was taken over without
	// tcp_tw_reuse (an explicit bind, a NAT eviction), so its expiry timers
	// may be stale.
	taken bool

	// Small form (dense == nil): sorted ports. History: sorted (recs ==
	// nil), then one entry per port of the range from recBase.
	sBlock, sTW []uint16
	dense       *denseDst
	sPorts      []uint16  // sorted ports with a history (small form)
	sRecs       []portRec // their histories, index for index
	recs        []portRec
	recBase     uint16
	recHalf     uint16 // entries of the first parity in recs

	// metrics is the destination's state for the allocation metrics
	// (results.Run.Allocated); metrics.Seq counts its allocations.
	metrics results.DestState
}

// serves reports whether d (nil for none) is the table of flow f, whose
// protocol udp gives.
func (d *dstTable) serves(f *allocator.Flow, udp bool) bool {
	return d != nil && d.src.addr == f.Src && d.src.udp == udp && d.dst == f.Dst
}

// Thresholds of the small forms of a dstTable.
const (
	smallPorts = 32   // ports blocked or in TIME_WAIT
	smallRecs  = 2048 // ports with a history
)

// denseDst is the dense form of a dstTable's sets.
type denseDst struct {
	block, tw portSet
}

// portRec is the history of one 4-tuple.
type portRec struct {
	lastClose int64  // virtual time of the last close, or -1 when never closed
	lastSeq   uint64 // value of seq at the last allocation, 0 when never used
}

// makeDense converts a small table to the dense form.
func (d *dstTable) makeDense() {
	dd := &denseDst{}
	dd.block.init()
	dd.tw.init()
	for _, p := range d.sBlock {
		dd.block.set(p)
	}
	for _, p := range d.sTW {
		dd.tw.set(p)
	}
	d.dense = dd
	d.sBlock, d.sTW = nil, nil
}

// rec returns the history of port p, which lies in the range lo..lo+n-1,
// creating it. The pointer is valid until the next call.
func (d *dstTable) rec(p uint16, lo uint16, n int) *portRec {
	if d.recs != nil {
		return &d.recs[d.recIndex(p)]
	}
	i, found := slices.BinarySearch(d.sPorts, p)
	if found {
		return &d.sRecs[i]
	}
	if len(d.sRecs) < smallRecs {
		d.sPorts = slices.Insert(d.sPorts, i, p)
		d.sRecs = slices.Insert(d.sRecs, i, portRec{lastClose: -1})
		return &d.sRecs[i]
	}
	d.recs, d.recBase, d.recHalf = make([]portRec, n), lo, uint16((n+1)/2)
	for i := range d.recs {
		d.recs[i].lastClose = -1
	}
	for j, port := range d.sPorts {
		d.recs[d.recIndex(port)] = d.sRecs[j]
	}
	d.sPorts, d.sRecs = nil, nil
	return &d.recs[d.recIndex(p)]
}

// recIndex returns the index of port p in the dense history: the ports of
// one parity (relative to recBase) first, then the other. Linux connect()
// takes the ports of one parity while the other is full, so keeping a
// parity together halves the memory its reuse metrics walk through.
func (d *dstTable) recIndex(p uint16) int {
	off := p - d.recBase
	return int(off>>1) + int(off&1)*int(d.recHalf)
}

// The blocked and TIME_WAIT sets, in either form.

func (d *dstTable) blocked(p uint16) bool {
	if d.dense != nil {
		return d.dense.block.has(p)
	}
	_, found := slices.BinarySearch(d.sBlock, p)
	return found
}

func (d *dstTable) inTW(p uint16) bool {
	if d.dense != nil {
		return d.dense.tw.has(p)
	}
	_, found := slices.BinarySearch(d.sTW, p)
	return found
}

func (d *dstTable) setBlock(p uint16) {
	if d.dense == nil && !smallAdd(&d.sBlock, p) {
		d.makeDense()
	}
	if d.dense != nil {
		d.dense.block.set(p)
	}
}

func (d *dstTable) clearBlock(p uint16) {
	if d.dense != nil {
		d.dense.block.clear(p)
		return
	}
	smallRemove(&d.sBlock, p)
}

func (d *dstTable) setTW(p uint16) {
	if d.dense == nil && !smallAdd(&d.sTW, p) {
		d.makeDense()
	}
	if d.dense != nil {
		d.dense.tw.set(p)
	}
}

func (d *dstTable) clearTW(p uint16) {
	if d.dense != nil {
		d.dense.tw.clear(p)
		return
	}
	smallRemove(&d.sTW, p)
}

// smallAdd inserts p into the sorted set, or reports false when the set
// is full (the table must turn dense).
func smallAdd(set *[]uint16, p uint16) bool {
	i, found := slices.BinarySearch(*set, p)
	if found {
		return true
	}
	if len(*set) >= smallPorts {
		return false
	}
	*set = slices.Insert(*set, i, p)
	return true
}

func smallRemove(set *[]uint16, p uint16) {
	if i, found := slices.BinarySearch(*set, p); found {
		*set = slices.Delete(*set, i, i+1)
	}
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
	fourTup  bool      // the 4-tuple test applies (connect in a 4-tuple stack)
	small    *dstTable // the 4-tuple test on a table in its small form
	primary  *portSet  // the set that decides most answers
	second   *portSet  // bound ports, for the 4-tuple test
	probes   int
	reserved *[numWords]uint64 // reserved ports and ports outside the range
	// grant is a port in TIME_WAIT that BindConnect or FreeOrEvict let the
	// current attempt take over, or -1.
	grant int32
}

// setFlow points the checker at the tables of f.
func (c *checker) setFlow(f allocator.Flow, src *srcTable, dst *dstTable) {
	c.cur, c.curSrc, c.curDst = f, src, dst
	c.fourTup = f.Path == allocator.Connect && c.s.cfg.Stack.Scope == allocator.FourTuple
	c.small = nil
	if c.fourTup {
		c.primary, c.second = nil, nil
		if dst.dense != nil {
			c.primary = &dst.dense.block
		} else {
			c.small = dst
		}
		if c.s.binds {
			c.second = &src.bound.nz
		}
	} else {
		c.primary, c.second = &src.used.nz, nil
	}
}

// sameTables reports whether two flows use the same tables: the same
// path, source and destination. OrigPort and the rest of a flow do not
// choose tables, so comparing them on every probe would be wasted work.
func sameTables(a, b *allocator.Flow) bool {
	return a.Path == b.Path && a.Dst == b.Dst && a.Src == b.Src
}

// resolve makes sure the checker answers for f, which is normally the flow
// being allocated; an allocator asking about another flow gets answers
// from that flow's tables.
//
// Callers test sameTables themselves, inline, and call resolve only when
// it fails: passing a Flow to a call on every probe costs more than the
// probe.
func (c *checker) resolve(f allocator.Flow) {
	src, dst := c.s.tables(f)
	c.setFlow(f, src, dst)
}

// blocked reports whether port p is unusable for the current flow.
func (c *checker) blocked(p uint16) bool {
	w, b := int(p>>6), uint64(1)<<(p&63)
	if c.reserved[w]&b != 0 {
		return true
	}
	if c.small != nil {
		if c.small.blocked(p) {
			return true
		}
	} else if c.primary.word(w)&b != 0 {
		return true
	}
	return c.second != nil && c.second.word(w)&b != 0
}

// Free answers one probe.
func (c *checker) Free(p uint16, f allocator.Flow) bool {
	if !sameTables(&f, &c.cur) {
		c.resolve(f)
	}
	c.probes++
	return !c.blocked(p)
}

// BindConnect answers one probe for a socket bound explicitly to p with
// SO_REUSEADDR that then connects (allocator.BindConnecter). The bind
// fails on a reserved port and on a port held by a socket that bound
// without a destination (bind(0) or a listener), and in an exclusive stack
// on any port in use; connect() then fails on an established 4-tuple and
// on one in TIME_WAIT without timestamps, and takes a TIME_WAIT 4-tuple
// over with them, whatever tcp_tw_reuse and its delay say.
func (c *checker) BindConnect(p uint16, f allocator.Flow) allocator.Connection {
	if !sameTables(&f, &c.cur) {
		c.resolve(f)
	}
	c.probes++
	w, b := int(p>>6), uint64(1)<<(p&63)
	if c.reserved[w]&b != 0 || (c.second != nil && c.second.word(w)&b != 0) {
		return allocator.BindRefused
	}
	if !c.fourTup {
		if c.primary.word(w)&b != 0 {
			return allocator.BindRefused
		}
		return allocator.Connected
	}
	d := c.curDst
	if d.inTW(p) {
		if !c.s.cfg.Stack.Timestamps {
			return allocator.ConnectRefused
		}
		c.grant = int32(p)
		return allocator.Connected
	}
	if d.blocked(p) {
		return allocator.ConnectRefused
	}
	return allocator.Connected
}

// FreeOrEvict answers one probe like Free, and also answers true for a
// 4-tuple of a connect() in a 4-tuple stack that only a connection in
// TIME_WAIT holds, which the attempt then takes over
// (allocator.Evicter).
func (c *checker) FreeOrEvict(p uint16, f allocator.Flow) bool {
	if !sameTables(&f, &c.cur) {
		c.resolve(f)
	}
	c.probes++
	if !c.blocked(p) {
		return true
	}
	w, b := int(p>>6), uint64(1)<<(p&63)
	if !c.fourTup || c.reserved[w]&b != 0 || (c.second != nil && c.second.word(w)&b != 0) || !c.curDst.inTW(p) {
		return false
	}
	c.grant = int32(p)
	return true
}

// granted reports whether the current attempt may take port p over from
// TIME_WAIT although it is blocked.
func (c *checker) granted(p uint16) bool {
	return c.grant == int32(p) && c.curDst.inTW(p)
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
	if !sameTables(&f, &c.cur) {
		c.resolve(f)
	}
	if n <= 0 {
		return 0, 0, false
	}
	if c.small != nil {
		// A table in its small form blocks at most smallPorts ports, so
		// the first few candidates settle it.
		p, k, ok := allocator.ScanEach(probeOnly{c}, f, cy, off, n)
		c.probes += k
		return p, k, ok
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
	if c.allTaken(base, L, step, off, n) {
		c.probes += n
		return 0, n, false
	}
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

// allTaken reports, in constant time, that a scan of n candidates of the
// cycle (base, L, step) from off finds every candidate blocked, in the
// two cases where the candidates are a whole class of ports: step 1 over
// at least L candidates, or step 2 over an even L and at least L/2 (one
// parity), when the cycle covers the whole range and only the primary set
// and reserved ports decide. It is what makes a Linux connect() that meets
// a full even half cost one comparison; false means "scan".
func (c *checker) allTaken(base, L, step, off, n int) bool {
	if c.second != nil || c.primary == nil {
		return false
	}
	r := &c.s.cfg.Stack.Range
	if base > int(r.Lo) || base+L-1 < int(r.Hi) {
		return false
	}
	u, k := &c.s.usable, &c.primary.n
	switch {
	case step == 1 || L == 1:
		return n >= L && k[0]+k[1] == u[0]+u[1]
	case step == 2 && L%2 == 0:
		par := (base + off) & 1
		return n >= L/2 && k[par] == u[par]
	}
	return false
}

// probeOnly answers Free without counting, for ScanFree's fallback, which
// counts the candidates it examined itself.
type probeOnly struct{ c *checker }

func (p probeOnly) Free(port uint16, _ allocator.Flow) bool { return !p.c.blocked(port) }
