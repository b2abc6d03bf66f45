package results

import (
	"maps"
	"math"
	"slices"
	"strconv"
)

// appendNumber appends v in the shortest form that reads back to the same
// float64: integers without exponent up to 2^53, everything else as
// strconv's 'g' format. The caller handles NaN and infinities.
func appendNumber(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// labelKeys returns the union of the label keys of runs, sorted.
func labelKeys(runs []Run) []string {
	seen := map[string]bool{}
	for i := range runs {
		for k := range runs[i].Labels {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
