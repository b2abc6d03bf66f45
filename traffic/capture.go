// Package traffic turns what an operator has of a real host's traffic —
// packet captures (pcap, pcapng), conntrack listings and event streams,
// and `ss` snapshots — into portsim's inputs: trace records (the
// connection attempts a run replays) and a starting state (the sockets
// that hold ports when a run begins). It is the only package of portsim
// that reads packets; the simulator sees traces and states, not file
// formats.
//
// Every reader streams: a capture is read packet by packet, and memory
// grows with the connections open at once (and those opened after the
// oldest still-open one, which wait for it so that records come out in
// order), not with the packets.
package traffic

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/portsim/portsim/sim/workload"
)

// Proto is the transport protocol whose connections a capture import
// keeps.
type Proto uint8

const (
	// TCP: each SYN without ACK opens one connection attempt.
	TCP Proto = iota
	// UDP: each flow (5-tuple) opens an attempt with its first packet and
	// ends after an idle timeout.
	UDP
)

// DefaultUDPIdle is the idle time after which a UDP flow ends when
// CaptureOptions.UDPIdle is zero: Linux's nf_conntrack_udp_timeout.
const DefaultUDPIdle = 30 * time.Second

// ReorderWindow is how far out of timestamp order a packet may come in a
// capture and still be placed where its timestamp says: a record is
// written only once the capture's clock is this far past its end.
const ReorderWindow = 2 * time.Second

// CaptureOptions selects what a capture import keeps.
type CaptureOptions struct {
	// Proto is TCP (the default) or UDP.
	Proto Proto
	// Client, when valid, keeps only the connections opened from
	// addresses in it (for UDP, flows with one end in it, that end being
	// the client). The zero Prefix keeps every connection.
	Client netip.Prefix
	// UDPIdle ends a UDP flow after this long without a packet (default
	// DefaultUDPIdle).
	UDPIdle time.Duration
}

// Conn is one connection attempt recovered from a capture.
type Conn struct {
	workload.TraceRecord
	// Open reports that the capture holds no end of the connection (no
	// FIN or RST): its Hold runs to the capture's last packet.
	Open bool
}

// CaptureSummary counts what a capture import saw.
type CaptureSummary struct {
	// Packets is the number of packets read; IP the number with an IPv4
	// or IPv6 header; Truncated those cut short by the capture's snap
	// length before the transport header's ports and flags (they are
	// skipped).
	Packets, IP, Truncated int64
	// Connections is the number of attempts written, Open those with no
	// end in the capture, and Client, Server and RST those closed first
	// by each side.
	Connections, Open, Client, Server, RST int64
	// RetransmittedSYN counts SYNs repeating one already seen (same
	// 4-tuple and sequence number), which are not new attempts.
	RetransmittedSYN int64
	// Reordered counts packets whose timestamp is earlier than one
	// already read.
	Reordered int64
	// OtherClients counts attempts left out by CaptureOptions.Client.
	OtherClients int64
	// Start and End are the timestamps of the first packet (time 0 of the
	// trace) and of the latest one.
	Start, End time.Time
	// MaxPending is the most connections held in memory at once: those
	// open, and those waiting for an older one to end so that records
	// come out in order.
	MaxPending int
	// CutShort reports that the capture ends in the middle of a packet
	// (as when the capturing program was killed); what came before is
	// used.
	CutShort bool
}

// packetSource is what the pcap and pcapng readers share.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Format names an input format.
type Format string

// The input formats.
const (
	FormatAuto      Format = "auto"
	FormatPcap      Format = "pcap"
	FormatPcapng    Format = "pcapng"
	FormatConntrack Format = "conntrack"
	FormatSS        Format = "ss"
	FormatEvents    Format = "events"
	// FormatEventLog is portsim's own per-attempt event log (portsim run
	// -events), which traffic does not read itself.
	FormatEventLog Format = "eventlog"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatPcap, FormatPcapng, FormatConntrack, FormatSS, FormatEvents, FormatEventLog:
		return f, nil
	}
	return "", fmt.Errorf("format %q: expected auto, pcap, pcapng, conntrack, ss, events or eventlog", s)
}

