package workload

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParams checks each arrival-process parameter against the Spec:
// its Field names a field of Spec, Set fills that field and no other, and
// a bad value is refused with the value and the expected form. It holds
// every parameter added later to its declaration.
func TestParams(t *testing.T) {
	example := map[string]string{"D": "2s", "N": "7", "DIST": "exp:2s"}
	seen := map[string]bool{}
	for _, p := range Params() {
		if seen[p.Name] {
			t.Errorf("parameter %s declared twice", p.Name)
		}
		seen[p.Name] = true
		field, ok := reflect.TypeFor[Spec]().FieldByName(p.Field)
		if !ok {
			t.Errorf("%s: Field %q is not a field of Spec", p.Name, p.Field)
			continue
		}
		v, ok := example[p.Arg]
		if !ok {
			t.Errorf("%s: placeholder %q: expected D, N or DIST", p.Name, p.Arg)
			continue
		}
		var s Spec
		if err := p.Set(&s, v); err != nil {
			t.Errorf("%s %s: %v", p.Name, v, err)
			continue
		}
		got := reflect.ValueOf(s)
		for i := range got.NumField() {
			name := reflect.TypeFor[Spec]().Field(i).Name
			if changed := !got.Field(i).IsZero(); changed != (name == field.Name) {
				t.Errorf("%s %s: field %s changed %v", p.Name, v, name, changed)
			}
		}
		if err := p.Set(&s, "x"); err == nil || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("%s x: err %v, want an error naming the value", p.Name, err)
		}
	}
}

// TestParseDuration checks the bounds of durations read from text.
func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		v      string
		zeroOK bool
		want   time.Duration
		err    string
	}{
		{"10s", false, 10 * time.Second, ""},
		{" 0s ", true, 0, ""},
		{"0s", false, 0, `"0s": expected a positive duration such as 60s or 10m`},
		{"-1s", true, 0, `"-1s": expected a duration >= 0 such as 60s or 10m`},
		{"876000h", false, MaxDuration, ""},
		{"876001h", false, 0, `"876001h" is absurdly long: expected at most 876000h0m0s (100 years)`},
		{"ten", false, 0, `"ten": expected a positive duration such as 60s or 10m`},
	} {
		d, err := ParseDuration(c.v, c.zeroOK)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if d != c.want || msg != c.err {
			t.Errorf("ParseDuration(%q, %v) = %v, %q; want %v, %q", c.v, c.zeroOK, d, msg, c.want, c.err)
		}
	}
	for v, want := range map[string]int{"1": 1, " 12 ": 12, "0": 0, "-3": 0, "1.5": 0} {
		if n, err := ParseCount(v); n != want || (err == nil) != (want > 0) {
			t.Errorf("ParseCount(%q) = %d, %v; want %d", v, n, err, want)
		}
	}
}
