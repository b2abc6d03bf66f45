package bench

import (
	"net/netip"
	"testing"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// TestStateMemory: the memory estimate covers a starting state, one
// table per (source, destination) pair it holds.
func TestStateMemory(t *testing.T) {
	spec, err := allocator.Lookup("linux")
	if err != nil {
		t.Fatal(err)
	}
	st := NewSetup(spec.Profile)
	before := st.EstimateMemory(nil)
	for i := range 1000 {
		st.Start = append(st.Start, workload.StateRecord{
			Src: netip.MustParseAddr("10.0.0.1"), Port: uint16(40000 + i),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}), 443), State: workload.Established, Remaining: workload.Forever,
		})
	}
	// 1000 sockets of 112 bytes and 1000 one-port tables of 536 bytes,
	// doubled for the garbage collector as the rest of the estimate.
	if got, want := st.EstimateMemory(nil)-before, 2*1000*(112+536.0); got != want {
		t.Errorf("a 1000-socket state adds %v bytes to the estimate, want %v", got, want)
	}
}
