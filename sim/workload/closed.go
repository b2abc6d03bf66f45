package workload

import (
	"fmt"
	"time"
)

// closed is a closed loop of clients. Each client has at most one pending
// attempt, kept in a binary min-heap ordered by (time, client). The heap's
// top is the attempt Next returned last until Done reschedules or removes
// it.
type closed struct {
	f     flows
	think sampler
	heap  []slot
	// inflight: Next returned the top of the heap and Done has not yet
	// been called for it; hold is that attempt's hold time.
	inflight bool
	hold     time.Duration
	err      error
}

// slot is a client's next attempt.
type slot struct {
	at     time.Duration
	client int32
}

func (a slot) less(b slot) bool {
	return a.at < b.at || a.at == b.at && a.client < b.client
}

func newClosed(s Spec, seed uint64) *closed {
	c := &closed{
		f:     newFlows(s, seed),
		think: newSampler(s.Think, newStream(seed, streamThink)),
		heap:  make([]slot, s.Clients),
	}
	// Every client attempts at 0: sorted by client, which is a heap.
	for i := range c.heap {
		c.heap[i].client = int32(i)
	}
	return c
}

// Next sets *a to the earliest pending attempt, ties going to the lower
// client index. It returns false when every client holds a connection
// forever, or after a misuse of Done (see Err).
func (c *closed) Next(a *Arrival) bool {
	if c.err != nil {
		return false
	}
	if c.inflight {
		top := c.heap[0]
		c.err = fmt.Errorf("workload: closed loop: Next called again before Done for client %d's attempt at %v; call Done once per attempt", top.client, top.at)
		return false
	}
	if len(c.heap) == 0 {
		return false
	}
	top := c.heap[0]
	c.f.fill(a, top.at)
	a.Client = int(top.client)
	c.inflight, c.hold = true, a.Hold
	return true
}

// Done reschedules the client of a, the attempt Next returned last: Think
// after At+Hold if ok (never if Hold is Forever), or Think after At if the
// attempt failed. Calling it for another attempt, or twice, is an error
// that ends the workload (see Err).
func (c *closed) Done(a Arrival, ok bool) {
	if c.err != nil {
		return
	}
	if !c.inflight || a.Client != int(c.heap[0].client) || a.At != c.heap[0].at {
		c.err = fmt.Errorf("workload: closed loop: Done for client %d's attempt at %v, which is not the attempt Next returned last; call Done once per attempt, in order", a.Client, a.At)
		return
	}
	c.inflight = false
	think := c.think.draw()
	next := a.At
	if ok {
		if c.hold == Forever {
			c.pop()
			return
		}
		next = satAdd(next, c.hold)
	}
	next = satAdd(next, think)
	if next == Forever {
		c.pop()
		return
	}
	c.heap[0].at = next
	c.down(0)
}

// Err reports a misuse of Done, or nil.
func (c *closed) Err() error { return c.err }

// pop removes the top of the heap.
func (c *closed) pop() {
	last := len(c.heap) - 1
	c.heap[0] = c.heap[last]
	c.heap = c.heap[:last]
	if last > 0 {
		c.down(0)
	}
}

// down restores the heap order below i.
func (c *closed) down(i int) {
	h := c.heap
	n := len(h)
	x := h[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(x) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = x
}
