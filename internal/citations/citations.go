// Package citations checks that the citations in the module's files point
// to something a reader can open: a file of the repository that exists,
// and a heading of it when the citation names a section (#anchor).
//
// It checks three things in every text file of the module (Go source,
// Markdown, YAML, golden files):
//
//   - a repository path ending in .md or .yaml whose first directory is a
//     top-level directory of the module (docs/figures.md,
//     bench/suites/capacity.yaml) names a file that exists;
//   - a #anchor after such a .md path, or in a Markdown link, matches a
//     heading of that file, as GitHub derives heading anchors;
//   - the three Markdown names noteName matches are cited only as paths
//     under docs/, where they must then exist: a bare name, or one under
//     another directory, points to no file a reader can open.
//
// Paths under directories that are not in the module (out/, a user's own
// files) and web addresses are not checked.
package citations

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Problem is one citation that points nowhere.
type Problem struct {
	// File is the path of the citing file, relative to the module root,
	// with forward slashes.
	File string
	// Line is the 1-based line of the citation in File.
	Line int
	// Cite is the citation as written.
	Cite string
	// Msg says what is wrong.
	Msg string
}

// String formats p as "file:line: cite: msg".
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Cite, p.Msg)
}

// Checker checks citations against the files under Root. Its zero value
// is not usable; make one with New.
type Checker struct {
	root     string
	topDirs  map[string]bool
	headings map[string]map[string]bool // by root-relative path; nil if missing
}

// New returns a Checker for the module whose root directory (the one
// holding go.mod) is root.
func New(root string) (*Checker, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("citations: reading module root: %w", err)
	}
	c := &Checker{root: root, topDirs: map[string]bool{}, headings: map[string]map[string]bool{}}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			c.topDirs[e.Name()] = true
		}
	}
	return c, nil
}

// ModuleRoot returns the nearest directory at or above dir that holds a
// go.mod file.
func ModuleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("citations: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("citations: no go.mod at or above %s", dir)
		}
		d = parent
	}
}

// scanned reports whether a file of this name is text that may cite.
func scanned(name string) bool {
	switch path.Ext(name) {
	case ".go", ".md", ".yaml", ".yml", ".golden", ".txt", ".json":
		return true
	}
	return false
}

// Tree checks every scanned file under the root, skipping hidden
// directories, the top-level out/ directory (portsim's default output,
// not part of the module) and this package's own tests. Problems come
// sorted by file and line.
func (c *Checker) Tree() ([]Problem, error) {
	var problems []Problem
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || rel == "out") {
				return filepath.SkipDir
			}
			return nil
		}
		if !scanned(d.Name()) {
			return nil
		}
		if path.Dir(rel) == "internal/citations" && strings.HasSuffix(rel, "_test.go") {
			return nil // the checker's own tests plant bad citations on purpose
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		problems = append(problems, c.File(rel, string(b))...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("citations: walking %s: %w", c.root, err)
	}
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].File != problems[j].File {
			return problems[i].File < problems[j].File
		}
		return problems[i].Line < problems[j].Line
	})
	return problems, nil
}

var (
	// mdLink is the target of an inline Markdown link or image.
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// repoPath is a path ending in .md or .yaml, with an optional anchor;
	// the character before it must not belong to a path (so the middle of
	// a web address does not match).
	repoPath = regexp.MustCompile(`(?:^|[^\w./#-])((?:[\w.-]+/)*[\w.-]+\.(?:md|yaml))(#[\w-]+)?`)
	// noteName matches the names that may be cited only under docs/.
	noteName = regexp.MustCompile(`(figures|os-allocators|go-stack-and-style)\.md`)
)

