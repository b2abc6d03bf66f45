package traffic

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portsim/portsim/sim/workload"
)

// The captures under testdata were recorded on loopback in a private
// network namespace by testdata/record.sh, which says what was sent
// (testdata/plan.csv) and lists, from tshark, every SYN, FIN and RST of
// lo.pcap (testdata/reference.txt).

// planned is one family's plan: connections per close side and hold.
type planned struct {
	count map[string]int
	hold  map[string]time.Duration
}

func readPlan(t *testing.T) map[string]planned {
	t.Helper()
	f, err := os.Open("testdata/plan.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]planned{}
	for _, r := range rows[1:] {
		p, ok := out[r[0]]
		if !ok {
			p = planned{count: map[string]int{}, hold: map[string]time.Duration{}}
			out[r[0]] = p
		}
		ms, _ := strconv.Atoi(r[2])
		p.count[r[3]]++
		p.hold[r[3]] = time.Duration(ms) * time.Millisecond
	}
	return out
}

// refConn is a connection as tshark's listing shows it.
type refConn struct {
	start, end int64 // ns since the epoch; end 0: none
	close      string
}

// readReference rebuilds each connection from tshark's SYN/FIN/RST list:
// it starts at its SYN and ends at the first FIN or RST, by either side.
func readReference(t *testing.T) map[string]*refConn {
	t.Helper()
	f, err := os.Open("testdata/reference.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*refConn{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c := strings.Split(sc.Text(), ",")
		sec, frac, _ := strings.Cut(c[0], ".")
		s, _ := strconv.ParseInt(sec, 10, 64)
		frac = (frac + "000000000")[:9]
		ns, _ := strconv.ParseInt(frac, 10, 64)
		at := s*1e9 + ns
		src, dst := c[1]+c[2], c[4]+c[5]
		flags, _ := strconv.ParseUint(strings.TrimPrefix(c[7], "0x"), 16, 16)
		fwd := src + "|" + c[3] + "|" + dst + "|" + c[6]
		rev := dst + "|" + c[6] + "|" + src + "|" + c[3]
		switch {
		case flags&0x12 == 0x02:
			out[fwd] = &refConn{start: at}
		case flags&0x05 != 0:
			r, client := out[fwd], true
			if r == nil {
				r, client = out[rev], false
			}
			if r == nil || r.end != 0 {
				continue
			}
			r.end = at
			switch {
			case flags&0x04 != 0:
				r.close = "rst"
			case client:
				r.close = "client"
			default:
				r.close = "server"
			}
		}
	}
	return out
}

func importFile(t *testing.T, path string, opt CaptureOptions) ([]Conn, CaptureSummary) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Conn
	sum, err := ReadCapture(filepath.Base(path), f, FormatAuto, opt, func(c Conn) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, sum
}

func closeName(c Conn) string {
	if c.Open {
		return "open"
	}
	return c.Close.String()
}

// checkAgainstPlan checks counts and close sides exactly against the
// plan, and each hold against the plan's hold (a connection closes after
// its sleep and before the next 50 ms have passed).
func checkAgainstPlan(t *testing.T, name string, got []Conn) {
	t.Helper()
	plan := readPlan(t)
	seen := map[string]map[string]int{"ipv4": {}, "ipv6": {}}
	for i, c := range got {
		fam := "ipv4"
		if !c.Src.Is4() {
			fam = "ipv6"
		}
		cl := closeName(c)
		seen[fam][cl]++
		if i > 0 && c.At < got[i-1].At {
			t.Errorf("%s: connection %d at %v before %v", name, i, c.At, got[i-1].At)
		}
		if cl == "open" {
			continue
		}
		want := plan[fam].hold[cl]
		if c.Hold < want || c.Hold > want+50*time.Millisecond {
			t.Errorf("%s: %s %s connection from %v: hold %v, want %v to %v", name, fam, cl, c.Src, c.Hold, want, want+50*time.Millisecond)
		}
	}
	for fam, p := range plan {
		for cl, n := range p.count {
			if seen[fam][cl] != n {
				t.Errorf("%s: %s connections closed by %s: %d, sent %d", name, fam, cl, seen[fam][cl], n)
			}
		}
		total := 0
		for _, n := range seen[fam] {
			total += n
		}
		want := 0
		for _, n := range p.count {
			want += n
		}
		if total != want {
			t.Errorf("%s: %s connections: %d, sent %d", name, fam, total, want)
		}
	}
}

// TestRecordedCaptures imports every recorded capture and checks what
// was sent: counts per family and close side exactly, holds against the
// plan, and, against tshark's reading of the same packets, every start
// and hold to the capture's clock resolution.
func TestRecordedCaptures(t *testing.T) {
	ref := readReference(t)
	origin := int64(-1)
	for _, r := range ref {
		if origin < 0 || r.start < origin {
			origin = r.start
		}
	}
	for _, tc := range []struct {
		file string
		// res is the capture's clock resolution; the "any" and
		// snap-length captures were taken by other capture sockets than
		// lo.pcap, which tshark read, and stamp the same packets up to
		// some 100 µs apart.
		res time.Duration
	}{
		{"lo.pcap", time.Nanosecond},
		{"lo.pcapng", time.Nanosecond},
		{"any-sll.pcap", 100 * time.Microsecond},
		{"any-sll2.pcap", 100 * time.Microsecond},
		{"lo-snap68.pcap", 100 * time.Microsecond},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, sum := importFile(t, filepath.Join("testdata", tc.file), CaptureOptions{})
			checkAgainstPlan(t, tc.file, got)
			if tc.file == "lo-snap68.pcap" && sum.Truncated != 0 {
				t.Errorf("truncated packets skipped: %d, want 0 (68 bytes keep the TCP flags)", sum.Truncated)
			}
			first := sum.Start.UnixNano()
			matched := 0
			for _, c := range got {
				// The client's port is not in the trace: find the reference
				// connection by its start.
				var best *refConn
				for _, r := range ref {
					if d := r.start - (first + int64(c.At)); d > -int64(tc.res) && d < int64(tc.res) {
						best = r
					}
				}
				if best == nil {
					t.Errorf("connection at %v from %v: no SYN at that time in tshark's reading", c.At, c.Src)
					continue
				}
				matched++
				if c.Open {
					if best.end != 0 {
						t.Errorf("connection at %v marked open, but tshark sees its end", c.At)
					}
					continue
				}
				want := time.Duration(best.end - best.start)
				if d := c.Hold - want; d <= -2*tc.res || d >= 2*tc.res {
					t.Errorf("connection at %v: hold %v, tshark %v", c.At, c.Hold, want)
				}
				if c.Close.String() != best.close {
					t.Errorf("connection at %v: close %v, tshark %v", c.At, c.Close, best.close)
				}
			}
			if matched != len(ref) {
				t.Errorf("matched %d connections of tshark's %d", matched, len(ref))
			}
		})
	}
}

