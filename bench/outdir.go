package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portsim/portsim/results"
)

// MarkerFile marks a directory as a portsim output. It holds a Marker as
// JSON. portsim writes into a directory only when it is new, empty or
// holds this file (or, for outputs of earlier versions, a portsim
// manifest.json beside a suite.yaml).
const MarkerFile = ".portsim-output"

// LockFile is the file a writer of an output directory holds an advisory
// lock on while it writes; it names the holder (process id, command line,
// start time) so that a second writer can say who is in the way.
const LockFile = ".portsim-lock"

// Marker is the content of MarkerFile.
type Marker struct {
	// Tool is "portsim".
	Tool string `json:"tool"`
	// Suite is the suite's name.
	Suite string `json:"suite"`
	// Fingerprint identifies what ran: the SHA-256 of the suite text (with
	// its seeds and settings) and of every trace it replays. -resume
	// refuses a directory whose fingerprint differs.
	Fingerprint string `json:"fingerprint"`
	// Shard and Shards are the slice of the runs this directory holds
	// (0, 0 for all of them).
	Shard  int `json:"shard,omitempty"`
	Shards int `json:"shards,omitempty"`
}

// DirError is an output directory that cannot be used as asked: not a
// portsim output, not writable, or holding another suite's runs. It is an
// error in what the user asked for (exit status 2).
type DirError struct {
	// Dir is the directory.
	Dir string
	// Msg says what is wrong and what to do.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error returns "output directory DIR: MSG[: ERR]".
func (e *DirError) Error() string {
	s := "output directory " + e.Dir + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *DirError) Unwrap() error { return e.Err }

// BusyError is an output directory another portsim process is writing.
type BusyError struct {
	// Dir is the directory; Holder describes the process holding its lock
	// ("pid 123, `portsim bench ...`, started 2026-11-29T23:10:00Z").
	Dir    string
	Holder string
}

// Error names the directory and the holder of its lock.
func (e *BusyError) Error() string {
	return fmt.Sprintf("output directory %s is in use by another portsim (%s); wait for it to finish or choose another directory", e.Dir, e.Holder)
}

// OutDir is an output directory opened for writing: checked to be
// portsim's own and locked against other writers until Close.
type OutDir struct {
	// Path is the directory.
	Path string
	// Old is the marker found in the directory, nil if it had none.
	Old *Marker
	// Legacy reports a directory written by an earlier version of
	// portsim, without a marker but with its manifest.json and suite.yaml.
	Legacy bool
	unlock func() error
}

// OpenOut creates dir if needed, refuses it unless it is empty or a
// portsim output, checks that it is writable and takes its lock. The
// caller writes the marker (WriteMarker) and calls Close when done.
func OpenOut(dir string) (*OutDir, error) {
	if dir == "" {
		return nil, &DirError{Dir: `""`, Msg: "expected a directory name"}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &DirError{Dir: dir, Msg: "cannot create it", Err: err}
	}
	o := &OutDir{Path: dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &DirError{Dir: dir, Msg: "cannot read it", Err: err}
	}
	if m, err := ReadMarker(dir); err == nil {
		o.Old = m
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, &DirError{Dir: dir, Msg: "its " + MarkerFile + " is damaged; choose another directory", Err: err}
	} else if ours := ourEntries(entries); len(entries) > ours {
		if !legacyOutput(dir) {
			return nil, &DirError{Dir: dir, Msg: fmt.Sprintf("not empty and not a portsim output (no %s); portsim writes only into a new or empty directory or one it wrote before", MarkerFile)}
		}
		o.Legacy = true
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return nil, &DirError{Dir: dir, Msg: "not writable", Err: err}
	}
	probe.Close()
	os.Remove(probe.Name())
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	o.unlock = unlock
	return o, nil
}

// ourEntries counts the entries of a directory that portsim makes before
// it writes its marker: the lock file and temporary files.
func ourEntries(entries []os.DirEntry) int {
	n := 0
	for _, e := range entries {
		if e.Name() == LockFile || strings.HasPrefix(e.Name(), ".write-test-") {
			n++
		}
	}
	return n
}

// legacyOutput reports whether dir holds the output of a portsim version
// that wrote no marker: a suite.yaml and a manifest.json whose tool is
// portsim.
func legacyOutput(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, SuiteFile)); err != nil {
		return false
	}
	f, err := os.Open(filepath.Join(dir, ManifestFile))
	if err != nil {
		return false
	}
	defer f.Close()
	m, err := results.ReadManifest(f, ManifestFile)
	return err == nil && m.Tool == "portsim"
}

// ReadMarker reads the marker of dir. The error wraps os.ErrNotExist when
// there is none.
func ReadMarker(dir string) (*Marker, error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if err != nil {
		return nil, err
	}
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil || m.Tool != "portsim" {
		return nil, fmt.Errorf("%s: expected a portsim output marker", filepath.Join(dir, MarkerFile))
	}
	return &m, nil
}

// WriteMarker writes m as the directory's marker, atomically.
func (o *OutDir) WriteMarker(m Marker) error {
	m.Tool = "portsim"
	return results.WriteFileAtomic(filepath.Join(o.Path, MarkerFile), func(w io.Writer) error {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	})
}