// File checks the citations in text, the content of the file rel (a
// root-relative path with forward slashes).
func (c *Checker) File(rel, text string) []Problem {
	var problems []Problem
	add := func(off int, cite, msg string) {
		problems = append(problems, Problem{File: rel, Line: 1 + strings.Count(text[:off], "\n"), Cite: cite, Msg: msg})
	}
	scan := text
	if path.Ext(rel) == ".md" {
		// Markdown links resolve against the file's directory; check
		// them, then blank them out so that the plain-text rules below do
		// not read a relative link as a root-relative path.
		// Golden Markdown under testdata links to output files a run
		// writes next to it, so its links are not checked.
		golden := strings.HasPrefix(rel, "testdata/") || strings.Contains(rel, "/testdata/")
		blank := []byte(text)
		for _, m := range mdLink.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[2]:m[3]]
			if msg := c.link(rel, target); msg != "" && !golden {
				add(m[2], target, msg)
			}
			for i := m[2]; i < m[3]; i++ {
				blank[i] = ' '
			}
		}
		scan = string(blank)
	}
	for _, m := range noteName.FindAllStringIndex(scan, -1) {
		if m[0] > 0 && isWordByte(scan[m[0]-1]) {
			continue // some other name ending in one of these
		}
		start := m[0]
		for start > 0 && isPathByte(scan[start-1]) {
			start--
		}
		if scan[start:m[0]] != "docs/" {
			add(m[0], scan[start:m[1]], "not a file of the repository: cite docs/allocators.md, docs/figures.md or the public source")
		}
	}
	for _, m := range repoPath.FindAllStringSubmatchIndex(scan, -1) {
		p := scan[m[2]:m[3]]
		anchor := ""
		if m[4] >= 0 {
			anchor = scan[m[4]+1 : m[5]]
		}
		cite := scan[m[2]:m[3]]
		if anchor != "" {
			cite += "#" + anchor
		}
		if !strings.Contains(p, "/") {
			// A bare name is checked only when it is a Markdown file at
			// the root, such as the README; other bare names are the
			// user's files.
			if c.headingsOf(p) == nil {
				continue
			}
		} else if first, _, _ := strings.Cut(p, "/"); !c.topDirs[first] {
			continue // not a directory of the module: output or a user's path
		}
		if msg := c.target(p, anchor); msg != "" {
			add(m[2], cite, msg)
		}
	}
	return problems
}

// link checks a Markdown link target of the file rel and returns what is
// wrong with it, or "".
func (c *Checker) link(rel, target string) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	p, anchor, _ := strings.Cut(target, "#")
	if p == "" {
		p = rel
	} else {
		if path.IsAbs(p) {
			return "an absolute path: link relative to the file"
		}
		p = path.Join(path.Dir(rel), p)
		if p == ".." || strings.HasPrefix(p, "../") {
			return "outside the repository"
		}
	}
	return c.target(p, anchor)
}

// target checks that the root-relative path p exists and, for a Markdown
// file, that anchor (if any) is one of its headings.
func (c *Checker) target(p, anchor string) string {
	info, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(p)))
	if err != nil {
		return "no such file in the repository"
	}
	if anchor == "" || info.IsDir() || path.Ext(p) != ".md" {
		return ""
	}
	h := c.headingsOf(p)
	if !h[anchor] {
		return fmt.Sprintf("%s has no heading with the anchor #%s", p, anchor)
	}
	return ""
}

// headingsOf returns the anchors of the Markdown file p (root-relative),
// or nil if it cannot be read.
func (c *Checker) headingsOf(p string) map[string]bool {
	if h, ok := c.headings[p]; ok {
		return h
	}
	b, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(p)))
	var h map[string]bool
	if err == nil {
		h = Anchors(string(b))
	}
	c.headings[p] = h
	return h
}

// Anchors returns the anchors GitHub gives the headings of a Markdown
// document: each ATX heading (# to ######) outside fenced code blocks,
// lower-cased, with every character other than letters, digits, spaces,
// hyphens and underscores removed and spaces turned into hyphens; a
// repeated anchor gets -1, -2, ... appended.
func Anchors(markdown string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fence := ""
	for _, line := range strings.Split(markdown, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		level := 0
		for level < len(line) && line[level] == '#' {
			level++
		}
		if level == 0 || level > 6 || level == len(line) || line[level] != ' ' {
			continue
		}
		slug := Slug(strings.TrimRight(strings.TrimSpace(line[level:]), "#"))
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// Slug is GitHub's anchor for a heading's text.
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isWordByte(b byte) bool {
	return b == '_' || b == '-' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func isPathByte(b byte) bool {
	return isWordByte(b) || b == '.' || b == '/'
}