// Sniff guesses the format of the input from its first bytes: the pcap
// and pcapng magic numbers, portsim's event-log header, an `ss` header, a
// conntrack event ("[NEW]", "[DESTROY]", "[UPDATE]") or a conntrack
// listing line.
func Sniff(br *bufio.Reader) Format {
	head, _ := br.Peek(512)
	if len(head) >= 4 {
		switch binary.LittleEndian.Uint32(head) {
		case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
			return FormatPcap
		case 0x0a0d0d0a:
			return FormatPcapng
		}
	}
	s := string(head)
	switch {
	case len(s) >= 19 && s[:19] == "time_ns,src,dst,dst":
		return FormatEventLog
	case hasWord(s, "[NEW]") || hasWord(s, "[DESTROY]") || hasWord(s, "[UPDATE]"):
		return FormatEvents
	case hasWord(s, "State") && (hasWord(s, "Local") || hasWord(s, "Recv-Q")):
		return FormatSS
	case hasWord(s, "src=") && hasWord(s, "dst="):
		return FormatConntrack
	}
	return FormatAuto
}

func hasWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

// CaptureError is a capture that cannot be read.
type CaptureError struct {
	// Name names the capture; Packet is the 1-based number of the packet
	// at fault, 0 for the file header.
	Name   string
	Packet int64
	// Msg says what is wrong; Err is the underlying error, if any.
	Msg string
	Err error
}

// Error returns "NAME: packet N: MSG: ERR" ("NAME: MSG" for the header).
func (e *CaptureError) Error() string {
	s := e.Name + ": "
	if e.Packet > 0 {
		s += fmt.Sprintf("packet %d: ", e.Packet)
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *CaptureError) Unwrap() error { return e.Err }

// ReadCapture reads a pcap or pcapng capture (format FormatPcap,
// FormatPcapng or FormatAuto) from r and calls emit with each connection
// attempt, in the order of their start times. name names the capture in
// errors. It returns an error naming the packet when the capture is
// malformed, and one saying so when it holds no usable connection.
func ReadCapture(name string, r io.Reader, format Format, opt CaptureOptions, emit func(Conn) error) (CaptureSummary, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	if format == FormatAuto {
		format = Sniff(br)
	}
	var src packetSource
	var link func(int) layers.LinkType
	switch format {
	case FormatPcap:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return CaptureSummary{}, &CaptureError{Name: name, Msg: "not a pcap file", Err: err}
		}
		lt := pr.LinkType()
		src, link = pr, func(int) layers.LinkType { return lt }
	case FormatPcapng:
		nr, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{})
		if err != nil {
			return CaptureSummary{}, &CaptureError{Name: name, Msg: "not a pcapng file", Err: err}
		}
		src = nr
		link = func(i int) layers.LinkType {
			if ifc, err := nr.Interface(i); err == nil {
				return ifc.LinkType
			}
			return nr.LinkType()
		}
	default:
		return CaptureSummary{}, &CaptureError{Name: name, Msg: "not a pcap or pcapng capture (no pcap or pcapng magic number at the start)"}
	}
	imp := newImporter(name, opt, emit)
	if err := imp.run(src, link); err != nil {
		return imp.sum, err
	}
	return imp.sum, nil
}

// flowKey identifies a flow with its endpoints in a fixed order (the
// lower address and port first), so both directions find it.
type flowKey struct {
	a, b   [16]byte
	ap, bp uint16
}

// pending is one connection waiting to be written.
type pending struct {
	start, end int64 // ns since the capture's first packet; end < 0: not ended
	last       int64 // UDP: time of the latest packet
	isn        uint32
	clientIsA  bool
	key        flowKey
	close      workload.Close
	open       bool
	v4         bool
}

// importer is one capture import in progress.
type importer struct {
	name string
	opt  CaptureOptions
	emit func(Conn) error
	sum  CaptureSummary

	flows map[flowKey]int32 // -> slot in recs
	recs  []pending
	free  []int32
	queue []int32 // slots in start order, from head
	head  int

	origin   int64 // ns timestamp of the first packet
	clock    int64 // latest timestamp, ns since origin
	lastOut  int64 // start of the last record written
	nextScan int64 // UDP: next idle scan
	idle     int64

	parsers map[layers.LinkType]*decoder
}

func newImporter(name string, opt CaptureOptions, emit func(Conn) error) *importer {
	if opt.UDPIdle <= 0 {
		opt.UDPIdle = DefaultUDPIdle
	}
	return &importer{name: name, opt: opt, emit: emit, flows: map[flowKey]int32{},
		parsers: map[layers.LinkType]*decoder{}, idle: int64(opt.UDPIdle)}
}

