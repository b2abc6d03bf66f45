package bench

import (
	"bytes"
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

	"golang.org/x/sync/errgroup"

	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
)

// Options control a suite run.
type Options struct {
	// Out is the output directory. Empty keeps the runs in memory only:
	// nothing is saved as it completes, no result file is written, and
	// there is nothing to resume.
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
	// Events, when not nil, gives the event-log file of each run ("" for
	// none), in place of the scenarios' events setting, which logs the
	// first replicate of each cell to Out/events/.
	Events func(Unit) string
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

// EventsError is a failure to write a run's event log (not a failure of
// the run).
type EventsError struct {
	Err error
}

func (e *EventsError) Error() string { return e.Err.Error() }
func (e *EventsError) Unwrap() error { return e.Err }

// ErrInterrupted is wrapped by Run's error when ctx was cancelled. Every
// run completed before stays in Out; `portsim bench -resume DIR` finishes
// the rest.
var ErrInterrupted = errors.New("interrupted")

// cellFile is what Out/cells/KEY.json holds for one completed run.
type cellFile struct {
	Key string `json:"key"`
	// Fingerprint is the suite's (Suite.Fingerprint), so that a saved run
	// is never taken for a run of another suite.
	Fingerprint string      `json:"fingerprint,omitempty"`
	Run         results.Run `json:"run"`
	WallNS      int64       `json:"wall_ns"`
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
	if s, err = s.Portable(); err != nil {
		return nil, err
	}
	fp, err := s.Fingerprint()
	if err != nil {
		return nil, err
	}
	cellsDir := ""
	if opt.Out != "" {
		od, err := OpenOut(opt.Out)
		if err != nil {
			return nil, err
		}
		defer od.Close()
		cellsDir = filepath.Join(opt.Out, "cells")
		if err := prepareOut(od, cellsDir, s, fp, opt); err != nil {
			return nil, err
		}
	} else if opt.Resume {
		return nil, errors.New("resume: expected an output directory")
	}
	out := &Outcome{}
	done := make([]*cellFile, len(units))
	var todo []int
	for i, u := range units {
		if opt.Resume {
			if cf, err := readCell(cellsDir, u.Cell.Key(u.Replicate), fp); err == nil {
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

	// The first run to fail cancels the others. The error reported is
	// the failed run's first in suite order, so that runs failing for
	// the same reason give the same message every time.
	errs := make([]error, len(units))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(min(opt.Jobs, max(len(todo), 1)))
	var mu sync.Mutex
	finished := out.Kept
	for _, i := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			cf, err := runUnit(gctx, units[i], opt, cellsDir, fp)
			if err != nil {
				errs[i] = err
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			done[i] = cf
			finished++
			out.Ran++
			if opt.Progress != nil {
				opt.Progress(finished, len(units))
			}
			return nil
		})
	}
	firstErr := g.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if opt.Out == "" && (firstErr != nil || ctx.Err() != nil) {
		return nil, fmt.Errorf("%w after %d of %d runs; without an output directory nothing is saved", ErrInterrupted, out.Ran, len(units))
	}
	if firstErr != nil || ctx.Err() != nil {
		missing := len(units) - out.Kept - out.Ran
		return out, fmt.Errorf("%w: %d of %d runs are saved in %s, %d missing; resume with `%s`",
			ErrInterrupted, out.Kept+out.Ran, len(units), opt.Out, missing, ResumeCommand(opt.Out, opt.Shard, opt.Shards))
	}

	for _, cf := range done {
		out.Runs = append(out.Runs, cf.Run)
		out.Wall += time.Duration(cf.WallNS)
		out.Attempts += cf.Run.Attempts
	}
	if opt.Out == "" {
		return out, nil
	}
	files, err := WriteOutputs(opt.Out, s, out.Runs, timings(done), opt.Commit, opt.Start)
	if err != nil {
		return out, err
	}
	out.Files = files
	return out, nil
}

// ResumeCommand is the command that finishes an interrupted run in dir
// (of shard k of n when n > 0).
func ResumeCommand(dir string, k, n int) string {
	cmd := "portsim bench -resume " + shellQuote(dir)
	if n > 0 {
		cmd += fmt.Sprintf(" -shard %d/%d", k, n)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// prepareOut makes an opened output directory ready for the suite. With
// Resume it checks that the saved runs are this suite's (the marker's
// fingerprint and shard); without, it clears the saved runs of an earlier
// run. Then it writes the marker and the suite text.
func prepareOut(od *OutDir, cellsDir string, s *Suite, fp string, opt Options) error {
	out := od.Path
	suitePath := filepath.Join(out, SuiteFile)
	if opt.Resume {
		switch {
		case od.Old != nil:
			if od.Old.Fingerprint != fp {
				return &DirError{Dir: out, Msg: fmt.Sprintf("holds the runs of another suite or settings (fingerprint %.12s, this suite %.12s): its %s or a trace it replays changed since; run without -resume to start over, or choose another directory",
					od.Old.Fingerprint, fp, SuiteFile)}
			}
			if od.Old.Shard != opt.Shard || od.Old.Shards != opt.Shards {
				return &DirError{Dir: out, Msg: fmt.Sprintf("holds %s, not %s; resume it with `%s`",
					shardText(od.Old.Shard, od.Old.Shards), shardText(opt.Shard, opt.Shards), ResumeCommand(out, od.Old.Shard, od.Old.Shards))}
			}
		case od.Legacy:
			old, err := os.ReadFile(suitePath)
			if err != nil || !bytes.Equal(old, s.Data) {
				return &DirError{Dir: out, Msg: "its saved runs belong to another version of the suite; run without -resume or choose another directory"}
			}
		default:
			return &DirError{Dir: out, Msg: fmt.Sprintf("holds no suite run (no %s); start one with portsim bench -o %s", SuiteFile, shellQuote(out))}
		}
	} else if od.Old != nil || od.Legacy {
		if err := clearCells(cellsDir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cellsDir, 0o755); err != nil {
		return &DirError{Dir: out, Msg: "cannot create cells/", Err: err}
	}
	if err := od.WriteMarker(Marker{Suite: s.Name, Fingerprint: fp, Shard: opt.Shard, Shards: opt.Shards}); err != nil {
		return err
	}
	return results.WriteFileAtomic(suitePath, func(w io.Writer) error {
		_, err := w.Write(s.Data)
		return err
	})
}

// shardText says which runs a directory holds.
func shardText(k, n int) string {
	if n == 0 {
		return "every run of the suite"
	}
	return fmt.Sprintf("shard %d/%d", k, n)
}

// cellName is the file of a run's key inside the cells directory.
func cellName(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:12]) + ".json"
}

// readCell reads the saved run of key, if it is there and was saved by a
// run of the suite with fingerprint fp.
func readCell(dir, key, fp string) (*cellFile, error) {
	data, err := os.ReadFile(filepath.Join(dir, cellName(key)))
	if err != nil {
		return nil, err
	}
	var cf cellFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, err
	}
	if cf.Key != key || (cf.Fingerprint != "" && cf.Fingerprint != fp) {
		return nil, fs.ErrNotExist
	}
	return &cf, nil
}

// runUnit runs one unit and, with an output directory, saves it
// atomically in cellsDir.
func runUnit(ctx context.Context, u Unit, opt Options, cellsDir, fp string) (*cellFile, error) {
	c := u.Cell
	cfg, err := c.Config(u.Replicate)
	if err != nil {
		return nil, err
	}
	key := c.Key(u.Replicate)
	events := ""
	switch {
	case opt.Events != nil:
		events = opt.Events(u)
	case c.Scenario.Events && u.Replicate == 0:
		// Event logs are a few MB each; the charts draw the first
		// replicate's only.
		events = filepath.Join(opt.Out, eventsName(c, u.Replicate))
		if err := os.MkdirAll(filepath.Dir(events), 0o755); err != nil {
			return nil, &EventsError{err}
		}
	}
	var run results.Run
	if events != "" {
		run, err = runWithEvents(ctx, cfg, events)
	} else {
		run, err = sim.Run(ctx, cfg)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.As(err, new(*EventsError)) {
			return nil, err
		}
		where := c.Scenario.Name
		if l := formatLabels(c.Labels); l != "" {
			where += " " + l
		}
		return nil, fmt.Errorf("scenario %s (%s, seed %d): %w", where, c.Alloc.Label(), u.Replicate, err)
	}
	c.Identify(&run, u.Replicate)
	cf := &cellFile{Key: key, Fingerprint: fp, Run: run, WallNS: run.WallNS}
	if cellsDir == "" {
		return cf, nil
	}
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

// eventsFile names the event log of replicate r of a scenario's cell:
// events/SCENARIO_LABELS_ALLOCATOR_R.csv. Characters other than letters,
// digits, '-', '_', '.' and '=' become '_'; a name changed that way, or
// cut to stay within file name limits, ends in '~' and a hash of the full
// name, so that two runs never share a log ("a:b" and "a_b" differ).
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
	const maxBase = 200 // bytes, below the usual 255-byte limit with room for chart suffixes
	if clean != name || len(clean) > maxBase {
		h := sha256.Sum256([]byte(name))
		clean = clean[:min(len(clean), maxBase-17)] + "~" + hex.EncodeToString(h[:8])
	}
	return filepath.Join("events", clean+".csv")
}

// runWithEvents runs cfg writing its event log atomically to path: an
// interrupted or failed run leaves no truncated log, and an earlier log
// stays as it was. A failure to write the log is an *EventsError.
func runWithEvents(ctx context.Context, cfg sim.Config, path string) (results.Run, error) {
	var run results.Run
	var simErr error
	err := results.WriteFileAtomic(path, func(w io.Writer) error {
		ew := results.NewEventWriter(w)
		cfg.OnAttempt = ew.Write
		if run, simErr = sim.Run(ctx, cfg); simErr != nil {
			return simErr
		}
		return ew.Flush()
	})
	if simErr != nil {
		return run, simErr
	}
	if err != nil {
		return run, &EventsError{err}
	}
	return run, nil
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
