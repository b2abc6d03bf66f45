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
