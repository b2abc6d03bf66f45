package results

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/portsim/portsim/allocator"
)

func sampleAttempts() []Attempt {
	src := netip.MustParseAddr("10.0.0.1")
	dst := netip.MustParseAddrPort("192.0.2.7:443")
	return []Attempt{
		{At: 0, Flow: allocator.Flow{Path: allocator.Connect, Src: src, Dst: dst}, Port: 32768, Probes: 1, OK: true, Hold: 250 * time.Millisecond, Close: "client"},
		{At: 1500 * time.Microsecond, Flow: allocator.Flow{Path: allocator.Connect, Src: src, Dst: dst}, Port: 32769, Probes: 28256, OK: true, Hold: Forever, Close: "server"},
		{At: 2 * time.Second, Flow: allocator.Flow{Path: allocator.Bind, Src: src}, Probes: 4, OK: false, Hold: 0, Close: "rst"},
		{At: 3 * time.Second, Flow: allocator.Flow{Path: allocator.UDP, Src: netip.MustParseAddr("2001:db8::1"),
			Dst: netip.MustParseAddrPort("[2001:db8::53]:53")}, Port: 50000, Probes: 0, OK: true, Hold: 1, Close: "client"},
	}
}

const sampleEventLog = `time_ns,src,dst,dst_port,path,port,probes,outcome,hold_ns,close
0,10.0.0.1,192.0.2.7,443,connect,32768,1,ok,250000000,client
1500000,10.0.0.1,192.0.2.7,443,connect,32769,28256,ok,-1,server
2000000000,10.0.0.1,,0,bind,0,4,exhausted,0,rst
3000000000,2001:db8::1,2001:db8::53,53,udp,50000,0,ok,1,client
`

// sampleEventLogV1 is the sample as written before the hold_ns and close
// columns.
const sampleEventLogV1 = `time_ns,src,dst,dst_port,path,port,probes,outcome
0,10.0.0.1,192.0.2.7,443,connect,32768,1,ok
1500000,10.0.0.1,192.0.2.7,443,connect,32769,28256,ok
2000000000,10.0.0.1,,0,bind,0,4,exhausted
3000000000,2001:db8::1,2001:db8::53,53,udp,50000,0,ok
`

