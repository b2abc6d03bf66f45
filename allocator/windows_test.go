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
	osaProfile(t, "windows", 49152, 65535, 120*time.Second, allocator.FourTuple)
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

// TestWindowsOrder checks the order parameters: order=random draws a
// uniform start on every TCP allocation and searches up from it, leaving
// UDP sequential unless udp_order=random; a bad value is refused with the
// parameter's name.
func TestWindowsOrder(t *testing.T) {
	r := allocator.Range{Lo: 49152, Hi: 65535}
	a := osaBuild(t, "windows", r, 3, map[string]string{"order": "random"})
	all := &osaRecorder{}
	var tcp []uint16
	for i := range 4000 {
		tcp = append(tcp, osaAlloc(t, a, 0, osaFlow(i), all))
	}
	osaUniform(t, "order=random TCP ports", tcp, 49152, 65535, 16)
	if p, q := osaAlloc(t, a, 0, osaUDP(0), all), osaAlloc(t, a, 0, osaUDP(1), all); p != 49152 || q != 49153 {
		t.Errorf("udp_order=sequential: UDP ports %d, %d, want 49152, 49153", p, q)
	}
	b := osaBuild(t, "windows", r, 3, map[string]string{"udp_order": "random"})
	var udp []uint16
	for i := range 4000 {
		udp = append(udp, osaAlloc(t, b, 0, osaUDP(i), all))
	}
	osaUniform(t, "udp_order=random UDP ports", udp, 49152, 65535, 16)
	if p, q := osaAlloc(t, b, 0, osaFlow(0), all), osaAlloc(t, b, 0, osaFlow(1), all); p != 49152 || q != 49153 {
		t.Errorf("order=sequential: TCP ports %d, %d, want 49152, 49153", p, q)
	}
	// A random start still searches up: with all but one port taken, the
	// free one is found within N probes.
	tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: allocator.Range{Lo: 100, Hi: 109}}
	c := osaBuild(t, "windows", tab.Range, 5, map[string]string{"order": "random"})
	for p := uint16(100); p <= 109; p++ {
		if p != 104 {
			tab.Hold(p, osaFlow(99))
		}
	}
	if p := osaAlloc(t, c, 0, osaFlow(0), tab); p != 104 || tab.Probes > 10 {
		t.Errorf("one free port: %d after %d probes, want 104 within 10", p, tab.Probes)
	}
	spec := osaSpec(t, "windows")
	if _, err := spec.Build(allocator.Config{Range: r, Params: map[string]string{"order": "shuffled"}}); err == nil || !strings.Contains(err.Error(), "order") {
		t.Errorf("order=shuffled: %v, want an error naming order", err)
	}
}
