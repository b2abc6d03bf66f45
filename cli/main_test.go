package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/portsim/portsim/allocator"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// portsim runs the command in-process and returns its stdout, stderr and
// exit status.
func portsim(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

// normalize removes what legitimately changes between runs: wall times
// and rates.
func normalize(s string) string {
	s = regexp.MustCompile(`in [0-9.]+s`).ReplaceAllString(s, "in Ts")
	s = regexp.MustCompile(`[0-9.]+e\+[0-9]+ (simulated )?attempts`).ReplaceAllString(s, "R attempts")
	s = regexp.MustCompile(`\([0-9.]+e?\+?[0-9]* attempts/s\)`).ReplaceAllString(s, "(R attempts/s)")
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		gotPath := filepath.Join("testdata", strings.TrimSuffix(name, filepath.Ext(name))+".got"+filepath.Ext(name))
		os.WriteFile(gotPath, []byte(got), 0o644)
		t.Fatalf("output differs from %s; got written to %s (run go test -update if the change is intended)", path, gotPath)
	}
}

func TestListGolden(t *testing.T) {
	out, errs, code := portsim(t, "list")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	golden(t, "list.golden", out)
	out, _, code = portsim(t, "list", "-json")
	if code != 0 || !strings.Contains(out, `"name": "linux"`) {
		t.Fatalf("list -json: exit %d, %.200s", code, out)
	}
}

func TestRunGolden(t *testing.T) {
	out, errs, code := portsim(t, "run", "-allocator", "linux,sequential,openbsd", "-arrivals", "constant", "-rate", "600",
		"-hold", "0s", "-tw-reuse", "0", "-range", "32768-60999", "-time-wait", "60s", "-scope", "4-tuple", "-duration", "5m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "run.golden", out)
	if !strings.Contains(errs, "simulated 540000 attempts") {
		t.Errorf("stderr %q lacks the attempt count", errs)
	}
}

// TestBenchTinySuite runs a small suite end to end through the command,
// then redraws it with plot.
func TestBenchTinySuite(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := portsim(t, "bench", "-o", dir, "-j", "2", filepath.Join("..", "bench", "testdata", "tiny.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	golden(t, "bench-tiny.golden", strings.ReplaceAll(normalize(out), dir, "DIR"))
	for _, f := range []string{"report.md", "runs.jsonl", "runs.csv", "bench.txt", "manifest.json", "charts/knee-failure-vs-rate.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "runs.jsonl"))
	os.Remove(filepath.Join(dir, "report.md"))
	if out, errs, code := portsim(t, "plot", dir); code != 0 || !strings.Contains(out, "report: ") {
		t.Fatalf("plot: exit %d, %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		t.Error("plot did not rewrite report.md")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "runs.jsonl"))
	if !bytes.Equal(before, after) {
		t.Error("plot changed runs.jsonl")
	}
}

// TestHelp compares the help of portsim and of every command with its
// golden file, and checks that it is printed once, on stdout, the same
// for "portsim help CMD" and "portsim CMD -h".
func TestHelp(t *testing.T) {
	out, errs, code := portsim(t)
	if code != 0 || errs != "" {
		t.Fatalf("no arguments: exit %d, stderr %q", code, errs)
	}
	golden(t, "help.golden", out)
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		out, errs, code := portsim(t, c.name, "-h")
		if code != 0 || errs != "" {
			t.Errorf("%s -h: exit %d, stderr %q", c.name, code, errs)
		}
		golden(t, "help-"+c.name+".golden", out)
		if n := strings.Count("\n"+out, "\nUsage"); n != 1 {
			t.Errorf("%s -h prints Usage %d times", c.name, n)
		}
		out2, errs2, code2 := portsim(t, "help", c.name)
		if out2 != out || errs2 != "" || code2 != 0 {
			t.Errorf("help %s differs from %s -h (exit %d, stderr %q)", c.name, c.name, code2, errs2)
		}
	}
}

// TestVersionText checks the version lines from build information.
func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/portsim/portsim", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-29T12:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionText(bi), "portsim v1.2.3\nrevision 0123abcd (2026-11-29T12:00:00Z), modified\ngo1.26.0\n"; got != want {
		t.Errorf("versionText = %q, want %q", got, want)
	}
	bi = &debug.BuildInfo{GoVersion: "go1.26.0"}
	if got, want := versionText(bi), "portsim (devel)\nrevision unknown (built without VCS information)\ngo1.26.0\n"; got != want {
		t.Errorf("versionText = %q, want %q", got, want)
	}
	out, errs, code := portsim(t, "version")
	if code != 0 || errs != "" || !strings.HasPrefix(out, "portsim ") || strings.Count(out, "\n") != 3 {
		t.Errorf("portsim version: exit %d, %q, %q", code, out, errs)
	}
}

// TestAllocatorAll: -allocator all runs every registered allocator, as
// allocators: all does in a suite.
func TestAllocatorAll(t *testing.T) {
	out, errs, code := portsim(t, "run", "-allocator", "all", "-duration", "1s", "-rate", "10", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var runs []struct{ Allocator string }
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Allocator)
	}
	if want := allocator.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ran %v, want %v", got, want)
	}
}

// TestResumeShardFromMarker: -resume of a shard's directory without
// -shard resumes that shard (taken from the directory's marker), and the
// hint of the interrupted shard says -shard.
func TestResumeShardFromMarker(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(suite, []byte("name: s\nseeds: 4\nduration: 1s\nallocators: [linux]\nscenarios: [{name: a, rate: 10}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	err := run(ctx, []string{"bench", "-quiet", "-shard", "2/2", "-o", out, suite}, &o, &e)
	if code := exitCode(err, &e); code != 1 || !strings.HasSuffix(e.String(), "resume with `portsim bench -resume "+out+" -shard 2/2`\n") {
		t.Fatalf("exit %d, %s", code, e.String())
	}
	stdout, errs, code := portsim(t, "bench", "-quiet", "-resume", out)
	if code != 0 || !strings.HasPrefix(stdout, "suite s: 2 runs (2 run now, 0 kept)") {
		t.Fatalf("resume: exit %d, %s %s", code, stdout, errs)
	}
}
