package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser returns the path of a Chromium to drive, or skips the test —
// unless PORTSIM_REQUIRE_BROWSER=1 (as in CI), which makes a missing
// browser a failure.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PORTSIM_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium on PATH and PORTSIM_REQUIRE_BROWSER=1 (Debian: apt-get install chromium)")
	}
	t.Skip("no Chromium on PATH (Debian: apt-get install chromium); set PORTSIM_REQUIRE_BROWSER=1 to fail instead")
	return ""
}

// TestReportHTMLInBrowser opens the tiny suite's report.html in headless
// Chromium and checks what a reader meets: no console errors or
// exceptions, every chart of report.md present as an inline SVG with a
// non-zero size on screen, the summary before the scenarios, and a
// click on a numeric column header that puts the table in order.
func TestReportHTMLInBrowser(t *testing.T) {
	t.Parallel()
	exe := browser(t)
	out, _ := tinyRun(t)
	md, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	wantCharts := strings.Count(string(md), "\n![")

	// One process (no zygote, no separate renderer, GPU or network
	// service processes): the page renders and runs its scripts as in a
	// multi-process browser, and the browser starts in half the CPU time.
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("single-process", true), chromedp.Flag("no-zygote", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// Errors reach the test two ways: the browser's console stream, and
	// hooks installed in the page before its scripts run (console.error,
	// uncaught exceptions, resources that fail to load), read back at the
	// end so that none is lost in transit.
	var mu sync.Mutex
	var problems []string
	lctx, stopListen := context.WithCancel(ctx)
	messages := chromedp.Console(lctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == "error" || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	const hooks = `window.__problems = [];
window.addEventListener("error", e => __problems.push("error: " + (e.message || (e.target && (e.target.src || e.target.href)) || e.type)), true);
window.addEventListener("unhandledrejection", e => __problems.push("rejection: " + e.reason));
(function(){ const ce = console.error; console.error = function(){ __problems.push("console.error: " + Array.from(arguments).join(" ")); ce.apply(console, arguments); }; })();`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hooks}); err != nil {
		t.Fatal(err)
	}
	url := "file://" + filepath.ToSlash(filepath.Join(out, HTMLFile))
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	sizes, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]float64](`Array.from(document.querySelectorAll("figure.chart svg")).map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })`))
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != wantCharts || wantCharts == 0 {
		t.Errorf("%d inline charts, want the %d of report.md", len(sizes), wantCharts)
	}
	for i, sz := range sizes {
		if !(sz[0] > 100 && sz[1] > 50) {
			t.Errorf("chart %d is %gx%g px on screen, want a visible size", i+1, sz[0], sz[1])
		}
	}
	firstH2, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("h2").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if firstH2 != "Summary" {
		t.Errorf("first section %q, want the summary first", firstH2)
	}

	// Find a numeric column whose cells are not yet in ascending order,
	// click its header, and read the column again.
	tables, err := chromedp.Run(ctx, chromedp.Evaluate[[][][]string](`Array.from(document.querySelectorAll("table.sortable")).map(t =>
		Array.from(t.rows).map(r => Array.from(r.cells).map(c => (c.classList.contains("num") ? "#" : "") + c.textContent)))`))
	if err != nil {
		t.Fatal(err)
	}
	ti, col := -1, -1
	for i, tb := range tables {
		for c := range tb[0] {
			if !strings.HasPrefix(tb[0][c], "#") {
				continue
			}
			if vals := columnValues(tb[1:], c); len(vals) > 1 && !slices.IsSorted(vals) {
				ti, col = i, c
				break
			}
		}
		if ti >= 0 {
			break
		}
	}
	if ti < 0 {
		t.Fatal("no table with a numeric column out of order to sort")
	}
	sel := fmt.Sprintf("#table-%d thead th:nth-child(%d)", ti+1, col+1)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatal(err)
	}
	after, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](fmt.Sprintf(`Array.from(document.querySelectorAll("#table-%d tbody tr")).map(r => Array.from(r.cells).map(c => c.textContent))`, ti+1)))
	if err != nil {
		t.Fatal(err)
	}
	vals := columnValues(after, col)
	if !slices.IsSorted(vals) || len(after) != len(tables[ti])-1 {
		t.Errorf("after a click on %s the column reads %v, want it ascending (%d rows)", sel, vals, len(tables[ti])-1)
	}
	cls, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).className`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cls, "asc") {
		t.Errorf("clicked header has classes %q, want it marked ascending", cls)
	}

	inPage, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__problems`))
	if err != nil {
		t.Fatal(err)
	}
	stopListen()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if all := append(problems, inPage...); len(all) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(all, "\n"))
	}
}

// columnValues returns the leading numbers of column c of rows, as the
// page's sort reads them; cells without one are left out.
func columnValues(rows [][]string, c int) []float64 {
	var out []float64
	for _, r := range rows {
		if c >= len(r) {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(r[c], "#"))
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}
