package results

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// runOpts compares runs read back from JSON with the originals: Hist
// compares through its Equal method, DiffHist by its counts, and the
// sampling state of a Series (not stored) is ignored.
func runOpts() cmp.Options {
	return cmp.Options{
		cmp.AllowUnexported(DiffHist{}),
		cmpopts.IgnoreUnexported(Series{}),
		cmpopts.EquateEmpty(),
	}
}

func write(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGoldenOutputs(t *testing.T) {
	runs := sampleRuns()
	golden(t, "runs.jsonl", write(t, func(b *bytes.Buffer) error { return WriteJSONL(b, runs) }))
	golden(t, "runs.csv", write(t, func(b *bytes.Buffer) error { return WriteCSV(b, runs) }))
	golden(t, "bench.txt", write(t, func(b *bytes.Buffer) error { return WriteBench(b, runs) }))
}

func TestJSONLRoundTrip(t *testing.T) {
	runs := sampleRuns()
	first := write(t, func(b *bytes.Buffer) error { return WriteJSONL(b, runs) })
	got, err := ReadJSONL(bytes.NewReader(first), "runs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := sampleRuns()
	for i := range want {
		want[i].WallNS = 0 // wall time is not part of the JSON form
	}
	if d := cmp.Diff(want, got, runOpts()); d != "" {
		t.Errorf("round trip changed the runs (-want +got):\n%s", d)
	}
	// Byte-stable: writing what was read gives the same bytes.
	second := write(t, func(b *bytes.Buffer) error { return WriteJSONL(b, got) })
	if !bytes.Equal(first, second) {
		t.Errorf("rewriting read runs changed the bytes:\n%s\n%s", first, second)
	}
	if bytes.Contains(first, []byte("123456")) {
		t.Error("WallNS leaked into the JSON form")
	}
}

// TestHistEqual checks that Hist.Equal ignores storage but not content,
// since the round-trip test relies on it.
func TestHistEqual(t *testing.T) {
	var a, b Hist
	a.Record(3)
	a.Record(1000)
	b.Record(1000)
	b.Record(3)
	if !a.Equal(b) {
		t.Error("same values in another order: not equal")
	}
	b.Record(3)
	if a.Equal(b) {
		t.Error("different counts: equal")
	}
	var c, d Hist
	c.Record(5)
	d.Record(6)
	if c.Equal(d) {
		t.Error("different values: equal")
	}
	var e Hist
	e.grow(500)
	if !e.Equal(Hist{}) {
		t.Error("grown empty histogram differs from the zero value")
	}
}

func TestReadJSONLErrors(t *testing.T) {
	good := `{"allocator":"a","seed":1,"replicate":0,"setup":{},"probes":{"count":0,"sum":0,"min":0,"max":0}}`
	tests := []struct {
		name, in, want string
	}{
		{"syntax", good + "\n{\"allocator\": \n", "runs.jsonl:2: expected one JSON object per line"},
		{"no allocator", "\n\n" + `{"seed":1}` + "\n", "runs.jsonl:3: run has no \"allocator\" field"},
		{"bad histogram", `{"allocator":"a","probes":{"count":2,"sum":0,"min":0,"max":0,"buckets":[[1,1]]}}`, "runs.jsonl:1: expected one JSON object per line"},
		{"wrong type", `{"allocator":"a","seed":"one"}`, "runs.jsonl:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadJSONL(strings.NewReader(tt.in), "runs.jsonl")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
	runs, err := ReadJSONL(strings.NewReader(good+"\n\n"+good), "runs.jsonl")
	if err != nil || len(runs) != 2 {
		t.Errorf("two runs with a blank line and no final newline: got %d runs, %v", len(runs), err)
	}
}

// TestCSVNaN checks that undefined metrics are empty fields and that
// every row has a field per column.
func TestCSVNaN(t *testing.T) {
	runs := sampleRuns()
	out := write(t, func(b *bytes.Buffer) error { return WriteCSV(b, runs) })
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("got %d records, want header + 2", len(recs))
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	for _, c := range []string{"suite", "scenario", "ips", "rate", "allocator", "params", "seed", "replicate"} {
		if _, ok := col[c]; !ok {
			t.Errorf("identity column %q missing from %v", c, recs[0])
		}
	}
	tests := []struct{ column, a, b string }{
		{"first_failure_s", "1.5", ""},
		{"premature_fraction", "0.3333333333333333", ""},
		{"failures", "2", "0"},
		{"seed", "11", "12"},
		{"params", "step=1", "step=1"},
		{"rate", "5", "5"},
	}
	for _, tt := range tests {
		if got := recs[1][col[tt.column]]; got != tt.a {
			t.Errorf("run 0 %s = %q, want %q", tt.column, got, tt.a)
		}
		if got := recs[2][col[tt.column]]; got != tt.b {
			t.Errorf("run 1 %s = %q, want %q", tt.column, got, tt.b)
		}
	}
}

func TestCSVColumnsCollision(t *testing.T) {
	runs := []Run{{Allocator: "a", Labels: map[string]string{"seed": "x", "w": "500"}}}
	cols := CSVColumns(runs)
	want := []string{"suite", "scenario", "label_seed", "w", "allocator", "params", "seed", "replicate"}
	if d := cmp.Diff(want, cols[:len(want)]); d != "" {
		t.Errorf("columns (-want +got):\n%s", d)
	}
}

func TestBenchName(t *testing.T) {
	tests := []struct {
		run  Run
		want string
	}{
		{Run{Scenario: "poisson", Allocator: "linux"}, "BenchmarkSim/scenario=poisson/alloc=linux-1"},
		{Run{Scenario: "t1", Labels: map[string]string{"w": "500", "b": "x y"}, Allocator: "freebsd-13"},
			"BenchmarkSim/scenario=t1/b=x_y/w=500/alloc=freebsd-13-1"},
		{Run{Allocator: "random-window", Params: map[string]string{"window": "1000", "a": "1/2"}},
			"BenchmarkSim/alloc=random-window[a=1_2,window=1000]-1"},
	}
	for _, tt := range tests {
		if got := tt.run.BenchName(); got != tt.want {
			t.Errorf("BenchName = %q, want %q", got, tt.want)
		}
	}
}

// TestBenchNaN checks that undefined metrics are left out of a bench
// line instead of written as NaN, which benchstat would average.
func TestBenchNaN(t *testing.T) {
	runs := sampleRuns()
	out := string(write(t, func(b *bytes.Buffer) error { return WriteBench(b, runs[1:]) }))
	var line string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "Benchmark") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no benchmark line in:\n%s", out)
	}
	for _, undefined := range []string{"NaN", " first_failure_s", " premature_fraction", " oarc_score"} {
		if strings.Contains(line, undefined) {
			t.Errorf("undefined metric %q written:\n%s", undefined, line)
		}
	}
	if !strings.Contains(line, " 0 failures ") {
		t.Errorf("defined zero missing:\n%s", line)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWritersReportErrors(t *testing.T) {
	runs := sampleRuns()
	for name, f := range map[string]func() error{
		"jsonl": func() error { return WriteJSONL(failWriter{}, runs) },
		"csv":   func() error { return WriteCSV(failWriter{}, runs) },
		"bench": func() error { return WriteBench(failWriter{}, runs) },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: error = %v, want the write error", name, err)
		}
	}
}

// FuzzReadJSONL checks that the reader never panics and that whatever it
// accepts writes back to bytes it reads the same way.
func FuzzReadJSONL(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, sampleRuns()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add(`{"allocator":"a","probes":{"count":1,"sum":3,"min":3,"max":3,"buckets":[[3,1]]}}`)
	f.Add(`{"allocator":"a","succ_diff":{"counts":[[-128,2]],"below":1,"above":0}}`)
	f.Fuzz(func(t *testing.T, in string) {
		runs, err := ReadJSONL(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteJSONL(&out, runs); err != nil {
			return // e.g. a NaN rate cannot be written; reading it was still safe
		}
		again, err := ReadJSONL(bytes.NewReader(out.Bytes()), "rewritten")
		if err != nil {
			t.Fatalf("rewritten runs do not read: %v", err)
		}
		if d := cmp.Diff(runs, again, runOpts()); d != "" {
			t.Fatalf("rewrite changed the runs:\n%s", d)
		}
		for i := range runs {
			for _, m := range Metrics() {
				m.Value(&runs[i]) // must not panic on any accepted input
			}
		}
	})
}

func TestWriteJSONLNaNRate(t *testing.T) {
	runs := sampleRuns()
	runs[1].Setup.RatePerSec = math.NaN()
	err := WriteJSONL(io.Discard, runs)
	if err == nil || !strings.Contains(err.Error(), "run 1 (exhaust|") {
		t.Errorf("error = %v, want one naming run 1", err)
	}
}