// decoder decodes one link type down to TCP or UDP.
type decoder struct {
	parser  *gopacket.DecodingLayerParser
	raw     bool // raw IP: the first layer depends on the version nibble
	parser6 *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	eth     layers.Ethernet
	vlan    layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
}

func newDecoder(lt layers.LinkType) (*decoder, error) {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	common := []gopacket.DecodingLayer{&d.vlan, &d.ip4, &d.ip6, &d.tcp, &d.udp}
	mk := func(first gopacket.LayerType, extra ...gopacket.DecodingLayer) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first, append(extra, common...)...)
		p.IgnoreUnsupported = true
		return p
	}
	switch lt {
	case layers.LinkTypeEthernet:
		d.parser = mk(layers.LayerTypeEthernet, &d.eth)
	case layers.LinkTypeLinuxSLL:
		d.parser = mk(layers.LayerTypeLinuxSLL, &d.sll)
	case layers.LinkTypeLinuxSLL2:
		d.parser = mk(layers.LayerTypeLinuxSLL2, &d.sll2)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		d.parser = mk(layers.LayerTypeLoopback, &d.loop)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12: // 12: DLT_RAW on OpenBSD
		d.raw = true
		d.parser = mk(layers.LayerTypeIPv4)
		d.parser6 = mk(layers.LayerTypeIPv6)
	default:
		return nil, fmt.Errorf("link type %v (%d) is not supported; expected Ethernet, Linux cooked (SLL or SLL2), raw IP or loopback (null)", lt, int(lt))
	}
	return d, nil
}

// packet is what the importer needs of one packet.
type packet struct {
	src, dst [16]byte
	sp, dp   uint16
	v4       bool
	udp      bool
	seq      uint32
	flags    byte // TCP flags byte
}

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// decode fills p from data. It reports whether data holds an IPv4 or
// IPv6 packet, and whether its TCP or UDP header was complete enough.
func (d *decoder) decode(data []byte, p *packet) (ip, ok bool) {
	parser := d.parser
	if d.raw && len(data) > 0 && data[0]>>4 == 6 {
		parser = d.parser6
	}
	err := parser.DecodeLayers(data, &d.decoded)
	var ipProto layers.IPProtocol
	var payload []byte
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				if d.ip4.FragOffset != 0 {
					return true, false // a later fragment has no transport header
				}
			}
			ip = true
			p.v4 = true
			copy(p.src[:], d.ip4.SrcIP.To16())
			copy(p.dst[:], d.ip4.DstIP.To16())
			ipProto, payload = d.ip4.Protocol, d.ip4.Payload
		case layers.LayerTypeIPv6:
			ip = true
			p.v4 = false
			copy(p.src[:], d.ip6.SrcIP)
			copy(p.dst[:], d.ip6.DstIP)
			ipProto, payload = d.ip6.NextHeader, d.ip6.Payload
		case layers.LayerTypeTCP:
			p.udp = false
			p.sp, p.dp = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			p.seq = d.tcp.Seq
			p.flags = d.tcp.Contents[13]
			return true, true
		case layers.LayerTypeUDP:
			p.udp = true
			p.sp, p.dp = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			return true, true
		}
	}
	if !ip {
		return false, false
	}
	// The transport header did not decode: with a small snap length the
	// TCP options (or the IP packet's length) run past the captured
	// bytes. Ports, sequence number and flags are in the first 14 bytes.
	_ = err
	switch ipProto {
	case layers.IPProtocolTCP:
		if len(payload) < 14 {
			return true, false
		}
		p.udp = false
		p.sp, p.dp = binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
		p.seq = binary.BigEndian.Uint32(payload[4:])
		p.flags = payload[13]
		return true, true
	case layers.IPProtocolUDP:
		if len(payload) < 4 {
			return true, false
		}
		p.udp = true
		p.sp, p.dp = binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
		return true, true
	}
	return true, false
}

