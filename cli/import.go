package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim/workload"
	"github.com/portsim/portsim/traffic"
)

const importUsage = `
Usage: portsim import [flags] FILE

Turns a real host's traffic into portsim's inputs. FILE ("-" for standard
input) is one of:

	pcap, pcapng  a packet capture (tcpdump -w, dumpcap, Wireshark): each
	              TCP connection opened by a SYN without ACK is one attempt
	              of the trace, holding until the first FIN or RST; close
	              is client, server or rst by who sent it. A connection
	              with no end in the capture holds to the capture's end
	              and is marked by a "# open" comment line.
	events        conntrack -E -o timestamp: [NEW] events become attempts
	eventlog      portsim's own event log (portsim run -events): its
	              connect and UDP attempts, with their holds and closes
	conntrack     conntrack -L or /proc/net/nf_conntrack: the ports a NAT
	              gateway holds, as a starting state
	ss            ss -tan or ss -tano: the host's established and
	              TIME-WAIT sockets (with -o, their timers), as a starting
	              state

Captures and event streams become a trace (replay it with portsim run
-trace FILE); tables and snapshots become a starting state (start a run
from it with portsim run -state FILE). A summary goes to standard error.

Examples:

	# Capture a host's outgoing connections, then replay them with two allocators
	tcpdump -i any -w out.pcap 'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0'
	portsim import -client 10.0.0.0/8 -o trace.csv out.pcap
	portsim run -trace trace.csv -allocator linux,freebsd

	# Start a run from the host's sockets: how long until it fails at 300/s?
	ss -tano > ss.txt
	portsim import -o state.csv ss.txt
	portsim run -state state.csv -rate 300 -duration 10m
`

func (a *app) runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import", importUsage, stdout)
	out := fs.String("o", "", "write the trace or state to `FILE` (default standard output)")
	format := fs.String("format", "auto", "input format: `auto`, pcap, pcapng, conntrack, ss, events (conntrack -E) or eventlog (portsim run -events)")
	client := fs.String("client", "", "keep connections opened from addresses in `CIDR` (captures; default every SYN sender)")
	proto := fs.String("proto", "tcp", "`tcp` or udp connections (captures and events)")
	udpIdle := fs.Duration("udp-idle", traffic.DefaultUDPIdle, "a UDP flow ends after this long without a packet (`DURATION`)")
	timeWait := fs.Duration("time-wait", 60*time.Second, "time left given to a TIME-WAIT socket of an ss snapshot without timers (`DURATION`; ss -o shows them)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("import: expected one FILE to import, got %d arguments (see `portsim help import`)", len(pos))
	}
	path := pos[0]
	f, err := traffic.ParseFormat(*format)
	if err != nil {
		return usagef("flag -%v", err)
	}
	opt := traffic.CaptureOptions{UDPIdle: *udpIdle}
	switch *proto {
	case "tcp":
	case "udp":
		opt.Proto = traffic.UDP
	default:
		return usagef("flag -proto %q: expected tcp or udp", *proto)
	}
	if *udpIdle <= 0 {
		return usagef("flag -udp-idle %v: expected a duration > 0 such as 30s", *udpIdle)
	}
	if *timeWait <= 0 {
		return usagef("flag -time-wait %v: expected a duration > 0 such as 60s", *timeWait)
	}
	if *client != "" {
		p, err := netip.ParsePrefix(*client)
		if err != nil {
			a, aerr := netip.ParseAddr(*client)
			if aerr != nil {
				return usagef("flag -client %q: expected a CIDR such as 10.0.0.0/8 or an address", *client)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		opt.Client = p.Masked()
	}

	var in io.Reader = os.Stdin
	name := "stdin"
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return usagef("import: %v", err)
		}
		defer file.Close()
		in, name = file, path
		if *out != "" {
			if same, _ := sameFile(path, *out); same {
				return usagef("flag -o %s: is the input file; choose another output", *out)
			}
		}
	}
	br := bufio.NewReaderSize(in, 1<<20)
	if f == traffic.FormatAuto {
		if f = traffic.Sniff(br); f == traffic.FormatAuto {
			return usagef("%s: format not recognised (not pcap, pcapng, ss or conntrack output); give -format", name)
		}
	}

	var summary string
	write := func(w io.Writer) error {
		var err error
		summary, err = convert(name, br, f, opt, *timeWait, w)
		return err
	}
	if *out == "" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	} else if err := results.WriteFileAtomic(*out, write); err != nil {
		return err
	}
	fmt.Fprintln(stderr, summary)
	return nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// convert reads input of format f and writes a trace or a state to w,
