package results

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
)

// histSubBits sets the precision of Hist: values below 2^(histSubBits+1)
// (256) are counted exactly; above that, each power of two is split into
// 2^histSubBits (128) buckets, a relative bucket width below 0.8 %.
const histSubBits = 7

const histSub = 1 << histSubBits

// Hist is a bounded-memory histogram of non-negative integers (probe
// counts, connection counts, nanoseconds). Count, Sum, Min and Max are
// exact; quantiles come from log-linear buckets, exact below 256 and within
// 0.8 % above. Its size grows with the logarithm of the largest value, never
// with the number of values. The zero value is an empty histogram ready to
// use.
type Hist struct {
	count, sum, min, max uint64
	counts               []uint64 // by bucket index
}

// histIndex returns the bucket of v.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	return (shift+1)*histSub + int(v>>uint(shift)) - histSub
}

// histLow returns the smallest value in bucket i.
func histLow(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	return uint64(i%histSub+histSub) << uint(shift)
}

// Record adds one value. It does not allocate once the histogram has seen
// a value as large.
func (h *Hist) Record(v uint64) { h.RecordN(v, 1) }

// RecordN adds n copies of v.
func (h *Hist) RecordN(v, n uint64) {
	if n == 0 {
		return
	}
	i := histIndex(v)
	if i >= len(h.counts) {
		h.grow(i)
	}
	h.counts[i] += n
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count += n
	h.sum += v * n
}

// grow makes bucket i exist. It at least doubles the buckets, so that a
// histogram whose largest value keeps rising copies its buckets a
// logarithmic number of times; the buckets past the largest value stay 0,
// which every reader skips.
func (h *Hist) grow(i int) {
	c := make([]uint64, max(2*len(h.counts), i+1, 64))
	copy(c, h.counts)
	h.counts = c
}

// Count returns the number of values recorded.
func (h *Hist) Count() uint64 { return h.count }

// Sum returns the exact sum of the values (it wraps above 2^64).
func (h *Hist) Sum() uint64 { return h.sum }

// Min returns the smallest value, or 0 when empty.
func (h *Hist) Min() uint64 { return h.min }

// Max returns the largest value, or 0 when empty.
func (h *Hist) Max() uint64 { return h.max }

// Mean returns the exact mean, or NaN when empty.
func (h *Hist) Mean() float64 {
	if h.count == 0 {
		return math.NaN()
	}
	return float64(h.sum) / float64(h.count)
}

// Quantile returns the q-quantile (0 <= q <= 1): the lowest value of the
// bucket holding the value of rank ceil(q*count), clamped to [Min, Max].
// It returns NaN when empty.
func (h *Hist) Quantile(q float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	if q <= 0 {
		return float64(h.min)
	}
	if q >= 1 {
		return float64(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = max(rank, 1)
	var acc uint64
	for i, c := range h.counts {
		acc += c
		if acc >= rank {
			v := histLow(i)
			return float64(min(max(v, h.min), h.max))
		}
	}
	return float64(h.max)
}

// FractionBelow returns the fraction of values strictly below x, exact when
// x is a bucket boundary (every x below 256 is), otherwise counting the
// bucket holding x as below.
func (h *Hist) FractionBelow(x uint64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	var acc uint64
	for i, c := range h.counts {
		if histLow(i) >= x {
			break
		}
		acc += c
	}
	return float64(acc) / float64(h.count)
}

// Point is one step of a cumulative distribution: the fraction of values
// that are at most X.
type Point struct {
	X, Y float64
}

// CDF returns the empirical cumulative distribution: for each non-empty
// bucket, its lowest value and the fraction of values in it or below.
func (h *Hist) CDF() []Point {
	var out []Point
	var acc uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		acc += c
		x := float64(min(max(histLow(i), h.min), h.max))
		out = append(out, Point{X: x, Y: float64(acc) / float64(h.count)})
	}
	return out
}

// Merge adds every value of o to h.
func (h *Hist) Merge(o *Hist) {
	if o.count == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts) - 1)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
	h.sum += o.sum
}

// histJSON is the stored form of a Hist: exact moments and the non-empty
// buckets as [index, count] pairs.
type histJSON struct {
	Count   uint64      `json:"count"`
	Sum     uint64      `json:"sum"`
	Min     uint64      `json:"min"`
	Max     uint64      `json:"max"`
	Buckets [][2]uint64 `json:"buckets,omitempty"`
}

// MarshalJSON writes the histogram with its non-empty buckets only.
func (h Hist) MarshalJSON() ([]byte, error) {
	j := histJSON{Count: h.count, Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote and checks that the buckets
// add up to the count.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*h = Hist{count: j.Count, sum: j.Sum, min: j.Min, max: j.Max}
	var total uint64
	for _, bc := range j.Buckets {
		if bc[0] > 1<<16 {
			return fmt.Errorf("histogram bucket index %d out of range", bc[0])
		}
		i := int(bc[0])
		if i >= len(h.counts) {
			h.grow(i)
		}
		h.counts[i] += bc[1]
		total += bc[1]
	}
	if total != j.Count {
		return fmt.Errorf("histogram buckets hold %d values, count says %d", total, j.Count)
	}
	return nil
}
