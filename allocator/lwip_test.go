package allocator_test

import (
	"errors"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// TestLwIPProfile checks the lwIP defaults (docs/allocators.md#lwip):
// TCP_LOCAL_PORT_RANGE 0xc000-0xffff, TIME_WAIT 2 x TCP_MSL = 120 s, any
// PCB on the port blocks it.
func TestLwIPProfile(t *testing.T) {
	osaProfile(t, "lwip", 49152, 65535, 120*time.Second, allocator.Exclusive)
}

// TestLwIPIncreasesByOne checks docs/allocators.md#properties-the-tests-check item 15: ports increase
// by one from the start of the range. tcp_port holds the last port and is
// incremented before the first try, so the first port after boot is
// START + 1 (49153); START itself comes after the wrap.
func TestLwIPIncreasesByOne(t *testing.T) {
	r := allocator.Range{Lo: 49152, Hi: 65535}
	a := osaBuild(t, "lwip", r, 1, nil)
	tab := &allocatortest.Table{Scope: allocator.Exclusive, Range: r}
	tab.Hold(49156, osaFlow(99))
	want := []uint16{49153, 49154, 49155, 49157, 49158}
	for i, w := range want {
		p := osaAlloc(t, a, 0, osaFlow(i), tab)
		if p != w {
			t.Fatalf("allocation %d: %d, want %d", i, p, w)
		}
		tab.Hold(p, osaFlow(i))
	}

	// Wrap and exhaustion in a 4-port range: 101, 102, 103, 100, then
	// ERR_BUF after N = 4 probes.
	small := allocator.Range{Lo: 100, Hi: 103}
	b := osaBuild(t, "lwip", small, 1, nil)
	st := &allocatortest.Table{Scope: allocator.Exclusive, Range: small}
	for i, w := range []uint16{101, 102, 103, 100} {
		p := osaAlloc(t, b, 0, osaFlow(i), st)
		if p != w {
			t.Fatalf("small range, allocation %d: %d, want %d", i, p, w)
		}
		st.Hold(p, osaFlow(i))
	}
	st.Reset()
	if _, err := b.Allocate(0, osaFlow(9), st); !errors.Is(err, allocator.ErrExhausted) || st.Probes != 4 {
		t.Fatalf("all ports taken: err %v after %d probes, want ErrExhausted after 4", err, st.Probes)
	}
	// udp_new_port keeps its own counter: after two TCP ports the first
	// UDP port is still 101 (a shared counter would give 103).
	c := osaBuild(t, "lwip", small, 1, nil)
	all := &osaRecorder{}
	osaAlloc(t, c, 0, osaFlow(0), all)
	osaAlloc(t, c, 0, osaFlow(1), all)
	if p := osaAlloc(t, c, 0, osaUDP(0), all); p != 101 {
		t.Errorf("first UDP port %d, want 101", p)
	}
}
