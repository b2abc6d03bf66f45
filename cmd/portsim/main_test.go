package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	out, errs, code := portsim(t, "bench", "-o", dir, "-j", "2", filepath.Join("..", "..", "bench", "testdata", "tiny.yaml"))
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

func TestHelp(t *testing.T) {
	out, _, code := portsim(t)
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Fatalf("no arguments: exit %d, %q", code, out)
	}
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		out, errs, code := portsim(t, c.name, "-h")
		if code != 0 || !strings.Contains(out, "Usage: portsim "+c.name) || !strings.Contains(out, "Example") {
			t.Errorf("%s -h: exit %d, stdout %.80q, stderr %q", c.name, code, out, errs)
		}
		out2, _, _ := portsim(t, "help", c.name)
		if out2 != out {
			t.Errorf("help %s differs from %s -h", c.name, c.name)
		}
	}
}
