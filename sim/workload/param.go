package workload

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Param is a parameter of an arrival process of its own (the on-period of
// Burst, the clients of Closed), set by name from text. Each is a setting
// of suites and a flag of portsim run and capacity under its Name. An
// arrival process with parameters lists them in Params (spec.go), next to
// its fields and their validation.
type Param struct {
	// Name is the setting's name, e.g. "burst-on".
	Name string
	// Arg is the placeholder of its value in help text: N for a count, D
	// for a duration, DIST for a distribution.
	Arg string
	// Usage says what it sets, the accepted form and the default.
	Usage string
	// Field is the Spec field it sets, as SpecError.Field names it.
	Field string
	// Set parses v into its field of s. The error names the value and
	// the expected form, not the parameter.
	Set func(s *Spec, v string) error
}

// MaxDuration bounds every duration read from text: 100 years, well
// below the 292 years where a time.Duration overflows.
const MaxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration reads a duration such as 60s or 10m, positive, or with
// zeroOK at least 0, and at most MaxDuration.
func ParseDuration(v string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	want := "a positive duration such as 60s or 10m"
	if zeroOK {
		want = "a duration >= 0 such as 60s or 10m"
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q: expected %s", v, want)
	case d < 0 || (d == 0 && !zeroOK):
		return 0, fmt.Errorf("%q: expected %s", v, want)
	case d > MaxDuration:
		return 0, fmt.Errorf("%q is absurdly long: expected at most %v (100 years)", v, MaxDuration)
	}
	return d, nil
}

// ParseCount reads a whole number >= 1.
func ParseCount(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: expected a whole number >= 1", v)
	}
	return n, nil
}
