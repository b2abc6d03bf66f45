package workload

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestTraceWriterRoundTrip writes records with nanosecond times and
// reads them back unchanged.
func TestTraceWriterRoundTrip(t *testing.T) {
	recs := []TraceRecord{
		{At: 0, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443"), Hold: 1500 * time.Millisecond, Close: ClientClose},
		{At: 20303134, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443"), Hold: Forever, Close: ServerClose},
		{At: 3*time.Hour + 1, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:8443"), Hold: 999999999, Close: RST},
	}
	var buf bytes.Buffer
	w := NewTraceWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "time,src,dst,dst_port,hold,close\n0,10.0.0.1,198.18.0.1,443,1.5,client\n0.020303134,10.0.0.1,198.18.0.1,443,forever,server\n10800.000000001,2001:db8::1,2001:db8::2,8443,0.999999999,rst\n"
	if buf.String() != want {
		t.Errorf("wrote\n%s\nwant\n%s", buf.String(), want)
	}
	r := NewTraceReader("t", &buf)
	for i, w := range recs {
		got, err := r.Read()
		if err != nil || got != w {
			t.Errorf("record %d: %+v, %v; want %+v", i, got, err, w)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Errorf("after the records: %v, want EOF", err)
	}
	if err := w.Write(recs[0]); err == nil {
		t.Error("a record going back in time was written")
	}
}

// TestReadState reads a state written by StateWriter, and reports bad
// lines with their number and column.
func TestReadState(t *testing.T) {
	recs := []StateRecord{
		{Src: netip.MustParseAddr("10.0.0.5"), Port: 40001, Dst: netip.MustParseAddrPort("10.1.2.3:443"), State: Established, Remaining: Forever},
		{Src: netip.MustParseAddr("::1"), Port: 40002, Dst: netip.MustParseAddrPort("[::1]:443"), State: TimeWait, Remaining: 41500 * time.Millisecond},
	}
	var buf bytes.Buffer
	w := NewStateWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	got, err := ReadState("s", &buf)
	if err != nil || len(got) != 2 || got[0] != recs[0] || got[1] != recs[1] {
		t.Errorf("read %+v, %v; want %+v", got, err, recs)
	}
	for in, want := range map[string]string{
		"":      "s:1: no header; expected the header line src,src_port,dst,dst_port,state,remaining",
		"a,b\n": `s:1: header "a,b"; expected the header line src,src_port,dst,dst_port,state,remaining`,
		StateHeader + "\n10.0.0.1,0,10.0.0.2,80,established,forever\n": `s:2: column src_port: "0": expected a port number 1..65535`,
		StateHeader + "\n10.0.0.1,5,::1,80,established,forever\n":      "s:2: column dst: ::1 is IPv6 but src 10.0.0.1 is IPv4; expected addresses of the same family",
		StateHeader + "\n10.0.0.1,5,10.0.0.2,80,closed,forever\n":      `s:2: column state: "closed": expected established or time_wait`,
		StateHeader + "\n10.0.0.1,5,10.0.0.2,80,time_wait,forever\n":   "s:2: column remaining: forever for time_wait; expected the time left on its TIME_WAIT timer, such as 41.5",
		StateHeader + "\n10.0.0.1,5,10.0.0.2,80,time_wait,-1s\n":       `s:2: column remaining: "-1s" is negative; expected a duration >= 0`,
		StateHeader + "\n10.0.0.1,5,10.0.0.2,80\n":                     "s:2: 4 fields; expected 6: src,src_port,dst,dst_port,state,remaining",
	} {
		if _, err := ReadState("s", strings.NewReader(in)); err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", in, err, want)
		}
	}
}

// TestMapState moves a host's sockets onto a generated workload's two
// sources and one destination, by how often each address is used.
func TestMapState(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.3")
	web, db := netip.MustParseAddrPort("192.0.2.1:443"), netip.MustParseAddrPort("192.0.2.2:5432")
	recs := []StateRecord{
		{Src: a, Port: 40000, Dst: db, State: Established, Remaining: Forever},
		{Src: b, Port: 40001, Dst: web, State: TimeWait, Remaining: time.Second},
		{Src: b, Port: 40002, Dst: web, State: Established, Remaining: Forever},
		{Src: c, Port: 40003, Dst: web, State: Established, Remaining: Forever},
		{Src: a, Port: 40004, Dst: web, State: Established, Remaining: Forever},
	}
	spec := Spec{Sources: 2, Destinations: 1}
	got, left := spec.MapState(recs)
	// a (2 sockets, seen first) is source 0, b (2) source 1, c (1) is
	// left out; web (4) is destination 0, db is left out.
	want := []StateRecord{
		{Src: SourceAddr(1), Port: 40001, Dst: DestAddr(0, false), State: TimeWait, Remaining: time.Second},
		{Src: SourceAddr(1), Port: 40002, Dst: DestAddr(0, false), State: Established, Remaining: Forever},
		{Src: SourceAddr(0), Port: 40004, Dst: DestAddr(0, false), State: Established, Remaining: Forever},
	}
	if left != 2 || len(got) != len(want) {
		t.Fatalf("mapped %+v, left out %d; want %+v and 2", got, left, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("socket %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestTraceScale: a trace replayed at TraceScale 4 comes four times as
// fast, with the same holds.
func TestTraceScale(t *testing.T) {
	text := TraceHeader + "\n0,10.0.0.1,198.18.0.1,443,1,client\n2,10.0.0.1,198.18.0.1,443,1,client\n6,10.0.0.1,198.18.0.1,443,forever,rst\n"
	s := Spec{Arrivals: Trace, TraceScale: 4, TraceOpen: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil }}
	w, err := s.New(1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var a Arrival
	for w.Next(&a) {
		got = append(got, a.At.String()+" "+a.Hold.String())
	}
	if want := "0s 1s,500ms 1s,1.5s " + Forever.String(); strings.Join(got, ",") != want {
		t.Errorf("replayed %q, want %q", strings.Join(got, ","), want)
	}
	s.TraceScale = -1
	if err := s.Validate(); err == nil {
		t.Error("TraceScale -1 accepted")
	}
}
