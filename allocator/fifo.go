package allocator

import "time"

// fifoAttempts is HAProxy's bound on bind attempts per connection
// ("int attempts = 10; /* should be more than enough to find a spare
// port */" in tcp_connect_server).
const fifoAttempts = 10

// fifoSpec models HAProxy's source port ranges ("source addr:lo-hi" on a
// server line): a ring of free ports handing out the least recently
// released port first.
func fifoSpec() Spec {
	return Spec{
		Name: "fifo",
		Summary: "HAProxy source-port range: a ring of free ports, least recently released first; " +
			"bind() with SO_REUSEADDR then connect(): a refused bind goes to the tail and the next port is tried (at most 10), " +
			"a refused connect() fails the connection; TIME_WAIT is taken over when it saw timestamps",
		Source: "haproxy/haproxy include/haproxy/port_range.h port_range_alloc_port, port_range_release_port; " +
			"src/proto_tcp.c tcp_bind_socket (SO_REUSEADDR), tcp_connect_server (attempts = 10; EADDRNOTAVAIL from connect() is SF_ERR_RESOURCE); " +
			"torvalds/linux net/ipv4/inet_hashtables.c __inet_hash_connect (port set: check_established with twp == NULL), net/ipv4/tcp_ipv4.c tcp_twsk_unique",
		// HAProxy runs on Linux and bind()s each chosen port before
		// connect(), so the stack is Linux's.
		Profile: linuxProfile(),
		Bound:   func(Config) int { return fifoAttempts },
		// Ten tries from the head of the ring do not cover the range.
		Exhaustive: false,
		New: func(cfg Config) (Allocator, error) {
			n := cfg.Range.Size()
			a := &fifoAlloc{lo: cfg.Range.Lo, ring: make([]uint16, n), count: n, out: make([]uint64, (n+63)/64)}
			for i := range a.ring {
				a.ring[i] = cfg.Range.Lo + uint16(i) // ports[i] = port_low + i; get starts at 0
			}
			return a, nil
		},
	}
}

// fifoAlloc is HAProxy's struct port_range: a ring buffer of free ports
// (get is the head, put the tail), filled in ascending order at start-up.
// tcp_connect_server binds to ports taken from it:
//
//	attempts = 10
//	do { port_range_release_port(previous port);   /* back to the tail */
//	     if (!attempts) break; attempts--;
//	     port = port_range_alloc_port(range);        /* from the head, 0 if empty */
//	     if (!port) { CO_ER_PORT_RANGE; break; }
//	     ret = tcp_bind_socket(fd, flags, &sa, ...);
//	} while (ret != 0);
//
// tcp_bind_socket sets SO_REUSEADDR before bind(), so on Linux the bind
// succeeds on a port whose other owners are HAProxy's own sockets,
// established or in TIME_WAIT (inet_bind_conflict), and fails only on a
// port held by a socket without SO_REUSEADDR or a listener. connect() then
// goes through __inet_hash_connect with the port set, which asks
// check_established(..., twp = NULL): tcp_twsk_unique takes a TIME_WAIT
// 4-tuple over whenever it saw timestamps, whatever tcp_tw_reuse and
// tcp_tw_reuse_delay say, and otherwise connect() fails with
// EADDRNOTAVAIL, which tcp_connect_server turns into a failed connection
// (SF_ERR_RESOURCE, "no free ports") after releasing the port to the tail
// of the ring: there is no next port.
//
// When the Checker is an allocator.BindConnecter it answers each
// bind-then-connect as one probe; any other Checker is asked Free, and a
// refusal counts as a refused bind. A port stays out of the ring while its
// connection lives; Release puts it back at the tail when the socket
// closes (fd_delete calls port_range_release_port, src/fd.c), so the port
// handed out next is the one released longest ago. An empty ring fails
// without a probe.
type fifoAlloc struct {
	lo    uint16
	ring  []uint16
	head  int
	count int
	out   []uint64 // bit i: port lo+i is handed out and not yet released
}

func (a *fifoAlloc) push(p uint16) {
	i := a.head + a.count
	if i >= len(a.ring) {
		i -= len(a.ring)
	}
	a.ring[i] = p
	a.count++
}

func (a *fifoAlloc) pop() uint16 {
	p := a.ring[a.head]
	a.head++
	if a.head == len(a.ring) {
		a.head = 0
	}
	a.count--
	return p
}

// Allocate binds to ports from the head of the ring, returning refused
// ones to the tail, at most ten times; a refused connect() returns its
// port to the tail and fails.
func (a *fifoAlloc) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	bc, _ := c.(BindConnecter)
	for range fifoAttempts {
		if a.count == 0 {
			return 0, ErrExhausted
		}
		p := a.pop()
		r := BindRefused
		if bc != nil {
			r = bc.BindConnect(p, f)
		} else if c.Free(p, f) {
			r = Connected
		}
		switch r {
		case Connected:
			i := int(p - a.lo)
			a.out[i/64] |= 1 << (i % 64)
			return p, nil
		case ConnectRefused:
			a.push(p)
			return 0, ErrExhausted
		}
		a.push(p)
	}
	return 0, ErrExhausted
}

// Release returns port to the tail of the ring. Ports not handed out by
// Allocate, or already released, are ignored.
func (a *fifoAlloc) Release(_ time.Duration, _ Flow, port uint16) {
	i := int(port) - int(a.lo)
	if i < 0 || i >= len(a.ring) || a.out[i/64]&(1<<(i%64)) == 0 {
		return
	}
	a.out[i/64] &^= 1 << (i % 64)
	a.push(port)
}
