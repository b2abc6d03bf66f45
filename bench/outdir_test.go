package bench

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// microSuite is a suite of two quick runs.
const microSuite = "name: micro\nseeds: 2\nduration: 2s\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: 50\n"

func parseMicro(t *testing.T, text string) *Suite {
	t.Helper()
	s, err := Parse([]byte(text), "micro.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunRefusesForeignDirectory: a non-empty directory portsim did not
// write is refused, and its files are untouched.
func TestRunRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "thesis.tex"), "mine")
	writeFile(t, filepath.Join(dir, "cells", "data.json"), "{}")
	_, err := Run(context.Background(), parseMicro(t, microSuite), Options{Out: dir, Start: start})
	de, ok := errors.AsType[*DirError](err)
	if !ok {
		t.Fatalf("err = %v, want a *DirError", err)
	}
	want := "output directory " + dir + ": not empty and not a portsim output (no .portsim-output); portsim writes only into a new or empty directory or one it wrote before"
	if de.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", de, want)
	}
	if readFile(t, filepath.Join(dir, "thesis.tex")) != "mine" || readFile(t, filepath.Join(dir, "cells", "data.json")) != "{}" {
		t.Error("a file portsim did not write changed")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "thesis.tex" && e.Name() != "cells" && e.Name() != LockFile {
			t.Errorf("refused directory gained %s", e.Name())
		}
	}
}

// TestRerunKeepsOtherFiles: running again into a portsim output deletes
// only the saved runs portsim wrote, never other files in cells/.
func TestRerunKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	s := parseMicro(t, microSuite)
	if _, err := Run(context.Background(), s, Options{Out: dir, Start: start}); err != nil {
		t.Fatal(err)
	}
	cells, _ := filepath.Glob(filepath.Join(dir, "cells", "*.json"))
	if len(cells) != 2 {
		t.Fatalf("%d saved runs, want 2", len(cells))
	}
	// A user's notes, and a file named like a saved run that is not one.
	writeFile(t, filepath.Join(dir, "cells", "notes.json"), `{"mine": true}`)
	fake := filepath.Join(dir, "cells", strings.Repeat("ab", 12)+".json")
	writeFile(t, fake, `{"key": "not portsim's", "extra": 1}`)
	other := parseMicro(t, strings.Replace(microSuite, "rate: 50", "rate: 60", 1))
	if _, err := Run(context.Background(), other, Options{Out: dir, Start: start}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(dir, "cells", "notes.json")) != `{"mine": true}` || readFile(t, fake) != `{"key": "not portsim's", "extra": 1}` {
		t.Error("a file portsim did not write changed")
	}
	fp, _ := other.Fingerprint()
	for _, c := range cells {
		var cf cellFile
		if err := json.Unmarshal([]byte(readFile(t, c)), &cf); err != nil || cf.Fingerprint != fp {
			t.Errorf("saved run %s is not the second suite's (%v, fingerprint %.12s)", c, err, cf.Fingerprint)
		}
	}
	m, err := ReadMarker(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Fingerprint != fp || m.Suite != "micro" {
		t.Errorf("marker %+v, want the second suite's fingerprint %s", m, fp)
	}
}

