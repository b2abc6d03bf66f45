package sim

import "math"

// oarcWindow is the number of successive ports the DNS-OARC port test
// looks at.
const oarcWindow = 26

// record updates the metrics of one successful allocation of port to
// dst, whose sequence number dst.seq already counts it. prev is the port's
// history before this allocation.
func (s *state) record(dst *dstTable, prev portRec, port uint16) {
	r := &s.res
	if prev.lastClose >= 0 {
		iv := s.now - prev.lastClose
		r.ReuseInterval.Record(uint64(iv))
		if iv < r.PrematureNS {
			r.Premature++
		}
	}
	if prev.lastSeq != 0 {
		r.ReuseDistance.Record(dst.seq - prev.lastSeq)
	}
	r.PortUsage.Record(port)

	if dst.prev != 0 {
		n := s.n
		fwd := int(port) - int(dst.prev) // both in the range: |fwd| < n
		if fwd < 0 {
			fwd += n
		}
		d := fwd // centred into (-n/2, n/2]
		if d > n/2 {
			d -= n
		}
		r.SuccDiff.Record(d)
		dst.wrapAcc += fwd
		dst.wrapCnt++
		if dst.wrapAcc >= n {
			r.Wrap.Record(dst.wrapCnt)
			dst.wrapAcc -= n
			dst.wrapCnt = 0
		}
	}
	dst.prev = port

	p := int64(port)
	dst.oarcN++
	dst.oarcS += p
	dst.oarcQ += p * p
	if dst.oarcN == oarcWindow {
		n := float64(oarcWindow)
		mean := float64(dst.oarcS) / n
		v := (float64(dst.oarcQ) - n*mean*mean) / (n - 1)
		r.OARC.Record(uint64(math.Round(math.Sqrt(max(v, 0)))))
		dst.oarcN, dst.oarcS, dst.oarcQ = 0, 0, 0
	}
}
