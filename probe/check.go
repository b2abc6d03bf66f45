package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Defaults of CompareOptions.
const (
	// DefaultAlpha is the significance level of the chi-square tests.
	DefaultAlpha = 0.001
	// DefaultReplicates is how many times each experiment is simulated,
	// with allocator seeds Seed, Seed+1, ...: the random checks pool them,
	// the exact ones require every replicate to agree with the kernel.
	DefaultReplicates = 4
)

// CompareOptions configure Compare.
type CompareOptions struct {
	// Models are the allocators compared with the kernel.
	Models Models
	// Seed is the allocator seed of the first replicate.
	Seed uint64
	// Replicates is the number of simulations per experiment (default
	// DefaultReplicates).
	Replicates int
	// Alpha is the significance level (default DefaultAlpha).
	Alpha float64
}

// Result is the outcome of one check.
type Result struct {
	// Experiment is the experiment's name.
	Experiment string
	// Allocator is the model the experiment ran with.
	Allocator string
	// Kind is the statistic compared and Label says it in words.
	Kind  CheckKind
	Label string
	// KernelValue and ModelValue are the two sides: the exact value, or
	// a summary of the sample.
	KernelValue, ModelValue string
	// Test is "exact" or the chi-square test's statistic, df and p-value.
	Test string
	// Pass is the verdict.
	Pass bool
}

// Report is the outcome of comparing a model with observations.
type Report struct {
	// Kernel and Namespace come from the observations.
	Kernel    Kernel
	Namespace string
	// Options are the comparison's, defaults filled in.
	Options CompareOptions
	// Results has one entry per check, in experiment order.
	Results []Result
}

// Failed returns the number of checks that failed.
func (r *Report) Failed() int {
	n := 0
	for _, x := range r.Results {
		if !x.Pass {
			n++
		}
	}
	return n
}

// Pass reports whether there were checks and every one passed.
func (r *Report) Pass() bool { return len(r.Results) > 0 && r.Failed() == 0 }

