package results

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/internal/suggest"
)

// Report is the content of report.md. The caller (the suite runner)
// decides its sections; WriteReport only lays them out.
type Report struct {
	// Title is the document's heading; Description a Markdown paragraph
	// under it.
	Title       string
	Description string
	// Sections come in order after the description.
	Sections []Section
	// Manifest, when set, is summarised in a closing "Provenance"
	// section.
	Manifest *Manifest
}

// Section is one part of a report: a paragraph, then tables, then charts.
type Section struct {
	// Title is the section heading; Text a Markdown paragraph under it.
	Title string
	Text  string
	// Tables and Charts come after the text, in order.
	Tables []Table
	Charts []ChartRef
}

// Table is a table of summaries, one row per Summary and one column per
// metric, each cell "mean ± 95 % CI half-width".
type Table struct {
	// Caption is an optional sentence above the table.
	Caption string
	// KeyHeader heads the first column, which holds each row's
	// Summary.Key (default "cell").
	KeyHeader string
	// Metrics names the metric columns, in order. Empty means every
	// metric defined (N > 0) in at least one row, in Metrics order.
	Metrics []string
	// Rows are the summaries, in order (see Summarize).
	Rows []Summary
}

// ChartRef is a chart embedded in a report.
type ChartRef struct {
	// Path is the image's path relative to the report, with '/'
	// separators ("charts/probes-cdf.svg").
	Path string
	// Caption is one sentence saying what the chart shows.
	Caption string
}

// WriteReport writes r as Markdown. Table cells give the mean over the
// seeds with its 95 % confidence half-width ("0.294 ± 0.003"), the mean
// alone when fewer than two values were defined, "n/a" when none was,
// and "(n=K)" when only K of the group's runs defined the metric. It
// reports an error for a table that names an unknown metric.
func WriteReport(w io.Writer, r Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n", oneLine(r.Title))
	if r.Description != "" {
		fmt.Fprintf(bw, "\n%s\n", strings.TrimSpace(r.Description))
	}
	for si, s := range r.Sections {
		fmt.Fprintf(bw, "\n## %s\n", oneLine(s.Title))
		if s.Text != "" {
			fmt.Fprintf(bw, "\n%s\n", strings.TrimSpace(s.Text))
		}
		for ti, t := range s.Tables {
			if err := writeTable(bw, t); err != nil {
				return fmt.Errorf("report section %d (%q), table %d: %w", si+1, s.Title, ti+1, err)
			}
		}
		for _, c := range s.Charts {
			fmt.Fprintf(bw, "\n![%s](%s)\n", mdEscape(c.Caption), c.Path)
			if c.Caption != "" {
				fmt.Fprintf(bw, "\n*%s*\n", strings.TrimSpace(c.Caption))
			}
		}
	}
	if m := r.Manifest; m != nil {
		writeProvenance(bw, m)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func writeTable(w *bufio.Writer, t Table) error {
	all := Metrics()
	var cols []Metric
	if len(t.Metrics) == 0 {
		for _, m := range all {
			for _, row := range t.Rows {
				if st, ok := row.Stat(m.Name); ok && st.N > 0 {
					cols = append(cols, m)
					break
				}
			}
		}
	}
	for _, name := range t.Metrics {
		m, ok := LookupMetric(name)
		if !ok {
			names := make([]string, len(all))
			for i, m := range all {
				names[i] = m.Name
			}
			return fmt.Errorf("unknown metric %q%s", name, suggest.Hint(name, names))
		}
		cols = append(cols, m)
	}
	if t.Caption != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(t.Caption))
	}
	key := t.KeyHeader
	if key == "" {
		key = "cell"
	}
	w.WriteString("\n| " + mdEscape(key) + " | n |")
	for _, m := range cols {
		if m.Unit == m.Name {
			fmt.Fprintf(w, " %s |", mdEscape(m.Name))
		} else {
			fmt.Fprintf(w, " %s (%s) |", mdEscape(m.Name), mdEscape(m.Unit))
		}
	}
	w.WriteString("\n|---|---:|")
	for range cols {
		w.WriteString("---:|")
	}
	w.WriteString("\n")
	for _, row := range t.Rows {
		fmt.Fprintf(w, "| %s | %d |", mdEscape(row.Key), row.Runs)
		for _, m := range cols {
			st, ok := row.Stat(m.Name)
			if !ok {
				w.WriteString(" n/a |")
				continue
			}
			cell := FormatMeanCI(st.Mean, st.CI95)
			if st.N > 0 && st.N < row.Runs {
				cell += fmt.Sprintf(" (n=%d)", st.N)
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		w.WriteString("\n")
	}
	return nil
}

func writeProvenance(w *bufio.Writer, m *Manifest) {
	w.WriteString("\n## Provenance\n\n| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "| %s | %s |\n", k, mdEscape(v))
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
	if len(m.Modules) > 0 {
		w.WriteString("\nModules:\n\n")
		for _, mod := range m.Modules {
			v := mod.Version
			if mod.Replace != "" {
				v += " => " + mod.Replace
			}
			fmt.Fprintf(w, "- %s %s\n", mod.Path, v)
		}
	}
}

// FormatMeanCI formats a mean and its confidence half-width for a table:
// the half-width to two significant digits and the mean to the same
// decimal place ("0.2941 ± 0.0031", "470.5 ± 1.2", "123500 ± 3500",
// "28232 ± 0"), the mean
// alone to four significant digits when the half-width is NaN, and "n/a"
// when the mean is NaN.
func FormatMeanCI(mean, ci float64) string {
	switch {
	case math.IsNaN(mean):
		return "n/a"
	case math.IsNaN(ci) || math.IsInf(ci, 0):
		return fmtSig(mean, 4)
	case ci == 0:
		return fmtSig(mean, 6) + " ± 0"
	}
	// Decimal places that show two significant digits of ci.
	dec := 1 - int(math.Floor(math.Log10(ci)))
	switch {
	case dec > 8 || math.Abs(mean) >= 1e15 || ci >= 1e15:
		return fmtSig(mean, 4) + " ± " + fmtSig(ci, 2)
	case dec < 0:
		p := math.Pow10(-dec)
		return strconv.FormatFloat(math.Round(mean/p)*p, 'f', 0, 64) + " ± " +
			strconv.FormatFloat(math.Round(ci/p)*p, 'f', 0, 64)
	}
	return strconv.FormatFloat(mean, 'f', dec, 64) + " ± " + strconv.FormatFloat(ci, 'f', dec, 64)
}

// fmtSig formats v to at most sig significant digits, without exponent
// for magnitudes from 1e-4 to 1e9.
func fmtSig(v float64, sig int) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	if a < 1e-4 || a >= 1e9 {
		return strconv.FormatFloat(v, 'g', sig, 64)
	}
	dec := sig - 1 - int(math.Floor(math.Log10(a)))
	if dec < 0 {
		p := math.Pow10(-dec)
		return strconv.FormatFloat(math.Round(v/p)*p, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// oneLine joins the lines of s with spaces, for headings.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mdEscape makes s safe in a table cell or link text: one line, with '|',
// '[' and ']' escaped.
func mdEscape(s string) string {
	s = oneLine(s)
	return strings.NewReplacer("|", `\|`, "[", `\[`, "]", `\]`).Replace(s)
}
