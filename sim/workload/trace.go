package workload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/portsim/portsim/allocator"
)

// TraceHeader is the header line a CSV trace must start with.
const TraceHeader = "time,src,dst,dst_port,hold,close"

// MaxTraceLine is the longest trace line, in bytes, the reader accepts.
const MaxTraceLine = 64 << 10

// maxReported is how many malformed lines ValidateTrace reports one by one.
const maxReported = 10

// TraceRecord is one line of a trace: one connection attempt.
type TraceRecord struct {
	// At is the virtual time of the attempt since the start of the run.
	At time.Duration
	// Src is the local address (IPv4-mapped IPv6 addresses are unmapped).
	Src netip.Addr
	// Dst is the remote endpoint, of the same address family as Src.
	Dst netip.AddrPort
	// Hold is how long the connection stays established, or Forever.
	Hold time.Duration
	// Close is the side that closes first.
	Close Close
}

// TraceError is a malformed trace line (or a failure to read the trace).
type TraceError struct {
	// Name is the trace's name (Spec.TraceName), "trace" if none was given.
	Name string
	// Line is the 1-based line number.
	Line int
	// Column is the name of the bad column, such as "hold", or "" when the
	// line as a whole is wrong.
	Column string
	// Msg says what is wrong and the expected form.
	Msg string
	// Err is the underlying read error, if any.
	Err error
}

// Error returns "NAME:LINE: column COLUMN: MSG", leaving out the column
// part when Column is empty and adding ": ERR" when Err is set.
func (e *TraceError) Error() string {
	s := fmt.Sprintf("%s:%d: ", e.Name, e.Line)
	if e.Column != "" {
		s += "column " + e.Column + ": "
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *TraceError) Unwrap() error { return e.Err }

// TraceSummary describes a trace that ValidateTrace read.
type TraceSummary struct {
	// Records is the number of well-formed attempts.
	Records int
	// Malformed is the number of malformed lines.
	Malformed int
	// First and Last are the times of the first and the last well-formed
	// attempts (0 when there are none).
	First, Last time.Duration
}

// TraceReader reads a CSV trace line by line, in bounded memory. It does
// not allocate for well-formed lines whose addresses are IPv4 (or IPv6
// addresses repeated from the line before) and whose times and holds are
// single numbers with at most one ASCII unit (not 1m30s or µs).
//
// The trace format:
//
//	time,src,dst,dst_port,hold,close
//	0,10.0.0.1,198.18.0.1,443,1.5s,client
//	0.25,10.0.0.1,198.18.0.2,443,forever,server
//	1m30s,2001:db8::1,2001:db8::2,8443,250ms,rst
//
// The first line that is neither blank nor a comment is the header,
// exactly TraceHeader (spaces around names are allowed). Each later line
// has six comma-separated fields (no quoting; spaces around fields are
// ignored); blank lines and lines starting with # are skipped; lines end
// in LF or CRLF and may be at most MaxTraceLine bytes long; a UTF-8 byte
// order mark at the start is ignored. Line numbers count every line from
// 1, the header included.
//
//   - time: the attempt's virtual time since the start of the run, a Go
//     duration (1.5s, 1m30s, 250ms) or a plain number of seconds (1.5),
//     from 0 to MaxSample, non-decreasing from line to line.
//   - src, dst: IPv4 or IPv6 addresses without zone, of the same family
//     (IPv4-mapped IPv6 addresses count as IPv4).
//   - dst_port: the destination port, 1..65535.
//   - hold: how long the connection stays established, in the form of
//     time, or forever for a connection never closed.
//   - close: client, server or rst, the side that closes first.
type TraceReader struct {
	name  string
	br    *bufio.Reader
	line  int
	begun bool  // the header has been read
	fatal error // a header or read error: the reader stops

	prev     time.Duration // time of the last well-formed record
	prevLine int

	// Last address fields parsed, to skip parsing them again.
	srcRaw, dstRaw   []byte
	srcAddr, dstAddr netip.Addr
}

// NewTraceReader returns a reader of the trace in r. name names the trace
// in errors ("trace" when empty).
func NewTraceReader(name string, r io.Reader) *TraceReader {
	return &TraceReader{name: traceName(name), br: bufio.NewReaderSize(r, MaxTraceLine)}
}

func traceName(name string) string {
	if name == "" {
		return "trace"
	}
	return name
}

// Line returns the number of the last line read.
func (t *TraceReader) Line() int { return t.line }

// Read returns the next attempt. At the end of the trace it returns
// io.EOF. A malformed line gives a *TraceError and the next Read goes on
// with the next line; a bad header, an empty trace or a read failure gives
// a *TraceError that every later Read returns again.
func (t *TraceReader) Read() (TraceRecord, error) {
	if t.fatal != nil {
		return TraceRecord{}, t.fatal
	}
	for {
		line, err := t.readLine()
		if err == io.EOF {
			if !t.begun {
				t.fatal = t.errorf(max(t.line, 1), "", "no header; expected the header line %s", TraceHeader)
				return TraceRecord{}, t.fatal
			}
			return TraceRecord{}, io.EOF
		}
		if err != nil {
			if te, ok := err.(*TraceError); ok && te.Err == nil {
				return TraceRecord{}, err // a long line; go on after it
			}
			t.fatal = err
			return TraceRecord{}, err
		}
		if t.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = trimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if !t.begun {
			if err := t.header(line); err != nil {
				t.fatal = err
				return TraceRecord{}, err
			}
			t.begun = true
			continue
		}
		return t.record(line)
	}
}

// readLine returns the next line without its line ending.
func (t *TraceReader) readLine() ([]byte, error) {
	b, err := t.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		t.line++
		for err == bufio.ErrBufferFull {
			_, err = t.br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, t.readError(err)
		}
		return nil, t.errorf(t.line, "", "longer than %d bytes; expected a line of the form %s", MaxTraceLine, TraceHeader)
	}
	if err != nil && err != io.EOF {
		return nil, t.readError(err)
	}
	if len(b) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	t.line++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return b, nil
}

