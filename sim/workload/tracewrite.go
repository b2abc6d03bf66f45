package workload

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
)

// TraceWriter writes a CSV trace that TraceReader reads back exactly:
// the header TraceHeader, then one line per record. Times and holds are
// written as plain seconds with up to nine decimals (nanoseconds), which
// the reader turns back into the same durations. Lines are buffered:
// call Flush at the end. A TraceWriter is not safe for concurrent use.
type TraceWriter struct {
	w     *bufio.Writer
	buf   []byte
	begun bool
	prev  time.Duration
}

// NewTraceWriter returns a writer of a trace to w.
func NewTraceWriter(w io.Writer) *TraceWriter {
	return &TraceWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 128)}
}

// Comment writes a comment line ("# text"), which readers skip. The
// header is written first if it has not been.
func (t *TraceWriter) Comment(text string) error {
	t.header()
	_, err := t.w.WriteString("# " + text + "\n")
	return wrapWrite(err)
}

func (t *TraceWriter) header() {
	if !t.begun {
		t.begun = true
		t.w.WriteString(TraceHeader + "\n")
	}
}

// Write appends one record. Records must come in non-decreasing time and
// hold a valid Src, Dst and Close; Write refuses a record out of order.
func (t *TraceWriter) Write(r TraceRecord) error {
	t.header()
	if r.At < t.prev {
		return fmt.Errorf("trace: record at %v after one at %v; expected non-decreasing times", r.At, t.prev)
	}
	if r.At < 0 || r.Hold < 0 {
		return fmt.Errorf("trace: record at %v with hold %v; expected times >= 0", r.At, r.Hold)
	}
	t.prev = r.At
	b := AppendSeconds(t.buf[:0], r.At)
	b = append(b, ',')
	b = r.Src.AppendTo(b)
	b = append(b, ',')
	b = r.Dst.Addr().AppendTo(b)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Dst.Port()), 10)
	b = append(b, ',')
	if r.Hold == Forever {
		b = append(b, "forever"...)
	} else {
		b = AppendSeconds(b, r.Hold)
	}
	b = append(b, ',')
	b = append(b, r.Close.String()...)
	b = append(b, '\n')
	t.buf = b
	_, err := t.w.Write(b)
	return wrapWrite(err)
}

// Flush writes the header, if no line was written, and any buffered lines.
func (t *TraceWriter) Flush() error {
	t.header()
	return wrapWrite(t.w.Flush())
}

func wrapWrite(err error) error {
	if err != nil {
		return fmt.Errorf("writing trace: %w", err)
	}
	return nil
}

// AppendSeconds appends d >= 0 as plain seconds with up to nine decimals
// and no trailing zeros ("0", "1.5", "0.000001234").
func AppendSeconds(b []byte, d time.Duration) []byte {
	sec, ns := int64(d)/1e9, int64(d)%1e9
	b = strconv.AppendInt(b, sec, 10)
	if ns == 0 {
		return b
	}
	var frac [9]byte
	for i := 8; i >= 0; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	n := 9
	for frac[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, frac[:n]...)
}
