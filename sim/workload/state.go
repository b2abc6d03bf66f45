package workload

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// StateHeader is the header line a starting-state CSV must start with.
const StateHeader = "src,src_port,dst,dst_port,state,remaining"

// SockState is the state of a socket in a starting state.
type SockState uint8

const (
	// Established: the socket holds its 4-tuple (or port) until its
	// remaining time ends, then frees it at once, with no TIME_WAIT on
	// its side.
	Established SockState = iota
	// TimeWait: the 4-tuple is in TIME_WAIT for its remaining time.
	TimeWait
)

// String returns "established" or "time_wait".
func (s SockState) String() string {
	if s == TimeWait {
		return "time_wait"
	}
	return "established"
}

// StateRecord is one socket of a host's starting state: a local port
// held towards a remote endpoint when the run begins.
type StateRecord struct {
	// Src is the local address and Port the local port it holds.
	Src  netip.Addr
	Port uint16
	// Dst is the remote endpoint.
	Dst netip.AddrPort
	// State is Established or TimeWait.
	State SockState
	// Remaining is how long from the start of the run the socket still
	// holds the port: the TIME_WAIT timer left, or for an established
	// socket Forever (the usual case) or the time until it goes.
	Remaining time.Duration
}

// StateWriter writes a starting-state CSV: StateHeader, then one line per
// socket:
//
//	src,src_port,dst,dst_port,state,remaining
//	10.0.0.5,40001,10.1.2.3,443,established,forever
//	10.0.0.5,40002,10.1.2.3,443,time_wait,41.5
//
// state is established or time_wait; remaining is plain seconds, a Go
// duration or forever. Call Flush at the end.
type StateWriter struct {
	w     *bufio.Writer
	buf   []byte
	begun bool
}

// NewStateWriter returns a writer of a starting state to w.
func NewStateWriter(w io.Writer) *StateWriter {
	return &StateWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (s *StateWriter) header() {
	if !s.begun {
		s.begun = true
		s.w.WriteString(StateHeader + "\n")
	}
}

// Write appends one socket.
func (s *StateWriter) Write(r StateRecord) error {
	s.header()
	b := r.Src.AppendTo(s.buf[:0])
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, ',')
	b = r.Dst.Addr().AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Dst.Port()), 10)
	b = append(b, ',')
	b = append(b, r.State.String()...)
	b = append(b, ',')
	if r.Remaining == Forever {
		b = append(b, "forever"...)
	} else {
		b = AppendSeconds(b, r.Remaining)
	}
	b = append(b, '\n')
	s.buf = b
	_, err := s.w.Write(b)
	return wrapState(err)
}

// Flush writes the header, if nothing was written, and buffered lines.
func (s *StateWriter) Flush() error {
	s.header()
	return wrapState(s.w.Flush())
}

