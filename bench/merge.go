package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
)

// Merge joins the outputs of shards of one suite run (each a directory
// written by Run with Shard/Shards) into out: it reads their runs.jsonl,
// checks that they ran the same suite and that no run is missing or
// duplicated, and writes every result file and the report for the whole.
func Merge(out string, shardDirs []string, commit string, start time.Time) (*Outcome, error) {
	return MergeWith(allocator.Builtins(), out, shardDirs, commit, start)
}

// MergeWith is Merge with the suite's allocator names resolved against
// reg.
func MergeWith(reg allocator.Set, out string, shardDirs []string, commit string, start time.Time) (*Outcome, error) {
	if len(shardDirs) == 0 {
		return nil, fmt.Errorf("merge: no shard directories given")
	}
	if st, err := os.Stat(out); err == nil {
		for _, dir := range shardDirs {
			if ds, err := os.Stat(dir); err == nil && os.SameFile(st, ds) {
				return nil, &DirError{Dir: out, Msg: fmt.Sprintf("is also an input (%s); merge into a new directory", dir)}
			}
		}
	}
	var suiteData []byte
	var all []results.Run
	for _, dir := range shardDirs {
		data, err := os.ReadFile(filepath.Join(dir, SuiteFile))
		if err != nil {
			return nil, fmt.Errorf("merge: %s is not a suite output (no %s): %w", dir, SuiteFile, err)
		}
		if suiteData == nil {
			suiteData = data
		} else if string(data) != string(suiteData) {
			return nil, fmt.Errorf("merge: %s ran a different suite than %s", dir, shardDirs[0])
		}
		f, err := os.Open(filepath.Join(dir, RunsFile))
		if err != nil {
			return nil, fmt.Errorf("merge: %w (did that shard finish?)", err)
		}
		runs, err := results.ReadJSONL(f, filepath.Join(dir, RunsFile))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		all = append(all, runs...)
	}
	s, err := ParseWith(reg, suiteData, filepath.Join(shardDirs[0], SuiteFile), shardDirs[0])
	if err != nil {
		return nil, err
	}
	units, err := s.Units()
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for _, u := range units {
		index[u.Cell.Key(u.Replicate)] = u.Index
	}
	pos := make([]int, len(all))
	seen := map[string]bool{}
	for i := range all {
		k := all[i].Key()
		at, ok := index[k]
		if !ok {
			return nil, fmt.Errorf("merge: run %q is not part of suite %s", k, s.Name)
		}
		if seen[k] {
			return nil, fmt.Errorf("merge: run %q appears in more than one shard", k)
		}
		seen[k] = true
		pos[i] = at
	}
	if len(all) != len(units) {
		return nil, fmt.Errorf("merge: %d of the suite's %d runs found; run the missing shards first", len(all), len(units))
	}
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return pos[a] - pos[b] })
	sorted := make([]results.Run, len(all))
	for i, j := range order {
		sorted[i] = all[j]
	}
	fp, err := s.Fingerprint()
	if err != nil {
		return nil, err
	}
	od, err := OpenOut(out)
	if err != nil {
		return nil, err
	}
	defer od.Close()
	if err := od.WriteMarker(Marker{Suite: s.Name, Fingerprint: fp}); err != nil {
		return nil, err
	}
	if err := results.WriteFileAtomic(filepath.Join(out, SuiteFile), func(w io.Writer) error { _, err := w.Write(suiteData); return err }); err != nil {
		return nil, err
	}
	files, err := WriteOutputs(out, s, sorted, nil, commit, start)
	return &Outcome{Runs: sorted, Files: files}, err
}