// Close releases the directory's lock.
func (o *OutDir) Close() error {
	if o == nil || o.unlock == nil {
		return nil
	}
	err := o.unlock()
	o.unlock = nil
	return err
}

// holderText describes this process for the lock file.
func holderText() string {
	return fmt.Sprintf("pid %d, `%s`, started %s", os.Getpid(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))
}

// cellFileName matches the names cellName gives.
var cellFileName = regexp.MustCompile(`^[0-9a-f]{24}\.json$`)

// clearCells removes the saved runs of an earlier run from cellsDir: only
// files named as portsim names them that hold a run record it wrote.
// Anything else is left alone.
func clearCells(cellsDir string) error {
	entries, err := os.ReadDir(cellsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !cellFileName.MatchString(e.Name()) {
			continue
		}
		p := filepath.Join(cellsDir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var cf cellFile
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if dec.Decode(&cf) != nil || cf.Key == "" || cellName(cf.Key) != e.Name() {
			continue
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("clearing %s: %w", cellsDir, err)
		}
	}
	return nil
}

// Fingerprint identifies what a suite runs: the SHA-256 of its text
// (name, seeds, settings, allocators) and of the content of every trace
// it replays, in the order the cells first name them.
func (s *Suite) Fingerprint() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "portsim suite\x00%d\x00", len(s.Data))
	h.Write(s.Data)
	cells, err := s.Cells()
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, c := range cells {
		st, err := c.Setup()
		if err != nil {
			return "", err
		}
		name := st.Workload.TraceName
		if name == "" || seen[name] || st.Workload.TraceOpen == nil {
			continue
		}
		seen[name] = true
		rc, err := st.Workload.TraceOpen()
		if err != nil {
			return "", fmt.Errorf("trace %s: %w", name, err)
		}
		fmt.Fprintf(h, "\x00trace\x00")
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("trace %s: %w", name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// nameRule is what suite and scenario names may hold: they name files
// and directories (out/SUITE, charts/SCENARIO-*.png).
var nameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// MaxNameLen is the longest suite or scenario name, in bytes.
const MaxNameLen = 64

// CheckName checks a suite or scenario name: 1 to MaxNameLen letters,
// digits, '.', '_' or '-', starting with a letter or digit, so that no
// name can place a file outside the output directory.
func CheckName(name string) error {
	if len(name) > MaxNameLen || !nameRule.MatchString(name) {
		show := name
		if len(show) > MaxNameLen+16 {
			show = show[:MaxNameLen] + "..."
		}
		return fmt.Errorf("%q: expected 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit", show, MaxNameLen)
	}
	return nil
}

// Portable returns the suite with every relative trace path in its text
// made absolute, so that the copy kept in an output directory (which
// -resume, plot and merge read from there) still finds the traces. A
// suite without relative trace paths is returned as it is.
func (s *Suite) Portable() (*Suite, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(s.Data, &doc); err != nil || len(doc.Content) == 0 {
		return s, nil
	}
	changed := false
	fix := func(m *yaml.Node) error {
		if m.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if k.Value != "trace" || v.Kind != yaml.ScalarNode {
				continue
			}
			p := strings.TrimSpace(v.Value)
			if p == "" || filepath.IsAbs(p) {
				continue
			}
			abs, err := filepath.Abs(filepath.Join(s.Dir, p))
			if err != nil {
				return fmt.Errorf("trace %s: %w", p, err)
			}
			v.Value, v.Style, v.Tag = abs, 0, "!!str"
			changed = true
		}
		return nil
	}
	root := doc.Content[0]
	if err := fix(root); err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "scenarios" && root.Content[i+1].Kind == yaml.SequenceNode {
			for _, sc := range root.Content[i+1].Content {
				if err := fix(sc); err != nil {
					return nil, err
				}
			}
		}
	}
	if !changed {
		return s, nil
	}
	data, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	c := *s
	c.Data = data
	return &c, nil
}

// ReadRuns reads the runs.jsonl of a finished suite run in dir, with its
// manifest (nil when there is none), and checks that the file is whole:
// not empty, ending in a complete line, and holding as many runs as the
// manifest counts.
func ReadRuns(dir string) ([]results.Run, *results.Manifest, error) {
	path := filepath.Join(dir, RunsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("%s: empty; expected the runs of a finished suite run (resume an interrupted one with portsim bench -resume %s)", path, shellQuote(dir))
	}
	if data[len(data)-1] != '\n' {
		line := 1 + bytes.Count(data, []byte("\n"))
		return nil, nil, fmt.Errorf("%s:%d: truncated: the last line does not end; the file was cut short", path, line)
	}
	runs, err := results.ReadJSONL(bytes.NewReader(data), path)
	if err != nil {
		return nil, nil, err
	}
	var m *results.Manifest
	if f, err := os.Open(filepath.Join(dir, ManifestFile)); err == nil {
		mm, err := results.ReadManifest(f, filepath.Join(dir, ManifestFile))
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		m = &mm
		if m.Runs != len(runs) {
			return nil, nil, fmt.Errorf("%s: %d runs, but %s counts %d; the file was cut short or changed", path, len(runs), ManifestFile, m.Runs)
		}
	}
	return runs, m, nil
}
