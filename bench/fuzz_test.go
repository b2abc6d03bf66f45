package bench

import (
	"strings"
	"testing"
)

// FuzzParse checks that no suite text makes Parse panic, and that every
// error names the file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: [1, 2]\n",
		"name: x\nallocators: [{name: random-window, params: {window: [500, 1000]}}]\nscenarios: [{name: a, hold: forever, attempts: 10}]\n",
		"name: x\nscenarios: [{name: a, published: [{what: w, metric: failures, value: 1}]}]\nallocators: all\n",
		"", "- 1\n", "name: [\n", "name: x\nseeds: 0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse([]byte(text), "fuzz.yaml", "")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if s.Name == "" || len(s.Scenarios) == 0 || s.Seeds < 1 {
			t.Fatalf("accepted an incomplete suite: %+v", s)
		}
		if _, err := s.Units(); err != nil {
			t.Fatal(err)
		}
	})
}
