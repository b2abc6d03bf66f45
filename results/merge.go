package results

// Equal reports whether h and o hold the same values in the same
// buckets. It ignores how much bucket storage each has grown, so a
// histogram equals its JSON round trip (go-cmp uses this method).
func (h Hist) Equal(o Hist) bool {
	if h.count != o.count || h.sum != o.sum || h.min != o.min || h.max != o.max {
		return false
	}
	for i := range max(len(h.counts), len(o.counts)) {
		var a, b uint64
		if i < len(h.counts) {
			a = h.counts[i]
		}
		if i < len(o.counts) {
			b = o.counts[i]
		}
		if a != b {
			return false
		}
	}
	return true
}

// Merge adds every difference counted in o to d.
func (d *DiffHist) Merge(o *DiffHist) {
	for i, c := range o.counts {
		d.counts[i] += c
	}
	d.Below += o.Below
	d.Above += o.Above
}

// Merge adds the counts of o to h. It reports false, and changes
// nothing, when the two do not bin the same range the same way.
func (h *PortHist) Merge(o *PortHist) bool {
	if h.Lo != o.Lo || h.Hi != o.Hi || h.Width != o.Width || len(h.Bins) != len(o.Bins) {
		return false
	}
	for i, c := range o.Bins {
		h.Bins[i] += c
	}
	h.Even += o.Even
	h.Odd += o.Odd
	return true
}

// Select returns the runs for which keep reports true, in order. The
// result shares no storage with runs' slice but the runs' histograms
// are shallow copies: merge into a fresh value, never into a selected
// run.
func Select(runs []Run, keep func(*Run) bool) []Run {
	var out []Run
	for i := range runs {
		if keep(&runs[i]) {
			out = append(out, runs[i])
		}
	}
	return out
}

// Scenarios returns the distinct scenario names of runs in the order of
// their first run.
func Scenarios(runs []Run) []string {
	var out []string
	seen := map[string]bool{}
	for i := range runs {
		if s := runs[i].Scenario; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
