package citations

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/portsim/portsim/allocator"
)

func checker(t *testing.T) *Checker {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestModuleCitations checks every citation in the module: each names a
// file of the repository that exists, and a heading of it when it names
// a section.
func TestModuleCitations(t *testing.T) {
	problems, err := checker(t).Tree()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestEveryAllocatorDocumented checks that docs/allocators.md has a
// section headed by the name of every allocator `portsim list` prints, so
// that docs/allocators.md#NAME is a citation that resolves.
func TestEveryAllocatorDocumented(t *testing.T) {
	h := checker(t).headingsOf("docs/allocators.md")
	if h == nil {
		t.Fatal("docs/allocators.md is missing")
	}
	for _, s := range allocator.Registry() {
		if !h[Slug(s.Name)] {
			t.Errorf("docs/allocators.md has no section \"### %s\" (anchor #%s)", s.Name, Slug(s.Name))
		}
	}
}

// The names noteName matches, for the planted citations below (Tree
// does not scan this file, but the names stay out of its text anyway).
const (
	note    = "figures" + ".md"
	oldNote = "os-allocators" + ".md"
	goNote  = "go-stack-and-style" + ".md"
)

// TestFileFindsBadCitations plants one bad citation of each kind in a
// file's text and checks the exact problems reported, so that the module
// check above cannot pass by finding nothing.
func TestFileFindsBadCitations(t *testing.T) {
	c := checker(t)
	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{"a note outside docs/", "allocator/x.go",
			"// fine: docs/allocators.md#linux\n// bad: (" + note + " §6 T4)\n",
			[]string{"allocator/x.go:2: " + note + ": not a file of the repository: cite docs/allocators.md, docs/figures.md or the public source"}},
		{"a note under another directory", "sim/x.go",
			"// see reference/" + oldNote + " §12\n",
			[]string{"sim/x.go:1: reference/" + oldNote + ": not a file of the repository: cite docs/allocators.md, docs/figures.md or the public source"}},
		{"a note under docs/ that does not exist", "results/x.go",
			"// (docs/" + goNote + " §A.3)\n",
			[]string{"results/x.go:1: docs/" + goNote + ": no such file in the repository"}},
		{"a missing docs file", "bench/suites/x.yaml",
			"source: docs/" + "nosuch.md#t1\n",
			[]string{"bench/suites/x.yaml:1: docs/nosuch.md#t1: no such file in the repository"}},
		{"a missing suite", "README.md",
			"see bench/suites/" + "nosuch.yaml\n",
			[]string{"README.md:1: bench/suites/nosuch.yaml: no such file in the repository"}},
		{"an anchor with no heading", "capacity/x.go",
			"// docs/figures.md" + "#t9-no-such-figure and docs/allocators.md#linux-bind\n",
			[]string{"capacity/x.go:1: docs/figures.md#t9-no-such-figure: docs/figures.md has no heading with the anchor #t9-no-such-figure"}},
		{"a relative Markdown link with a bad anchor", "docs/x.md",
			"Fine: [linux](allocators.md#linux).\nBad: [T9](figures.md" + "#t9).\n",
			[]string{"docs/x.md:2: figures.md#t9: docs/figures.md has no heading with the anchor #t9"}},
		{"a Markdown link to a missing file", "README.md",
			"[x](docs/" + "nosuch.md)\n",
			[]string{"README.md:1: docs/nosuch.md: no such file in the repository"}},
		{"paths outside the module and web addresses are not checked", "README.md",
			"out/standard/report.md, https://example.org/a/b.md#c, my-suite.yaml, <https://github.com/x/y/blob/main/docs/z.md>\n",
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range c.File(tc.file, tc.text) {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestAnchors checks GitHub's heading anchors on headings of the kinds
// the docs use, and that fenced code is not read as headings.
func TestAnchors(t *testing.T) {
	md := "# Allocator reference\n" +
		"## TIME_WAIT and tcp_tw_reuse\n" +
		"### linux-5.12\n" +
		"## Does `tcp_tw_reuse` help?\n" +
		"## T4 Ports per TIME_WAIT\n" +
		"## Notes\n## Notes\n" +
		"```sh\n# not a heading\n```\n" +
		"#not-a-heading\n"
	want := map[string]bool{
		"allocator-reference":        true,
		"time_wait-and-tcp_tw_reuse": true,
		"linux-512":                  true,
		"does-tcp_tw_reuse-help":     true,
		"t4-ports-per-time_wait":     true,
		"notes":                      true,
		"notes-1":                    true,
	}
	if got := Anchors(md); !reflect.DeepEqual(got, want) {
		t.Errorf("Anchors = %v, want %v", got, want)
	}
}
