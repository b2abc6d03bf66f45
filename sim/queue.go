package sim

import (
	"math"
	"math/bits"
)

// closeEvent is a scheduled close of connection conn at time at; seq
// orders closes at one instant by the order their connections were made.
type closeEvent struct {
	at   int64
	seq  uint64
	conn int32
}

// closeHeap is a binary min-heap of closes by (at, seq). It is written out
// rather than built on container/heap so that pushing and popping neither
// allocate nor go through an interface.
type closeHeap []closeEvent

func (h closeEvent) less(o closeEvent) bool { return h.before(o) == 1 }

// before is less as 0 or 1, without a branch: (at, seq) compared as one
// 128-bit number (times are never negative), so that choosing between two
// children costs no mispredicted jump.
func (h closeEvent) before(o closeEvent) uint64 {
	_, borrow := bits.Sub64(h.seq, o.seq, 0)
	_, borrow = bits.Sub64(uint64(h.at), uint64(o.at), borrow)
	return borrow
}

// push adds e, moving a hole up from the end instead of swapping.
func (h *closeHeap) push(e closeEvent) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(a[p]) {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = e
}

// pop removes the first close. It walks the hole left at the root down
// to a leaf along the smaller children, then moves the last entry up into
// it (Floyd's variant): the last entry belongs near the bottom, so this
// takes about half the comparisons of sifting it down from the root.
func (h *closeHeap) pop() closeEvent {
	a := *h
	top := a[0]
	n := len(a) - 1
	last := a[n]
	*h = a[:n]
	if n == 0 {
		return top
	}
	// The slot of last, now outside the heap, becomes a sentinel that no
	// entry follows, so a node with one child needs no bounds test.
	a[n] = closeEvent{at: math.MaxInt64, seq: math.MaxUint64}
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		l += int(a[l+1].before(a[l]))
		a[i] = a[l]
		i = l
	}
	for i > 0 {
		p := (i - 1) / 2
		if !last.less(a[p]) {
			break
		}
		a[i] = a[p]
		i = p
	}
	a[i] = last
	return top
}

// timer is an entry of a FIFO of timers that all have the same length
// (TIME_WAIT expiry, TIME_WAIT becoming reusable): because the length is
// fixed and timers start in time order, they also end in time order, so a
// ring buffer replaces a priority queue.
type timer struct {
	at   int64
	dst  int32 // index in state.dstList
	port uint16
	bind bool // the TIME_WAIT socket was bound explicitly
}

// fifo is a growable ring buffer of timers.
type fifo struct {
	buf        []timer
	head, size int
}

func (q *fifo) push(t timer) {
	if q.size == len(q.buf) {
		nb := make([]timer, max(2*len(q.buf), 64))
		for i := range q.size {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = t
	q.size++
}

func (q *fifo) peek() *timer { return &q.buf[q.head] }

func (q *fifo) pop() timer {
	t := q.buf[q.head]
	q.buf[q.head] = timer{}
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.size--
	return t
}
