// Package report is portsim's one home for presentation: it turns the
// runs of a suite (results.Run) into a document — the summary that
// answers each scenario's question first, tables with honest intervals,
// chart references — and writes that document as Markdown (report.md)
// and as one self-contained HTML page (report.html). Every label, number
// format, allocator spelling and sentence a report shows comes from
// here; package results keeps the data model and file formats, package
// bench runs suites and hands the runs over.
package report

import "github.com/portsim/portsim/results"

// Document is a report: a title, an introduction, the summary, then one
// section per scenario and the provenance of the results.
type Document struct {
	// Title is the document's heading; Intro a Markdown paragraph under
	// it.
	Title string
	Intro string
	// Summary holds the answers, first in the document.
	Summary []Section
	// Sections come after the summary, in order.
	Sections []Section
	// Manifest, when set, is summarised in a closing "Provenance"
	// section.
	Manifest *results.Manifest
}

// Section is a titled run of blocks.
type Section struct {
	// Title is the section heading.
	Title string
	// Blocks come in order under the heading.
	Blocks []Block
}

// Block is a paragraph (Para), a table (*Table) or a chart (Chart).
type Block interface{ block() }

// Para is a Markdown paragraph: plain text with `code`, **bold** and
// *italic* spans.
type Para string

// Table is a table of text cells.
type Table struct {
	// Caption is an optional sentence above the table.
	Caption string
	// Header names the columns; Numeric marks the columns that hold
	// numbers (right-aligned, sorted by value in the HTML page).
	Header  []string
	Numeric []bool
	// Rows hold one cell per column.
	Rows [][]string
}

// Chart is a chart embedded in a report.
type Chart struct {
	// Path is the PNG image's path relative to the report, with '/'
	// separators ("charts/one-backend-probes-cdf.png"); the SVG twin the
	// HTML page inlines has the same path ending in ".svg".
	Path string
	// Alt is the short text that stands for the image ("Chart:
	// failed attempts against the offered rate").
	Alt string
	// Caption says in a sentence or two what the chart shows.
	Caption string
}

func (Para) block()   {}
func (*Table) block() {}
func (Chart) block()  {}