func (t *TraceReader) readError(err error) error {
	return &TraceError{Name: t.name, Line: t.line + 1, Msg: "read failed", Err: err}
}

func (t *TraceReader) errorf(line int, column, format string, args ...any) *TraceError {
	return &TraceError{Name: t.name, Line: line, Column: column, Msg: fmt.Sprintf(format, args...)}
}

// traceColumns are the names of the columns, in order.
var traceColumns = [6]string{"time", "src", "dst", "dst_port", "hold", "close"}

// split cuts line at commas into fields, trimming spaces. It returns the
// number of fields, which may exceed 6 (then only 6 are filled).
func split(line []byte, fields *[6][]byte) int {
	n := 0
	for {
		i := bytes.IndexByte(line, ',')
		f := line
		if i >= 0 {
			f = line[:i]
		}
		if n < len(fields) {
			fields[n] = trimSpace(f)
		}
		n++
		if i < 0 {
			return n
		}
		line = line[i+1:]
	}
}

func (t *TraceReader) header(line []byte) error {
	var f [6][]byte
	n := split(line, &f)
	ok := n == len(traceColumns)
	for i := 0; ok && i < n; i++ {
		ok = string(f[i]) == traceColumns[i]
	}
	if !ok {
		return t.errorf(t.line, "", "header %s; expected the header line %s", quote(line), TraceHeader)
	}
	return nil
}

