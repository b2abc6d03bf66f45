package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portsim/portsim/results"
)

func loadTiny(t *testing.T) *Suite {
	t.Helper()
	s, err := Load(filepath.Join("testdata", "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, d)
	}
}

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestMain runs the tests, then removes the tiny suite's shared output
// directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if tiny.dir != "" {
		os.RemoveAll(tiny.dir)
	}
	os.Exit(code)
}

// tiny is one uninterrupted run of the tiny suite (two jobs, started at
// start), made by the first test to ask for it: TestTinySuite checks it,
// and TestResumeIdentical, TestShardAndMerge, TestInMemory and
// TestReportHTMLInBrowser compare their runs with it or read its report.
// No test writes to it.
var tiny struct {
	once sync.Once
	dir  string
	out  *Outcome
	err  error
}

// tinyRun returns the output directory and the outcome of the shared run
// of the tiny suite.
func tinyRun(t *testing.T) (string, *Outcome) {
	t.Helper()
	tiny.once.Do(func() {
		s, err := Load(filepath.Join("testdata", "tiny.yaml"))
		if err != nil {
			tiny.err = err
			return
		}
		if tiny.dir, err = os.MkdirTemp("", "portsim-bench-tiny-"); err != nil {
			tiny.err = err
			return
		}
		tiny.out, tiny.err = Run(context.Background(), s, Options{Out: tiny.dir, Jobs: 2, Start: start})
	})
	if tiny.err != nil {
		t.Fatal(tiny.err)
	}
	return tiny.dir, tiny.out
}

