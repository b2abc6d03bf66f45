package results

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/portsim/portsim/allocator"
)

// EventHeader is the header line of a per-attempt event log.
const EventHeader = "time_ns,src,dst,dst_port,path,port,probes,outcome,hold_ns,close"

// eventHeaderV1 is the header of event logs written before the hold_ns
// and close columns, which EventReader still reads.
const eventHeaderV1 = "time_ns,src,dst,dst_port,path,port,probes,outcome"

// eventFields returns the field names of EventHeader.
func eventFields() [10]string {
	return [10]string{"time_ns", "src", "dst", "dst_port", "path", "port", "probes", "outcome", "hold_ns", "close"}
}

// Forever is Attempt.Hold for a connection that is never closed (it is
// workload.Forever); the log writes it as -1.
const Forever time.Duration = math.MaxInt64

// Attempt is one port allocation attempt, a row of the event log.
type Attempt struct {
	// At is the virtual time of the attempt since the start of the run.
	At time.Duration
	// Flow is the socket that asked for a port. The log keeps its Path,
	// Src and Dst; OrigPort is not logged.
	Flow allocator.Flow
	// Port is the port allocated, 0 when the attempt failed.
	Port uint16
	// Probes is the number of Checker calls the attempt made.
	Probes int
	// OK reports whether a port was allocated; false means ErrExhausted.
	OK bool
	// Hold is how long the connection was to stay established (Forever
	// for never) and Close the side that closes it first: "client",
	// "server" or "rst". With them the log replays as a trace. Read from
	// a log written before they were added, they are 0 and "".
	Hold  time.Duration
	Close string
}

// EventWriter writes a per-attempt event log as CSV: the header
// EventHeader, then one row per attempt in the order written:
//
//	time_ns   virtual time in nanoseconds
//	src       source address ("" when unset)
//	dst       destination address ("" for bind(0), which has none)
//	dst_port  destination port (0 when dst is empty)
//	path      "connect", "bind" or "udp"
//	port      port allocated, 0 when the attempt failed
//	probes    Checker calls made
//	outcome   "ok" or "exhausted"
//	hold_ns   how long the connection was to stay established, in
//	          nanoseconds, -1 for never (also for a failed attempt:
//	          what the workload asked for)
//	close     the side that closes first: client, server or rst ("" for
//	          an attempt read from a log without this column)
//
// No field needs quoting. Rows are buffered: call Flush at the end. Write
// does not allocate. An EventWriter is not safe for concurrent use.
type EventWriter struct {
	w   *bufio.Writer
	buf []byte
}

// NewEventWriter returns a writer of an event log to w and writes its
// header (to the buffer; an error surfaces at the next Write or Flush).
func NewEventWriter(w io.Writer) *EventWriter {
	e := &EventWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 128)}
	e.w.WriteString(EventHeader + "\n")
	return e
}

// Write appends one attempt to the log. It returns the first error met
// writing to the underlying writer.
func (e *EventWriter) Write(a Attempt) error {
	b := e.buf[:0]
	b = strconv.AppendInt(b, int64(a.At), 10)
	b = append(b, ',')
	b = a.Flow.Src.AppendTo(b)
	b = append(b, ',')
	if d := a.Flow.Dst.Addr(); d.IsValid() {
		b = d.AppendTo(b)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(a.Flow.Dst.Port()), 10)
	} else {
		b = append(b, ",0"...)
	}
	b = append(b, ',')
	b = append(b, a.Flow.Path.String()...)
	b = append(b, ',')
	port := a.Port
	if !a.OK {
		port = 0
	}
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(a.Probes), 10)
	if a.OK {
		b = append(b, ",ok,"...)
	} else {
		b = append(b, ",exhausted,"...)
	}
	if a.Hold == Forever {
		b = append(b, "-1"...)
	} else {
		b = strconv.AppendInt(b, int64(a.Hold), 10)
	}
	b = append(b, ',')
	b = append(b, a.Close...)
	b = append(b, '\n')
	e.buf = b
	if _, err := e.w.Write(b); err != nil {
		return fmt.Errorf("writing event log: %w", err)
	}
	return nil
}

// Flush writes any buffered rows to the underlying writer.
func (e *EventWriter) Flush() error {
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("writing event log: %w", err)
	}
	return nil
}

// EventReader reads an event log written by EventWriter.
type EventReader struct {
	cr   *csv.Reader
	name string
	n    int // fields per row: 10, or 8 in a log without hold_ns and close
}

