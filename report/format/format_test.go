package format

import (
	"math"
	"testing"
)

// TestFormats checks each format against values worked out by hand,
// including the switch to exponents outside 1e-4..1e9 and rounding in
// the tens.
func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Number(470.588), "470.6"},
		{Number(28232), "28230"},
		{Number(0.0125), "0.0125"},
		{Number(0), "0"},
		{Number(-3.14159), "-3.142"},
		{Number(0.00001234), "1.234e-05"},
		{Number(2e9), "2e+09"},
		{Rate(66.6666), "66.67/s"},
		{Rate(math.Inf(1)), "unbounded"},
		{Rate(math.NaN()), "n/a"},
		{Percent(0.001), "0.1 %"},
		{Percent(0.00028), "0.028 %"},
		{Percent(1.0 / 3), "33.333 %"},
		{Percent(0), "0 %"},
		{Seconds(60e9), "60 s"},
		{Seconds(1e8), "0.1 s"},
		{Sig(123456, 2), "120000"},
		{Sig(1.5, 1), "2"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