// TestSecondWriterRefused: while one writer holds a directory, a second
// fails at once with a message naming the holder.
func TestSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	first, err := OpenOut(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenOut(dir)
	be, ok := errors.AsType[*BusyError](err)
	if !ok {
		first.Close()
		t.Fatalf("second OpenOut: %v, want a *BusyError", err)
	}
	if !strings.HasPrefix(be.Holder, "pid "+strconv.Itoa(os.Getpid())+", `") || !strings.Contains(be.Holder, "started ") {
		t.Errorf("holder %q does not name this process", be.Holder)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenOut(dir)
	if err != nil {
		t.Fatalf("after the first writer closed: %v", err)
	}
	again.Close()
}

// TestResumeRefusesAnotherSuite: -resume of a directory whose suite.yaml
// was edited since its runs were saved is refused.
func TestResumeRefusesAnotherSuite(t *testing.T) {
	dir := t.TempDir()
	s := parseMicro(t, microSuite)
	if _, err := Run(context.Background(), s, Options{Out: dir, Start: start}); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(readFile(t, filepath.Join(dir, SuiteFile)), "rate: 50", "rate: 70", 1)
	writeFile(t, filepath.Join(dir, SuiteFile), edited)
	s2, err := Load(filepath.Join(dir, SuiteFile))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), s2, Options{Out: dir, Resume: true, Start: start})
	if _, ok := errors.AsType[*DirError](err); !ok || !strings.Contains(err.Error(), "holds the runs of another suite or settings") {
		t.Fatalf("resume after editing suite.yaml: %v, want a refusal", err)
	}
	// The same suite resumes (nothing left to run).
	writeFile(t, filepath.Join(dir, SuiteFile), string(s.Data))
	o, err := Run(context.Background(), s, Options{Out: dir, Resume: true, Start: start})
	if err != nil || o.Kept != 2 || o.Ran != 0 {
		t.Fatalf("resume of the same suite: %v, kept %d ran %d", err, o.Kept, o.Ran)
	}
	// A shard is resumed only as that shard.
	_, err = Run(context.Background(), s, Options{Out: dir, Resume: true, Shard: 1, Shards: 2, Start: start})
	if err == nil || !strings.Contains(err.Error(), "holds every run of the suite, not shard 1/2") {
		t.Fatalf("resume as a shard: %v", err)
	}
}

// TestInterruptedShardHint: the hint of an interrupted shard resumes that
// shard.
func TestInterruptedShardHint(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, parseMicro(t, microSuite), Options{Out: dir, Shard: 2, Shards: 2, Start: start})
	if !errors.Is(err, ErrInterrupted) || !strings.HasSuffix(err.Error(), "resume with `portsim bench -resume "+dir+" -shard 2/2`") {
		t.Fatalf("err = %v", err)
	}
	if got := ResumeCommand("my out", 1, 4); got != `portsim bench -resume 'my out' -shard 1/4` {
		t.Errorf("ResumeCommand = %s", got)
	}
}

// TestNamesChecked: suite and scenario names that could escape the
// output directory, or are too long, are refused when the suite is read.
func TestNamesChecked(t *testing.T) {
	long := strings.Repeat("x", 65)
	for _, tc := range []struct{ text, want string }{
		{"name: ../../escape\nallocators: [linux]\nscenarios: [{name: a}]\n",
			`x.yaml:1: suite name "../../escape": expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"name: ok\nallocators: [linux]\nscenarios: [{name: \"a\\0b\"}]\n",
			`x.yaml:3: scenario name "a\x00b": expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"name: ok\nallocators: [linux]\nscenarios: [{name: " + long + "}]\n",
			`x.yaml:3: scenario name "` + long + `": expected 1 to 64 letters`},
		{"name: .hidden\nallocators: [linux]\nscenarios: [{name: a}]\n", `x.yaml:1: suite name ".hidden": expected`},
	} {
		_, err := Parse([]byte(tc.text), "x.yaml", "")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v\nwant %s", tc.text, err, tc.want)
		}
	}
}