// Compare simulates every observed experiment with the models and checks
// the model's outcome against the kernel's.
func Compare(ctx context.Context, obs *Observations, opt CompareOptions) (*Report, error) {
	if err := obs.Validate(); err != nil {
		return nil, err
	}
	if err := opt.Models.Validate(); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if opt.Replicates <= 0 {
		opt.Replicates = DefaultReplicates
	}
	if opt.Alpha <= 0 || opt.Alpha >= 1 {
		opt.Alpha = DefaultAlpha
	}
	rep := &Report{Kernel: obs.Kernel, Namespace: obs.Namespace, Options: opt}
	for i := range obs.Experiments {
		ob := &obs.Experiments[i]
		e := ob.Experiment
		m := opt.Models.For(e.path())
		runs := make([][]Attempt, opt.Replicates)
		for k := range runs {
			var err error
			if runs[k], err = Simulate(ctx, ob, m, opt.Seed+uint64(k)); err != nil {
				return nil, fmt.Errorf("compare: %w", err)
			}
		}
		for _, c := range e.Checks {
			res := checkOne(e, c, ob.Attempts, runs, opt.Alpha)
			res.Allocator = m.String()
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

// checkOne compares one statistic of the kernel's attempts with the
// model's replicates.
func checkOne(e Experiment, c Check, kernel []Attempt, model [][]Attempt, alpha float64) Result {
	res := Result{Experiment: e.Name, Kind: c.Kind, Label: label(e, c)}
	if exact(c.Kind) {
		res.Test = "exact"
		res.KernelValue = exactValue(e, c, kernel)
		var vals []string
		for _, m := range model {
			v := exactValue(e, c, m)
			if !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
		res.ModelValue = vals[0]
		if len(vals) > 1 {
			res.ModelValue = fmt.Sprintf("%d values: %s | %s", len(vals), vals[0], vals[1])
		}
		res.Pass = len(vals) == 1 && vals[0] == res.KernelValue
		return res
	}
	kh := histogram(e, c, kernel)
	mh := make([]int, len(kh))
	for _, m := range model {
		for i, v := range histogram(e, c, m) {
			mh[i] += v
		}
	}
	res.KernelValue, res.ModelValue = summary(c.Kind, kh), summary(c.Kind, mh)
	cs, err := Homogeneity(kh, mh)
	if err != nil {
		res.Test = err.Error()
		return res
	}
	res.Test = cs.String()
	res.Pass = cs.P >= alpha
	return res
}

func exact(k CheckKind) bool {
	switch k {
	case CheckExhaust, CheckErrno, CheckParityRuns, CheckReserved:
		return true
	}
	return false
}

// label says what a check compares.
func label(e Experiment, c Check) string {
	var s string
	switch c.Kind {
	case CheckExhaust:
		s = "successes before the first failure"
	case CheckErrno:
		s = "errno when no port is left"
	case CheckParityRuns:
		s = "parity of the ports, in order"
	case CheckReserved:
		s = "reserved ports handed out"
	case CheckDiffs:
		s = "successive differences 1..16, other"
	case CheckSpread:
		s = fmt.Sprintf("ports over %d bins of the range", c.Bins)
	case CheckParity:
		s = "even and odd ports"
	default:
		s = string(c.Kind)
	}
	if steps := stepsOf(e, c); len(steps) > 1 {
		var parts []string
		for _, i := range steps {
			parts = append(parts, strconv.Itoa(i))
		}
		s += ", steps " + strings.Join(parts, "/")
	}
	return s
}

// stepsOf returns the steps a check looks at: its own, or every step
// that makes attempts.
func stepsOf(e Experiment, c Check) []int {
	if len(c.Steps) > 0 {
		return c.Steps
	}
	var out []int
	for i, s := range e.Steps {
		if s.Op != OpWait {
			out = append(out, i)
		}
	}
	return out
}

// successes returns the ports of the successful attempts in the check's
// steps, in order, with their destinations.
func successes(e Experiment, c Check, att []Attempt) []Attempt {
	steps := stepsOf(e, c)
	var out []Attempt
	for _, a := range att {
		if a.OK() && slices.Contains(steps, a.Step) {
			out = append(out, a)
		}
	}
	return out
}

// exactValue computes a deterministic statistic as text.
func exactValue(e Experiment, c Check, att []Attempt) string {
	switch c.Kind {
	case CheckExhaust:
		var parts []string
		for _, s := range stepsOf(e, c) {
			parts = append(parts, exhaustOf(att, s))
		}
		return strings.Join(parts, " / ")
	case CheckErrno:
		var parts []string
		for _, s := range stepsOf(e, c) {
			v := "none"
			for _, a := range att {
				if a.Step == s && !a.OK() {
					v = a.Errno.String()
					break
				}
			}
			parts = append(parts, v)
		}
		return strings.Join(parts, " / ")
	case CheckParityRuns:
		return parityRuns(successes(e, c, att))
	case CheckReserved:
		r, _ := e.Sysctls.Range()
		n := 0
		for _, a := range successes(e, c, att) {
			if r.IsReserved(a.Port) {
				n++
			}
		}
		return strconv.Itoa(n)
	}
	return "?"
}

// exhaustOf returns, for step s, each destination's successes before its
// first failure, joined by commas; "+" marks a destination that never
// failed.
func exhaustOf(att []Attempt, s int) string {
	type acc struct {
		n      int
		failed bool
	}
	var order []int
	per := map[int]*acc{}
	for _, a := range att {
		if a.Step != s {
			continue
		}
		x := per[a.Dst]
		if x == nil {
			x = &acc{}
			per[a.Dst] = x
			order = append(order, a.Dst)
		}
		switch {
		case x.failed:
		case a.OK():
			x.n++
		default:
			x.failed = true
		}
	}
	slices.Sort(order)
	var parts []string
	for _, d := range order {
		v := strconv.Itoa(per[d].n)
		if !per[d].failed {
			v += "+"
		}
		parts = append(parts, v)
	}
	if len(parts) == 0 {
		return "no attempts"
	}
	return strings.Join(parts, ",")
}

// parityRuns describes the parities of the ports in order as runs, such
// as "even×100 odd×100"; a long alternation is cut after three runs.
func parityRuns(att []Attempt) string {
	if len(att) == 0 {
		return "no ports"
	}
	name := [2]string{"even", "odd"}
	type run struct{ parity, n int }
	var runs []run
	for _, a := range att {
		p := int(a.Port & 1)
		if len(runs) > 0 && runs[len(runs)-1].parity == p {
			runs[len(runs)-1].n++
			continue
		}
		runs = append(runs, run{p, 1})
	}
	var parts []string
	for i, r := range runs {
		if i == 3 && len(runs) > 4 {
			parts = append(parts, fmt.Sprintf("… (%d runs)", len(runs)))
			break
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name[r.parity], r.n))
	}
	return strings.Join(parts, " ")
}

// diffBins is the number of bins of a CheckDiffs histogram: 1..16 and
// "other" (0 or more than 16).
const diffBins = 17

// histogram computes the bins of a random statistic.
func histogram(e Experiment, c Check, att []Attempt) []int {
	r, _ := e.Sysctls.Range()
	n := r.Size()
	ok := successes(e, c, att)
	switch c.Kind {
	case CheckDiffs:
		h := make([]int, diffBins)
		prev := map[int]uint16{}
		for _, a := range ok {
			if p, seen := prev[a.Dst]; seen {
				d := ((int(a.Port)-int(p))%n + n) % n
				if d >= 1 && d < diffBins {
					h[d-1]++
				} else {
					h[diffBins-1]++
				}
			}
			prev[a.Dst] = a.Port
		}
		return h
	case CheckSpread:
		h := make([]int, c.Bins)
		for _, a := range ok {
			h[(int(a.Port)-int(r.Lo))*c.Bins/n]++
		}
		return h
	case CheckParity:
		h := make([]int, 2)
		for _, a := range ok {
			h[a.Port&1]++
		}
		return h
	}
	return nil
}

// summary describes the bins of a random statistic in a few words.
func summary(k CheckKind, h []int) string {
	total := 0
	for _, v := range h {
		total += v
	}
	switch k {
	case CheckDiffs:
		sum, small := 0, 0
		for i, v := range h[:diffBins-1] {
			sum += (i + 1) * v
			small += v
		}
		s := fmt.Sprintf("%d diffs", total)
		if small > 0 {
			s += fmt.Sprintf(", mean %.2f", float64(sum)/float64(small))
		}
		if other := h[diffBins-1]; other > 0 {
			s += fmt.Sprintf(", %d other", other)
		}
		return s
	case CheckSpread:
		return fmt.Sprintf("%d ports, bins %d..%d", total, slices.Min(h), slices.Max(h))
	case CheckParity:
		if total == 0 {
			return "no ports"
		}
		return fmt.Sprintf("%.1f%% odd of %d", 100*float64(h[1])/float64(total), total)
	}
	return "?"
}

// WriteTable prints the report: what was compared, one row per check and
// the verdict.
func (r *Report) WriteTable(w io.Writer) error {
	o := r.Options
	k := r.Kernel
	fmt.Fprintf(w, "kernel %s %s (%s), probed in new network namespaces (%s)\n", k.Sysname, k.Release, k.Machine, r.Namespace)
	fmt.Fprintf(w, "models: connect %v, bind %v, udp %v; %d replicates from allocator seed %d; chi-square tests at α = %g\n\n",
		o.Models.Connect, o.Models.Bind, o.Models.UDP, o.Replicates, o.Seed, o.Alpha)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXPERIMENT\tALLOCATOR\tCHECK\tKERNEL\tMODEL\tTEST\tRESULT")
	for _, x := range r.Results {
		verdict := "PASS"
		if !x.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Experiment, x.Allocator, x.Label, x.KernelValue, x.ModelValue, x.Test, verdict)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if r.Pass() {
		_, err := fmt.Fprintf(w, "\nPASS: all %d checks pass\n", len(r.Results))
		return err
	}
	_, err := fmt.Fprintf(w, "\nFAIL: %d of %d checks fail\n", r.Failed(), len(r.Results))
	return err
}

// Err returns nil when the report passes, else an error that says how
// many checks failed.
func (r *Report) Err() error {
	if r.Pass() {
		return nil
	}
	if len(r.Results) == 0 {
		return errors.New("probe: no checks were made")
	}
	m := r.Options.Models
	return fmt.Errorf("probe: %d of %d checks fail (models: connect %v, bind %v, udp %v)", r.Failed(), len(r.Results), m.Connect, m.Bind, m.UDP)
}
