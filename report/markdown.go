package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/results"
)

// WriteMarkdown writes d as Markdown: the title and introduction, a
// "Summary" section with a sub-section per entry of d.Summary, the
// sections, and the provenance.
func WriteMarkdown(w io.Writer, d Document) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n", oneLine(d.Title))
	if d.Intro != "" {
		fmt.Fprintf(bw, "\n%s\n", strings.TrimSpace(d.Intro))
	}
	if len(d.Summary) > 0 {
		bw.WriteString("\n## Summary\n")
		for _, s := range d.Summary {
			writeSection(bw, "###", s)
		}
	}
	for _, s := range d.Sections {
		writeSection(bw, "##", s)
	}
	if d.Manifest != nil {
		writeSection(bw, "##", provenance(d.Manifest))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func writeSection(w *bufio.Writer, level string, s Section) {
	fmt.Fprintf(w, "\n%s %s\n", level, oneLine(s.Title))
	for _, b := range s.Blocks {
		switch b := b.(type) {
		case Para:
			if t := strings.TrimSpace(string(b)); t != "" {
				fmt.Fprintf(w, "\n%s\n", t)
			}
		case *Table:
			writeTable(w, b)
		case Chart:
			fmt.Fprintf(w, "\n![%s](%s)\n", mdEscape(b.Alt), b.Path)
			if b.Caption != "" {
				fmt.Fprintf(w, "\n*%s*\n", oneLine(b.Caption))
			}
		}
	}
}

func writeTable(w *bufio.Writer, t *Table) {
	if t.Caption != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(t.Caption))
	}
	w.WriteString("\n|")
	for _, h := range t.Header {
		fmt.Fprintf(w, " %s |", mdEscape(h))
	}
	w.WriteString("\n|")
	for i := range t.Header {
		if i < len(t.Numeric) && t.Numeric[i] {
			w.WriteString("---:|")
		} else {
			w.WriteString("---|")
		}
	}
	w.WriteString("\n")
	for _, row := range t.Rows {
		w.WriteString("|")
		for _, c := range row {
			fmt.Fprintf(w, " %s |", mdEscape(c))
		}
		w.WriteString("\n")
	}
}

// provenance is the closing section: tool, Go, commit, suite, seeds and
// modules.
func provenance(m *results.Manifest) Section {
	t := &Table{Header: []string{"", ""}}
	row := func(k, v string) {
		if v != "" {
			t.Rows = append(t.Rows, []string{k, v})
		}
	}
	row("tool", strings.TrimSpace(m.Tool+" "+m.Version))
	row("Go", m.GoVersion)
	row("commit", m.Commit)
	row("suite", m.Suite)
	row("suite SHA-256", m.SuiteSHA256)
	seeds := make([]string, len(m.Seeds))
	for i, s := range m.Seeds {
		seeds[i] = strconv.FormatUint(s, 10)
	}
	row("seeds", strings.Join(seeds, ", "))
	row("cells", strconv.Itoa(m.Cells))
	row("runs", strconv.Itoa(m.Runs))
	if !m.Start.IsZero() {
		row("started", m.Start.UTC().Format(time.RFC3339))
	}
	s := Section{Title: "Provenance", Blocks: []Block{t}}
	if len(m.Modules) > 0 {
		var b strings.Builder
		b.WriteString("Modules: ")
		for i, mod := range m.Modules {
			v := mod.Version
			if mod.Replace != "" {
				v += " => " + mod.Replace
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "`%s %s`", mod.Path, v)
		}
		b.WriteString(".")
		s.Blocks = append(s.Blocks, Para(b.String()))
	}
	return s
}
