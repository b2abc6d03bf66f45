package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
)

// Options control a suite run.
type Options struct {
	// Out is the output directory.
	Out string
	// Jobs is the number of runs in parallel (default GOMAXPROCS).
	Jobs int
	// Shard and Shards select a deterministic slice of the runs: run
	// number i belongs to shard i mod Shards + 1. Shards 0 runs them all.
	Shard, Shards int
	// Resume keeps the runs already in Out and runs only the missing ones.
	Resume bool
	// Progress, when not nil, is called after each run with the runs done
	// (including those kept by Resume) and the total.
	Progress func(done, total int)
	// Commit is recorded in the manifest.
	Commit string
	// Start is the start time recorded in the manifest.
	Start time.Time
}

// Outcome summarises a suite run.
type Outcome struct {
	// Runs are the results in suite order.
	Runs []results.Run
	// Ran counts the runs made now; Kept those found done in Out.
	Ran, Kept int
	// Wall is the wall time spent simulating, summed over runs; Attempts
	// the attempts those runs simulated.
	Wall     time.Duration
	Attempts int64
	// Files lists the files written, relative to Out.
	Files []string
}

// ErrInterrupted is wrapped by Run's error when ctx was cancelled. Every
// run completed before stays in Out; `portsim bench -resume DIR` finishes
// the rest.
var ErrInterrupted = errors.New("interrupted")

// cellFile is what Out/cells/KEY.json holds for one completed run.
type cellFile struct {
	Key    string      `json:"key"`
	Run    results.Run `json:"run"`
	WallNS int64       `json:"wall_ns"`
}

// SuiteFile is the copy of the suite text kept in Out, so that a run can be
// resumed from the directory alone.
const SuiteFile = "suite.yaml"

