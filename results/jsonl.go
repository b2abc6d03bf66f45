package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// WriteJSONL writes runs as JSON lines (runs.jsonl): one Run per line, in
// the order given. The output is a pure function of the runs: map keys
// are sorted, histograms list their non-empty buckets in order, and
// WallNS is left out, so the same runs always give the same bytes. The
// only floating-point field, Setup.RatePerSec, must be finite: JSON has
// no NaN or infinity, so such a run is an error naming it.
func WriteJSONL(w io.Writer, runs []Run) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range runs {
		if err := enc.Encode(&runs[i]); err != nil {
			return fmt.Errorf("encoding run %d (%s): %w", i, runs[i].Key(), err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing runs: %w", err)
	}
	return nil
}

// ReadJSONL reads runs written by WriteJSONL. name names the input in
// errors, which give the line number ("runs.jsonl:3: ..."). Blank lines
// are skipped; fields this version does not know are ignored, so files
// from newer versions still load.
func ReadJSONL(r io.Reader, name string) ([]Run, error) {
	br := bufio.NewReader(r)
	var runs []Run
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			var run Run
			if derr := json.Unmarshal(t, &run); derr != nil {
				return nil, fmt.Errorf("%s:%d: expected one JSON object per line, a run as written by portsim: %w", name, line, derr)
			}
			if run.Allocator == "" {
				return nil, fmt.Errorf("%s:%d: run has no \"allocator\" field (expected a run as written by portsim)", name, line)
			}
			runs = append(runs, run)
		}
		if err != nil { // io.EOF
			return runs, nil
		}
	}
}
