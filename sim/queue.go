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
// first-in first-out queue (fifo) replaces a priority queue.
type timer struct {
	at   int64
	dst  int32 // index in state.dstList
	port uint16
	bind bool // the TIME_WAIT socket was bound explicitly
}

// fifoBlock is the number of timers in one block of a fifo (4 KiB).
const fifoBlock = 256

type timerBlock [fifoBlock]timer

// fifo is a queue of timers stored in blocks. A block emptied at the head
// is reused, before any other, for the next block at the tail: it is still
// in cache, so pushing costs no cache miss, and the memory the queue
// cycles through is its live timers, kept to their peak (18,000 TIME_WAIT
// timers take 288 KiB, where a ring buffer doubled to 32,768 slots would
// cycle through 512 KiB).
type fifo struct {
	blocks []*timerBlock // blocks in use, the head's first
	spare  []*timerBlock // emptied blocks, the last emptied on top
	head   int           // index of the head in blocks[0]
	tail   int           // index after the last timer in the last block
	size   int
	next   int64 // time of the head, or never when the queue is empty
}

// newFifo returns an empty queue.
func newFifo() fifo { return fifo{next: never} }

func (q *fifo) push(t timer) {
	if len(q.blocks) == 0 || q.tail == fifoBlock {
		var b *timerBlock
		if n := len(q.spare); n > 0 {
			b, q.spare = q.spare[n-1], q.spare[:n-1]
		} else {
			b = new(timerBlock)
		}
		if len(q.blocks) == 0 {
			q.head = 0
		}
		q.blocks = append(q.blocks, b)
		q.tail = 0
	}
	q.blocks[len(q.blocks)-1][q.tail] = t
	q.tail++
	if q.size == 0 {
		q.next = t.at
	}
	q.size++
}

// peek returns the head; the queue must not be empty.
func (q *fifo) peek() *timer { return &q.blocks[0][q.head] }

// pop removes and returns the head; the queue must not be empty.
func (q *fifo) pop() timer {
	b := q.blocks[0]
	t := b[q.head]
	q.head++
	q.size--
	if q.head == fifoBlock {
		q.blocks[0] = nil
		q.blocks = q.blocks[1:]
		q.spare = append(q.spare, b)
		q.head = 0
	}
	q.next = never
	if q.size > 0 {
		q.next = q.peek().at
	}
	return t
}
