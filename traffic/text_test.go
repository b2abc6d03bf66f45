package traffic

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/sim/workload"
)

func readStates(t *testing.T, file string, read func(name string, f *os.File, emit func(workload.StateRecord) error) (StateSummary, error)) ([]workload.StateRecord, StateSummary) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []workload.StateRecord
	sum, err := read(file, f, func(r workload.StateRecord) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, sum
}

// countStates counts records by family, state, side (the client's
// ephemeral port or the server's 8080) and remaining time, written as
// "timer" when TIME_WAIT timers are between lo and hi.
func countStates(recs []workload.StateRecord, lo, hi time.Duration) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		fam := "ipv4"
		if !r.Src.Is4() {
			fam = "ipv6"
		}
		side := "client"
		if r.Port == 8080 {
			side = "server"
		}
		rem := fmt.Sprint(r.Remaining)
		if r.State == workload.TimeWait && lo <= r.Remaining && r.Remaining <= hi {
			rem = "timer"
		}
		out[fmt.Sprintf("%s %s %s %s", fam, r.State, side, rem)]++
	}
	return out
}

// TestSSSnapshot reads the ss snapshots taken when only the open
// connections were left: per family, the 5 client closes leave the
// client's 4-tuple in TIME_WAIT, the 4 server closes the server's, and
// the 2 open connections are established on both sides (the resets leave
// nothing). With -o the timers say 58 or 59 s (ss shows whole seconds
// below 10 minutes); without, every TIME_WAIT is given the whole 60 s.
func TestSSSnapshot(t *testing.T) {
	plan := readPlan(t)
	read := func(name string, f *os.File, emit func(workload.StateRecord) error) (StateSummary, error) {
		return ReadSS(name, f, SSOptions{}, emit)
	}
	for _, tc := range []struct {
		file   string
		lo, hi time.Duration
	}{{"ss-tano.txt", 58 * time.Second, 59 * time.Second}, {"ss-tan.txt", 60 * time.Second, 60 * time.Second}} {
		got, sum := readStates(t, tc.file, read)
		want := map[string]int{}
		for _, fam := range []string{"ipv4", "ipv6"} {
			want[fam+" time_wait client timer"] = plan[fam].count["client"]
			want[fam+" time_wait server timer"] = plan[fam].count["server"]
			want[fam+" established client 2562047h47m16.854775807s"] = plan[fam].count["open"]
			want[fam+" established server 2562047h47m16.854775807s"] = plan[fam].count["open"]
		}
		if g, w := fmt.Sprint(countStates(got, tc.lo, tc.hi)), fmt.Sprint(want); g != w {
			t.Errorf("%s:\n got %s\nwant %s", tc.file, g, w)
		}
		if sum.Skipped != 2 {
			t.Errorf("%s: %d skipped, want the 2 listeners", tc.file, sum.Skipped)
		}
	}
}

// TestConntrackTable reads conntrack -L and /proc/net/nf_conntrack taken
// at the same moment as the ss snapshot. conntrack keeps one entry per
// connection, for the client's port: the 9 closed with FINs in TIME_WAIT
// (119 or 118 s left of 120), the 3 reset in CLOSE (held 10 s or less),
// the 2 open ones established.
func TestConntrackTable(t *testing.T) {
	plan := readPlan(t)
	for _, file := range []string{"ct-list.txt", "nf_conntrack.txt"} {
		got, _ := readStates(t, file, func(name string, f *os.File, emit func(workload.StateRecord) error) (StateSummary, error) {
			return ReadConntrack(name, f, emit)
		})
		count := map[string]int{}
		for _, r := range got {
			fam := "ipv4"
			if !r.Src.Is4() {
				fam = "ipv6"
			}
			if r.Port == 8080 || r.Dst.Port() != 8080 {
				t.Errorf("%s: %v holds port %d towards %v; want the client's port towards :8080", file, r.Src, r.Port, r.Dst)
			}
			switch {
			case r.State == workload.TimeWait && r.Remaining >= 118*time.Second && r.Remaining <= 120*time.Second:
				count[fam+" fin"]++
			case r.State == workload.Established && r.Remaining <= 10*time.Second:
				count[fam+" rst"]++
			case r.State == workload.Established && r.Remaining == workload.Forever:
				count[fam+" open"]++
			default:
				t.Errorf("%s: unexpected %+v", file, r)
			}
		}
		for _, fam := range []string{"ipv4", "ipv6"} {
			p := plan[fam].count
			if count[fam+" fin"] != p["client"]+p["server"] || count[fam+" rst"] != p["rst"] || count[fam+" open"] != p["open"] {
				t.Errorf("%s: %s %v; want %d fin, %d rst, %d open", file, fam, count, p["client"]+p["server"], p["rst"], p["open"])
			}
		}
	}
}

