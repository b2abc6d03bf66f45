package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
)

// CSVColumns returns the header of runs.csv for runs: the identity
// columns suite and scenario, one column per label key found in any run
// (sorted; named after the key, or "label_KEY" when the key is also the
// name of another column), allocator, params ("k=v,k=v" in key order),
// seed and replicate, then one column per Metric in Metrics order.
func CSVColumns(runs []Run) []string {
	metrics := Metrics()
	taken := map[string]bool{"suite": true, "scenario": true, "allocator": true, "params": true, "seed": true, "replicate": true}
	for _, m := range metrics {
		taken[m.Name] = true
	}
	cols := []string{"suite", "scenario"}
	for _, k := range labelKeys(runs) {
		if taken[k] {
			k = "label_" + k
		}
		cols = append(cols, k)
	}
	cols = append(cols, "allocator", "params", "seed", "replicate")
	for _, m := range metrics {
		cols = append(cols, m.Name)
	}
	return cols
}

// WriteCSV writes runs as tidy CSV (runs.csv): a header (see CSVColumns),
// then one row per run in the order given. A run without a label has an
// empty field in that label's column. Numbers are written in the
// shortest form that reads back exactly (integers without exponent). A
// metric that is undefined on a run (NaN) is an empty field, which R,
// pandas and spreadsheets read as missing; infinities are "+Inf" and
// "-Inf".
func WriteCSV(w io.Writer, runs []Run) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns(runs)); err != nil {
		return fmt.Errorf("writing CSV header: %w", err)
	}
	keys := labelKeys(runs)
	metrics := Metrics()
	var num []byte
	for i := range runs {
		r := &runs[i]
		row := []string{r.Suite, r.Scenario}
		for _, k := range keys {
			row = append(row, r.Labels[k])
		}
		row = append(row, r.Allocator, formatMap(r.Params),
			strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Replicate))
		for _, m := range metrics {
			v := m.Value(r)
			if math.IsNaN(v) {
				row = append(row, "")
				continue
			}
			num = appendNumber(num[:0], v)
			row = append(row, string(num))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("writing CSV row of run %d (%s): %w", i, r.Key(), err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	return nil
}
