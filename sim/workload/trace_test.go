package workload

import (
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// traceSpec returns a Trace spec reading text, named t.csv.
func traceSpec(text string) Spec {
	return Spec{Arrivals: Trace, TraceName: "t.csv", TraceOpen: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(text)), nil
	}}
}

// replayAll returns every attempt of a workload and its Err.
func replayAll(t *testing.T, s Spec) ([]Arrival, error) {
	t.Helper()
	w, err := s.New(1)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var out []Arrival
	for {
		a, ok := nextOf(w)
		if !ok {
			return out, w.Err()
		}
		out = append(out, a)
	}
}

const goodTrace = "\xef\xbb\xbf# a comment before the header\n" +
	" time , src,dst,dst_port,hold,close\r\n" +
	"0,10.0.0.1,198.18.0.1,443,1.5s,client\n" +
	"\r\n" +
	"0.25, 10.0.0.1 ,198.18.0.2,8443,forever,server\r\n" +
	"   # an indented comment\n" +
	"1m30s,2001:db8::1,2001:db8::2,443,250,rst\n" +
	"90.5,::ffff:10.0.0.2,198.18.0.9,80,1.5ms,client"

func TestTraceReplay(t *testing.T) {
	want := []Arrival{
		{At: 0, Hold: 1500 * time.Millisecond, Close: ClientClose, Client: -1,
			Flow: allocator.Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")}},
		{At: 250 * time.Millisecond, Hold: Forever, Close: ServerClose, Client: -1,
			Flow: allocator.Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.2:8443")}},
		{At: 90 * time.Second, Hold: 250 * time.Second, Close: RST, Client: -1,
			Flow: allocator.Flow{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:443")}},
		{At: 90500 * time.Millisecond, Hold: 1500 * time.Microsecond, Close: ClientClose, Client: -1,
			Flow: allocator.Flow{Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddrPort("198.18.0.9:80")}},
	}
	got, err := replayAll(t, traceSpec(goodTrace))
	if err != nil {
		t.Fatalf("Err: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d attempts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// Bind flows have no destination; OrigPorts come from the seed.
	s := traceSpec(goodTrace)
	s.Path, s.OrigPorts = allocator.Bind, allocator.Range{Lo: 5000, Hi: 5009}
	bind, err := replayAll(t, s)
	if err != nil || len(bind) != len(want) {
		t.Fatalf("bind: %d attempts, %v", len(bind), err)
	}
	again, _ := replayAll(t, s)
	for i := range bind {
		w := want[i]
		w.Flow.Path, w.Flow.Dst, w.Flow.OrigPort = allocator.Bind, netip.AddrPort{}, bind[i].Flow.OrigPort
		if bind[i] != w || !s.OrigPorts.Contains(bind[i].Flow.OrigPort) || again[i] != bind[i] {
			t.Errorf("bind attempt %d = %+v, want %+v with OrigPort in %v, the same each run", i, bind[i], w, s.OrigPorts)
		}
	}

	sum, err := ValidateTrace("t.csv", strings.NewReader(goodTrace))
	if err != nil || sum != (TraceSummary{Records: 4, First: 0, Last: 90500 * time.Millisecond}) {
		t.Errorf("ValidateTrace = %+v, %v", sum, err)
	}
	if sum, err := traceSpec(goodTrace).CheckTrace(); err != nil || sum.Records != 4 {
		t.Errorf("CheckTrace = %+v, %v", sum, err)
	}
	if _, err := replayAll(t, traceSpec(TraceHeader)); err != nil {
		t.Errorf("a header alone: %v", err)
	}
}

func TestTraceErrors(t *testing.T) {
	const h = TraceHeader + "\n"
	const good = "0,10.0.0.1,198.18.0.1,443,1s,client\n"
	const timeForm = "expected a Go duration such as 1.5s or a plain number of seconds such as 1.5"
	const holdForm = "expected a Go duration such as 1.5s, a plain number of seconds such as 1.5, or forever"
	const addrForm = "expected IPv4 such as 192.0.2.1 or IPv6 such as 2001:db8::1"
	long := strings.Repeat("x", 70_000)
	tests := []struct {
		name, text string
		before     int // good attempts before the error
		want       string
	}{
		{"empty", "", 0, "t.csv:1: no header; expected the header line " + TraceHeader},
		{"comment only", "# nothing\n", 0, "t.csv:1: no header; expected the header line " + TraceHeader},
		{"short header", "time,src,dst\n" + good, 0, `t.csv:1: header "time,src,dst"; expected the header line ` + TraceHeader},
		{"renamed column", "time,src,dst,port,hold,close\n", 0, `t.csv:1: header "time,src,dst,port,hold,close"; expected the header line ` + TraceHeader},
		{"5 fields", h + "0,10.0.0.1,198.18.0.1,443,1s\n", 0, "t.csv:2: 5 fields; expected 6: " + TraceHeader},
		{"7 fields", h + good + "0,10.0.0.1,198.18.0.1,443,1s,client,x\n", 1, "t.csv:3: 7 fields; expected 6: " + TraceHeader},
		{"bad time", h + "soon,10.0.0.1,198.18.0.1,443,1s,client\n", 0, `t.csv:2: column time: "soon": ` + timeForm},
		{"empty time", h + ",10.0.0.1,198.18.0.1,443,1s,client\n", 0, `t.csv:2: column time: "": ` + timeForm},
		{"negative time", h + "-1s,10.0.0.1,198.18.0.1,443,1s,client\n", 0, `t.csv:2: column time: "-1s" is negative; expected a duration >= 0`},
		{"time too large", h + "1000000h,10.0.0.1,198.18.0.1,443,1s,client\n", 0, `t.csv:2: column time: "1000000h" is above MaxSample (about 73 years)`},
		{"time goes back", h + "2s,10.0.0.1,198.18.0.1,443,1s,client\n1.5,10.0.0.1,198.18.0.1,443,1s,client\n", 1,
			"t.csv:3: column time: 1.5s is before 2s on line 2; expected non-decreasing times"},
		{"bad src", h + "0,10.0.0,198.18.0.1,443,1s,client\n", 0, `t.csv:2: column src: "10.0.0" is not an IP address; ` + addrForm},
		{"leading zero", h + "0,10.0.0.01,198.18.0.1,443,1s,client\n", 0, `t.csv:2: column src: "10.0.0.01" is not an IP address; ` + addrForm},
		{"zone", h + "0,fe80::1%eth0,fe80::2,443,1s,client\n", 0, `t.csv:2: column src: "fe80::1%eth0" has a zone; expected an address without %zone`},
		{"bad dst", h + good + "1,10.0.0.1,example.com,443,1s,client\n", 1, `t.csv:3: column dst: "example.com" is not an IP address; ` + addrForm},
		{"families", h + "0,10.0.0.1,2001:db8::1,443,1s,client\n", 0,
			"t.csv:2: column dst: 2001:db8::1 is IPv6 but src 10.0.0.1 is IPv4; expected addresses of the same family"},
		{"port 0", h + "0,10.0.0.1,198.18.0.1,0,1s,client\n", 0, `t.csv:2: column dst_port: "0": expected a port number 1..65535`},
		{"port too large", h + "0,10.0.0.1,198.18.0.1,70000,1s,client\n", 0, `t.csv:2: column dst_port: "70000": expected a port number 1..65535`},
		{"port name", h + "0,10.0.0.1,198.18.0.1,https,1s,client\n", 0, `t.csv:2: column dst_port: "https": expected a port number 1..65535`},
		{"bad hold", h + "0,10.0.0.1,198.18.0.1,443,long,client\n", 0, `t.csv:2: column hold: "long": ` + holdForm},
		{"negative hold", h + "0,10.0.0.1,198.18.0.1,443,-5ms,client\n", 0, `t.csv:2: column hold: "-5ms" is negative; expected a duration >= 0`},
		{"hold too large", h + "0,10.0.0.1,198.18.0.1,443,1000000h,client\n", 0,
			`t.csv:2: column hold: "1000000h" is above MaxSample (about 73 years); write forever for a connection that never closes`},
		{"bad close", h + "0,10.0.0.1,198.18.0.1,443,1s,fin\n", 0, `t.csv:2: column close: "fin": expected client, server or rst`},
		{"long line", h + good + long + "\n" + good, 1, "t.csv:3: longer than 65536 bytes; expected a line of the form " + TraceHeader},
		{"line count after blanks and comments", h + good + "\n# note\n\n" + "1,10.0.0.1,198.18.0.1,443,1s,close\n", 1,
			`t.csv:6: column close: "close": expected client, server or rst`},
		{"long field is shortened", h + "0,10.0.0.1,198.18.0.1,443,1s," + strings.Repeat("y", 100) + "\n", 0,
			`t.csv:2: column close: "` + strings.Repeat("y", 64) + `"...: expected client, server or rst`},
	}
	for _, tt := range tests {
		got, err := replayAll(t, traceSpec(tt.text))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: Err\n got %v\nwant %s", tt.name, err, tt.want)
		}
		if len(got) != tt.before {
			t.Errorf("%s: %d attempts before the error, want %d", tt.name, len(got), tt.before)
		}
		var te *TraceError
		if !errors.As(err, &te) || te.Name != "t.csv" || te.Line < 1 {
			t.Errorf("%s: Err %v is not a *TraceError naming the trace and line", tt.name, err)
		}
		_, verr := ValidateTrace("t.csv", strings.NewReader(tt.text))
		if verr == nil || verr.Error() != tt.want {
			t.Errorf("%s: ValidateTrace\n got %v\nwant %s", tt.name, verr, tt.want)
		}
	}
}

// TestValidateTraceMany checks that ValidateTrace goes past malformed lines,
// reports the first ten and counts the rest.
func TestValidateTraceMany(t *testing.T) {
	var b strings.Builder
	b.WriteString(TraceHeader + "\n")
	for i := range 20 {
		if i%4 == 0 {
			b.WriteString("1,10.0.0.1,198.18.0.1,443,1s,client\n")
		} else {
			b.WriteString("1,10.0.0.1,198.18.0.1,443,1s,bye\n")
		}
	}
	b.WriteString("0.5,10.0.0.1,198.18.0.1,443,1s,client\n") // goes back in time
	sum, err := ValidateTrace("many.csv", strings.NewReader(b.String()))
	if want := (TraceSummary{Records: 5, Malformed: 16, First: time.Second, Last: time.Second}); sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 11 || lines[0] != `many.csv:3: column close: "bye": expected client, server or rst` ||
		lines[9] != `many.csv:15: column close: "bye": expected client, server or rst` ||
		lines[10] != "many.csv: 6 more malformed lines" {
		t.Errorf("error:\n%v", err)
	}
	var te *TraceError
	if !errors.As(err, &te) || te.Line != 3 || te.Column != "close" {
		t.Errorf("errors.As found %+v", te)
	}
}

// closer counts Close calls.
type closer struct {
	io.Reader
	closes int
	err    error
}

func (c *closer) Close() error { c.closes++; return c.err }

func TestTraceClose(t *testing.T) {
	c := &closer{Reader: strings.NewReader(goodTrace)}
	s := traceSpec("")
	s.TraceOpen = func() (io.ReadCloser, error) { return c, nil }
	if got, err := replayAll(t, s); err != nil || len(got) != 4 || c.closes != 1 {
		t.Errorf("%d attempts, Err %v, %d closes; want 4, nil, 1", len(got), err, c.closes)
	}

	c = &closer{Reader: strings.NewReader(goodTrace)}
	w, _ := s.New(1)
	nextOf(w)
	if err := w.(io.Closer).Close(); err != nil || c.closes != 1 {
		t.Errorf("Close: %v, %d closes", err, c.closes)
	}
	if _, ok := nextOf(w); ok || w.Err() != nil {
		t.Errorf("Next after Close: %v, %v", ok, w.Err())
	}
	if err := w.(io.Closer).Close(); err != nil || c.closes != 1 {
		t.Errorf("second Close: %v, %d closes", err, c.closes)
	}

	boom := errors.New("boom")
	c = &closer{Reader: strings.NewReader(goodTrace), err: boom}
	if _, err := replayAll(t, s); !errors.Is(err, boom) || err.Error() != "workload: close trace t.csv: boom" {
		t.Errorf("close failure reported as %v", err)
	}

	s.TraceOpen = func() (io.ReadCloser, error) { return nil, boom }
	if _, err := s.New(1); !errors.Is(err, boom) || err.Error() != "workload: open trace t.csv: boom" {
		t.Errorf("New with a failing TraceOpen: %v", err)
	}
	if _, err := s.CheckTrace(); !errors.Is(err, boom) {
		t.Errorf("CheckTrace with a failing TraceOpen: %v", err)
	}
}

// failing returns its text, then err.
type failing struct {
	r   io.Reader
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestTraceReadError(t *testing.T) {
	gone := errors.New("disk gone")
	text := TraceHeader + "\n0,10.0.0.1,198.18.0.1,443,1s,client\n"
	r := NewTraceReader("t.csv", &failing{strings.NewReader(text), gone})
	if _, err := r.Read(); err != nil {
		t.Fatalf("first record: %v", err)
	}
	for range 2 { // the error sticks
		_, err := r.Read()
		if !errors.Is(err, gone) || err.Error() != "t.csv:3: read failed: disk gone" {
			t.Errorf("read error reported as %v", err)
		}
	}
}

// TestScanDuration checks the allocation-free duration parser against
// time.ParseDuration on inputs with a unit, and plain numbers as seconds.
func TestScanDuration(t *testing.T) {
	for _, in := range []string{
		"0s", "1s", "1.5s", ".5s", "5.s", "1.000000001s", "0.1h", "2.5m", "100ms", "250us", "7ns", "1.9ns",
		"9223372036s", "9223372037s", "2562047h", "2562048h", "0.333333333333333333333s", "123456789012345678ns",
		"1234567890123456789ns", "1h30m", "µs", "1µs", "+1s", "-1s", "1e3s", "s", ".s", "1..5s", "", "1 s", "1S",
	} {
		want, werr := time.ParseDuration(in)
		got, ok := scanDuration([]byte(in))
		if ok && (werr != nil || got != want) {
			t.Errorf("scanDuration(%q) = %v, time.ParseDuration = %v, %v", in, got, want, werr)
		}
	}
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0}, {"1", time.Second}, {"1.5", 1500 * time.Millisecond}, {"0.000000001", 1}, {".25", 250 * time.Millisecond},
		{"86400.123456789", 86400123456789},
	} {
		if got, ok := scanDuration([]byte(tt.in)); !ok || got != tt.want {
			t.Errorf("scanDuration(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
	}
	for _, in := range []string{"1h30m", "1µs", "+1s", "1e3", "", "."} {
		if _, ok := scanDuration([]byte(in)); ok {
			t.Errorf("scanDuration(%q) accepted a form it leaves to time.ParseDuration", in)
		}
	}
}

func TestParseIPv4(t *testing.T) {
	for _, in := range []string{
		"0.0.0.0", "10.0.0.1", "255.255.255.255", "256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.02.3.4",
		"1..2.3", ".1.2.3", "1.2.3.", "::1", "::ffff:1.2.3.4", "1.2.3.4%x", "", "1.2.3.-4", "1.2.3.4 ",
	} {
		want, werr := netip.ParseAddr(in)
		got, ok := parseIPv4([]byte(in))
		if ok != (werr == nil && want.Is4()) || ok && got != want {
			t.Errorf("parseIPv4(%q) = %v, %v; netip.ParseAddr = %v, %v", in, got, ok, want, werr)
		}
	}
}

// TestNewTraceOpenFails checks that New returns a nil Workload, not a nil
// pointer in an interface, when the trace does not open.
func TestNewTraceOpenFails(t *testing.T) {
	s := traceSpec("")
	s.TraceOpen = func() (io.ReadCloser, error) { return nil, errors.New("no such file") }
	if w, err := s.New(1); w != nil || err == nil {
		t.Errorf("New = %v, %v; want nil and an error", w, err)
	}
}