// Run runs the suite's runs (those of the shard) that are not done yet,
// in parallel, saving each as it completes, and then writes the result
// files of DESIGN.md "Output of a suite run". On cancellation it stops the
// workers, keeps every completed run and returns an error wrapping
// ErrInterrupted.
func Run(ctx context.Context, s *Suite, opt Options) (*Outcome, error) {
	units, err := s.Units()
	if err != nil {
		return nil, err
	}
	if opt.Shards > 0 {
		if opt.Shard < 1 || opt.Shard > opt.Shards {
			return nil, fmt.Errorf("shard %d/%d: expected K/N with 1 <= K <= N", opt.Shard, opt.Shards)
		}
		var mine []Unit
		for _, u := range units {
			if u.Index%opt.Shards == opt.Shard-1 {
				mine = append(mine, u)
			}
		}
		units = mine
	}
	if opt.Jobs <= 0 {
		opt.Jobs = runtime.GOMAXPROCS(0)
	}
	cellsDir := filepath.Join(opt.Out, "cells")
	if err := prepareOut(opt.Out, cellsDir, s, opt.Resume); err != nil {
		return nil, err
	}
	out := &Outcome{}
	done := make([]*cellFile, len(units))
	var todo []int
	for i, u := range units {
		if opt.Resume {
			if cf, err := readCell(cellsDir, u.Cell.Key(u.Replicate)); err == nil {
				done[i] = cf
				out.Kept++
				continue
			}
		}
		todo = append(todo, i)
	}
	if opt.Progress != nil {
		opt.Progress(out.Kept, len(units))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	finished := out.Kept
	for range min(opt.Jobs, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				cf, err := runUnit(ctx, units[i], opt.Out, cellsDir)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
				} else {
					done[i] = cf
					finished++
					out.Ran++
					if opt.Progress != nil {
						opt.Progress(finished, len(units))
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil && !errors.Is(firstErr, context.Canceled) {
		return nil, firstErr
	}
	if firstErr != nil || ctx.Err() != nil {
		missing := len(units) - out.Kept - out.Ran
		return out, fmt.Errorf("%w: %d of %d runs are saved in %s, %d missing; resume with `portsim bench -resume %s`",
			ErrInterrupted, out.Kept+out.Ran, len(units), opt.Out, missing, opt.Out)
	}

	for _, cf := range done {
		out.Runs = append(out.Runs, cf.Run)
		out.Wall += time.Duration(cf.WallNS)
		out.Attempts += cf.Run.Attempts
	}
	files, err := WriteOutputs(opt.Out, s, out.Runs, timings(done), opt.Commit, opt.Start)
	if err != nil {
		return out, err
	}
	out.Files = files
	return out, nil
}

// prepareOut creates the output directories, checks that they are
// writable, and keeps the suite text and its hash there. Without resume it
// clears the runs of an earlier run; with it, it checks that the saved
// runs belong to the same suite.
func prepareOut(out, cellsDir string, s *Suite, resume bool) error {
	if err := os.MkdirAll(cellsDir, 0o755); err != nil {
		return fmt.Errorf("output directory %s: %w", out, err)
	}
	probe, err := os.CreateTemp(out, ".write-test-*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", out, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	suitePath := filepath.Join(out, SuiteFile)
	if resume {
		old, err := os.ReadFile(suitePath)
		if err != nil {
			return fmt.Errorf("resume %s: no saved suite there (%v); run without -resume first", out, err)
		}
		if string(old) != string(s.Data) {
			return fmt.Errorf("resume %s: the saved runs belong to another version of the suite; run without -resume or choose another -o", out)
		}
		return nil
	}
	entries, err := os.ReadDir(cellsDir)
	if err != nil {
		return fmt.Errorf("output directory %s: %w", out, err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			if err := os.Remove(filepath.Join(cellsDir, e.Name())); err != nil {
				return fmt.Errorf("clearing %s: %w", cellsDir, err)
			}
		}
	}
	return results.WriteFileAtomic(suitePath, func(w io.Writer) error {
		_, err := w.Write(s.Data)
		return err
	})
}

// cellName is the file of a run's key inside the cells directory.
func cellName(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:12]) + ".json"
}

func readCell(dir, key string) (*cellFile, error) {
	data, err := os.ReadFile(filepath.Join(dir, cellName(key)))
	if err != nil {
		return nil, err
	}
	var cf cellFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, err
	}
	if cf.Key != key {
		return nil, fs.ErrNotExist
	}
	return &cf, nil
}

// runUnit runs one unit and saves it atomically.
func runUnit(ctx context.Context, u Unit, out, cellsDir string) (*cellFile, error) {
	c := u.Cell
	cfg, err := c.Config(u.Replicate)
	if err != nil {
		return nil, err
	}
	key := c.Key(u.Replicate)
	var run results.Run
	if c.Scenario.Events && u.Replicate == 0 {
		// Event logs are a few MB each; the charts draw the first
		// replicate's only.
		run, err = runWithEvents(ctx, cfg, out, eventsName(c, u.Replicate))
	} else {
		run, err = sim.Run(ctx, cfg)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("scenario %s %s (%s, seed %d): %w", c.Scenario.Name, formatLabels(c.Labels), c.Alloc.Label(), u.Replicate, err)
	}
	c.Identify(&run, u.Replicate)
	cf := &cellFile{Key: key, Run: run, WallNS: run.WallNS}
	err = results.WriteFileAtomic(filepath.Join(cellsDir, cellName(key)), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(cf)
	})
	return cf, err
}

// eventsName is the event-log file of a run, relative to the output
// directory.
func eventsName(c *Cell, r int) string {
	return eventsFile(c.Scenario.Name, c.Labels, c.Alloc.Label(), r)
}

// eventsFile names the event log of replicate r of a scenario's cell.
func eventsFile(scenario string, labels map[string]string, alloc string, r int) string {
	name := scenario
	if l := formatLabels(labels); l != "" {
		name += "_" + l
	}
	name += "_" + alloc + "_" + fmt.Sprint(r)
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '=':
			return r
		}
		return '_'
	}, name)
	return filepath.Join("events", clean+".csv")
}

// runWithEvents runs cfg writing its event log atomically to out/name.
func runWithEvents(ctx context.Context, cfg sim.Config, out, name string) (results.Run, error) {
	path := filepath.Join(out, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return results.Run{}, err
	}
	var run results.Run
	err := results.WriteFileAtomic(path, func(w io.Writer) error {
		ew := results.NewEventWriter(w)
		cfg.OnAttempt = ew.Write
		var err error
		if run, err = sim.Run(ctx, cfg); err != nil {
			return err
		}
		return ew.Flush()
	})
	return run, err
}

// formatLabels writes labels as "k=v,k=v" in key order.
func formatLabels(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}

// Timing is the wall time of one run.
type Timing struct {
	Key      string
	WallNS   int64
	Attempts int64
}

func timings(done []*cellFile) []Timing {
	out := make([]Timing, len(done))
	for i, cf := range done {
		out[i] = Timing{Key: cf.Key, WallNS: cf.WallNS, Attempts: cf.Run.Attempts}
	}
	return out
}
