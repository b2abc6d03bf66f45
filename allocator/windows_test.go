package allocator_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestWindowsProfile checks docs/allocators.md#properties-the-tests-check item 16: range 49152-65535
// (16384 ports), TIME_WAIT 120 s, and a summary that says the order is an
// assumption because Microsoft does not document it.
func TestWindowsProfile(t *testing.T) {
	osaProfile(t, "windows", 49152, 65535, 120*time.Second, allocator.Exclusive)
	s := osaSpec(t, "windows")
	if n := s.Profile.Range.Size(); n != 16384 {
		t.Errorf("range holds %d ports, want 16384", n)
	}
	for _, w := range []string{"does not document", "assumption"} {
		if !strings.Contains(s.Summary, w) {
			t.Errorf("Summary %q does not say %q", s.Summary, w)
		}
	}
}

// TestWindowsRising checks the assumed model (docs/allocators.md#windows): a rising
// counter per protocol from the bottom of the range, skipping ports in use,
// failing after N probes when every port is taken.
func TestWindowsRising(t *testing.T) {
	r := allocator.Range{Lo: 49152, Hi: 49159}
	a := osaBuild(t, "windows", r, 1, nil)
	tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
	tab.Hold(49154, osaFlow(99))
	want := []uint16{49152, 49153, 49155, 49156, 49157, 49158, 49159}
	for i, w := range want {
		p := osaAlloc(t, a, 0, osaFlow(i), tab)
		if p != w {
			t.Fatalf("allocation %d: %d, want %d", i, p, w)
		}
		tab.Hold(p, osaFlow(i))
	}
	tab.Reset()
	if _, err := a.Allocate(0, osaFlow(9), tab); err == nil || tab.Probes != 8 {
		t.Fatalf("all 8 ports taken: err %v after %d probes, want ErrExhausted after 8", err, tab.Probes)
	}
	// UDP has its own counter and port space.
	b := osaBuild(t, "windows", r, 1, nil)
	all := &osaRecorder{}
	osaAlloc(t, b, 0, osaFlow(0), all)
	osaAlloc(t, b, 0, osaFlow(1), all)
	if p := osaAlloc(t, b, 0, osaUDP(0), all); p != 49152 {
		t.Errorf("first UDP port %d, want 49152", p)
	}
}
