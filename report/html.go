package report

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
)

// WriteHTML writes d as one self-contained HTML page: the summary first,
// a table of contents, tables whose columns sort when their header is
// clicked, and every chart inlined as SVG, so the page reads offline
// and can be mailed as one file. svg returns the SVG twin of a chart
// (Chart.Path with ".svg" for ".png"), relative to the report; a chart
// whose SVG cannot be read is an error.
func WriteHTML(w io.Writer, d Document, svg func(path string) ([]byte, error)) error {
	bw := bufio.NewWriter(w)
	ids := map[string]int{}
	id := func(title string) string {
		base := "s-" + strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(title), "-"), "-")
		ids[base]++
		if n := ids[base]; n > 1 {
			return fmt.Sprintf("%s-%d", base, n)
		}
		return base
	}
	type entry struct {
		id, title string
		sub       []entry
	}
	var toc []entry
	var sumIDs []string
	var secIDs []string
	if len(d.Summary) > 0 {
		e := entry{id: id("Summary"), title: "Summary"}
		for _, s := range d.Summary {
			sid := id("summary " + s.Title)
			sumIDs = append(sumIDs, sid)
			e.sub = append(e.sub, entry{id: sid, title: s.Title})
		}
		toc = append(toc, e)
	}
	for _, s := range d.Sections {
		sid := id(s.Title)
		secIDs = append(secIDs, sid)
		toc = append(toc, entry{id: sid, title: s.Title})
	}
	var prov Section
	provID := ""
	if d.Manifest != nil {
		prov = provenance(d.Manifest)
		provID = id(prov.Title)
		toc = append(toc, entry{id: provID, title: prov.Title})
	}

	tables := 0
	fmt.Fprintf(bw, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"+
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n",
		html.EscapeString(oneLine(d.Title)), pageCSS)
	fmt.Fprintf(bw, "<h1>%s</h1>\n", html.EscapeString(oneLine(d.Title)))
	if d.Intro != "" {
		fmt.Fprintf(bw, "<p>%s</p>\n", inline(d.Intro))
	}
	// A one-line table of contents, so the summary starts on the first
	// screen.
	bw.WriteString("<nav id=\"toc\"><strong>Contents:</strong>\n<ul>\n")
	for _, e := range toc {
		fmt.Fprintf(bw, "<li><a href=\"#%s\">%s</a>", e.id, html.EscapeString(e.title))
		if len(e.sub) > 0 {
			bw.WriteString(" (")
			for i, s := range e.sub {
				if i > 0 {
					bw.WriteString(", ")
				}
				fmt.Fprintf(bw, "<a href=\"#%s\">%s</a>", s.id, html.EscapeString(s.title))
			}
			bw.WriteString(")")
		}
		bw.WriteString("</li>\n")
	}
	bw.WriteString("</ul>\n</nav>\n")
	if len(d.Summary) > 0 {
		fmt.Fprintf(bw, "<section id=\"%s\" class=\"summary\">\n<h2>Summary</h2>\n", toc[0].id)
		for i, s := range d.Summary {
			if err := writeHTMLSection(bw, "h3", sumIDs[i], s, svg, &tables); err != nil {
				return err
			}
		}
		bw.WriteString("</section>\n")
	}
	for i, s := range d.Sections {
		if err := writeHTMLSection(bw, "h2", secIDs[i], s, svg, &tables); err != nil {
			return err
		}
	}
	if d.Manifest != nil {
		if err := writeHTMLSection(bw, "h2", provID, prov, svg, &tables); err != nil {
			return err
		}
	}
	fmt.Fprintf(bw, "<script>%s</script>\n</body>\n</html>\n", pageJS)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

func writeHTMLSection(w *bufio.Writer, h, id string, s Section, svg func(string) ([]byte, error), tables *int) error {
	fmt.Fprintf(w, "<section id=\"%s\">\n<%s>%s</%s>\n", id, h, html.EscapeString(oneLine(s.Title)), h)
	for _, b := range s.Blocks {
		switch b := b.(type) {
		case Para:
			if t := strings.TrimSpace(string(b)); t != "" {
				for _, p := range strings.Split(t, "\n\n") {
					if strings.HasPrefix(strings.TrimSpace(p), "|") {
						if err := writeMarkdownTable(w, p, tables); err == nil {
							continue
						}
					}
					fmt.Fprintf(w, "<p>%s</p>\n", inline(p))
				}
			}
		case *Table:
			writeHTMLTable(w, b, tables)
		case Chart:
			path := strings.TrimSuffix(b.Path, ".png") + ".svg"
			data, err := svg(path)
			if err != nil {
				return fmt.Errorf("inlining chart %s: %w", path, err)
			}
			i := bytes.Index(data, []byte("<svg"))
			if i < 0 {
				return fmt.Errorf("inlining chart %s: no <svg> element", path)
			}
			data = bytes.Replace(data[i:], []byte("<svg"), []byte(fmt.Sprintf("<svg role=\"img\" aria-label=\"%s\"", html.EscapeString(b.Alt))), 1)
			w.WriteString("<figure class=\"chart\">\n")
			w.Write(data)
			if b.Caption != "" {
				fmt.Fprintf(w, "<figcaption>%s</figcaption>\n", inline(b.Caption))
			}
			w.WriteString("</figure>\n")
		}
	}
	w.WriteString("</section>\n")
	return nil
}

