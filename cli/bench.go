package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/bench"
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

The output directory is portsim's own: it writes only into a new or
empty directory or one it wrote before (marked by .portsim-output, which
holds the suite's fingerprint), never deletes a file it did not write,
and holds a lock while it writes, so a second portsim writing the same
directory stops at once and names the first. -resume refuses a directory
whose suite, seeds, settings or traces changed since its runs were saved.

Progress goes to stderr: a bar on a terminal, elsewhere (CI, Kubernetes,
Slurm) a line every 5 seconds with the runs done, the rate and the time
left; -quiet silences it. A suite estimated to simulate more than
-max-attempts attempts in all, or whose runs would each need more than
-max-memory, is refused before it starts; a large one is announced.

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

func (a *app) runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", benchUsage, stdout)
	out := fs.String("o", "", "output `DIR` (default out/SUITE, or out/SUITE/shard-K-of-N)")
	jobs := fs.Int("j", 0, "runs in parallel (default: the number of CPUs)")
	seeds := fs.Int("seeds", 0, "replicates per cell, overriding the suite's seeds")
	shard := fs.String("shard", "", "run only slice `K/N` of the runs (1 <= K <= N)")
	shards := fs.Int("shards", 0, "run slice K of `N`, K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID")
	resume := fs.String("resume", "", "finish the interrupted run in `DIR`, running only the missing runs")
	maxMem := fs.String("max-memory", "4GiB", "refuse runs estimated to need more than `SIZE` each")
	commit := fs.String("commit", "", "commit `ID` to record in the manifest")
	quiet := fs.Bool("quiet", false, "print no progress to stderr")
	maxAttempts := fs.Float64("max-attempts", bench.DefaultMaxAttempts, "refuse a suite estimated to simulate more than `N` attempts in all")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	resuming := false
	fs.Visit(func(f *flag.Flag) { resuming = resuming || f.Name == "resume" })
	if resuming && *resume == "" {
		return usagef("flag -resume: expected the directory of the run to finish, got an empty value")
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
		if len(pos) > 0 || *seeds != 0 || *out != "" {
			return usagef("bench: -resume takes the suite, seeds and directory from %s; give no suite, -seeds or -o", *resume)
		}
		dir = *resume
		if _, err := os.Stat(filepath.Join(dir, bench.SuiteFile)); err != nil {
			return usagef("flag -resume: %s holds no suite run (no %s); start one with portsim bench -o %s", dir, bench.SuiteFile, dir)
		}
		if m, err := bench.ReadMarker(dir); err == nil && n == 0 && m.Shards > 0 {
			k, n = m.Shard, m.Shards // the shard the directory holds
		}
		if s, err = bench.LoadWith(a.reg, filepath.Join(dir, bench.SuiteFile)); err != nil {
			return usagef("flag -resume: %v", err)
		}
		s.Dir = dir
	} else {
		name := "standard"
		if len(pos) == 1 {
			name = pos[0]
		}
		if s, err = bench.LoadWith(a.reg, name); err != nil {
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
	if err := checkWork(s, k, n, *maxAttempts, stderr); err != nil {
		return err
	}
	start := time.Now()
	gctx, limit, stopGuard := memoryGuard(ctx, 0)
	defer stopGuard()
	opt := bench.Options{Out: dir, Jobs: *jobs, Shard: k, Shards: n, Resume: *resume != "", Commit: *commit, Start: start}
	bar := newProgress(stderr, start, *quiet)
	opt.Progress = bar.update
	o, err := bench.Run(gctx, s, opt)
	bar.finish()
	if err != nil {
		if errors.Is(context.Cause(gctx), errMemory) {
			return memoryError(limit, err)
		}
		return dirFlag(err, *resume != "")
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

func (a *app) runPlot(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("plot", plotUsage, stdout)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("plot: expected one directory, the output of portsim bench (see `portsim help plot`)")
	}
	dir := pos[0]
	s, err := bench.LoadWith(a.reg, filepath.Join(dir, bench.SuiteFile))
	if err != nil {
		return usagef("plot: %s is not a suite output: %v", dir, err)
	}
	runs, m, err := bench.ReadRuns(dir)
	if err != nil {
		return usagef("plot: %v", err)
	}
	od, err := bench.OpenOut(dir)
	if err != nil {
		return dirFlag(err, false)
	}
	defer od.Close()
	files, err := bench.Report(dir, s, runs, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "redrew %d files from %d runs; report: %s\n", len(files), len(runs), filepath.Join(dir, bench.ReportFile))
	return nil
}

// dirFlag turns an error about an output directory into a usage error
// naming its flag (-o, or -resume when resuming).
func dirFlag(err error, resume bool) error {
	if de, ok := errors.AsType[*bench.DirError](err); ok {
		if resume {
			return usagef("flag -resume: %v", de)
		}
		return usagef("flag -o: %v", de)
	}
	return err
}

const mergeUsage = `
Usage: portsim merge -o DIR SHARD_DIR...

Joins the outputs of a suite run in shards (portsim bench -shard K/N) into
one result set in DIR, checking that every shard ran the same suite and
that no run is missing or repeated, and writes its report.

Example:

	portsim merge -o out/capacity out/capacity/shard-*-of-4
`

func (a *app) runMerge(_ context.Context, args []string, stdout, _ io.Writer) error {
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
	o, err := bench.MergeWith(a.reg, *out, shards, *commit, time.Now())
	if err != nil {
		if _, busy := errors.AsType[*bench.BusyError](err); busy {
			return err
		}
		return asUsage(dirFlag(err, false))
	}
	fmt.Fprintf(stdout, "merged %d runs from %d shards; report: %s\n", len(o.Runs), len(shards), filepath.Join(*out, bench.ReportFile))
	return nil
}

// progress reports how far a suite run is: a bar redrawn in place on a
// terminal, and elsewhere (CI, Kubernetes and Slurm logs) a line every
// logEvery with the runs done, the rate and the time left. quiet silences
// both.
type progress struct {
	w        io.Writer
	term     bool
	quiet    bool
	now      func() time.Time
	logEvery time.Duration
	start    time.Time
	last     time.Time
	first    int // runs done at the start (kept by -resume)
	drawn    bool
}

// logInterval is how often progress logs a line off a terminal.
const logInterval = 5 * time.Second

func newProgress(w io.Writer, start time.Time, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet, now: time.Now, logEvery: logInterval, start: start, last: start, first: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.term = os.Getenv("TERM") != "dumb"
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	if p.quiet || total == 0 {
		return
	}
	if p.first < 0 {
		p.first = done
	}
	now := p.now()
	el := now.Sub(p.start)
	eta := ""
	if ran := done - p.first; ran > 0 && done < total {
		eta = (el * time.Duration(total-done) / time.Duration(ran)).Round(time.Second).String()
	}
	if !p.term {
		if now.Sub(p.last) < p.logEvery {
			return
		}
		p.last = now
		rate := 0.0
		if el > 0 {
			rate = float64(done-p.first) / el.Seconds()
		}
		left := ""
		if eta != "" {
			left = ", about " + eta + " left"
		}
		fmt.Fprintf(p.w, "portsim: %d/%d runs done (%.0f%%), %.3g runs/s%s\n", done, total, 100*float64(done)/float64(total), rate, left)
		return
	}
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	fill := width * done / total
	if eta != "" {
		eta = " eta " + eta
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d runs%s   ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total, eta)
	p.drawn = true
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
