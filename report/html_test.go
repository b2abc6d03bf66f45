package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
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

// page is a small document with every kind of block.
func page() Document {
	return Document{
		Title: "portsim report: tiny",
		Intro: "Two allocators, `two` seeds.",
		Summary: []Section{{Title: "knee", Blocks: []Block{
			Para("The analytic knee is **100/s**."),
			&Table{Header: []string{"metric", "best", "value"}, Numeric: []bool{false, false, true},
				Rows: [][]string{{"failed attempts (%)", "linux <b>", "0 [0, 0.19]"}}},
		}}},
		Sections: []Section{{Title: "knee", Blocks: []Block{
			Para("| published | value |\n|---|---:|\n| a \\| b | 3 |\n\nReproduce it alone: `portsim run`"),
			Chart{Path: "charts/knee-failure-vs-rate.png", Alt: "Chart: failures", Caption: "Failures *against* the rate."},
		}}},
	}
}

// TestWriteHTMLGolden checks the page: escaped text, Markdown spans,
// the one-line table of contents, the summary first, numbered sortable
// tables (a Markdown table in a paragraph included), and the chart's SVG
// inlined without its XML prologue.
func TestWriteHTMLGolden(t *testing.T) {
	svg := func(path string) ([]byte, error) {
		if path != "charts/knee-failure-vs-rate.svg" {
			return nil, errors.New("unexpected path " + path)
		}
		return []byte("<?xml version=\"1.0\"?>\n<svg width=\"504pt\" height=\"324pt\" viewBox=\"0 0 504 324\"><path d=\"M0,0L1,1\"/></svg>\n"), nil
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, page(), svg); err != nil {
		t.Fatal(err)
	}
	golden(t, "page.html", buf.Bytes())

	err := WriteHTML(&bytes.Buffer{}, page(), func(string) ([]byte, error) { return nil, os.ErrNotExist })
	if err == nil || !strings.Contains(err.Error(), "inlining chart charts/knee-failure-vs-rate.svg") {
		t.Errorf("missing SVG: error = %v", err)
	}
}

// TestWriteMarkdownGolden checks the Markdown of the same page.
func TestWriteMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, page()); err != nil {
		t.Fatal(err)
	}
	golden(t, "page.md", buf.Bytes())
}
