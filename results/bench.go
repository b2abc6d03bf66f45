package results

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
)

// BenchName returns the Go benchmark name of a run:
//
//	BenchmarkSim/scenario=S/<label>=<v>.../alloc=NAME-1
//
// with labels in key order, and the allocator's parameters, if any, kept
// with its name as NAME(k=v,k=v) so that each parameter setting is its
// own column under `benchstat -col /alloc`. Spaces and '/' in names and
// values become '_'. The trailing "-1" is the GOMAXPROCS field of the
// format (one run uses one thread); without it an allocator name ending
// in "-<digits>", such as "freebsd-13", would be read as GOMAXPROCS.
func (r *Run) BenchName() string {
	var b strings.Builder
	b.WriteString("BenchmarkSim")
	part := func(k, v string) {
		b.WriteByte('/')
		b.WriteString(benchClean(k))
		b.WriteByte('=')
		b.WriteString(benchClean(v))
	}
	if r.Scenario != "" {
		part("scenario", r.Scenario)
	}
	for _, k := range sortedKeys(r.Labels) {
		part(k, r.Labels[k])
	}
	part("alloc", r.AllocLabel())
	b.WriteString("-1")
	return b.String()
}

// benchClean replaces the characters that would split a benchmark name
// (white space, '/') with '_'.
func benchClean(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '/' || c <= ' ' || c == 0x7f || c == 0x85 || c == 0xa0 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x3000 {
			return '_'
		}
		return c
	}, s)
}

// WriteBench writes runs in the Go benchmark format (bench.txt), one line
// per run (see BenchName), with an iteration count of 1 and one
// "value unit" pair per Metric, the metric's Name being the unit. Seeds
// play the role of -count repetitions, so
//
//	benchstat -col /alloc bench.txt
//
// compares allocators with confidence intervals (add -ignore /gomaxprocs
// to drop the "-1" from row names). Metrics undefined on a
// run (NaN) and infinite values are left out of its line; benchstat then
// counts fewer samples for that unit. The file opens with a "Unit NAME
// better=lower|higher" line for each metric with a known direction, and
// a "suite: NAME" configuration line precedes the runs of each suite.
func WriteBench(w io.Writer, runs []Run) error {
	bw := bufio.NewWriter(w)
	metrics := Metrics()
	for _, m := range metrics {
		switch m.Better {
		case -1:
			fmt.Fprintf(bw, "Unit %s better=lower\n", m.Name)
		case +1:
			fmt.Fprintf(bw, "Unit %s better=higher\n", m.Name)
		}
	}
	suite := ""
	var line []byte
	for i := range runs {
		r := &runs[i]
		if r.Suite != suite {
			suite = r.Suite
			fmt.Fprintf(bw, "suite: %s\n", benchClean(suite))
		}
		line = append(line[:0], r.BenchName()...)
		line = append(line, " 1"...)
		for _, m := range metrics {
			v := m.Value(r)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			line = append(line, ' ')
			line = appendNumber(line, v)
			line = append(line, ' ')
			line = append(line, m.Name...)
		}
		line = append(line, '\n')
		bw.Write(line)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing benchmark lines: %w", err)
	}
	return nil
}