func (t *TraceReader) record(line []byte) (TraceRecord, error) {
	var f [6][]byte
	if n := split(line, &f); n != len(f) {
		return TraceRecord{}, t.errorf(t.line, "", "%d fields; expected 6: %s", n, TraceHeader)
	}
	var r TraceRecord
	var err error
	if r.At, err = t.duration(f[0], "time", false); err != nil {
		return TraceRecord{}, err
	}
	if r.At < t.prev {
		return TraceRecord{}, t.errorf(t.line, "time", "%v is before %v on line %d; expected non-decreasing times", r.At, t.prev, t.prevLine)
	}
	if r.Src, err = t.addr(f[1], "src", &t.srcRaw, &t.srcAddr); err != nil {
		return TraceRecord{}, err
	}
	dst, err := t.addr(f[2], "dst", &t.dstRaw, &t.dstAddr)
	if err != nil {
		return TraceRecord{}, err
	}
	if dst.Is4() != r.Src.Is4() {
		return TraceRecord{}, t.errorf(t.line, "dst", "%v is %s but src %v is %s; expected addresses of the same family", dst, family(dst), r.Src, family(r.Src))
	}
	port, perr := strconv.ParseUint(string(f[3]), 10, 16)
	if perr != nil || port == 0 {
		return TraceRecord{}, t.errorf(t.line, "dst_port", "%s: expected a port number 1..65535", quote(f[3]))
	}
	r.Dst = netip.AddrPortFrom(dst, uint16(port))
	if r.Hold, err = t.duration(f[4], "hold", true); err != nil {
		return TraceRecord{}, err
	}
	switch string(f[5]) {
	case "client":
		r.Close = ClientClose
	case "server":
		r.Close = ServerClose
	case "rst":
		r.Close = RST
	default:
		return TraceRecord{}, t.errorf(t.line, "close", "%s: expected client, server or rst", quote(f[5]))
	}
	t.prev, t.prevLine = r.At, t.line
	return r, nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// duration parses a time or hold field.
func (t *TraceReader) duration(b []byte, column string, hold bool) (time.Duration, error) {
	want := "expected a Go duration such as 1.5s or a plain number of seconds such as 1.5"
	if hold {
		if string(b) == "forever" {
			return Forever, nil
		}
		want = "expected a Go duration such as 1.5s, a plain number of seconds such as 1.5, or forever"
	}
	d, ok := scanDuration(b)
	if !ok {
		var err error
		if d, err = time.ParseDuration(string(b)); err != nil {
			return 0, t.errorf(t.line, column, "%s: %s", quote(b), want)
		}
	}
	if d < 0 {
		return 0, t.errorf(t.line, column, "%s is negative; expected a duration >= 0", quote(b))
	}
	if d > MaxSample {
		more := ""
		if hold {
			more = "; write forever for a connection that never closes"
		}
		return 0, t.errorf(t.line, column, "%s is above MaxSample (about 73 years)%s", quote(b), more)
	}
	return d, nil
}

// scanDuration parses the common forms of a duration without allocating:
// an unsigned number with an optional fraction, followed by one of the
// units ns, us, ms, s, m, h, or by nothing for seconds. For inputs that
// carry a unit it gives the same value as time.ParseDuration. It reports
// false for any other input (several components, a sign, µs, overflow,
// malformed), which the caller hands to time.ParseDuration.
func scanDuration(b []byte) (time.Duration, bool) {
	i := 0
	var v, f uint64
	scale := 1.0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if i >= 18 {
			return 0, false
		}
		v = v*10 + uint64(b[i]-'0')
	}
	pre := i > 0
	post := false
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if i-j >= 18 {
				return 0, false
			}
			f = f*10 + uint64(b[i]-'0')
			scale *= 10
		}
		post = i > j
	}
	if !pre && !post {
		return 0, false
	}
	var unit uint64
	switch string(b[i:]) {
	case "":
		unit = uint64(time.Second)
	case "ns":
		unit = uint64(time.Nanosecond)
	case "us":
		unit = uint64(time.Microsecond)
	case "ms":
		unit = uint64(time.Millisecond)
	case "s":
		unit = uint64(time.Second)
	case "m":
		unit = uint64(time.Minute)
	case "h":
		unit = uint64(time.Hour)
	default:
		return 0, false
	}
	if v > 1<<63/unit {
		return 0, false
	}
	v *= unit
	if f > 0 {
		v += uint64(float64(f) * (float64(unit) / scale))
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return time.Duration(v), true
}

// addr parses an address field, reusing the last one parsed in the same
// column when the text is the same.
func (t *TraceReader) addr(b []byte, column string, raw *[]byte, last *netip.Addr) (netip.Addr, error) {
	if len(*raw) > 0 && bytes.Equal(b, *raw) {
		return *last, nil
	}
	a, ok := parseIPv4(b)
	if !ok {
		var err error
		a, err = netip.ParseAddr(string(b))
		if err != nil {
			return netip.Addr{}, t.errorf(t.line, column, "%s is not an IP address; expected IPv4 such as 192.0.2.1 or IPv6 such as 2001:db8::1", quote(b))
		}
		if a.Zone() != "" {
			return netip.Addr{}, t.errorf(t.line, column, "%s has a zone; expected an address without %%zone", quote(b))
		}
		a = a.Unmap()
	}
	*raw = append((*raw)[:0], b...)
	*last = a
	return a, nil
}