// writeHTMLTable writes a sortable table with the id "table-N", N
// counting the page's tables from 1.
func writeHTMLTable(w *bufio.Writer, t *Table, n *int) {
	*n++
	if t.Caption != "" {
		fmt.Fprintf(w, "<p class=\"caption\">%s</p>\n", inline(t.Caption))
	}
	fmt.Fprintf(w, "<div class=\"scroll\"><table class=\"sortable\" id=\"table-%d\">\n<thead><tr>", *n)
	for i, h := range t.Header {
		cls := ""
		if i < len(t.Numeric) && t.Numeric[i] {
			cls = " class=\"num\""
		}
		fmt.Fprintf(w, "<th%s title=\"Sort by this column\">%s</th>", cls, html.EscapeString(h))
	}
	w.WriteString("</tr></thead>\n<tbody>\n")
	for _, row := range t.Rows {
		w.WriteString("<tr>")
		for i, c := range row {
			cls := ""
			if i < len(t.Numeric) && t.Numeric[i] {
				cls = " class=\"num\""
			}
			fmt.Fprintf(w, "<td%s>%s</td>", cls, html.EscapeString(c))
		}
		w.WriteString("</tr>\n")
	}
	w.WriteString("</tbody></table></div>\n")
}

// writeMarkdownTable turns a Markdown table held in a paragraph (the
// published-figure comparison) into a sortable table.
func writeMarkdownTable(w *bufio.Writer, md string, n *int) error {
	lines := strings.Split(strings.TrimSpace(md), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "|-") && !strings.HasPrefix(lines[1], "|:") && !strings.HasPrefix(lines[1], "|---") {
		return fmt.Errorf("not a table")
	}
	cells := func(l string) []string {
		l = strings.TrimSpace(l)
		l = strings.TrimPrefix(strings.TrimSuffix(l, "|"), "|")
		parts := regexp.MustCompile(`[^\\]\|`).FindAllStringIndex(l, -1)
		var out []string
		start := 0
		for _, p := range parts {
			out = append(out, strings.TrimSpace(strings.ReplaceAll(l[start:p[0]+1], `\|`, "|")))
			start = p[1]
		}
		return append(out, strings.TrimSpace(strings.ReplaceAll(l[start:], `\|`, "|")))
	}
	t := &Table{Header: cells(lines[0])}
	for _, a := range cells(lines[1]) {
		t.Numeric = append(t.Numeric, strings.HasSuffix(a, ":"))
	}
	for _, l := range lines[2:] {
		if !strings.HasPrefix(strings.TrimSpace(l), "|") {
			break
		}
		t.Rows = append(t.Rows, cells(l))
	}
	writeHTMLTable(w, t, n)
	return nil
}

var (
	codeSpan   = regexp.MustCompile("`([^`]+)`")
	boldSpan   = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	italicSpan = regexp.MustCompile(`\*([^*]+)\*`)
)

// inline renders the Markdown spans of a paragraph (`code`, **bold**,
// *italic*) as HTML, escaping everything else.
func inline(s string) string {
	s = html.EscapeString(oneLine(s))
	s = strings.NewReplacer(`\[`, "[", `\]`, "]", `\|`, "|").Replace(s)
	s = codeSpan.ReplaceAllString(s, "<code>$1</code>")
	s = boldSpan.ReplaceAllString(s, "<strong>$1</strong>")
	return italicSpan.ReplaceAllString(s, "<em>$1</em>")
}

const pageCSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:72rem;margin:0 auto;padding:1rem 1.5rem;line-height:1.45;color:#1a1a1a}
h1{font-size:1.7rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}h3{margin-top:1.6rem}
nav#toc{background:#f6f6f6;padding:.4rem 1rem;border-radius:6px;font-size:.92rem}nav#toc ul{display:inline;margin:0;padding:0}nav#toc li{display:inline;margin-left:.9rem}
section.summary{background:#f3f8fc;padding:.2rem 1rem 1rem;border-radius:6px}
code{background:#f0f0f0;padding:0 .2rem;border-radius:3px;font-size:.92em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d4d4d4;padding:.25rem .5rem;vertical-align:top}
th{background:#eee;cursor:pointer;user-select:none;position:relative;padding-right:1.2rem}
th::after{content:"\21C5";position:absolute;right:.3rem;color:#999;font-size:.8em}
th.asc::after{content:"\25B2";color:#333}th.desc::after{content:"\25BC";color:#333}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafafa}
figure.chart{margin:1rem 0}figure.chart svg{display:block;max-width:100%;height:auto}
figcaption{font-size:.9rem;color:#444;margin-top:.3rem}
p.caption{margin-bottom:.2rem}
`

// pageJS sorts a table by the clicked column: numbers by their leading
// value (cells without one last), other cells as text; a second click
// reverses the order.
const pageJS = `
(function(){
  function key(td, num){
    var t = td.textContent.trim();
    if (!num) return t.toLowerCase();
    var m = t.match(/^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?/i);
    return m ? parseFloat(m[0]) : null;
  }
  document.querySelectorAll("table.sortable").forEach(function(table){
    var ths = table.querySelectorAll("thead th");
    ths.forEach(function(th, col){
      th.addEventListener("click", function(){
        var num = th.classList.contains("num");
        var asc = !th.classList.contains("asc");
        ths.forEach(function(h){ h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = key(a.cells[col], num), y = key(b.cells[col], num);
          if (x === null && y === null) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          var c = x < y ? -1 : x > y ? 1 : 0;
          return asc ? c : -c;
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
  });
})();
`
