package traffic

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/sim/workload"
)

// MaxLine is the longest line, in bytes, the text readers accept.
const MaxLine = 64 << 10

// LineError is a malformed line of a text input (ss or conntrack output).
type LineError struct {
	// Name names the input; Line is the 1-based line number.
	Name string
	Line int
	// Msg says what is wrong and what was expected.
	Msg string
	// Err is the underlying read error, if any.
	Err error
}

// Error returns "NAME:LINE: MSG".
func (e *LineError) Error() string {
	s := fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *LineError) Unwrap() error { return e.Err }

// lines calls fn with each line of r (without its ending) and its number.
func lines(name string, r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, string(bytes.TrimRight(sc.Bytes(), "\r"))); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return &LineError{Name: name, Line: n + 1, Msg: "read failed", Err: err}
	}
	return nil
}

// StateSummary counts what a snapshot import saw.
type StateSummary struct {
	// Lines is the number of lines read; Established and TimeWait the
	// sockets written in each state.
	Lines, Established, TimeWait int
	// Skipped counts sockets that hold no port towards a peer (LISTEN,
	// UNCONN, CLOSE) or of another protocol than TCP.
	Skipped int
	// TimerUnknown counts TIME_WAIT sockets without a timer (ss without
	// -o): they are given the whole of SSOptions.TimeWait.
	TimerUnknown int
}

// SSOptions tunes the ss reader.
type SSOptions struct {
	// TimeWait is the remaining time given to a TIME_WAIT socket whose
	// timer the snapshot does not show (default 60s, Linux's
	// TCP_TIMEWAIT_LEN: an upper bound).
	TimeWait time.Duration
}

