package results

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "runs.csv")
	if err := WriteFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "first\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A failing writer leaves the old file and no temporary file.
	boom := errors.New("boom")
	err := WriteFileAtomic(path, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want one wrapping the write error and naming the file", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "first\n" {
		t.Errorf("file after a failed write = %q, %v; want the old content", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "runs.csv" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only runs.csv", names)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
	// A missing directory is an error naming the file.
	missing := filepath.Join(dir, "no", "such", "x.txt")
	if err := WriteFileAtomic(missing, func(io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: error = %v", err)
	}
}

func TestManifest(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	m := NewManifest("standard", []byte("abc"), "0123abcd", start)
	m.Seeds = []uint64{1, 2, 3}
	m.Cells, m.Runs = 4, 12
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; m.SuiteSHA256 != want {
		t.Errorf("suite hash %s, want %s", m.SuiteSHA256, want)
	}
	if m.Start.Location() != time.UTC || !m.Start.Equal(start) {
		t.Errorf("start %v, want %v in UTC", m.Start, start)
	}
	if m.Tool != "portsim" || !strings.HasPrefix(m.GoVersion, "go") || m.Version == "" {
		t.Errorf("build fields not filled: %+v", m)
	}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(&buf, "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m, got); d != "" {
		t.Errorf("manifest round trip (-want +got):\n%s", d)
	}
	_, err = ReadManifest(strings.NewReader("{\n  \"tool\": \"portsim\",\n  oops\n}"), "manifest.json")
	if err == nil || !strings.HasPrefix(err.Error(), "manifest.json:3:") {
		t.Errorf("syntax error = %v, want it on manifest.json:3", err)
	}
}

func TestReportGolden(t *testing.T) {
	runs := sampleRuns()
	other := sampleRuns()
	for i := range other {
		other[i].Allocator = "random|x"
		other[i].Failures = int64(i + 1)
	}
	runs = append(runs, other...)
	sums := Summarize(runs, func(r *Run) string { return r.Allocator })
	m := Manifest{
		Tool: "portsim", Version: "v0.1.0", GoVersion: "go1.26.8", Commit: "0123abcd",
		Modules: []Module{{Path: "gonum.org/v1/gonum", Version: "v0.17.0"}, {Path: "example.com/x", Version: "v1.0.0", Replace: "../x@"}},
		Suite:   "tiny", SuiteSHA256: "ba7816bf", Seeds: []uint64{11, 12}, Cells: 2, Runs: 4,
		Start: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
	}
	r := Report{
		Title:       "Tiny suite",
		Description: "Two allocators, two seeds.\n",
		Manifest:    &m,
		Sections: []Section{
			{
				Title: "Exhaustion",
				Text:  "Failures near the knee.",
				Tables: []Table{{
					Caption:   "Mean ± 95 % CI over seeds.",
					KeyHeader: "allocator",
					Metrics:   []string{"failures", "failure_fraction", "first_failure_s", "oarc_score"},
					Rows:      sums,
				}},
				Charts: []ChartRef{{Path: "charts/failure-vs-rate.svg", Caption: "Failure fraction [mean] against the offered rate."}},
			},
			{
				Title:  "Everything defined",
				Tables: []Table{{Rows: sums[:1]}},
			},
		},
	}
	var buf bytes.Buffer
	if err := WriteReport(&buf, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md", buf.Bytes())

	r.Sections[0].Tables[0].Metrics = []string{"failure_fractoin"}
	err := WriteReport(io.Discard, r)
	if err == nil || !strings.Contains(err.Error(), `unknown metric "failure_fractoin" (did you mean "failure_fraction"?)`) {
		t.Errorf("unknown metric: error = %v", err)
	}
}
