package allocator

// Cycle is a cyclic sequence of candidate ports. A scan that starts at
// offset off visits, at step k, the port
//
//	Base + (off + k*Step) mod Len
//
// Linear search over a range Lo..Hi is Cycle{Lo, Hi-Lo+1, 1}; Linux's
// parity passes over a range of even size R are Cycle{Lo, R, 2} started at
// an even and then an odd offset; a descending counter is Step = Len-1.
type Cycle struct {
	// Base is the port at position 0.
	Base uint16
	// Len is the number of positions, at least 1, with Base+Len-1 <= 65535.
	Len int
	// Step is the distance between successive candidates, in positions,
	// at least 1.
	Step int
}

// Port returns the candidate at step k of a scan that starts at offset off.
func (c Cycle) Port(off, k int) uint16 {
	return c.Base + uint16((off+k*c.Step)%c.Len)
}

// Scanner is an optional interface for a Checker that can answer a run of
// probes at once, faster than one Free call per candidate. It exists for
// speed only: ScanFree must return exactly what calling Free on each
// candidate in order would return, and count exactly the same probes.
type Scanner interface {
	Checker
	// ScanFree checks the candidates c.Port(off, k) for k = 0, 1, ..., n-1
	// in order and stops at the first free one. It returns that port and
	// k+1 (the candidates examined, each one probe), or ok == false and n
	// when none of the n candidates is free.
	ScanFree(f Flow, c Cycle, off, n int) (port uint16, tried int, ok bool)
}

// Scan checks the candidates c.Port(off, k) for k = 0, 1, ..., n-1 in order
// and returns the first free one with the number of candidates examined
// (k+1), or ok == false and n. Each candidate examined is one probe. Scan
// uses the Checker's ScanFree when it has one, and Free otherwise.
func Scan(ch Checker, f Flow, c Cycle, off, n int) (port uint16, tried int, ok bool) {
	if n <= 0 {
		return 0, 0, false
	}
	if s, isScanner := ch.(Scanner); isScanner {
		return s.ScanFree(f, c, off, n)
	}
	return ScanEach(ch, f, c, off, n)
}

// ScanEach is Scan done one Free call per candidate. Scanners use it as the
// reference their fast paths must agree with, and as the fallback for
// cycles they have no fast path for.
func ScanEach(ch Checker, f Flow, c Cycle, off, n int) (port uint16, tried int, ok bool) {
	off %= c.Len
	step := c.Step % c.Len
	pos := off
	for k := range n {
		p := c.Base + uint16(pos)
		if ch.Free(p, f) {
			return p, k + 1, true
		}
		pos += step
		if pos >= c.Len {
			pos -= c.Len
		}
	}
	return 0, n, false
}