// rewrite writes the packets of a recorded Ethernet capture to a new
// pcap with another link layer, made by edit from each packet's IP bytes.
func rewrite(t *testing.T, path string, lt layers.LinkType, edit func(eth []byte) []byte) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := pcapgo.NewWriterNanos(&out)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		b := edit(data)
		ci.CaptureLength, ci.Length = len(b), len(b)
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// TestLinkTypes imports the recorded loopback capture rewritten to raw
// IP, BSD loopback (null) and Ethernet with an 802.1Q VLAN tag: the same
// connections come out.
func TestLinkTypes(t *testing.T) {
	want, _ := importFile(t, "testdata/lo.pcap", CaptureOptions{})
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		edit func([]byte) []byte
	}{
		{"raw", layers.LinkTypeRaw, func(b []byte) []byte { return b[14:] }},
		{"null", layers.LinkTypeNull, func(b []byte) []byte {
			fam := uint32(2) // AF_INET; BSD's AF_INET6 is 24, 28 or 30
			if b[12] == 0x86 {
				fam = 30
			}
			h := binary.LittleEndian.AppendUint32(nil, fam)
			return append(h, b[14:]...)
		}},
		{"vlan", layers.LinkTypeEthernet, func(b []byte) []byte {
			out := append([]byte{}, b[:12]...)
			out = append(out, 0x81, 0x00, 0x00, 0x2a) // VLAN 42
			return append(out, b[12:]...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := rewrite(t, "testdata/lo.pcap", tc.lt, tc.edit)
			var got []Conn
			_, err := ReadCapture(tc.name, bytes.NewReader(data), FormatAuto, CaptureOptions{}, func(c Conn) error {
				got = append(got, c)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestClientFilter keeps the IPv6 connections only.
func TestClientFilter(t *testing.T) {
	got, sum := importFile(t, "testdata/lo.pcap", CaptureOptions{Client: netip.MustParsePrefix("::1/128")})
	if len(got) != 14 || sum.OtherClients != 14 {
		t.Fatalf("%d connections, %d from other clients; want 14 and 14", len(got), sum.OtherClients)
	}
	for _, c := range got {
		if c.Src != netip.MustParseAddr("::1") {
			t.Errorf("connection from %v kept", c.Src)
		}
	}
}

// synth builds Ethernet/IPv4/TCP packets for hand-made captures.
type synth struct {
	w   *pcapgo.Writer
	buf [54]byte // the packet being built, reused
}

func newSynth(t testing.TB, out *bytes.Buffer) *synth {
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(96, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return &synth{w: w}
}

// tcp writes a TCP packet from a:ap to b:bp at time at (ns).
func (s *synth) tcp(at int64, a [4]byte, ap uint16, b [4]byte, bp uint16, seq uint32, flags byte) error {
	p := &s.buf
	*p = [54]byte{}
	p[12], p[13] = 0x08, 0x00
	ip := p[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8], ip[9] = 64, 6
	copy(ip[12:], a[:])
	copy(ip[16:], b[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], ap)
	binary.BigEndian.PutUint16(tcp[2:], bp)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4
	tcp[13] = flags
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, at), CaptureLength: len(p), Length: len(p)}
	return s.w.WritePacket(ci, p[:])
}

// TestSynthetic checks, on a hand-made capture, what loopback does not
// show: a retransmitted SYN counted once, packets out of timestamp order,
// a server close and a SYN to a port reused after its connection ended.
func TestSynthetic(t *testing.T) {
	var buf bytes.Buffer
	s := newSynth(t, &buf)
	c, srv := [4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 1}
	ms := int64(time.Millisecond)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.tcp(0, c, 40000, srv, 443, 100, flagSYN))
	must(s.tcp(1000*ms, c, 40000, srv, 443, 100, flagSYN)) // retransmitted
	must(s.tcp(1010*ms, srv, 443, c, 40000, 7, flagSYN|flagACK))
	must(s.tcp(1500*ms, c, 40001, srv, 443, 200, flagSYN))
	must(s.tcp(1400*ms, c, 40002, srv, 443, 300, flagSYN)) // out of order: before the one above
	must(s.tcp(2000*ms, srv, 443, c, 40000, 8, flagFIN|flagACK))
	must(s.tcp(2500*ms, c, 40001, srv, 443, 201, flagRST))
	must(s.tcp(2600*ms, c, 40002, srv, 443, 301, flagFIN|flagACK))
	must(s.tcp(9000*ms, c, 40000, srv, 443, 999, flagSYN)) // the same 4-tuple again
	must(s.tcp(9100*ms, srv, 443, c, 40000, 1, flagSYN|flagACK))
	var got []string
	sum, err := ReadCapture("synthetic", &buf, FormatPcap, CaptureOptions{}, func(c Conn) error {
		got = append(got, fmt.Sprintf("%v %v %v %v %v open=%v", c.At, c.Src, c.Dst, c.Hold, c.Close, c.Open))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0s 10.0.0.1 192.0.2.1:443 2s server open=false",
		"1.4s 10.0.0.1 192.0.2.1:443 1.2s client open=false",
		"1.5s 10.0.0.1 192.0.2.1:443 1s rst open=false",
		"9s 10.0.0.1 192.0.2.1:443 100ms client open=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sum.RetransmittedSYN != 1 || sum.Reordered != 1 || sum.Open != 1 || sum.Packets != 10 {
		t.Errorf("summary %+v: want 1 retransmitted SYN, 1 reordered packet, 1 open, 10 packets", sum)
	}
}

// TestUDPFlows: a flow ends after the idle timeout; a packet after it
// opens another flow.
func TestUDPFlows(t *testing.T) {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	udp := func(at time.Duration, a, b string, ap, bp uint16) {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: netip.MustParseAddr(a).AsSlice(), DstIP: netip.MustParseAddr(b).AsSlice()}
		u := &layers.UDP{SrcPort: layers.UDPPort(ap), DstPort: layers.UDPPort(bp)}
		u.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true}, ip, u, gopacket.Payload("x")); err != nil {
			t.Fatal(err)
		}
		b2 := sb.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(100, 0).Add(at), CaptureLength: len(b2), Length: len(b2)}, b2); err != nil {
			t.Fatal(err)
		}
	}
	udp(0, "10.0.0.1", "192.0.2.53", 5000, 53)
	udp(10*time.Millisecond, "192.0.2.53", "10.0.0.1", 53, 5000)
	udp(5*time.Second, "10.0.0.1", "192.0.2.53", 5000, 53)
	udp(20*time.Second, "10.0.0.1", "192.0.2.53", 5000, 53) // 15 s idle: a new flow
	udp(21*time.Second, "10.0.0.2", "192.0.2.53", 6000, 53)
	var got []string
	_, err := ReadCapture("udp", &buf, FormatAuto, CaptureOptions{Proto: UDP, UDPIdle: 10 * time.Second}, func(c Conn) error {
		got = append(got, fmt.Sprintf("%v %v %v %v open=%v", c.At, c.Src, c.Dst, c.Hold, c.Open))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "0s 10.0.0.1 192.0.2.53:53 5s open=false\n20s 10.0.0.1 192.0.2.53:53 0s open=true\n21s 10.0.0.2 192.0.2.53:53 0s open=true"
	if strings.Join(got, "\n") != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}

// TestCaptureErrors: errors name the capture and the packet.
func TestCaptureErrors(t *testing.T) {
	lo, err := os.ReadFile("testdata/lo.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var empty bytes.Buffer
	newSynth(t, &empty)
	var noSyn bytes.Buffer
	s := newSynth(t, &noSyn)
	s.tcp(0, [4]byte{10, 0, 0, 1}, 1, [4]byte{10, 0, 0, 2}, 2, 0, flagACK)
	bogus := append([]byte{}, lo[:24]...)
	binary.LittleEndian.PutUint32(bogus[20:], 147) // a user link type
	bogus = append(bogus, lo[24:]...)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"text", []byte("hello"), "text: not a pcap or pcapng capture (no pcap or pcapng magic number at the start)"},
		{"empty", empty.Bytes(), "empty: 0 packets (0 IP), no TCP connection opened (no SYN without ACK): nothing to import"},
		{"nosyn", noSyn.Bytes(), "nosyn: 1 packets (1 IP), no TCP connection opened (no SYN without ACK): nothing to import"},
		{"linktype", bogus, "linktype: packet 1: link type UnknownLinkType (147) is not supported; expected Ethernet, Linux cooked (SLL or SLL2), raw IP or loopback (null)"},
		{"badlen", append(append([]byte{}, lo[:24]...), 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f), "badlen: packet 1: reading the packet: capture length exceeds snap length: 2147483647 > 262144"},
	} {
		_, err := ReadCapture(tc.name, bytes.NewReader(tc.data), FormatAuto, CaptureOptions{}, func(Conn) error { return nil })
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v\nwant %s", tc.name, err, tc.want)
		}
		var ce *CaptureError
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("%s: %T, want *CaptureError", tc.name, err)
		}
	}
	// A capture cut in the middle of its last packet is used up to it.
	got, sum := 0, CaptureSummary{}
	sum, err = ReadCapture("cut", bytes.NewReader(lo[:len(lo)-10]), FormatAuto, CaptureOptions{}, func(Conn) error { got++; return nil })
	if err != nil || !sum.CutShort || got != 28 {
		t.Errorf("cut capture: %d connections, cut short %v, error %v; want 28, true, nil", got, sum.CutShort, err)
	}
}

var _ = workload.ClientClose
