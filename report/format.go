package report

import (
	"math"
	"strconv"
	"strings"

	"github.com/portsim/portsim/report/format"
	"github.com/portsim/portsim/results"
)

// columnTitles are the plain-words headers of the metrics a report shows
// most; other metrics are headed by their name and unit.
var columnTitles = map[string]string{
	"failure_fraction":     "failed attempts (%)",
	"failures":             "failed attempts",
	"probes_mean":          "candidate ports checked, mean",
	"probes_p99":           "candidate ports checked, p99",
	"probes_max":           "candidate ports checked, max",
	"reuse_interval_p1_s":  "reuse interval p1 (s)",
	"reuse_interval_p50_s": "reuse interval median (s)",
	"reuse_distance_min":   "reuse distance min (connections)",
	"oarc_score":           "DNS-OARC score (ports)",
	"premature_fraction":   "reuses before 2·MSL (%)",
	"tw_takeovers":         "TIME_WAIT take-overs",
	"guess_1":              "next port guessed in 1 try (%)",
	"guess_10":             "next port guessed in 10 tries (%)",
}

// ColumnTitle is the header of a metric's column.
func ColumnTitle(m results.Metric) string {
	if t, ok := columnTitles[m.Name]; ok {
		return t
	}
	if m.Unit == m.Name {
		return m.Name
	}
	if m.Unit == "fraction" {
		return m.Name + " (%)"
	}
	return m.Name + " (" + m.Unit + ")"
}

// percent reports whether a metric is shown in per cent.
func percent(m results.Metric) bool { return m.Unit == "fraction" }

// FormatStat formats a metric's statistic for a table cell: the mean
// and its interval (FormatInterval), in per cent for a fraction, and
// "(n=K)" when only K of the group's runs defined the metric.
func FormatStat(m results.Metric, st results.Stat, runs int) string {
	mean, lo, hi := st.Mean, st.Lo, st.Hi
	if percent(m) {
		mean, lo, hi = 100*mean, 100*lo, 100*hi
	}
	s := FormatInterval(mean, lo, hi)
	if st.N > 0 && st.N < runs {
		s += " (n=" + strconv.Itoa(st.N) + ")"
	}
	return s
}

// FormatInterval formats a value and its interval [lo, hi]: "m ± h"
// when the interval is symmetric (see FormatMeanCI), "m (lo–hi)" when a
// domain bound cut it, the value alone to four significant digits
// without an interval (lo or hi NaN), and "n/a" without a value. The
// bounds are rounded to two significant digits of the larger half-width
// and the value to the same decimal place.
func FormatInterval(mean, lo, hi float64) string {
	switch {
	case math.IsNaN(mean):
		return "n/a"
	case math.IsNaN(lo) || math.IsNaN(hi):
		return format.Sig(mean, 4)
	}
	dl, dh := mean-lo, hi-mean
	d := math.Max(dl, dh)
	if math.Abs(dl-dh) <= 1e-9*math.Max(math.Abs(mean), d) {
		return FormatMeanCI(mean, d)
	}
	dec := 1 - int(math.Floor(math.Log10(d)))
	if dec > 8 || math.Abs(mean) >= 1e15 {
		return format.Sig(mean, 4) + " [" + format.Sig(lo, 2) + ", " + format.Sig(hi, 2) + "]"
	}
	f := func(v float64) string {
		if v == 0 {
			return "0"
		}
		if dec < 0 {
			p := math.Pow10(-dec)
			return strconv.FormatFloat(math.Round(v/p)*p, 'f', 0, 64)
		}
		return strconv.FormatFloat(v, 'f', dec, 64)
	}
	return f(mean) + " [" + f(lo) + ", " + f(hi) + "]"
}

// FormatMeanCI formats a mean and its confidence half-width for a table:
// the half-width to two significant digits and the mean to the same
// decimal place ("0.2941 ± 0.0031", "470.5 ± 1.2", "123500 ± 3500",
// "28232 ± 0"), the mean alone to four significant digits when the
// half-width is NaN, and "n/a" when the mean is NaN.
func FormatMeanCI(mean, ci float64) string {
	switch {
	case math.IsNaN(mean):
		return "n/a"
	case math.IsNaN(ci) || math.IsInf(ci, 0):
		return format.Sig(mean, 4)
	case ci == 0:
		return format.Sig(mean, 6) + " ± 0"
	}
	// Decimal places that show two significant digits of ci.
	dec := 1 - int(math.Floor(math.Log10(ci)))
	switch {
	case dec > 8 || math.Abs(mean) >= 1e15 || ci >= 1e15:
		return format.Sig(mean, 4) + " ± " + format.Sig(ci, 2)
	case dec < 0:
		p := math.Pow10(-dec)
		return strconv.FormatFloat(math.Round(mean/p)*p, 'f', 0, 64) + " ± " +
			strconv.FormatFloat(math.Round(ci/p)*p, 'f', 0, 64)
	}
	return strconv.FormatFloat(mean, 'f', dec, 64) + " ± " + strconv.FormatFloat(ci, 'f', dec, 64)
}

// oneLine joins the lines of s with spaces, for headings.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mdEscape makes s safe in a table cell or link text: one line, with '|',
// '[' and ']' escaped.
func mdEscape(s string) string {
	s = oneLine(s)
	return strings.NewReplacer("|", `\|`, "[", `\[`, "]", `\]`).Replace(s)
}

// names lists items as "a, b and c", at most max of them before "and N
// more".
func names(items []string, max int) string {
	if len(items) > max {
		return strings.Join(items[:max], ", ") + " and " + strconv.Itoa(len(items)-max) + " more"
	}
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
