package allocator

import "time"

// sequentialSpec is the traditional BSD algorithm that RFC 6056 §2.2
// describes: one global counter, tried and stepped by one, wrapping at the
// end of the range. 4.4BSD in_pcbbind, lwIP tcp_new_port and the macOS TCP
// default (net.inet.tcp.randomize_ports = 0) use it; with descending=true
// it is NetBSD's default "bsd" algorithm (sys/netinet/portalgo.c algo_bsd),
// which counts down from the top of the range.
func sequentialSpec() Spec {
	return Spec{
		Name:    "sequential",
		Summary: "one global counter stepped by one and wrapping; descending=true counts down as NetBSD's bsd",
		Source:  "RFC 6056 §2.2 (traditional BSD); 4.4BSD in_pcbbind; NetBSD sys/netinet/portalgo.c algo_bsd",
		Profile: Profile{
			Range:    Range{Lo: 49152, Hi: 65535},
			TimeWait: twBSD,
			Scope:    Exclusive,
		},
		Params: []Param{
			{Name: "descending", Default: "false", Doc: "count down from the top of the range (NetBSD bsd) instead of up"},
		},
		Bound:      func(cfg Config) int { return cfg.Range.Size() },
		Exhaustive: true,
		New: func(cfg Config) (Allocator, error) {
			desc, err := cfg.Bool("descending")
			if err != nil {
				return nil, err
			}
			return newSequential(cfg.Range, desc), nil
		},
	}
}

// sequential is a global counter over the range. next is the offset from
// Lo of the next port to try.
type sequential struct {
	cyc  Cycle
	next int
	desc bool
}

func newSequential(r Range, descending bool) *sequential {
	n := r.Size()
	s := &sequential{cyc: Cycle{Base: r.Lo, Len: n, Step: 1}, desc: descending}
	if descending {
		s.cyc.Step = n - 1 // -1 mod n
		s.next = n - 1
		if n == 1 {
			s.cyc.Step = 1
		}
	}
	return s
}

// Allocate tries the counter's port, then the next ones in order, at most
// once each.
func (s *sequential) Allocate(_ time.Duration, f Flow, c Checker) (uint16, error) {
	p, _, ok := Scan(c, f, s.cyc, s.next, s.cyc.Len)
	if !ok {
		return 0, ErrExhausted
	}
	s.next = (int(p-s.cyc.Base) + s.cyc.Step) % s.cyc.Len
	return p, nil
}