func wrapState(err error) error {
	if err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// ReadState reads a whole starting-state CSV (see StateWriter). Blank
// lines and lines starting with # are skipped; the first other line must
// be StateHeader. Errors are *TraceError values naming name, the line and
// the column.
func ReadState(name string, r io.Reader) ([]StateRecord, error) {
	name = traceName(name)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxTraceLine)
	var out []StateRecord
	line := 0
	begun := false
	bad := func(column, format string, args ...any) error {
		return &TraceError{Name: name, Line: line, Column: column, Msg: fmt.Sprintf(format, args...)}
	}
	var tr TraceReader // for its duration parser
	tr.name = name
	for sc.Scan() {
		line++
		tr.line = line
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = trimSpace(bytes.TrimSuffix(b, []byte("\r")))
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		var f [6][]byte
		n := split(b, &f)
		if !begun {
			ok := n == 6
			for i, c := range [6]string{"src", "src_port", "dst", "dst_port", "state", "remaining"} {
				ok = ok && string(f[i]) == c
			}
			if !ok {
				return nil, bad("", "header %s; expected the header line %s", quote(b), StateHeader)
			}
			begun = true
			continue
		}
		if n != 6 {
			return nil, bad("", "%d fields; expected 6: %s", n, StateHeader)
		}
		var rec StateRecord
		var err error
		if rec.Src, err = stateAddr(f[0]); err != nil {
			return nil, bad("src", "%s is not an IP address without zone; expected IPv4 such as 192.0.2.1 or IPv6 such as 2001:db8::1", quote(f[0]))
		}
		p, perr := strconv.ParseUint(string(f[1]), 10, 16)
		if perr != nil || p == 0 {
			return nil, bad("src_port", "%s: expected a port number 1..65535", quote(f[1]))
		}
		rec.Port = uint16(p)
		dst, err := stateAddr(f[2])
		if err != nil {
			return nil, bad("dst", "%s is not an IP address without zone; expected IPv4 such as 192.0.2.1 or IPv6 such as 2001:db8::1", quote(f[2]))
		}
		if dst.Is4() != rec.Src.Is4() {
			return nil, bad("dst", "%v is %s but src %v is %s; expected addresses of the same family", dst, family(dst), rec.Src, family(rec.Src))
		}
		dp, perr := strconv.ParseUint(string(f[3]), 10, 16)
		if perr != nil || dp == 0 {
			return nil, bad("dst_port", "%s: expected a port number 1..65535", quote(f[3]))
		}
		rec.Dst = netip.AddrPortFrom(dst, uint16(dp))
		switch string(f[4]) {
		case "established":
			rec.State = Established
		case "time_wait":
			rec.State = TimeWait
		default:
			return nil, bad("state", "%s: expected established or time_wait", quote(f[4]))
		}
		if rec.Remaining, err = tr.duration(f[5], "remaining", true); err != nil {
			return nil, err
		}
		if rec.State == TimeWait && rec.Remaining == Forever {
			return nil, bad("remaining", "forever for time_wait; expected the time left on its TIME_WAIT timer, such as 41.5")
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, &TraceError{Name: name, Line: line + 1, Msg: "read failed", Err: err}
	}
	if !begun {
		return nil, &TraceError{Name: name, Line: max(line, 1), Msg: "no header; expected the header line " + StateHeader}
	}
	return out, nil
}

func stateAddr(b []byte) (netip.Addr, error) {
	if a, ok := parseIPv4(b); ok {
		return a, nil
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zone")
	}
	return a.Unmap(), nil
}

// MapState moves a starting state taken on a real host onto the
// addresses of the generated workload s, so that the state and the
// workload's attempts share ports: the state's k-th most used local
// address becomes SourceAddr(k) for k < s.Sources, and its j-th most used
// remote endpoint becomes DestAddr(j, s.Loopback) for j < s.Destinations
// (ties in the order of first appearance). Sockets of other sources or
// destinations hold no port the workload could ask for; MapState leaves
// them out and returns how many.
func (s Spec) MapState(recs []StateRecord) (out []StateRecord, left int) {
	srcRank := rank(recs, func(r *StateRecord) netip.Addr { return r.Src })
	dstRank := rank(recs, func(r *StateRecord) netip.AddrPort { return r.Dst })
	out = make([]StateRecord, 0, len(recs))
	for _, r := range recs {
		k, j := srcRank[r.Src], dstRank[r.Dst]
		if k >= s.Sources || j >= s.Destinations {
			left++
			continue
		}
		r.Src = SourceAddr(k)
		r.Dst = DestAddr(j, s.Loopback)
		out = append(out, r)
	}
	return out, left
}

// rank numbers the distinct keys of recs from the most frequent (0), ties
// in order of first appearance.
func rank[K comparable](recs []StateRecord, key func(*StateRecord) K) map[K]int {
	count := map[K]int{}
	var order []K
	for i := range recs {
		k := key(&recs[i])
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	slices.SortStableFunc(order, func(a, b K) int { return count[b] - count[a] })
	out := make(map[K]int, len(order))
	for i, k := range order {
		out[k] = i
	}
	return out
}
