package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsim/portsim/cli"
)

// portsim runs the example's command line in-process.
func portsim(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), args, &out, &errb, exampleSpec()); code != 0 {
		t.Fatalf("%q: exit %d\n%s", args, code, errb.String())
	}
	return out.String(), errb.String()
}

// TestList checks that list shows the added allocator with its summary,
// source and parameter, after portsim's own.
func TestList(t *testing.T) {
	out, _ := portsim(t, "list")
	for _, want := range []string{
		"example", exampleSpec().Summary, "RFC 6056 §3.3.3 (Algorithm 3) with §3.3.5's random increments, kept per destination",
		"incr",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("list does not show %q", want)
		}
	}
}

// TestRun runs the README's command: both allocators get a row.
func TestRun(t *testing.T) {
	out, _ := portsim(t, "run", "-allocator", "example,linux", "-rate", "500", "-duration", "20s")
	var rows int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[0] == "example" || f[0] == "linux") && f[1] != "range" {
			rows++
		}
	}
	if rows < 2 {
		t.Errorf("run printed %d allocator rows, want one each for example and linux:\n%s", rows, out)
	}
}

// TestSuite runs a small suite that names the example allocator, through
// bench, and checks its results.
func TestSuite(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(suite, []byte(`name: mine
description: The example allocator beside Linux towards one backend.
seeds: 2
allocators: [example, linux, {name: example, params: {incr: [1]}}]
scenarios:
  - name: one-backend
    description: Below the knee.
    rate: 100
    duration: 20s
    metrics: [failure_fraction, probes_mean, guess_1]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	portsim(t, "bench", "-quiet", "-o", out, suite)
	b, err := os.ReadFile(filepath.Join(out, "runs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"allocator":"example"`); n != 4 {
		t.Errorf("runs.jsonl holds %d runs of example, want 4 (2 parameter sets x 2 seeds)", n)
	}
}

// TestREADME runs the README's `go run ./examples/custom-allocator`
// commands in-process and compares their output with the README's.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$ go run ./examples/custom-allocator "
	lines := strings.Split(string(b), "\n")
	found := 0
	for i, line := range lines {
		args, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		found++
		var want []string
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "```") || strings.HasPrefix(l, "$ ") {
				break
			}
			want = append(want, l)
		}
		out, _ := portsim(t, strings.Fields(args)...)
		if got := strings.TrimRight(out, "\n"); got != strings.Join(want, "\n") {
			t.Errorf("README.md:%d: the output differs from the README's\n--- got\n%s\n--- README\n%s", i+1, got, strings.Join(want, "\n"))
		}
	}
	if found == 0 {
		t.Error("README.md shows no `go run ./examples/custom-allocator` command")
	}
}
