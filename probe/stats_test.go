package probe

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestHomogeneityByHand(t *testing.T) {
	// 2×2 table [[10 20] [30 40]]: N = 100, column totals 40 and 60,
	// row totals 30 and 70. Expected: [[12 18] [28 42]].
	// χ² = 4/12 + 4/18 + 4/28 + 4/42 = 0.79365; df 1; p = 0.3730.
	c, err := Homogeneity([]int{10, 20}, []int{30, 40})
	if err != nil {
		t.Fatal(err)
	}
	if c.DF != 1 || c.Bins != 2 || math.Abs(c.Stat-0.793651) > 1e-5 || math.Abs(c.P-0.37299) > 1e-4 {
		t.Errorf("got %+v, want χ²=0.79365 df=1 p=0.3730", c)
	}
	if s := c.String(); s != "χ²=0.79 df=1 p=0.37" {
		t.Errorf("String() = %q", s)
	}
}

func TestHomogeneityMergesSparseBins(t *testing.T) {
	tests := []struct {
		name     string
		a, b     []int
		bins, df int
	}{
		// need = 5·N/min(A,B) = 5·104/52 = 10 pooled counts per merged bin:
		// bins 0-2 make one (100), bins 3-4 (4) join it.
		{"remainder joins the last bin", []int{0, 0, 50, 1, 1}, []int{0, 0, 50, 1, 1}, 1, 0},
		// need = 5·400/200 = 10 pooled counts: bins 0-1 (6+20), 2-4 (0+8+4), 5.
		{"adjacent bins merge in order", []int{3, 10, 0, 4, 2, 181}, []int{3, 10, 0, 4, 2, 181}, 3, 2},
		{"empty bins vanish", []int{0, 50, 0, 50, 0}, []int{0, 60, 0, 40, 0}, 2, 1},
	}
	for _, tc := range tests {
		c, err := Homogeneity(tc.a, tc.b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Bins != tc.bins || c.DF != tc.df {
			t.Errorf("%s: %d bins, df %d; want %d, %d", tc.name, c.Bins, c.DF, tc.bins, tc.df)
		}
		if c.DF == 0 && (c.Stat != 0 || c.P != 1) {
			t.Errorf("%s: one bin left: got χ²=%v p=%v, want 0 and 1", tc.name, c.Stat, c.P)
		}
	}
}

func TestHomogeneityErrors(t *testing.T) {
	for _, tc := range []struct {
		a, b []int
		want string
	}{
		{[]int{1, 2}, []int{1}, "2 bins against 1"},
		{[]int{0, 0}, []int{1, 2}, "a sample is empty"},
		{[]int{1, -1}, []int{1, 2}, "negative"},
	} {
		if _, err := Homogeneity(tc.a, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Homogeneity(%v, %v) = %v, want an error with %q", tc.a, tc.b, err, tc.want)
		}
	}
}

// TestHomogeneityCalibrated draws both samples from one distribution and
// checks that the test rejects about as often as its level says, and that
// it rejects a shifted distribution almost always. The seeds are fixed,
// so the counts are too; the bounds are the 1e-6 tails of the binomial.
func TestHomogeneityCalibrated(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int, weights []float64) []int {
		h := make([]int, len(weights))
		var total float64
		for _, w := range weights {
			total += w
		}
		for range n {
			u := rng.Float64() * total
			for i, w := range weights {
				if u < w || i == len(weights)-1 {
					h[i]++
					break
				}
				u -= w
			}
		}
		return h
	}
	uniform := []float64{1, 1, 1, 1, 1, 1, 1, 1}
	skewed := []float64{1.5, 1, 1, 1, 1, 1, 1, 0.5}
	const trials = 1000
	nullRejects, altRejects := 0, 0
	for range trials {
		c, err := Homogeneity(draw(500, uniform), draw(2000, uniform))
		if err != nil {
			t.Fatal(err)
		}
		if c.P < 0.01 {
			nullRejects++
		}
		c, err = Homogeneity(draw(2000, uniform), draw(8000, skewed))
		if err != nil {
			t.Fatal(err)
		}
		if c.P < 0.001 {
			altRejects++
		}
	}
	t.Logf("same distribution: %d of %d rejected at 0.01; shifted: %d rejected at 0.001", nullRejects, trials, altRejects)
	// Binomial(1000, 0.01): mean 10; P(X > 30) < 1e-6.
	if nullRejects > 30 {
		t.Errorf("same distribution: %d of %d rejected at 0.01, want about 10", nullRejects, trials)
	}
	if altRejects < 900 {
		t.Errorf("±50%% at the ends: only %d of %d rejected at 0.001", altRejects, trials)
	}
}
