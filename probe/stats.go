package probe

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// minExpected is the least expected count per (merged) bin and sample in
// a chi-square test; below it the chi-square approximation is poor.
const minExpected = 5

// ChiSquare is the outcome of a two-sample chi-square test of
// homogeneity.
type ChiSquare struct {
	// Stat is the chi-square statistic.
	Stat float64
	// DF is the degrees of freedom: the merged bins minus one.
	DF int
	// P is the p-value, the chance of a statistic at least this large
	// when both samples come from one distribution.
	P float64
	// Bins is the number of bins after merging.
	Bins int
}

// String formats the test as "χ²=3.21 df=7 p=0.87".
func (c ChiSquare) String() string {
	p := fmt.Sprintf("p=%.2g", c.P)
	if c.P < 1e-12 {
		p = "p<1e-12"
	}
	return fmt.Sprintf("χ²=%.2f df=%d %s", c.Stat, c.DF, p)
}

// Homogeneity tests whether the counts a and b, over the same bins, come
// from one distribution (the two-sample chi-square test of homogeneity,
// a 2×k contingency table). Adjacent bins are merged, in order, until each
// merged bin expects at least 5 counts in both samples; a remainder too
// small to stand alone joins the last merged bin. With a single merged
// bin there is nothing to test: the statistic is 0 and P is 1. It returns
// an error when a sample is empty or the bins differ in number.
func Homogeneity(a, b []int) (ChiSquare, error) {
	if len(a) != len(b) {
		return ChiSquare{}, fmt.Errorf("homogeneity: %d bins against %d", len(a), len(b))
	}
	var na, nb int
	for i := range a {
		if a[i] < 0 || b[i] < 0 {
			return ChiSquare{}, errors.New("homogeneity: negative count")
		}
		na += a[i]
		nb += b[i]
	}
	if na == 0 || nb == 0 {
		return ChiSquare{}, fmt.Errorf("homogeneity: a sample is empty (%d and %d counts)", na, nb)
	}
	n := float64(na + nb)
	need := minExpected * n / float64(min(na, nb)) // pooled count per merged bin
	var ga, gb []int
	ca, cb := 0, 0
	for i := range a {
		ca += a[i]
		cb += b[i]
		if float64(ca+cb) >= need {
			ga, gb = append(ga, ca), append(gb, cb)
			ca, cb = 0, 0
		}
	}
	if ca+cb > 0 {
		if len(ga) == 0 {
			ga, gb = append(ga, ca), append(gb, cb)
		} else {
			ga[len(ga)-1] += ca
			gb[len(gb)-1] += cb
		}
	}
	c := ChiSquare{Bins: len(ga), DF: len(ga) - 1, P: 1}
	if c.DF == 0 {
		return c, nil
	}
	for i := range ga {
		pooled := float64(ga[i] + gb[i])
		ea := float64(na) * pooled / n
		eb := float64(nb) * pooled / n
		c.Stat += sq(float64(ga[i])-ea)/ea + sq(float64(gb[i])-eb)/eb
	}
	c.P = distuv.ChiSquared{K: float64(c.DF)}.Survival(c.Stat)
	if math.IsNaN(c.P) {
		return c, fmt.Errorf("homogeneity: p-value of χ²=%v with df %d is not a number", c.Stat, c.DF)
	}
	return c, nil
}

func sq(x float64) float64 { return x * x }