// parseIPv4 parses dotted-decimal IPv4 as netip.ParseAddr does (four
// decimal octets, no leading zeros) without allocating. It reports false
// for anything else.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var out [4]byte
	part, val, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || part == 3 {
				return netip.Addr{}, false
			}
			out[part] = byte(val)
			part, val, digits = part+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	out[3] = byte(val)
	return netip.AddrFrom4(out), true
}

// trimSpace removes spaces and tabs at both ends.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// quote quotes text for an error message, shortening it past 64 bytes.
func quote(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}

// ValidateTrace reads a whole trace and reports every malformed line, so
// that a run can be refused before it starts. The error joins the
// *TraceError of the first ten malformed lines and, if there are more, a
// count of the rest; it is nil for a well-formed trace. name names the
// trace in errors.
func ValidateTrace(name string, r io.Reader) (TraceSummary, error) {
	st, err := scanTrace(name, r, false)
	return st.TraceSummary, err
}

// MaxDistinct is the most distinct sources, destinations or pairs
// SummarizeTrace counts one by one; a larger count is reported as
// MaxDistinct+1 ("more than MaxDistinct").
const MaxDistinct = 1 << 20

// TraceStats describes a trace as a run replays it: what ValidateTrace
// reports, and the sources, destinations, holds and the most connections
// held at once.
type TraceStats struct {
	TraceSummary
	// Sources, Destinations and Pairs count the distinct source
	// addresses, destination endpoints (address and port) and
	// source-destination pairs, up to MaxDistinct+1.
	Sources, Destinations, Pairs int
	// Forever counts the attempts held forever; HoldMin, HoldMax and
	// HoldMean describe the other holds (0 when there are none).
	Forever                    int
	HoldMin, HoldMax, HoldMean time.Duration
	// PeakHeld is the most connections established at once if every
	// attempt succeeded (a connection is held from its time for its hold;
	// forever holds never end).
	PeakHeld int
}

// SummarizeTrace reads a whole trace as ValidateTrace does and also
// describes it (TraceStats). It needs memory for the distinct counts (up
// to MaxDistinct each) and 8 bytes per connection held at once.
func SummarizeTrace(name string, r io.Reader) (TraceStats, error) {
	return scanTrace(name, r, true)
}

// endHeap is a min-heap of connection end times.
type endHeap []time.Duration

func (h *endHeap) push(v time.Duration) {
	*h = append(*h, v)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *endHeap) pop() {
	a := *h
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a[l] < a[m] {
			m = l
		}
		if l+1 < n && a[l+1] < a[m] {
			m = l + 1
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
}

func scanTrace(name string, r io.Reader, stats bool) (TraceStats, error) {
	tr := NewTraceReader(name, r)
	var st TraceStats
	sum := &st.TraceSummary
	var errs []error
	var srcs map[netip.Addr]struct{}
	var dsts map[netip.AddrPort]struct{}
	var pairs map[[2]uint64]struct{}
	if stats {
		srcs, dsts, pairs = map[netip.Addr]struct{}{}, map[netip.AddrPort]struct{}{}, map[[2]uint64]struct{}{}
	}
	var ends endHeap
	var holdSum float64
	finite := 0
	for {
		rec, err := tr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if tr.fatal != nil {
				errs = append(errs, err)
				break
			}
			sum.Malformed++
			if len(errs) < maxReported {
				errs = append(errs, err)
			}
			continue
		}
		if sum.Records == 0 {
			sum.First = rec.At
		}
		sum.Records++
		sum.Last = rec.At
		if !stats {
			continue
		}
		if len(srcs) <= MaxDistinct {
			srcs[rec.Src] = struct{}{}
		}
		if len(dsts) <= MaxDistinct {
			dsts[rec.Dst] = struct{}{}
		}
		if len(pairs) <= MaxDistinct {
			s16, d16 := rec.Src.As16(), rec.Dst.Addr().As16()
			pairs[[2]uint64{hash16(s16) ^ uint64(rec.Dst.Port())<<48, hash16(d16)}] = struct{}{}
		}
		for len(ends) > 0 && ends[0] <= rec.At {
			ends.pop()
		}
		if rec.Hold == Forever {
			st.Forever++
		} else {
			if finite == 0 || rec.Hold < st.HoldMin {
				st.HoldMin = rec.Hold
			}
			st.HoldMax = max(st.HoldMax, rec.Hold)
			holdSum += float64(rec.Hold)
			finite++
			ends.push(rec.At + rec.Hold)
		}
		st.PeakHeld = max(st.PeakHeld, len(ends)+st.Forever)
	}
	if stats {
		st.Sources, st.Destinations, st.Pairs = len(srcs), len(dsts), len(pairs)
		if finite > 0 {
			st.HoldMean = time.Duration(holdSum / float64(finite))
		}
	}
	if sum.Malformed > maxReported {
		errs = append(errs, fmt.Errorf("%s: %d more malformed lines", tr.name, sum.Malformed-maxReported))
	}
	switch len(errs) {
	case 0:
		return st, nil
	case 1:
		return st, errs[0]
	}
	return st, errors.Join(errs...)
}

