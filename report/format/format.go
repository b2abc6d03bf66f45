// Package format holds the number formats of everything portsim shows a
// reader (reports, tables, charts, command answers and error messages):
// one spelling for a plain value, a rate, a share and a duration.
package format

import (
	"math"
	"strconv"
	"strings"
)

// Number formats a plain value to four significant digits ("470.5",
// "0.0125", "28230" for 28232).
func Number(v float64) string { return Sig(v, 4) }

// Rate formats a rate in connections per second to four significant
// digits ("66.67/s", "28230/s"); "unbounded" for +Inf, "n/a" for NaN.
func Rate(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "unbounded"
	case math.IsNaN(v):
		return "n/a"
	}
	return Sig(v, 4) + "/s"
}

// Percent formats a fraction as a percentage to at most three decimals
// ("0.1 %", "0.028 %", "33.333 %").
func Percent(f float64) string {
	return strings.TrimRight(strings.TrimRight(strconv.FormatFloat(100*f, 'f', 3, 64), "0"), ".") + " %"
}

// Seconds formats a duration in seconds ("60 s", "0.1 s").
func Seconds(ns int64) string { return Sig(float64(ns)/1e9, 4) + " s" }

// Sig formats v to at most sig significant digits, without exponent for
// magnitudes from 1e-4 to 1e9 ("470.6", "0.0125", "28230").
func Sig(v float64, sig int) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	if a < 1e-4 || a >= 1e9 {
		return strconv.FormatFloat(v, 'g', sig, 64)
	}
	dec := sig - 1 - int(math.Floor(math.Log10(a)))
	if dec < 0 {
		p := math.Pow10(-dec)
		return strconv.FormatFloat(math.Round(v/p)*p, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
