package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/results"
)

const benchUsage = `
Usage: portsim bench [flags] [SUITE|FILE]

Runs a suite (default: the embedded "standard" suite) — every scenario ×
allocator × seed — in parallel across cores, and writes to -o (default
out/SUITE): manifest.json, runs.jsonl, runs.csv, bench.txt (Go benchmark
format: benchstat -col /alloc bench.txt), timings.csv, charts/*.png|svg
and report.md. Each finished run is saved at once; after an interrupt
(Ctrl-C), -resume DIR runs only the missing ones and ends with the same
files an uninterrupted run writes.

Embedded suites are listed by 'portsim list'. A suite file is YAML; see
README.md, "Suite format".

Sharding: -shard K/N runs the K-th of N deterministic slices of the runs
(or -shards N takes K from JOB_COMPLETION_INDEX, as in a Kubernetes
Indexed Job, or SLURM_ARRAY_TASK_ID, as in a Slurm job array); then
'portsim merge -o DIR SHARD_DIR...' joins them into one result set.

Examples:

	portsim bench
	portsim bench cloudflare-2024 -o out/cf -seeds 5
	portsim bench my-suite.yaml -j 8
	portsim bench -resume out/standard
	portsim bench capacity -shard 2/4 -o out/capacity-2
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", benchUsage, stdout)
	out := fs.String("o", "", "output `DIR` (default out/SUITE, or out/SUITE/shard-K-of-N)")
	jobs := fs.Int("j", 0, "runs in parallel (default: the number of CPUs)")
	seeds := fs.Int("seeds", 0, "replicates per cell, overriding the suite's seeds")
	shard := fs.String("shard", "", "run only slice `K/N` of the runs (1 <= K <= N)")
	shards := fs.Int("shards", 0, "run slice K of `N`, K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID")
	resume := fs.String("resume", "", "finish the interrupted run in `DIR`, running only the missing runs")
	maxMem := fs.String("max-memory", "4GiB", "refuse runs estimated to need more than `SIZE` each")
	commit := fs.String("commit", "", "commit id to record in the manifest")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("bench: expected at most one suite name or file, got %d: %s", len(pos), strings.Join(pos, " "))
	}
	budget, err := bench.ParseBytes(*maxMem)
	if err != nil {
		return usagef("flag -max-memory: %v", err)
	}
	if *jobs < 0 {
		return usagef("flag -j %d: expected a number of parallel runs >= 1", *jobs)
	}
	k, n, err := shardSpec(*shard, *shards)
	if err != nil {
		return err
	}

	var s *bench.Suite
	dir := *out
	if *resume != "" {
		if len(pos) > 0 || *seeds != 0 {
			return usagef("bench: -resume takes the suite and seeds from %s; give no suite and no -seeds", *resume)
		}
		dir = *resume
		if _, err := os.Stat(filepath.Join(dir, bench.SuiteFile)); err != nil {
			return usagef("flag -resume: %s holds no suite run (no %s); start one with portsim bench -o %s", dir, bench.SuiteFile, dir)
		}
		if s, err = bench.Load(filepath.Join(dir, bench.SuiteFile)); err != nil {
			return usagef("flag -resume: %v", err)
		}
		s.Dir = dir
	} else {
		name := "standard"
		if len(pos) == 1 {
			name = pos[0]
		}
		if s, err = bench.Load(name); err != nil {
			return asUsage(err)
		}
		if *seeds != 0 {
			if *seeds < 1 || *seeds > 1000 {
				return usagef("flag -seeds %d: expected 1 to 1000", *seeds)
			}
			if s, err = s.WithSeeds(*seeds); err != nil {
				return err
			}
		}
		if dir == "" {
			dir = filepath.Join("out", s.Name)
			if n > 0 {
				dir = filepath.Join(dir, fmt.Sprintf("shard-%d-of-%d", k, n))
			}
		}
	}
	if err := checkBudget(s, budget); err != nil {
		return err
	}
	start := time.Now()
	opt := bench.Options{Out: dir, Jobs: *jobs, Shard: k, Shards: n, Resume: *resume != "", Commit: *commit, Start: start}
	bar := newProgress(stderr, start)
	opt.Progress = bar.update
	o, err := bench.Run(ctx, s, opt)
	bar.finish()
	if err != nil {
		if errors.Is(err, bench.ErrInterrupted) {
			return err
		}
		var pe *os.PathError
		if errors.As(err, &pe) || strings.Contains(err.Error(), "not writable") {
			return usagef("flag -o: %v", err)
		}
		return err
	}
	wall := time.Since(start)
	fmt.Fprintf(stdout, "suite %s: %d runs (%d run now, %d kept) in %.1fs", s.Name, len(o.Runs), o.Ran, o.Kept, wall.Seconds())
	if o.Wall > 0 {
		fmt.Fprintf(stdout, "; %.3g simulated attempts per second of run time", float64(o.Attempts)/o.Wall.Seconds())
	}
	fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(dir, bench.ReportFile))
	if n > 0 {
		fmt.Fprintf(stdout, "this is shard %d of %d; join the shards with: portsim merge -o DIR SHARD_DIR...\n", k, n)
	}
	return nil
}

// shardSpec reads -shard K/N, or -shards N with K from the environment
// (JOB_COMPLETION_INDEX, 0-based, or SLURM_ARRAY_TASK_ID less
// SLURM_ARRAY_TASK_MIN). It returns 0, 0 for no sharding.
func shardSpec(shard string, shards int) (k, n int, err error) {
	const want = "expected K/N with 1 <= K <= N, e.g. 2/4"
	switch {
	case shard != "" && shards != 0:
		return 0, 0, usagef("give -shard K/N or -shards N, not both")
	case shard != "":
		ks, ns, ok := strings.Cut(shard, "/")
		k, err1 := strconv.Atoi(ks)
		n, err2 := strconv.Atoi(ns)
		if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
			return 0, 0, usagef("flag -shard %q: %s", shard, want)
		}
		return k, n, nil
	case shards < 0:
		return 0, 0, usagef("flag -shards %d: expected a number of shards >= 1", shards)
	case shards > 0:
		if v := os.Getenv("JOB_COMPLETION_INDEX"); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 || i >= shards {
				return 0, 0, usagef("JOB_COMPLETION_INDEX=%q: expected 0..%d for -shards %d", v, shards-1, shards)
			}
			return i + 1, shards, nil
		}
		if v := os.Getenv("SLURM_ARRAY_TASK_ID"); v != "" {
			i, err := strconv.Atoi(v)
			lo := 0
			if m := os.Getenv("SLURM_ARRAY_TASK_MIN"); m != "" {
				lo, _ = strconv.Atoi(m)
			}
			if err != nil || i-lo < 0 || i-lo >= shards {
				return 0, 0, usagef("SLURM_ARRAY_TASK_ID=%q (min %d): expected one of %d tasks for -shards %d", v, lo, shards, shards)
			}
			return i - lo + 1, shards, nil
		}
		return 0, 0, usagef("flag -shards %d: set JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID, or use -shard K/N", shards)
	}
	return 0, 0, nil
}

const plotUsage = `
Usage: portsim plot DIR