// hash16 mixes 16 bytes into 64 bits (for counting distinct pairs in
// bounded memory: two pairs share a key with probability about 2^-64).
func hash16(b [16]byte) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for i := 0; i < 16; i += 8 {
		v := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		h ^= v
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
	}
	return h
}

// SummarizeTrace opens the trace of a Trace spec with TraceOpen and
// describes it (see the function SummarizeTrace), reporting every
// malformed line as CheckTrace does.
func (s Spec) SummarizeTrace() (TraceStats, error) {
	if s.TraceOpen == nil {
		return TraceStats{}, &SpecError{Field: "TraceOpen", Value: "nil", Want: "expected a function opening the CSV trace"}
	}
	rc, err := s.TraceOpen()
	if err != nil {
		return TraceStats{}, fmt.Errorf("workload: open trace %s: %w", traceName(s.TraceName), err)
	}
	st, err := SummarizeTrace(s.TraceName, rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("workload: close trace %s: %w", traceName(s.TraceName), cerr)
	}
	return st, err
}

// replay is the workload of a Trace spec.
type replay struct {
	r      *TraceReader
	rc     io.ReadCloser
	path   allocator.Path
	orig   origin
	scale  float64 // divides attempt times; 0 or 1: as written
	err    error
	closed bool
}

func newReplay(s Spec, seed uint64) (*replay, error) {
	rc, err := s.TraceOpen()
	if err != nil {
		return nil, fmt.Errorf("workload: open trace %s: %w", traceName(s.TraceName), err)
	}
	return &replay{
		r:     NewTraceReader(s.TraceName, rc),
		rc:    rc,
		path:  s.Path,
		orig:  newOrigin(s.OrigPorts, seed),
		scale: s.TraceScale,
	}, nil
}

// Next returns the attempt of the next trace line. At the end of the trace
// or at the first malformed line it closes the trace and returns false;
// Err then reports the malformed line.
func (w *replay) Next(out *Arrival) bool {
	if w.closed {
		return false
	}
	rec, err := w.r.Read()
	if err != nil {
		if err != io.EOF {
			w.err = err
		}
		if cerr := w.Close(); w.err == nil {
			w.err = cerr
		}
		return false
	}
	a := Arrival{At: rec.At, Hold: rec.Hold, Close: rec.Close, Client: -1}
	if w.scale > 0 && w.scale != 1 {
		a.At = time.Duration(float64(rec.At) / w.scale)
	}
	a.Flow.Path = w.path
	a.Flow.Src = rec.Src
	if w.path != allocator.Bind {
		a.Flow.Dst = rec.Dst
	}
	a.Flow.OrigPort = w.orig.draw()
	*out = a
	return true
}

// Err returns the *TraceError of the line that ended the trace early, or
// an error closing the trace, or nil.
func (w *replay) Err() error { return w.err }

// Close closes the trace. Next calls it at the end of the trace; the
// simulator calls it when it stops before the end. Later calls do nothing
// and return nil.
func (w *replay) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.rc.Close(); err != nil {
		return fmt.Errorf("workload: close trace %s: %w", w.r.name, err)
	}
	return nil
}