// ReadSS reads the output of `ss -tan` or `ss -tano` (also with -H, -p,
// -e, or `ss -an` with its Netid column, whose non-TCP lines are
// skipped) and calls emit with each socket that holds a local port
// towards a peer: TIME-WAIT sockets as workload.TimeWait with the time
// left on their timer (from -o's "timer:(timewait,41sec,0)"), every other
// connected state (ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1/2, CLOSE-WAIT,
// LAST-ACK, CLOSING) as workload.Established held for ever.
func ReadSS(name string, r io.Reader, opt SSOptions, emit func(workload.StateRecord) error) (StateSummary, error) {
	if opt.TimeWait <= 0 {
		opt.TimeWait = 60 * time.Second
	}
	var sum StateSummary
	err := lines(name, r, func(n int, line string) error {
		sum.Lines++
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil
		}
		if f[0] == "State" || f[0] == "Netid" {
			return nil // the header
		}
		switch f[0] {
		case "tcp":
			f = f[1:]
		case "udp", "raw", "u_str", "u_dgr", "u_seq", "nl", "p_raw", "p_dgr", "v_str", "v_dgr", "xdp", "mptcp", "sctp", "tipc":
			sum.Skipped++
			return nil
		}
		bad := func(format string, args ...any) error {
			return &LineError{Name: name, Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		if len(f) < 5 {
			return bad("%d fields; expected State Recv-Q Send-Q Local-Address:Port Peer-Address:Port as `ss -tan` prints", len(f))
		}
		var st workload.SockState
		switch f[0] {
		case "TIME-WAIT":
			st = workload.TimeWait
		case "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "LAST-ACK", "CLOSING":
			st = workload.Established
		case "LISTEN", "UNCONN", "CLOSED", "UNKNOWN":
			sum.Skipped++
			return nil
		default:
			return bad("state %q: expected an ss TCP state such as ESTAB or TIME-WAIT", f[0])
		}
		local, err := ssEndpoint(f[3])
		if err != nil {
			return bad("local address %q: %v", f[3], err)
		}
		peer, err := ssEndpoint(f[4])
		if err != nil {
			return bad("peer address %q: %v", f[4], err)
		}
		if local.Addr().Is4() != peer.Addr().Is4() {
			return bad("local %v and peer %v are of different address families", local, peer)
		}
		rec := workload.StateRecord{Src: local.Addr(), Port: local.Port(), Dst: peer, State: st, Remaining: workload.Forever}
		if st == workload.TimeWait {
			rec.Remaining = -1
			for _, x := range f[5:] {
				v, ok := strings.CutPrefix(x, "timer:(timewait,")
				if !ok {
					continue
				}
				v, _, _ = strings.Cut(v, ",")
				d, err := ssTimer(v)
				if err != nil {
					return bad("timer %q: %v", x, err)
				}
				rec.Remaining = d
			}
			if rec.Remaining < 0 {
				rec.Remaining = opt.TimeWait
				sum.TimerUnknown++
			}
			sum.TimeWait++
		} else {
			sum.Established++
		}
		return emit(rec)
	})
	return sum, err
}

// ssEndpoint parses ss's ADDRESS:PORT, [IPv6]:PORT or ADDRESS%IFACE:PORT.
func ssEndpoint(s string) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("expected ADDRESS:PORT")
	}
	host, port := s[:i], s[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if j := strings.IndexByte(host, '%'); j >= 0 {
		host = host[:j]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("expected a numeric IP address (run ss with -n)")
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("expected a port number 1..65535 (run ss with -n)")
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// ssTimer parses a timer as ss prints it (iproute2 misc/ss.c,
// print_ms_timer): "1min2sec", "59sec", "5.123ms" (5 s 123 ms), "927ms",
// "12min".
func ssTimer(s string) (time.Duration, error) {
	var d time.Duration
	rest := s
	num := func() (int64, bool) {
		i := 0
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(rest[:i], 10, 64)
		rest = rest[i:]
		return v, err == nil
	}
	if rest == "" {
		return 0, fmt.Errorf("empty; expected a time such as 41sec or 1min2sec")
	}
	for rest != "" {
		v, ok := num()
		if !ok {
			return 0, fmt.Errorf("expected a time such as 41sec, 1min2sec or 927ms")
		}
		switch {
		case strings.HasPrefix(rest, "min"):
			d += time.Duration(v) * time.Minute
			rest = rest[3:]
		case strings.HasPrefix(rest, "sec"):
			d += time.Duration(v) * time.Second
			rest = rest[3:]
		case strings.HasPrefix(rest, "ms"):
			d += time.Duration(v) * time.Millisecond
			rest = rest[2:]
		case strings.HasPrefix(rest, "."):
			d += time.Duration(v) * time.Second
			rest = rest[1:]
		default:
			return 0, fmt.Errorf("expected a time such as 41sec, 1min2sec or 927ms")
		}
	}
	return d, nil
}

// ctEntry is one conntrack line: its state, timeout and two tuples.
type ctEntry struct {
	event   string // NEW, UPDATE, DESTROY for events
	at      time.Duration
	proto   string
	state   string
	timeout int64 // seconds, -1 when absent
	orig    [2]netip.AddrPort
	reply   [2]netip.AddrPort
}

// parseConntrack parses one line of `conntrack -L`, /proc/net/nf_conntrack
// or `conntrack -E -o timestamp`.
func parseConntrack(line string) (ctEntry, error) {
	e := ctEntry{timeout: -1}
	f := strings.Fields(line)
	if len(f) > 0 && strings.HasPrefix(f[0], "[") && strings.HasSuffix(f[0], "]") && !isEvent(f[0]) {
		ts, err := strconv.ParseFloat(f[0][1:len(f[0])-1], 64)
		if err != nil || ts < 0 {
			return e, fmt.Errorf("timestamp %q: expected [SECONDS.MICROS] as conntrack -o timestamp prints", f[0])
		}
		e.at = time.Duration(ts*1e6+0.5) * time.Microsecond
		f = f[1:]
	}
	if len(f) > 0 && isEvent(f[0]) {
		e.event = f[0][1 : len(f[0])-1]
		f = f[1:]
	}
	if len(f) > 0 && (f[0] == "ipv4" || f[0] == "ipv6") { // /proc/net/nf_conntrack: family and its number
		if len(f) < 2 {
			return e, fmt.Errorf("expected a protocol after %s", f[0])
		}
		f = f[2:]
	}
	if len(f) < 2 {
		return e, fmt.Errorf("expected a conntrack entry such as: tcp 6 117 TIME_WAIT src=A dst=B sport=P dport=Q src=B dst=A sport=Q dport=P")
	}
	e.proto = f[0]
	f = f[2:] // the protocol's name and number
	var srcs, dsts, sports, dports []string
	for _, x := range f {
		k, v, ok := strings.Cut(x, "=")
		switch {
		case !ok:
			if t, err := strconv.ParseInt(x, 10, 64); err == nil && e.timeout < 0 && e.state == "" {
				e.timeout = t
			} else if e.state == "" && len(srcs) == 0 && !strings.HasPrefix(x, "[") {
				e.state = x
			}
		case k == "src":
			srcs = append(srcs, v)
		case k == "dst":
			dsts = append(dsts, v)
		case k == "sport":
			sports = append(sports, v)
		case k == "dport":
			dports = append(dports, v)
		}
	}
	if len(srcs) < 2 || len(dsts) < 2 || len(sports) < 2 || len(dports) < 2 {
		if e.proto != "tcp" && e.proto != "udp" {
			return e, nil // ICMP and others have no ports: the caller skips them
		}
		return e, fmt.Errorf("expected two tuples (src= dst= sport= dport= twice: original and reply)")
	}
	for i := range 2 {
		var err error
		if e.orig[i], err = ctTuple(srcs[0], dsts[0], sports[0], dports[0], i); err != nil {
			return e, err
		}
		if e.reply[i], err = ctTuple(srcs[1], dsts[1], sports[1], dports[1], i); err != nil {
			return e, err
		}
	}
	return e, nil
}

func isEvent(s string) bool {
	return s == "[NEW]" || s == "[UPDATE]" || s == "[DESTROY]"
}

func ctTuple(src, dst, sport, dport string, side int) (netip.AddrPort, error) {
	a, p := src, sport
	if side == 1 {
		a, p = dst, dport
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: expected an IP address", a)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: expected a port number 0..65535", p)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// ReadConntrack reads a conntrack table (`conntrack -L` or
// /proc/net/nf_conntrack) and calls emit with the port each TCP entry
// holds. The port a connection holds on the host or NAT gateway is the
// reply tuple's destination (for a NAT, the translated source), towards
// the reply tuple's source. TIME_WAIT entries become workload.TimeWait
// with their timeout as the time left; ESTABLISHED entries are held for
// ever; entries in other states hold the port until their timeout ends.
// UDP and other protocols are skipped (counted).
func ReadConntrack(name string, r io.Reader, emit func(workload.StateRecord) error) (StateSummary, error) {
	var sum StateSummary
	err := lines(name, r, func(n int, line string) error {
		sum.Lines++
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "conntrack v") {
			return nil // conntrack -L prints a summary line on stderr; tolerate it here
		}
		e, err := parseConntrack(line)
		if err != nil {
			return &LineError{Name: name, Line: n, Msg: err.Error()}
		}
		if e.event != "" {
			return &LineError{Name: name, Line: n, Msg: "an event ([" + e.event + "]) in a table listing; read event streams with -format events"}
		}
		if e.proto != "tcp" {
			sum.Skipped++
			return nil
		}
		rec := workload.StateRecord{Src: e.reply[1].Addr(), Port: e.reply[1].Port(), Dst: e.reply[0]}
		if rec.Port == 0 || rec.Dst.Port() == 0 {
			sum.Skipped++
			return nil
		}
		switch {
		case e.state == "TIME_WAIT":
			rec.State = workload.TimeWait
			rec.Remaining = time.Duration(max(e.timeout, 0)) * time.Second
			sum.TimeWait++
		case e.state == "ESTABLISHED" || e.timeout < 0:
			rec.Remaining = workload.Forever
			sum.Established++
		default:
			rec.Remaining = time.Duration(e.timeout) * time.Second
			sum.Established++
		}
		return emit(rec)
	})
	return sum, err
}

// EventSummary counts what an event-stream import saw.
type EventSummary struct {
	// Lines is the number of lines read; Connections the attempts written,
	// Open those with no end in the stream, RST those reset.
	Lines, Connections, Open, RST int
	// NoNew counts connections whose [NEW] event is not in the stream
	// (they began before it); they are left out.
	NoNew int
}

// ReadConntrackEvents reads a `conntrack -E -o timestamp` event stream
// and calls emit with each connection attempt, in order of start. A
// [NEW] event is an attempt from the reply tuple's destination (the
// host's or the NAT gateway's address and port) to the reply tuple's
// source; the hold runs to the first event in a closing state
// (FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE) or to [DESTROY].
// The close is rst when the entry went to CLOSE without a FIN state, and
// client otherwise: conntrack's states do not say which side sent the
// first FIN. A connection with no end in the stream holds to the last
// event and is marked Open. proto selects TCP or UDP entries; a UDP flow
// holds until [DESTROY] (which includes conntrack's idle timeout).
func ReadConntrackEvents(name string, r io.Reader, proto Proto, emit func(Conn) error) (EventSummary, error) {
	var sum EventSummary
	type rec struct {
		c     Conn
		ended bool
	}
	var queue []*rec
	live := map[[2]netip.AddrPort]*rec{}
	var origin, last time.Duration
	first := true
	want := "tcp"
	if proto == UDP {
		want = "udp"
	}
	flush := func(final bool) error {
		i := 0
		for ; i < len(queue) && (queue[i].ended || final); i++ {
			q := queue[i]
			if !q.ended {
				q.c.Hold = last - q.c.At
				q.c.Open = true
				sum.Open++
			} else if q.c.Close == workload.RST {
				sum.RST++
			}
			sum.Connections++
			if err := emit(q.c); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		queue = queue[i:]
		return nil
	}
	err := lines(name, r, func(n int, line string) error {
		sum.Lines++
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "conntrack v") {
			return nil
		}
		e, err := parseConntrack(line)
		if err != nil {
			return &LineError{Name: name, Line: n, Msg: err.Error()}
		}
		if e.event == "" {
			return &LineError{Name: name, Line: n, Msg: "no [NEW], [UPDATE] or [DESTROY]; expected the output of conntrack -E -o timestamp (read tables with -format conntrack)"}
		}
		if e.proto != want {
			return nil
		}
		if first {
			origin, first = e.at, false
		}
		at := e.at - origin
		if at < last {
			return &LineError{Name: name, Line: n, Msg: fmt.Sprintf("timestamp %v before the previous event's; expected events in time order", e.at)}
		}
		last = at
		key := e.orig
		q := live[key]
		switch e.event {
		case "NEW":
			if q != nil && !q.ended {
				q.ended = true // a new entry on the same tuple: the old one is gone
			}
			c := Conn{}
			c.At = at
			c.Src = e.reply[1].Addr()
			c.Dst = e.reply[0]
			c.Close = workload.ClientClose
			q = &rec{c: c}
			live[key] = q
			queue = append(queue, q)
			return nil
		case "UPDATE":
			if q == nil || q.ended || proto == UDP {
				return nil
			}
			switch e.state {
			case "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT":
				q.ended, q.c.Hold = true, at-q.c.At
			case "CLOSE":
				q.ended, q.c.Hold, q.c.Close = true, at-q.c.At, workload.RST
			}
		case "DESTROY":
			if q == nil {
				sum.NoNew++
				return nil
			}
			delete(live, key)
			if !q.ended {
				q.ended, q.c.Hold = true, at-q.c.At
			}
		}
		return flush(false)
	})
	if err != nil {
		return sum, err
	}
	if err := flush(true); err != nil {
		return sum, err
	}
	if sum.Connections == 0 {
		return sum, &LineError{Name: name, Line: sum.Lines, Msg: fmt.Sprintf("no %s connection with a [NEW] event: nothing to import", want)}
	}
	return sum, nil
}
