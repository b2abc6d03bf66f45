package sim

import "math/bits"

// The port space 0..65535 is 1024 words of 64 bits, grouped in 16 chunks
// of 64 words (4096 ports). Words are indexed by absolute port >> 6, so bit
// b of a word is port parity b&1.
const (
	numWords      = 1024
	wordsPerChunk = 64
	numChunks     = numWords / wordsPerChunk
	evenMask      = 0x5555555555555555 // bits of even ports
	oddMask       = 0xAAAAAAAAAAAAAAAA // bits of odd ports
)

type chunk [wordsPerChunk]uint64

// portSet is a set of ports stored as a bitset that allocates 512-byte
// chunks only where ports have been set, plus a summary per parity: bit w
// of sumEven (sumOdd) says that word w has at least one even (odd) port
// NOT in the set. The summaries let a scan skip 64 blocked words per
// summary word, which is what makes a Linux connect() that finds every
// even port busy cost a few dozen word operations instead of 14,116 probes'
// worth of calls (the probe count reported stays the algorithm's).
//
// n counts the ports in the set by parity (n[0] even, n[1] odd). The
// simulator only ever puts usable ports (in the range, not reserved) in a
// set, so when n[k] equals the number of usable ports of parity k every
// one of them is taken, which answers a whole parity pass in one
// comparison.
type portSet struct {
	chunks          [numChunks]*chunk
	sumEven, sumOdd [numChunks]uint64
	n               [2]int
}

func (s *portSet) init() {
	for i := range s.sumEven {
		s.sumEven[i] = ^uint64(0)
		s.sumOdd[i] = ^uint64(0)
	}
}

// word returns word w of the set (0 where no chunk is allocated).
func (s *portSet) word(w int) uint64 {
	if c := s.chunks[w>>6]; c != nil {
		return c[w&63]
	}
	return 0
}

func (s *portSet) has(p uint16) bool {
	return s.word(int(p>>6))&(1<<(p&63)) != 0
}

func (s *portSet) set(p uint16) {
	w := int(p >> 6)
	c := s.chunks[w>>6]
	if c == nil {
		c = new(chunk)
		s.chunks[w>>6] = c
	}
	b := uint64(1) << (p & 63)
	if c[w&63]&b == 0 {
		c[w&63] |= b
		s.n[p&1]++
		s.summarize(w, c[w&63])
	}
}

func (s *portSet) clear(p uint16) {
	w := int(p >> 6)
	c := s.chunks[w>>6]
	if c == nil {
		return
	}
	b := uint64(1) << (p & 63)
	if c[w&63]&b != 0 {
		c[w&63] &^= b
		s.n[p&1]--
		s.summarize(w, c[w&63])
	}
}

// summarize refreshes the summary bits of word w, whose value is v.
func (s *portSet) summarize(w int, v uint64) {
	i, sh := w>>6, uint(w&63)
	var e, o uint64
	if ^v&evenMask != 0 {
		e = 1
	}
	if ^v&oddMask != 0 {
		o = 1
	}
	s.sumEven[i] = s.sumEven[i]&^(1<<sh) | e<<sh
	s.sumOdd[i] = s.sumOdd[i]&^(1<<sh) | o<<sh
}

// summary returns summary word i for the parity mask (evenMask, oddMask,
// or all ports).
func (s *portSet) summary(i int, mask uint64) uint64 {
	switch mask {
	case evenMask:
		return s.sumEven[i]
	case oddMask:
		return s.sumOdd[i]
	}
	return s.sumEven[i] | s.sumOdd[i]
}

// nextCandidate returns the first word index in [w, last] whose summary
// says it may hold a port of the parity mask outside the set, or last+1.
func (s *portSet) nextCandidate(w, last int, mask uint64) int {
	for w <= last {
		i := w >> 6
		sum := s.summary(i, mask) & (^uint64(0) << (w & 63))
		if sum != 0 {
			return i<<6 + bits.TrailingZeros64(sum)
		}
		w = (i + 1) << 6
	}
	return last + 1
}

// prevCandidate is nextCandidate going down: the last word index in
// [first, w] that may hold a free port of the parity, or first-1.
func (s *portSet) prevCandidate(w, first int, mask uint64) int {
	for w >= first {
		i := w >> 6
		sum := s.summary(i, mask) & (^uint64(0) >> (63 - w&63))
		if sum != 0 {
			return i<<6 + 63 - bits.LeadingZeros64(sum)
		}
		w = i<<6 - 1
	}
	return first - 1
}

// counts is a per-port counter array allocated in chunks, paired with a
// portSet of the ports whose count is not zero.
type counts struct {
	chunks [numChunks]*[wordsPerChunk * 64]uint32
	nz     portSet
}

func (c *counts) init() { c.nz.init() }

func (c *counts) inc(p uint16) {
	ch := c.chunks[p>>12]
	if ch == nil {
		ch = new([wordsPerChunk * 64]uint32)
		c.chunks[p>>12] = ch
	}
	ch[p&4095]++
	if ch[p&4095] == 1 {
		c.nz.set(p)
	}
}

func (c *counts) dec(p uint16) {
	ch := c.chunks[p>>12]
	if ch == nil || ch[p&4095] == 0 {
		return
	}
	ch[p&4095]--
	if ch[p&4095] == 0 {
		c.nz.clear(p)
	}
}