// returning a one-line summary. Errors in the input are usage errors.
func convert(name string, r *bufio.Reader, f traffic.Format, opt traffic.CaptureOptions, timeWait time.Duration, w io.Writer) (string, error) {
	badInput := func(err error) error {
		var ce *traffic.CaptureError
		var le *traffic.LineError
		if errors.As(err, &ce) || errors.As(err, &le) {
			return asUsage(err)
		}
		return err
	}
	switch f {
	case traffic.FormatEventLog:
		return convertEventLog(name, r, w)
	case traffic.FormatPcap, traffic.FormatPcapng, traffic.FormatEvents:
		tw := workload.NewTraceWriter(w)
		emit := func(c traffic.Conn) error {
			if c.Open {
				if err := tw.Comment("open: no end before the input ends; the hold runs to its end"); err != nil {
					return err
				}
			}
			return tw.Write(c.TraceRecord)
		}
		var summary string
		if f == traffic.FormatEvents {
			sum, err := traffic.ReadConntrackEvents(name, r, opt.Proto, emit)
			if err != nil {
				return "", badInput(err)
			}
			summary = fmt.Sprintf("%s: %d lines, %d connections (%d reset, %d open at the end); %d ended without their [NEW] in the stream",
				name, sum.Lines, sum.Connections, sum.RST, sum.Open, sum.NoNew)
		} else {
			sum, err := traffic.ReadCapture(name, r, f, opt, emit)
			if err != nil {
				return "", badInput(err)
			}
			summary = fmt.Sprintf("%s: %d packets, %d connections: %d closed by the client, %d by the server, %d reset, %d open at the capture's end; %d retransmitted SYNs, %d packets out of order, %d truncated, %d from other clients",
				name, sum.Packets, sum.Connections, sum.Client, sum.Server, sum.RST, sum.Open, sum.RetransmittedSYN, sum.Reordered, sum.Truncated, sum.OtherClients)
			if sum.CutShort {
				summary += "; the capture ends mid-packet"
			}
		}
		if err := tw.Flush(); err != nil {
			return "", err
		}
		return summary, nil
	case traffic.FormatSS, traffic.FormatConntrack:
		sw := workload.NewStateWriter(w)
		var sum traffic.StateSummary
		var err error
		if f == traffic.FormatSS {
			sum, err = traffic.ReadSS(name, r, traffic.SSOptions{TimeWait: timeWait}, sw.Write)
		} else {
			sum, err = traffic.ReadConntrack(name, r, sw.Write)
		}
		if err != nil {
			return "", badInput(err)
		}
		if err := sw.Flush(); err != nil {
			return "", err
		}
		if sum.Established+sum.TimeWait == 0 {
			return "", usagef("%s: %d lines, no TCP socket holding a port towards a peer: nothing to import", name, sum.Lines)
		}
		s := fmt.Sprintf("%s: %d lines, %d established, %d TIME_WAIT, %d skipped (listening, unconnected or not TCP)",
			name, sum.Lines, sum.Established, sum.TimeWait, sum.Skipped)
		if sum.TimerUnknown > 0 {
			s += fmt.Sprintf("; %d TIME_WAIT without a timer given %v (ss -o shows the timers)", sum.TimerUnknown, timeWait)
		}
		return s, nil
	}
	return "", usagef("%s: format %s cannot be imported", name, f)
}

// convertEventLog turns portsim's event log into a trace: every connect()
// and UDP attempt (bind(0) has no destination to replay), succeeded or
// not, at its time with its hold and close.
func convertEventLog(name string, r io.Reader, w io.Writer) (string, error) {
	er, err := results.NewEventReader(r, name)
	if err != nil {
		return "", asUsage(err)
	}
	if !er.HasHold() {
		return "", usagef("%s: an event log without the hold_ns and close columns (written by an older portsim) cannot be replayed; run again with -events", name)
	}
	tw := workload.NewTraceWriter(w)
	var n, binds int
	for {
		a, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", asUsage(err)
		}
		if !a.Flow.Dst.IsValid() {
			binds++
			continue
		}
		c, err := workload.ParseClose(a.Close)
		if err != nil {
			return "", usagef("%s: attempt at %d ns has no close side", name, int64(a.At))
		}
		if err := tw.Write(workload.TraceRecord{At: a.At, Src: a.Flow.Src, Dst: a.Flow.Dst, Hold: a.Hold, Close: c}); err != nil {
			return "", err
		}
		n++
	}
	if err := tw.Flush(); err != nil {
		return "", err
	}
	if n == 0 {
		return "", usagef("%s: no connect() or UDP attempt: nothing to import", name)
	}
	return fmt.Sprintf("%s: %d attempts, %d bind(0) attempts left out (no destination)", name, n, binds), nil
}