// NewEventReader returns a reader of the event log r and checks its
// header, EventHeader or the header of a log written before the hold_ns
// and close columns. name names the input in errors, which give the line
// number ("events.csv:12: ...").
func NewEventReader(r io.Reader, name string) (*EventReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // the header's
	cr.ReuseRecord = true
	er := &EventReader{cr: cr, name: name}
	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:1: empty file, expected the header %q", name, EventHeader)
	}
	if err != nil {
		return nil, er.wrap(err)
	}
	if len(rec) != 8 && len(rec) != 10 {
		return nil, fmt.Errorf("%s:1: header of %d fields, expected the header %q", name, len(rec), EventHeader)
	}
	er.n = len(rec)
	fields := eventFields()
	for i := range rec {
		if rec[i] != fields[i] {
			return nil, fmt.Errorf("%s:1: header field %d is %q, expected the header %q", name, i+1, rec[i], EventHeader)
		}
	}
	return er, nil
}

func (er *EventReader) wrap(err error) error {
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			header := EventHeader
			if er.n == 8 {
				header = eventHeaderV1
			}
			return fmt.Errorf("%s:%d: expected %d fields (%s)", er.name, pe.Line, er.n, header)
		}
		return fmt.Errorf("%s:%d: %w", er.name, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", er.name, err)
}

// HasHold reports whether the log has the hold_ns and close columns (a
// log written before they were added has not, and cannot be replayed).
func (er *EventReader) HasHold() bool { return er.n == 10 }

// Next returns the next attempt, or io.EOF after the last one.
func (er *EventReader) Next() (Attempt, error) {
	rec, err := er.cr.Read()
	if errors.Is(err, io.EOF) {
		return Attempt{}, io.EOF
	}
	if err != nil {
		return Attempt{}, er.wrap(err)
	}
	line, _ := er.cr.FieldPos(0)
	bad := func(field int, format string, args ...any) (Attempt, error) {
		return Attempt{}, fmt.Errorf("%s:%d: field %s %q: %s", er.name, line,
			eventFields()[field],
			rec[field], fmt.Sprintf(format, args...))
	}
	var a Attempt
	at, err := strconv.ParseInt(rec[0], 10, 64)
	if err != nil || at < 0 {
		return bad(0, "expected a non-negative integer of nanoseconds")
	}
	a.At = time.Duration(at)
	if rec[1] != "" {
		if a.Flow.Src, err = netip.ParseAddr(rec[1]); err != nil {
			return bad(1, "expected an IP address or nothing")
		}
	}
	dport, err := strconv.ParseUint(rec[3], 10, 16)
	if err != nil {
		return bad(3, "expected a port number 0-65535")
	}
	if rec[2] != "" {
		d, err := netip.ParseAddr(rec[2])
		if err != nil {
			return bad(2, "expected an IP address or nothing")
		}
		a.Flow.Dst = netip.AddrPortFrom(d, uint16(dport))
	} else if dport != 0 {
		return bad(3, "expected 0 when dst is empty")
	}
	if a.Flow.Path, err = allocator.ParsePath(rec[4]); err != nil {
		return bad(4, "expected connect, bind or udp")
	}
	port, err := strconv.ParseUint(rec[5], 10, 16)
	if err != nil {
		return bad(5, "expected a port number 0-65535")
	}
	a.Port = uint16(port)
	probes, err := strconv.Atoi(rec[6])
	if err != nil || probes < 0 {
		return bad(6, "expected a non-negative integer")
	}
	a.Probes = probes
	switch rec[7] {
	case "ok":
		a.OK = true
		if a.Port == 0 {
			return bad(5, "expected a non-zero port for outcome ok")
		}
	case "exhausted":
		if a.Port != 0 {
			return bad(5, "expected 0 for outcome exhausted")
		}
	default:
		return bad(7, "expected ok or exhausted")
	}
	if er.n == 10 {
		hold, err := strconv.ParseInt(rec[8], 10, 64)
		switch {
		case err != nil || hold < -1:
			return bad(8, "expected nanoseconds >= 0, or -1 for never")
		case hold == -1:
			a.Hold = Forever
		default:
			a.Hold = time.Duration(hold)
		}
		switch rec[9] {
		case "client", "server", "rst", "":
			a.Close = rec[9]
		default:
			return bad(9, "expected client, server or rst (or nothing, for an attempt of an older log)")
		}
	}
	return a, nil
}

// ReadEvents reads a whole event log (see NewEventReader).
func ReadEvents(r io.Reader, name string) ([]Attempt, error) {
	er, err := NewEventReader(r, name)
	if err != nil {
		return nil, err
	}
	var out []Attempt
	for {
		a, err := er.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
}