// TestSuiteSizeCapped: a suite of more than MaxRuns runs is refused when
// it is read, before any cell is built.
func TestSuiteSizeCapped(t *testing.T) {
	var rates []string
	for i := 1; i <= 1000; i++ {
		rates = append(rates, strconv.Itoa(i))
	}
	text := "name: big\nseeds: 200\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: [" + strings.Join(rates, ", ") + "]\n"
	_, err := Parse([]byte(text), "big.yaml", "")
	want := `big.yaml:5: scenario "a": the suite has more than 100000 runs (cells × seeds) by here; split it into several suites or sweep fewer values`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestEventsFileUnique: names that differ only in characters a file name
// cannot hold get different event logs.
func TestEventsFileUnique(t *testing.T) {
	a := eventsFile("s", map[string]string{"x": "a:b"}, "linux", 0)
	b := eventsFile("s", map[string]string{"x": "a_b"}, "linux", 0)
	if a == b {
		t.Fatalf("a:b and a_b share the event log %s", a)
	}
	if b != filepath.Join("events", "s_x=a_b_linux_0.csv") {
		t.Errorf("plain name changed: %s", b)
	}
	long := eventsFile("s", map[string]string{"x": strings.Repeat("y", 400)}, "linux", 0)
	if len(filepath.Base(long)) > 210 {
		t.Errorf("event log name of %d bytes", len(filepath.Base(long)))
	}
}

// TestMergeRefusesInputAsOutput: merge -o A A B would overwrite a shard.
func TestMergeRefusesInputAsOutput(t *testing.T) {
	s := parseMicro(t, microSuite)
	a, b := t.TempDir(), t.TempDir()
	for i, d := range []string{a, b} {
		if _, err := Run(context.Background(), s, Options{Out: d, Shard: i + 1, Shards: 2, Start: start}); err != nil {
			t.Fatal(err)
		}
	}
	before := readFile(t, filepath.Join(a, RunsFile))
	_, err := Merge(a, []string{a, b}, "", start)
	if err == nil || err.Error() != "output directory "+a+": is also an input ("+a+"); merge into a new directory" {
		t.Fatalf("err = %v", err)
	}
	if readFile(t, filepath.Join(a, RunsFile)) != before {
		t.Error("the shard changed")
	}
	out := filepath.Join(t.TempDir(), "all")
	o, err := Merge(out, []string{a, b}, "", start)
	if err != nil || len(o.Runs) != 2 {
		t.Fatalf("merge: %v", err)
	}
	if _, err := ReadMarker(out); err != nil {
		t.Errorf("merged output has no marker: %v", err)
	}
}

// TestReadRunsWhole: an empty or cut runs.jsonl is an error.
func TestReadRunsWhole(t *testing.T) {
	dir := t.TempDir()
	if _, err := Run(context.Background(), parseMicro(t, microSuite), Options{Out: dir, Start: start}); err != nil {
		t.Fatal(err)
	}
	full := readFile(t, filepath.Join(dir, RunsFile))
	if runs, _, err := ReadRuns(dir); err != nil || len(runs) != 2 {
		t.Fatalf("ReadRuns: %d runs, %v", len(runs), err)
	}
	path := filepath.Join(dir, RunsFile)
	for _, tc := range []struct{ text, want string }{
		{"", path + ": empty; expected the runs of a finished suite run"},
		{full[:len(full)/2], path + ":1: truncated: the last line does not end; the file was cut short"},
		{full[:strings.Index(full, "\n")+1], path + ": 1 runs, but manifest.json counts 2; the file was cut short or changed"},
	} {
		writeFile(t, path, tc.text)
		_, _, err := ReadRuns(dir)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("runs.jsonl of %d bytes: %v\nwant %s", len(tc.text), err, tc.want)
		}
	}
}

// TestRelativeTraceStored: a suite replaying a trace by a relative path
// can be read back from its output directory (for -resume, plot and
// merge), and the trace's content is part of the fingerprint.
func TestRelativeTraceStored(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "t.csv"), "time,src,dst,dst_port,hold,close\n0,10.0.0.1,198.18.0.1,443,1s,client\n1,10.0.0.1,198.18.0.1,443,1s,client\n")
	writeFile(t, filepath.Join(src, "s.yaml"), "name: tr\nseeds: 1\nallocators: [linux]\nscenarios:\n  - name: a\n    trace: t.csv\n")
	s, err := Load(filepath.Join(src, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := Run(context.Background(), s, Options{Out: out, Start: start}); err != nil {
		t.Fatal(err)
	}
	back, err := Load(filepath.Join(out, SuiteFile))
	if err != nil {
		t.Fatalf("reading the stored suite back: %v", err)
	}
	if _, err := Run(context.Background(), back, Options{Out: out, Resume: true, Start: start}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	fp1, _ := back.Fingerprint()
	writeFile(t, filepath.Join(src, "t.csv"), "time,src,dst,dst_port,hold,close\n0,10.0.0.1,198.18.0.1,443,2s,client\n")
	fp2, _ := back.Fingerprint()
	if fp1 == fp2 {
		t.Error("the fingerprint does not cover the trace's content")
	}
}