func TestEventWriter(t *testing.T) {
	var buf bytes.Buffer
	ew := NewEventWriter(&buf)
	for _, a := range sampleAttempts() {
		if err := ew.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := ew.Flush(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleEventLog, buf.String()); d != "" {
		t.Errorf("event log (-want +got):\n%s", d)
	}
	// A failed attempt logs port 0 whatever Port holds.
	buf.Reset()
	ew = NewEventWriter(&buf)
	ew.Write(Attempt{Flow: allocator.Flow{Path: allocator.Connect}, Port: 99, Probes: 3})
	ew.Flush()
	if want := EventHeader + "\n0,,,0,connect,0,3,exhausted,0,\n"; buf.String() != want {
		t.Errorf("failed attempt logged as %q, want %q", buf.String(), want)
	}
}

func TestEventWriterHeaderOnly(t *testing.T) {
	var buf bytes.Buffer
	if err := NewEventWriter(&buf).Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != EventHeader+"\n" {
		t.Errorf("empty log = %q, want the header alone", buf.String())
	}
	if EventHeader != "time_ns,src,dst,dst_port,path,port,probes,outcome,hold_ns,close" {
		t.Errorf("header changed: %q", EventHeader)
	}
}

func TestEventWriterNoAlloc(t *testing.T) {
	ew := NewEventWriter(io.Discard)
	a := sampleAttempts()
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		ew.Write(a[i%len(a)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Write allocates %v times per row, want 0", allocs)
	}
}

func TestEventWriterError(t *testing.T) {
	ew := NewEventWriter(failWriter{})
	a := sampleAttempts()[0]
	var err error
	// The buffer holds 64 KiB; the error must surface once it fills.
	for range 5000 {
		if err = ew.Write(a); err != nil {
			break
		}
	}
	if err == nil {
		err = ew.Flush()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error = %v, want the write error", err)
	}
	if err := ew.Flush(); err == nil {
		t.Error("Flush after a failed write returned nil")
	}
}

func TestReadEvents(t *testing.T) {
	got, err := ReadEvents(strings.NewReader(sampleEventLog), "events.csv")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sampleAttempts(), got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); d != "" {
		t.Errorf("read attempts (-want +got):\n%s", d)
	}
	// A log without hold_ns and close reads with neither.
	er, err := NewEventReader(strings.NewReader(sampleEventLogV1), "old.csv")
	if err != nil || er.HasHold() {
		t.Fatalf("old log: %v, has hold %v", err, er != nil && er.HasHold())
	}
	old, err := ReadEvents(strings.NewReader(sampleEventLogV1), "old.csv")
	want := sampleAttempts()
	for i := range want {
		want[i].Hold, want[i].Close = 0, ""
	}
	if err != nil || len(old) != len(want) {
		t.Fatalf("old log: %d attempts, %v", len(old), err)
	}
	for i := range want {
		if old[i] != want[i] {
			t.Errorf("old log attempt %d: %+v, want %+v", i, old[i], want[i])
		}
	}
}

func TestReadEventsErrors(t *testing.T) {
	row := "0,10.0.0.1,192.0.2.7,443,connect,32768,1,ok,5,client\n"
	tests := []struct{ name, in, want string }{
		{"empty", "", "events.csv:1: empty file"},
		{"bad header", "time,src,dst,dst_port,path,port,probes,outcome\n", "events.csv:1: header field 1 is \"time\""},
		{"short header", "time_ns,src\n", "events.csv:1: header of 2 fields"},
		{"short row", EventHeader + "\n" + row + "1,2,3\n", "events.csv:3: expected 10 fields"},
		{"short old row", sampleEventLogV1 + "1,2,3\n", "events.csv:6: expected 8 fields (time_ns,src,dst,dst_port,path,port,probes,outcome)"},
		{"hold", EventHeader + "\n0,,,0,bind,1,1,ok,-2,client\n", "events.csv:2: field hold_ns \"-2\": expected nanoseconds >= 0, or -1 for never"},
		{"close", EventHeader + "\n0,,,0,bind,1,1,ok,5,nobody\n", "events.csv:2: field close \"nobody\": expected client, server or rst"},
		{"time", EventHeader + "\n-5,10.0.0.1,192.0.2.7,443,connect,1,1,ok,5,client\n", "events.csv:2: field time_ns \"-5\""},
		{"src", EventHeader + "\n" + row + "0,10.0.0.300,,0,bind,1,1,ok,5,client\n", "events.csv:3: field src"},
		{"dst", EventHeader + "\n0,,nowhere,1,connect,1,1,ok,5,client\n", "events.csv:2: field dst \"nowhere\""},
		{"dst port without dst", EventHeader + "\n0,,,80,bind,1,1,ok,5,client\n", "events.csv:2: field dst_port \"80\": expected 0 when dst is empty"},
		{"dst port", EventHeader + "\n0,,192.0.2.1,70000,connect,1,1,ok,5,client\n", "events.csv:2: field dst_port"},
		{"path", EventHeader + "\n0,,,0,listen,1,1,ok,5,client\n", "events.csv:2: field path \"listen\""},
		{"probes", EventHeader + "\n0,,,0,bind,1,-1,ok,5,client\n", "events.csv:2: field probes"},
		{"outcome", EventHeader + "\n0,,,0,bind,1,1,fail,5,client\n", "events.csv:2: field outcome \"fail\": expected ok or exhausted"},
		{"port on failure", EventHeader + "\n0,,,0,bind,5,1,exhausted,5,client\n", "events.csv:2: field port \"5\": expected 0"},
		{"no port on success", EventHeader + "\n0,,,0,bind,0,1,ok,5,client\n", "events.csv:2: field port \"0\": expected a non-zero port"},
		{"quote", EventHeader + "\n0,\"a,,0,bind,0,1,ok,5,client\n", "events.csv:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadEvents(strings.NewReader(tt.in), "events.csv")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// FuzzReadEvents checks that the reader never panics and that whatever
// it accepts is written back to a log it reads the same way.
func FuzzReadEvents(f *testing.F) {
	f.Add(sampleEventLog)
	f.Add(EventHeader + "\n")
	f.Add(EventHeader + "\n0,,,0,bind,0,1,exhausted,5,client\n")
	f.Add(sampleEventLogV1)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ReadEvents(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		ew := NewEventWriter(&buf)
		for _, a := range got {
			if err := ew.Write(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := ew.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := ReadEvents(&buf, "rewritten")
		if err != nil {
			t.Fatalf("rewritten log does not read: %v\n%s", err, buf.String())
		}
		if len(again) != len(got) {
			t.Fatalf("read %d attempts, then %d", len(got), len(again))
		}
		for i := range got {
			if got[i] != again[i] {
				t.Fatalf("attempt %d: %+v became %+v", i, got[i], again[i])
			}
		}
	})
}

func BenchmarkEventWriter(b *testing.B) {
	ew := NewEventWriter(io.Discard)
	a := sampleAttempts()[1]
	b.ReportAllocs()
	for b.Loop() {
		if err := ew.Write(a); err != nil {
			b.Fatal(err)
		}
	}
}