// TestConntrackEvents reads the event stream recorded with the captures:
// every attempt, reset and open connection of the plan, with holds that
// match the plan's (the events carry the time conntrack received them).
func TestConntrackEvents(t *testing.T) {
	plan := readPlan(t)
	f, err := os.Open("testdata/ct-events.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	count := map[string]int{}
	sum, err := ReadConntrackEvents("ct-events.txt", f, TCP, func(c Conn) error {
		fam := "ipv4"
		if !c.Src.Is4() {
			fam = "ipv6"
		}
		switch {
		case c.Open:
			count[fam+" open"]++
		case c.Close == workload.RST:
			count[fam+" rst"]++
			if h := plan[fam].hold["rst"]; c.Hold < h || c.Hold > h+50*time.Millisecond {
				t.Errorf("reset connection hold %v, want %v to %v", c.Hold, h, h+50*time.Millisecond)
			}
		default:
			count[fam+" fin"]++
			lo, hi := plan[fam].hold["client"], plan[fam].hold["server"]+50*time.Millisecond
			if c.Hold < lo || c.Hold > hi {
				t.Errorf("connection hold %v, want %v to %v", c.Hold, lo, hi)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		p := plan[fam].count
		if count[fam+" fin"] != p["client"]+p["server"] || count[fam+" rst"] != p["rst"] || count[fam+" open"] != p["open"] {
			t.Errorf("%s %v; want %d fin, %d rst, %d open", fam, count, p["client"]+p["server"], p["rst"], p["open"])
		}
	}
	if sum.Connections != 28 {
		t.Errorf("%d connections, want 28", sum.Connections)
	}
}

// TestSSTimer reads the forms iproute2's print_ms_timer writes.
func TestSSTimer(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"59sec":    59 * time.Second,
		"1min2sec": 62 * time.Second,
		"12min":    12 * time.Minute,
		"5.123ms":  5*time.Second + 123*time.Millisecond,
		"927ms":    927 * time.Millisecond,
	} {
		if got, err := ssTimer(in); err != nil || got != want {
			t.Errorf("ssTimer(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "sec", "5", "5hours", "1min2"} {
		if _, err := ssTimer(in); err == nil {
			t.Errorf("ssTimer(%q) took it", in)
		}
	}
}

// TestTextErrors: errors name the input, the line and what was expected.
func TestTextErrors(t *testing.T) {
	ss := func(in string) error {
		_, err := ReadSS("ss.txt", strings.NewReader(in), SSOptions{}, func(workload.StateRecord) error { return nil })
		return err
	}
	ct := func(in string) error {
		_, err := ReadConntrack("ct.txt", strings.NewReader(in), func(workload.StateRecord) error { return nil })
		return err
	}
	ev := func(in string) error {
		_, err := ReadConntrackEvents("ev.txt", strings.NewReader(in), TCP, func(Conn) error { return nil })
		return err
	}
	const hdr = "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
	const newEv = "[1.5]\t [NEW] tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=80 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1000\n"
	for _, tc := range []struct {
		err  error
		want string
	}{
		{ss(hdr + "ESTAB 0 0 10.0.0.1:5000\n"), "ss.txt:2: 4 fields; expected State Recv-Q Send-Q Local-Address:Port Peer-Address:Port as `ss -tan` prints"},
		{ss(hdr + "WAITING 0 0 10.0.0.1:5000 10.0.0.2:80\n"), `ss.txt:2: state "WAITING": expected an ss TCP state such as ESTAB or TIME-WAIT`},
		{ss(hdr + "ESTAB 0 0 host:5000 10.0.0.2:80\n"), `ss.txt:2: local address "host:5000": expected a numeric IP address (run ss with -n)`},
		{ss(hdr + "ESTAB 0 0 10.0.0.1:http 10.0.0.2:80\n"), `ss.txt:2: local address "10.0.0.1:http": expected a port number 1..65535 (run ss with -n)`},
		{ss(hdr + "ESTAB 0 0 10.0.0.1:5000 [::1]:80\n"), "ss.txt:2: local 10.0.0.1:5000 and peer [::1]:80 are of different address families"},
		{ss(hdr + "TIME-WAIT 0 0 10.0.0.1:5000 10.0.0.2:80 timer:(timewait,soon,0)\n"), `ss.txt:2: timer "timer:(timewait,soon,0)": expected a time such as 41sec, 1min2sec or 927ms`},
		{ct("tcp 6 100 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2\n"), "ct.txt:1: expected two tuples (src= dst= sport= dport= twice: original and reply)"},
		{ct("tcp 6 100 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=x dst=10.0.0.1 sport=2 dport=1\n"), `ct.txt:1: address "x": expected an IP address`},
		{ct(newEv), "ct.txt:1: an event ([NEW]) in a table listing; read event streams with -format events"},
		{ev("tcp 6 100 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1\n"), "ev.txt:1: no [NEW], [UPDATE] or [DESTROY]; expected the output of conntrack -E -o timestamp (read tables with -format conntrack)"},
		{ev("[x]\t [NEW] tcp 6 120 SYN_SENT\n"), `ev.txt:1: timestamp "[x]": expected [SECONDS.MICROS] as conntrack -o timestamp prints`},
		{ev(newEv + strings.Replace(newEv, "[1.5]", "[1.2]", 1)), "ev.txt:2: timestamp 1.2s before the previous event's; expected events in time order"},
		{ev("[1.5]\t [DESTROY] udp 17 src=10.0.0.1 dst=10.0.0.2 sport=1000 dport=53 src=10.0.0.2 dst=10.0.0.1 sport=53 dport=1000\n"), "ev.txt:1: no tcp connection with a [NEW] event: nothing to import"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("error %v\nwant  %s", tc.err, tc.want)
		}
	}
}