func (imp *importer) run(src packetSource, link func(int) layers.LinkType) error {
	var p packet
	var d *decoder
	lastLT := layers.LinkType(0xffff)
	for n := int64(1); ; n++ {
		data, ci, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && imp.sum.Packets > 0 {
				imp.sum.CutShort = true
				break
			}
			return &CaptureError{Name: imp.name, Packet: n, Msg: "reading the packet", Err: err}
		}
		imp.sum.Packets++
		if lt := link(ci.InterfaceIndex); lt != lastLT {
			if d = imp.parsers[lt]; d == nil {
				if d, err = newDecoder(lt); err != nil {
					return &CaptureError{Name: imp.name, Packet: n, Msg: err.Error()}
				}
				imp.parsers[lt] = d
			}
			lastLT = lt
		}
		ts := ci.Timestamp.UnixNano()
		if imp.sum.Packets == 1 {
			imp.origin = ts
			imp.sum.Start = ci.Timestamp
			imp.sum.End = ci.Timestamp
		}
		t := ts - imp.origin
		if t < imp.clock {
			imp.sum.Reordered++
		} else {
			imp.clock = t
			imp.sum.End = ci.Timestamp
		}
		ip, ok := d.decode(data, &p)
		if !ip {
			continue
		}
		imp.sum.IP++
		if !ok {
			if ci.CaptureLength < ci.Length {
				imp.sum.Truncated++
			}
			continue
		}
		if t < 0 {
			t = 0
		}
		if err := imp.packet(&p, t); err != nil {
			return err
		}
	}
	// The capture's end: every connection still open holds to it.
	for i := imp.head; i < len(imp.queue); i++ {
		r := &imp.recs[imp.queue[i]]
		if r.end < 0 {
			r.end, r.open = imp.clock, true
			if imp.opt.Proto == UDP {
				r.end = r.last
			}
		}
	}
	if err := imp.flush(true); err != nil {
		return err
	}
	if imp.sum.Connections == 0 {
		what := "no TCP connection opened (no SYN without ACK)"
		if imp.opt.Proto == UDP {
			what = "no UDP flow"
		}
		if imp.opt.Client.IsValid() {
			what += " from " + imp.opt.Client.String()
		}
		return &CaptureError{Name: imp.name, Msg: fmt.Sprintf("%d packets (%d IP), %s: nothing to import", imp.sum.Packets, imp.sum.IP, what)}
	}
	return nil
}

func addrOf(b [16]byte, v4 bool) netip.Addr {
	a := netip.AddrFrom16(b)
	if v4 {
		return a.Unmap()
	}
	return a
}

// packet handles one decoded packet at time t.
func (imp *importer) packet(p *packet, t int64) error {
	if p.udp != (imp.opt.Proto == UDP) {
		return nil
	}
	var k flowKey
	fromA := p.sp < p.dp
	if c := compare16(&p.src, &p.dst); c != 0 {
		fromA = c < 0
	}
	if fromA {
		k = flowKey{a: p.src, b: p.dst, ap: p.sp, bp: p.dp}
	} else {
		k = flowKey{a: p.dst, b: p.src, ap: p.dp, bp: p.sp}
	}
	slot, known := imp.flows[k]
	if p.udp {
		return imp.udpPacket(p, k, fromA, slot, known, t)
	}
	syn := p.flags&(flagSYN|flagACK) == flagSYN
	if syn {
		if known {
			r := &imp.recs[slot]
			if r.isn == p.seq && r.clientIsA == fromA {
				imp.sum.RetransmittedSYN++
				if t < r.start {
					imp.moveStart(slot, t)
				}
				return nil
			}
			if r.end < 0 { // a new SYN on a 4-tuple with no end seen
				r.end, r.open = t, true
			}
		}
		if imp.opt.Client.IsValid() && !imp.opt.Client.Contains(addrOf(p.src, p.v4)) {
			imp.sum.OtherClients++
			return nil
		}
		imp.open(k, fromA, p.v4, p.seq, t)
		return imp.flush(false)
	}
	if !known || p.flags&(flagFIN|flagRST) == 0 {
		return nil
	}
	r := &imp.recs[slot]
	if r.end >= 0 && (t >= r.end || r.open) {
		return nil // ended already (by an earlier FIN or RST)
	}
	if t < r.start {
		t = r.start
	}
	r.end = t
	fromClient := fromA == r.clientIsA
	switch {
	case p.flags&flagRST != 0:
		r.close = workload.RST
	case fromClient:
		r.close = workload.ClientClose
	default:
		r.close = workload.ServerClose
	}
	return imp.flush(false)
}

