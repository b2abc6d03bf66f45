package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImport imports the recorded loopback capture and ss snapshot and
// compares the trace, the state and the summaries with golden files;
// then checks that bad input exits 2 naming the file and the packet or
// line.
func TestImport(t *testing.T) {
	td := filepath.Join("..", "traffic", "testdata")
	var all strings.Builder
	for _, args := range [][]string{
		{"import", filepath.Join(td, "lo.pcapng")},
		{"import", "-client", "::1", filepath.Join(td, "any-sll2.pcap")},
		{"import", filepath.Join(td, "ss-tano.txt")},
		{"import", filepath.Join(td, "ct-list.txt")},
		{"import", filepath.Join(td, "ct-events.txt")},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		all.WriteString("$ portsim " + strings.ReplaceAll(strings.Join(args, " "), td+string(filepath.Separator), "") + "\n")
		all.WriteString(stdout.String())
		all.WriteString(strings.ReplaceAll(stderr.String(), td+string(filepath.Separator), ""))
	}
	golden(t, "import.golden", all.String())

	dir := t.TempDir()
	out := filepath.Join(dir, "trace.csv")
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"import", "-o", out, filepath.Join(td, "lo.pcap")}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.HasPrefix(b, []byte("time,src,dst,dst_port,hold,close\n")) {
		t.Errorf("-o wrote %q, %v", b, err)
	}

	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("some notes\n"), 0o644)
	cut := filepath.Join(dir, "cut.pcap")
	lo, _ := os.ReadFile(filepath.Join(td, "lo.pcap"))
	os.WriteFile(cut, append(append([]byte{}, lo[:24]...), 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f), 0o644)
	ss := filepath.Join(dir, "ss.txt")
	os.WriteFile(ss, []byte("State Recv-Q Send-Q Local Address:Port Peer Address:Port\nESTAB 0 0 10.0.0.1:http 10.0.0.2:80\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", notes}, notes + ": format not recognised (not pcap, pcapng, ss or conntrack output); give -format"},
		{[]string{"import", cut}, cut + ": packet 1: reading the packet: capture length exceeds snap length: 2147483647 > 262144"},
		{[]string{"import", ss}, ss + `:2: local address "10.0.0.1:http": expected a port number 1..65535 (run ss with -n)`},
		{[]string{"import", "-format", "pcapng", cut}, cut + ": not a pcapng file: Unknown magic a1b23c4d"},
		{[]string{"import", "-client", "10.0.0.0/33", cut}, `flag -client "10.0.0.0/33": expected a CIDR such as 10.0.0.0/8 or an address`},
		{[]string{"import", "-format", "json", cut}, `flag -format "json": expected auto, pcap, pcapng, conntrack, ss, events or eventlog`},
		{[]string{"import", "-o", ss, ss}, "flag -o " + ss + ": is the input file; choose another output"},
		{[]string{"import"}, "import: expected one FILE to import, got 0 arguments (see `portsim help import`)"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tc.args, &bytes.Buffer{}, &stderr)
		if code := exitCode(err, &stderr); code != 2 || strings.TrimSpace(stderr.String()) != "portsim: "+tc.want {
			t.Errorf("%v: exit %d, %q\nwant exit 2, %q", tc.args, code, stderr.String(), "portsim: "+tc.want)
		}
	}
}

// TestRunState starts runs from the recorded ss snapshot: its sockets
// towards the most used destination take ports of a small range, so a
// run fails sooner than from an empty table; and a bad state file is a
// usage error naming the file and line.
func TestRunState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.csv")
	td := filepath.Join("..", "traffic", "testdata")
	if err := run(context.Background(), []string{"import", "-o", state, filepath.Join(td, "ss-tano.txt")}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, args := range [][]string{
		{"run", "-range", "41000-41300", "-rate", "10", "-hold", "forever", "-duration", "40s"},
		{"run", "-range", "41000-41300", "-rate", "10", "-hold", "forever", "-duration", "40s", "-state", state},
	} {
		out, _, code := portsim(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		all.WriteString("$ portsim " + strings.ReplaceAll(strings.Join(args, " "), dir+string(filepath.Separator), "") + "\n" + out)
	}
	golden(t, "run-state.golden", all.String())

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("src,src_port,dst,dst_port,state,remaining\n10.0.0.1,5,10.0.0.2,80,closed,forever\n"), 0o644)
	_, errs, code := portsim(t, "run", "-state", bad)
	if want := "portsim: flag -state: " + bad + `:2: column state: "closed": expected established or time_wait` + "\n"; code != 2 || errs != want {
		t.Errorf("bad state: exit %d, %q; want 2, %q", code, errs, want)
	}
}

// TestEventLogReplay: a run's event log imports to a trace whose replay
// makes the same attempts, with the same ports, as the run.
func TestEventLogReplay(t *testing.T) {
	dir := t.TempDir()
	ev, ev2, trace := filepath.Join(dir, "ev.csv"), filepath.Join(dir, "ev2.csv"), filepath.Join(dir, "trace.csv")
	for _, args := range [][]string{
		{"run", "-rate", "400", "-duration", "30s", "-hold", "exp:2s", "-range", "40000-45000", "-close", "server", "-events", ev},
		{"import", "-o", trace, ev},
		{"run", "-trace", trace, "-range", "40000-45000", "-events", ev2},
	} {
		if _, errs, code := portsim(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
	}
	a, err := os.ReadFile(ev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ev2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || bytes.Count(a, []byte("\n")) < 10000 {
		t.Errorf("the replay's event log differs from the run's (%d and %d bytes)", len(a), len(b))
	}
	old := filepath.Join(dir, "old.csv")
	os.WriteFile(old, []byte("time_ns,src,dst,dst_port,path,port,probes,outcome\n0,10.0.0.1,198.18.0.1,443,connect,40000,1,ok\n"), 0o644)
	if _, errs, code := portsim(t, "import", old); code != 2 || errs != "portsim: "+old+": an event log without the hold_ns and close columns (written by an older portsim) cannot be replayed; run again with -events\n" {
		t.Errorf("old event log: exit %d, %q", code, errs)
	}
}
