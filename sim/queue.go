package sim

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

func (h closeEvent) less(o closeEvent) bool {
	return h.at < o.at || (h.at == o.at && h.seq < o.seq)
}

func (h *closeHeap) push(e closeEvent) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a[i].less(a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *closeHeap) pop() closeEvent {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].less(a[l]) {
			m = r
		}
		if !a[m].less(a[i]) {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
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