// TestTinySuite runs a 2-scenario, 2-allocator, 2-seed suite end to end
// and checks the files of DESIGN.md "Output of a suite run".
func TestTinySuite(t *testing.T) {
	out, o := tinyRun(t)
	// knee: 2 rates x 2 allocators; zipf: 2 allocators; x 2 seeds.
	if len(o.Runs) != 12 || o.Ran != 12 {
		t.Fatalf("%d runs, %d ran; want 12", len(o.Runs), o.Ran)
	}
	for _, f := range []string{ManifestFile, RunsFile, CSVFile, BenchFile, TimingsFile, ReportFile, SuiteFile,
		"charts/knee-failure-vs-rate.png", "charts/knee-failure-vs-rate.svg", "charts/zipf-probes-cdf.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	// report.md up to its provenance (which names the Go toolchain and
	// module versions) is the golden file testdata/tiny-report.md.
	rep, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	body, _, found := bytes.Cut(rep, []byte("\n## Provenance\n"))
	if !found {
		t.Errorf("report.md has no provenance section")
	}
	golden(t, "tiny-report.md", body)
	// The knee is 1000 ports / 10 s = 100/s: 50/s never fails, 150/s fails
	// about a third of the time.
	for _, r := range o.Runs {
		if r.Scenario != "knee" {
			continue
		}
		switch r.Labels["rate"] {
		case "50":
			if r.Failures != 0 {
				t.Errorf("%s at 50/s: %d failures below the knee", r.Allocator, r.Failures)
			}
		case "150":
			if f := r.FailureFraction(); f < 0.25 || f > 0.34 {
				t.Errorf("%s at 150/s: failure fraction %.3f, want about 1-100/150 = 0.333 after warm-up", r.Allocator, f)
			}
		}
	}
}

// TestResumeIdentical interrupts a suite run, resumes it, and checks that
// runs.jsonl is byte for byte the file of an uninterrupted run.
func TestResumeIdentical(t *testing.T) {
	t.Parallel()
	s := loadTiny(t)
	full, _ := tinyRun(t)
	part := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Run(ctx, s, Options{Out: part, Jobs: 1, Start: start, Progress: func(done, total int) {
		if n++; done >= 5 {
			cancel()
		}
	}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: err = %v, want ErrInterrupted", err)
	}
	if !strings.Contains(err.Error(), "portsim bench -resume "+part) {
		t.Errorf("the error does not say how to resume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(part, RunsFile)); err == nil {
		t.Errorf("an interrupted run wrote runs.jsonl")
	}
	o, err := Run(context.Background(), s, Options{Out: part, Jobs: 2, Resume: true, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if o.Kept < 5 || o.Kept+o.Ran != 12 {
		t.Errorf("resume kept %d and ran %d; want at least 5 kept and 12 in all", o.Kept, o.Ran)
	}
	a, _ := os.ReadFile(filepath.Join(full, RunsFile))
	b, _ := os.ReadFile(filepath.Join(part, RunsFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("runs.jsonl of the resumed run differs from the uninterrupted one (%d and %d bytes)", len(a), len(b))
	}
}

// TestShardAndMerge runs the suite as three shards and merges them: the
// merged runs.jsonl equals that of one run.
func TestShardAndMerge(t *testing.T) {
	t.Parallel()
	s := loadTiny(t)
	full, _ := tinyRun(t)
	var dirs []string
	total := 0
	for k := 1; k <= 3; k++ {
		d := t.TempDir()
		o, err := Run(context.Background(), s, Options{Out: d, Jobs: 2, Shard: k, Shards: 3, Start: start})
		if err != nil {
			t.Fatal(err)
		}
		total += len(o.Runs)
		dirs = append(dirs, d)
	}
	if total != 12 {
		t.Fatalf("shards ran %d runs in all, want 12", total)
	}
	merged := t.TempDir()
	if _, err := Merge(merged, dirs, "", start); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(full, RunsFile))
	b, _ := os.ReadFile(filepath.Join(merged, RunsFile))
	if !bytes.Equal(a, b) {
		t.Fatal("merged runs.jsonl differs from a single run's")
	}
	if _, err := Merge(t.TempDir(), dirs[:2], "", start); err == nil || !strings.Contains(err.Error(), "missing shards") {
		t.Errorf("merging 2 of 3 shards: err = %v, want a missing-shards error", err)
	}
}

// TestSuiteErrors checks that bad suites fail with the file, the line and
// what was expected.
func TestSuiteErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rat: 5\n", `x.yaml:5: scenario "a": unknown key "rat" (did you mean "rate"?)`},
		{"suite unknown key", "name: x\nseedz: 3\nscenarios: [{name: a}]\n", `x.yaml:2: suite: unknown key "seedz" (did you mean "seed"?)`},
		{"wrong type", "name: x\nseeds: [1, 2]\nscenarios: [{name: a}]\n", "x.yaml:2: seeds: expected a single value, got a list"},
		{"bad seeds", "name: x\nseeds: many\nscenarios: [{name: a}]\n", `x.yaml:2: seeds: "many": expected a whole number from 1 to 1000`},
		{"bad value", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: -3\n", `x.yaml:5: scenario "a": rate: "-3": expected a positive finite number`},
		{"bad range", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    range: 60999-32768\n", "x.yaml:5: scenario \"a\": range: range 60999-32768: inverted"},
		{"unknown allocator", "name: x\nallocators: [linx]\nscenarios: [{name: a}]\n", `x.yaml:2: unknown allocator "linx" (did you mean "linux"?)`},
		{"unknown param", "name: x\nallocators: [{name: linux, params: {tabel: 256}}]\nscenarios: [{name: a}]\n", `unknown param "tabel" (did you mean "table"?)`},
		{"bad param", "name: x\nallocators: [{name: linux, params: {table: 100}}]\nscenarios: [{name: a}]\n", "expected a power of two"},
		{"unknown chart", "name: x\nallocators: [linux]\ncharts: [probe-cdf]\nscenarios: [{name: a}]\n", `unknown chart "probe-cdf" (did you mean "probes-cdf"?)`},
		{"no scenarios", "name: x\nallocators: [linux]\n", "no scenarios"},
		{"chart-at unswept", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: [1, 2]\n    chart-at: {hold: 1s}\n", `x.yaml:4: scenario "a": chart-at hold: not a swept setting (swept: rate)`},
		{"chart-at value", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: [1, 2]\n    chart-at: {rate: 3}\n", `x.yaml:4: scenario "a": chart-at rate=3: expected one of the swept values 1, 2`},
		{"duplicate", "name: x\nallocators: [linux]\nscenarios: [{name: a}, {name: a}]\n", `scenario name "a" used twice`},
		{"bad yaml", "name: x\n  bad: [\n", "x.yaml"},
		{"all reserved", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    range: 1000-1010\n    reserved: 1000-1010\n", "reserved ports cover the whole range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "x.yaml", "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestEmbeddedSuitesParse checks every embedded suite.
func TestEmbeddedSuitesParse(t *testing.T) {
	names := SuiteNames()
	if len(names) == 0 {
		t.Fatal("no embedded suites")
	}
	for _, n := range names {
		if _, err := Load(n); err != nil {
			t.Errorf("suite %s: %v", n, err)
		}
	}
	if _, err := Load("standrad"); err == nil || !strings.Contains(err.Error(), `did you mean "standard"?`) {
		t.Errorf("Load(standrad) = %v", err)
	}
}

// TestInMemory runs the tiny suite without an output directory: the runs
// are those of a run that saves them, Options.Events writes the event log
// of each run it names and no other, and there is nothing to resume.
func TestInMemory(t *testing.T) {
	s := loadTiny(t)
	_, saved := tinyRun(t)
	dir := t.TempDir()
	logged := map[string]bool{}
	mem, err := Run(context.Background(), s, Options{Jobs: 2, Events: func(u Unit) string {
		if u.Replicate != 1 || u.Cell.Scenario.Name != "zipf" {
			return ""
		}
		name := filepath.Join(dir, u.Cell.Alloc.Label()+".csv")
		logged[name] = true
		return name
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(mem.Files) != 0 || mem.Ran != len(saved.Runs) {
		t.Errorf("in memory: ran %d, wrote %q; want %d runs and no file", mem.Ran, mem.Files, len(saved.Runs))
	}
	for i := range saved.Runs {
		a, b := saved.Runs[i], mem.Runs[i]
		a.WallNS, b.WallNS = 0, 0
		ja, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		jb, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(ja), string(jb)); d != "" {
			t.Errorf("run %d differs in memory (-saved +memory):\n%s", i, d)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || len(logged) != 2 {
		t.Errorf("event logs %v written for %v; want the 2 zipf runs of replicate 1", entries, logged)
	}
	for name := range logged {
		if b, err := os.ReadFile(name); err != nil || !bytes.HasPrefix(b, []byte(results.EventHeader+"\n")) {
			t.Errorf("%s: not an event log (%v)", name, err)
		}
	}
	if _, err := Run(context.Background(), s, Options{Resume: true}); err == nil || err.Error() != "resume: expected an output directory" {
		t.Errorf("resume in memory: err %v, want a refusal", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, s, Options{}); !errors.Is(err, ErrInterrupted) || err.Error() != "interrupted after 0 of 12 runs; without an output directory nothing is saved" {
		t.Errorf("interrupted in memory: err %v", err)
	}
}
