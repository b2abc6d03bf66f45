package allocator_test

import (
	"testing"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestConformance runs the allocatortest suite on every registered
// allocator with its default parameters.
func TestConformance(t *testing.T) {
	for _, s := range allocator.Registry() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			allocatortest.Run(t, s, nil)
		})
	}
}

// TestConformanceParams runs the suite on the non-default modes that
// change the search.
func TestConformanceParams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"sequential", map[string]string{"descending": "true"}},
		{"linux", map[string]string{"per_socket_range": "true"}},
		{"rfc6056-4", map[string]string{"table": "1"}},
		{"rfc6056-5", map[string]string{"n": "1"}},
		{"random-window", map[string]string{"window": "10"}},
	} {
		s, err := allocator.Lookup(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			allocatortest.Run(t, s, tc.params)
		})
	}
}
