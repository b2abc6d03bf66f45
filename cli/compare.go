package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/portsim/portsim/compare"
	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/results"
)

const compareUsage = `
Usage: portsim compare [flags] OLD NEW
       portsim compare [flags] -a ALLOCATOR -b ALLOCATOR RESULTS

Compare compares two result sets cell by cell (a cell is a scenario, a
sweep point and an allocator), or two allocators inside one result set.
OLD, NEW and RESULTS are suite output directories (holding runs.jsonl)
or runs.jsonl files. For every cell on both sides and each metric it
prints each side's mean ± 95 % interval over seeds and the relative
change, with the p-value of Welch's t-test across seeds; '~' marks a
difference that is not significant at -alpha, '?' a cell with fewer
than 2 seeds on a side. Cells found on one side only are listed.

Examples:

	portsim compare out/before out/after
	portsim compare -metric failure_fraction,probes_mean old.jsonl new.jsonl
	portsim compare -a linux -b freebsd out/standard
	portsim compare -json out/before out/after > changes.json
	portsim compare -o out/changes out/before out/after   # text, JSON and charts
`

func (a *app) runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", compareUsage, stdout)
	metricList := fs.String("metric", strings.Join(compare.DefaultMetrics, ","),
		"metrics to compare, comma-separated names from runs.csv (`portsim list` documents them), or all")
	alpha := fs.Float64("alpha", compare.DefaultAlpha, "significance level of the test, in (0, 0.5]")
	allocA := fs.String("a", "", "compare this allocator (the baseline) with -b inside one result set")
	allocB := fs.String("b", "", "the allocator compared with -a")
	asJSON := fs.Bool("json", false, "print the comparison as JSON instead of text")
	outDir := fs.String("o", "", "also write compare.txt, compare.json and a chart of the significant changes per metric to `DIR`")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if !(*alpha > 0 && *alpha <= 0.5) {
		return usagef("flag -alpha: %v: expected a significance level in (0, 0.5], such as 0.05", *alpha)
	}
	metrics, err := parseMetricList(*metricList)
	if err != nil {
		return usagef("flag -metric: %v", err)
	}
	opt := compare.Options{Metrics: metrics, Alpha: *alpha}

	var res compare.Result
	switch {
	case *allocA != "" || *allocB != "":
		if *allocA == "" || *allocB == "" {
			return usagef("compare: give both -a and -b (two allocators of one result set)")
		}
		if len(pos) != 1 {
			return usagef("compare -a %s -b %s: expected one result set (a suite output directory or runs.jsonl), got %d arguments", *allocA, *allocB, len(pos))
		}
		runs, name, err := loadRuns(pos[0])
		if err != nil {
			return err
		}
		res, err = compare.Allocators(runs, *allocA, *allocB, opt)
		if err != nil {
			return usagef("%s: %v", name, err)
		}
	default:
		if len(pos) != 2 {
			return usagef("compare: expected two result sets, OLD and NEW (suite output directories or runs.jsonl files), got %d arguments (see `portsim help compare`)", len(pos))
		}
		old, oldName, err := loadRuns(pos[0])
		if err != nil {
			return err
		}
		neu, newName, err := loadRuns(pos[1])
		if err != nil {
			return err
		}
		if oldName == newName {
			oldName, newName = pos[0], pos[1]
		}
		res = compare.Sets(old, neu, oldName, newName, opt)
	}
	if *outDir != "" {
		if err := writeCompareDir(*outDir, res); err != nil {
			return err
		}
	}
	if *asJSON {
		return compare.WriteJSON(stdout, res)
	}
	return compare.WriteText(stdout, res)
}

// parseMetricList turns "a,b" (or "all") into metrics, naming an unknown
// one with a suggestion.
func parseMetricList(list string) ([]results.Metric, error) {
	all := results.Metrics()
	if strings.TrimSpace(list) == "all" {
		return all, nil
	}
	names := make([]string, len(all))
	for i, m := range all {
		names[i] = m.Name
	}
	var out []results.Metric
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		m, ok := results.LookupMetric(name)
		if !ok {
			return nil, fmt.Errorf("unknown metric %q%s; expected names from runs.csv such as failure_fraction, probes_mean (see `portsim list`)", name, suggest.Hint(name, names))
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("no metric given; expected names from runs.csv such as failure_fraction, or all")
	}
	return out, nil
}

// loadRuns reads a result set: DIR/runs.jsonl for a directory, else the
// file itself. It returns the runs and a short name for headers. A
// missing, empty or unreadable input is a usage error naming it.
func loadRuns(path string) ([]results.Run, string, error) {
	file := path
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", usagef("compare: %v: expected a suite output directory or a runs.jsonl file", err)
	}
	name := filepath.Base(filepath.Clean(path))
	if st.IsDir() {
		file = filepath.Join(path, "runs.jsonl")
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, "", usagef("compare: %s holds no runs.jsonl: expected a suite output directory (portsim bench -o DIR, portsim run -o DIR)", path)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, "", usagef("compare: %v", err)
	}
	runs, err := results.ReadJSONL(bytes.NewReader(b), file)
	if err != nil {
		return nil, "", usagef("compare: %v", err)
	}
	if len(runs) == 0 {
		return nil, "", usagef("compare: %s holds no runs", file)
	}
	return runs, name, nil
}

// writeCompareDir writes compare.txt, compare.json and one chart per
// metric with a significant change into dir.
func writeCompareDir(dir string, res compare.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("flag -o: output directory %s: %v", dir, err)
	}
	if err := results.WriteFileAtomic(filepath.Join(dir, "compare.txt"), func(w io.Writer) error { return compare.WriteText(w, res) }); err != nil {
		return err
	}
	if err := results.WriteFileAtomic(filepath.Join(dir, "compare.json"), func(w io.Writer) error { return compare.WriteJSON(w, res) }); err != nil {
		return err
	}
	for _, t := range res.Tables {
		p := compare.Chart(t, res.A, res.B)
		if p == nil {
			continue
		}
		rows, _ := compare.ChartRows(t)
		for _, format := range []string{"png", "svg"} {
			path := filepath.Join(dir, "compare-"+t.Metric+"."+format)
			if err := results.WriteFileAtomic(path, func(w io.Writer) error { return compare.WriteChart(w, p, len(rows), format) }); err != nil {
				return err
			}
		}
	}
	return nil
}