func compare16(a, b *[16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// open starts a connection at time t.
func (imp *importer) open(k flowKey, clientIsA, v4 bool, isn uint32, t int64) int32 {
	var slot int32
	if n := len(imp.free); n > 0 {
		slot = imp.free[n-1]
		imp.free = imp.free[:n-1]
	} else {
		imp.recs = append(imp.recs, pending{})
		slot = int32(len(imp.recs) - 1)
	}
	if t < imp.lastOut {
		t = imp.lastOut // more out of order than ReorderWindow: keep the trace in order
	}
	imp.recs[slot] = pending{start: t, end: -1, last: t, isn: isn, clientIsA: clientIsA, key: k, v4: v4}
	imp.flows[k] = slot
	imp.queue = append(imp.queue, slot)
	imp.sum.MaxPending = max(imp.sum.MaxPending, len(imp.queue)-imp.head)
	// Keep the queue in start order when packets come out of order.
	for i := len(imp.queue) - 1; i > imp.head && imp.recs[imp.queue[i-1]].start > t; i-- {
		imp.queue[i-1], imp.queue[i] = imp.queue[i], imp.queue[i-1]
	}
	return slot
}

// moveStart moves connection slot's start earlier, to t.
func (imp *importer) moveStart(slot int32, t int64) {
	if t < imp.lastOut {
		t = imp.lastOut
	}
	imp.recs[slot].start = t
	i := imp.head
	for ; i < len(imp.queue) && imp.queue[i] != slot; i++ {
	}
	for ; i > imp.head && imp.recs[imp.queue[i-1]].start > t; i-- {
		imp.queue[i-1], imp.queue[i] = imp.queue[i], imp.queue[i-1]
	}
}

func (imp *importer) udpPacket(p *packet, k flowKey, fromA bool, slot int32, known bool, t int64) error {
	if known {
		r := &imp.recs[slot]
		if r.end < 0 && t-r.last <= imp.idle {
			if t > r.last {
				r.last = t
			}
			return nil
		}
		if r.end < 0 {
			r.end = r.last
		}
	}
	clientIsA := fromA
	if pf := imp.opt.Client; pf.IsValid() {
		switch {
		case pf.Contains(addrOf(p.src, p.v4)):
		case pf.Contains(addrOf(p.dst, p.v4)):
			clientIsA = !fromA
		default:
			imp.sum.OtherClients++
			return nil
		}
	}
	imp.open(k, clientIsA, p.v4, 0, t)
	if t >= imp.nextScan {
		// End the flows idle for longer than the timeout.
		for i := imp.head; i < len(imp.queue); i++ {
			r := &imp.recs[imp.queue[i]]
			if r.end < 0 && t-r.last > imp.idle {
				r.end = r.last
			}
		}
		imp.nextScan = t + imp.idle/4 + 1
	}
	return imp.flush(false)
}

// flush writes the connections at the head of the queue that have ended
// and can no longer be reordered (all of them at the end).
func (imp *importer) flush(final bool) error {
	for imp.head < len(imp.queue) {
		slot := imp.queue[imp.head]
		r := &imp.recs[slot]
		if !final && (r.end < 0 || imp.clock-r.end < int64(ReorderWindow)) {
			break
		}
		if err := imp.write(r); err != nil {
			return err
		}
		if s, ok := imp.flows[r.key]; ok && s == slot {
			delete(imp.flows, r.key)
		}
		imp.free = append(imp.free, slot)
		imp.head++
	}
	// Reclaim the written part of the queue.
	if imp.head > 4096 && imp.head*2 > len(imp.queue) {
		n := copy(imp.queue, imp.queue[imp.head:])
		imp.queue = imp.queue[:n]
		imp.head = 0
	}
	return nil
}

func (imp *importer) write(r *pending) error {
	a, b := addrOf(r.key.a, r.v4), addrOf(r.key.b, r.v4)
	src, dst, dport := a, b, r.key.bp
	if !r.clientIsA {
		src, dst, dport = b, a, r.key.ap
	}
	c := Conn{Open: r.open}
	c.At = time.Duration(r.start)
	c.Src = src
	c.Dst = netip.AddrPortFrom(dst, dport)
	c.Hold = time.Duration(max(r.end-r.start, 0))
	c.Close = r.close
	if imp.opt.Proto == UDP {
		c.Close = workload.ClientClose
	}
	imp.lastOut = r.start
	imp.sum.Connections++
	switch {
	case r.open:
		imp.sum.Open++
	case c.Close == workload.ClientClose:
		imp.sum.Client++
	case c.Close == workload.ServerClose:
		imp.sum.Server++
	default:
		imp.sum.RST++
	}
	if err := imp.emit(c); err != nil {
		return fmt.Errorf("%s: %w", imp.name, err)
	}
	return nil
}
