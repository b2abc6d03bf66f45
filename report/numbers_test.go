package report

import (
	"math"
	"testing"

	"github.com/portsim/portsim/report/format"
)

// TestNumberFormats checks each number format of report/format against
// values worked out by hand, including the switch to exponents outside
// 1e-4..1e9 and rounding in the tens. (It lives here, with the report
// that uses them, to spare a test binary.)
func TestNumberFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{format.Number(470.588), "470.6"},
		{format.Number(28232), "28230"},
		{format.Number(0.0125), "0.0125"},
		{format.Number(0), "0"},
		{format.Number(-3.14159), "-3.142"},
		{format.Number(0.00001234), "1.234e-05"},
		{format.Number(2e9), "2e+09"},
		{format.Rate(66.6666), "66.67/s"},
		{format.Rate(math.Inf(1)), "unbounded"},
		{format.Rate(math.NaN()), "n/a"},
		{format.Percent(0.001), "0.1 %"},
		{format.Percent(0.00028), "0.028 %"},
		{format.Percent(1.0 / 3), "33.333 %"},
		{format.Percent(0), "0 %"},
		{format.Seconds(60e9), "60 s"},
		{format.Seconds(1e8), "0.1 s"},
		{format.Sig(123456, 2), "120000"},
		{format.Sig(1.5, 1), "2"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
