package allocator_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

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

// TestOnePortRangeEveryPath: the conformance kit's one-port check uses
// connect() flows; bind(0) and UDP take other branches in several
// allocators (a random start only for UDP, a draw modulo N-1). On a range
// of one port every allocator must hand that port out to each kind of
// flow when it is free and fail with ErrExhausted, not panic, when it is
// held.
func TestOnePortRangeEveryPath(t *testing.T) {
	r := allocator.Range{Lo: 50000, Hi: 50000}
	flows := []allocator.Flow{
		{Path: allocator.Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443"), OrigPort: 50000},
		{Path: allocator.Bind, Src: netip.MustParseAddr("10.0.0.1")},
		{Path: allocator.UDP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:53"), OrigPort: 50000},
	}
	for _, s := range allocator.Registry() {
		for _, f := range flows {
			a, err := s.Build(allocator.Config{Range: r, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			for round := range 3 {
				tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
				now := time.Duration(round) * time.Second
				p, err := a.Allocate(now, f, tab)
				if err != nil || p != 50000 {
					t.Fatalf("%s, %v flow, round %d: the one port free: got %d, %v; want 50000", s.Name, f.Path, round, p, err)
				}
				tab.Hold(p, f)
				if p, err := a.Allocate(now, f, tab); !errors.Is(err, allocator.ErrExhausted) {
					t.Fatalf("%s, %v flow, round %d: the one port held: got %d, %v; want ErrExhausted", s.Name, f.Path, round, p, err)
				}
				if rel, ok := a.(allocator.Releaser); ok {
					rel.Release(now, f, p)
				}
			}
		}
	}
}
