package results

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Manifest records what produced a suite's output (manifest.json): the
// tool and its dependencies, the suite and its seeds, and when the run
// started. It is the one output file that is not byte-stable, since it
// carries the start time.
type Manifest struct {
	// Tool is the program name, "portsim".
	Tool string `json:"tool"`
	// Version is the main module's version from the build information,
	// "(devel)" for a build from a source tree.
	Version string `json:"version"`
	// GoVersion is the Go release that built the tool, e.g. "go1.26.8".
	GoVersion string `json:"go_version"`
	// Commit is the source revision, passed in by the caller (builds made
	// with -buildvcs=false carry none); empty when unknown.
	Commit string `json:"commit,omitempty"`
	// Modules lists the dependencies linked into the tool, sorted by path.
	Modules []Module `json:"modules,omitempty"`
	// Suite names the suite; SuiteSHA256 is the hex SHA-256 of its file.
	Suite       string `json:"suite"`
	SuiteSHA256 string `json:"suite_sha256"`
	// Seeds lists the workload seeds of the replicates, in replicate order.
	Seeds []uint64 `json:"seeds"`
	// Cells is the number of (scenario, sweep point, allocator) cells;
	// Runs the number of runs (cells times seeds, less any skipped).
	Cells int `json:"cells"`
	Runs  int `json:"runs"`
	// Start is the wall-clock time the suite started, in UTC.
	Start time.Time `json:"start"`
}

// Module is one dependency of the tool.
type Module struct {
	// Path and Version identify the module; Sum is its go.sum hash.
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
	// Replace is the replacement's path@version when the module is
	// replaced.
	Replace string `json:"replace,omitempty"`
}

// NewManifest returns a manifest for a run of the suite named suite whose
// file holds suiteData, filling in the tool's version, Go version and
// modules from the running binary's build information. The caller sets
// Seeds, Cells and Runs.
func NewManifest(suite string, suiteData []byte, commit string, start time.Time) Manifest {
	sum := sha256.Sum256(suiteData)
	m := Manifest{
		Tool:        "portsim",
		Version:     "unknown",
		GoVersion:   runtime.Version(),
		Commit:      commit,
		Suite:       suite,
		SuiteSHA256: hex.EncodeToString(sum[:]),
		Start:       start.UTC(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		m.Version = bi.Main.Version
		if bi.GoVersion != "" {
			m.GoVersion = bi.GoVersion
		}
		for _, d := range bi.Deps {
			mod := Module{Path: d.Path, Version: d.Version, Sum: d.Sum}
			if d.Replace != nil {
				mod.Replace = d.Replace.Path + "@" + d.Replace.Version
			}
			m.Modules = append(m.Modules, mod)
		}
		slices.SortFunc(m.Modules, func(a, b Module) int { return strings.Compare(a.Path, b.Path) })
	}
	return m
}

// WriteJSON writes the manifest as indented JSON followed by a newline.
func (m *Manifest) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	return nil
}

// ReadManifest reads a manifest written by WriteJSON; name names the
// input in errors.
func ReadManifest(r io.Reader, name string) (Manifest, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", name, err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
			return Manifest{}, fmt.Errorf("%s:%d: expected a JSON manifest object: %w", name, line, err)
		}
		return Manifest{}, fmt.Errorf("%s: expected a JSON manifest object: %w", name, err)
	}
	return m, nil
}