Redraws the charts and report.md of a suite run in DIR from its
runs.jsonl, without running anything: after editing a chart, or to make
the report of a merged result set again.

Example:

	portsim plot out/standard
`

func runPlot(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("plot", plotUsage, stdout)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("plot: expected one directory, the output of portsim bench (see `portsim help plot`)")
	}
	dir := pos[0]
	s, err := bench.Load(filepath.Join(dir, bench.SuiteFile))
	if err != nil {
		return usagef("plot: %s is not a suite output: %v", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, bench.RunsFile))
	if err != nil {
		return usagef("plot: %v", err)
	}
	defer f.Close()
	runs, err := results.ReadJSONL(f, filepath.Join(dir, bench.RunsFile))
	if err != nil {
		return usagef("plot: %v", err)
	}
	var m *results.Manifest
	if mf, err := os.Open(filepath.Join(dir, bench.ManifestFile)); err == nil {
		if mm, err := results.ReadManifest(mf, filepath.Join(dir, bench.ManifestFile)); err == nil {
			m = &mm
		}
		mf.Close()
	}
	files, err := bench.Report(dir, s, runs, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "redrew %d files from %d runs; report: %s\n", len(files), len(runs), filepath.Join(dir, bench.ReportFile))
	return nil
}

const mergeUsage = `
Usage: portsim merge -o DIR SHARD_DIR...

Joins the outputs of a suite run in shards (portsim bench -shard K/N) into
one result set in DIR, checking that every shard ran the same suite and
that no run is missing or repeated, and writes its report.

Example:

	portsim merge -o out/capacity out/capacity/shard-*-of-4
`

func runMerge(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("merge", mergeUsage, stdout)
	out := fs.String("o", "", "output `DIR` for the merged results (required)")
	commit := fs.String("commit", "", "commit id to record in the manifest")
	shards, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("merge: -o DIR is required")
	}
	if len(shards) == 0 {
		return usagef("merge: expected the shard directories to join")
	}
	o, err := bench.Merge(*out, shards, *commit, time.Now())
	if err != nil {
		return asUsage(err)
	}
	fmt.Fprintf(stdout, "merged %d runs from %d shards; report: %s\n", len(o.Runs), len(shards), filepath.Join(*out, bench.ReportFile))
	return nil
}

// progress draws a progress bar on a terminal and nothing elsewhere.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, start time.Time) *progress {
	p := &progress{w: w, start: start}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.on = os.Getenv("TERM") != "dumb"
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	if !p.on || total == 0 {
		return
	}
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	fill := width * done / total
	eta := ""
	if el := now.Sub(p.start); done > 0 && done < total {
		eta = fmt.Sprintf(" eta %s", (el * time.Duration(total-done) / time.Duration(done)).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d runs%s   ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total, eta)
	p.drawn = true
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
