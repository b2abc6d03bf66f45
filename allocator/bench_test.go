package allocator_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// occupiedTable is a Checker over one flow's ports: a bitset of occupied
// ports, with a list of them so that one can be freed at random in O(1).
type occupiedTable struct {
	bits   [1024]uint64
	list   []uint16
	where  [65536]int32 // index in list, or -1
	probes int
}

func (o *occupiedTable) Free(p uint16, _ allocator.Flow) bool {
	o.probes++
	return o.bits[p>>6]&(1<<(p&63)) == 0
}

func (o *occupiedTable) occupy(p uint16) {
	o.bits[p>>6] |= 1 << (p & 63)
	o.where[p] = int32(len(o.list))
	o.list = append(o.list, p)
}

func (o *occupiedTable) release(i int) uint16 {
	p := o.list[i]
	last := o.list[len(o.list)-1]
	o.list[i] = last
	o.where[last] = int32(i)
	o.list = o.list[:len(o.list)-1]
	o.where[p] = -1
	o.bits[p>>6] &^= 1 << (p & 63)
	return p
}

// BenchmarkAllocate measures one Allocate call of every registered
// allocator on its default range with a fraction of the ports, chosen at
// random, already in use. After each allocation a random occupied port is
// released, so the occupancy stays put. It reports probes/op (Checker
// calls per Allocate, the kernel's CPU cost near exhaustion) beside ns/op
// and allocs/op; the hot path allocates nothing.
//
//	go test -run='^$' -bench=Allocate -benchtime=200000x -count=10 -cpu=1 ./allocator
func BenchmarkAllocate(b *testing.B) {
	flow := allocator.Flow{
		Path:     allocator.Connect,
		Src:      netip.MustParseAddr("10.0.0.1"),
		Dst:      netip.MustParseAddrPort("198.18.0.1:443"),
		OrigPort: 40000,
	}
	for _, spec := range allocator.Registry() {
		for _, occ := range []int{0, 50, 90, 99} {
			b.Run(fmt.Sprintf("%s/occupancy=%d%%", spec.Name, occ), func(b *testing.B) {
				r := spec.Profile.Range
				a, err := spec.Build(allocator.Config{Range: r, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				rel, _ := a.(allocator.Releaser)
				tab := &occupiedTable{}
				for i := range tab.where {
					tab.where[i] = -1
				}
				rng := rand.New(rand.NewPCG(1, 2))
				ports := make([]uint16, 0, r.Size())
				for p := int(r.Lo); p <= int(r.Hi); p++ {
					ports = append(ports, uint16(p))
				}
				rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
				for _, p := range ports[:len(ports)*occ/100] {
					tab.occupy(p)
				}
				if rel != nil {
					// A free list must not hold occupied ports.
					drain(a, rel, tab, flow, r)
				}
				var now time.Duration
				fails := 0
				tab.probes = 0
				b.ReportAllocs()
				for b.Loop() {
					now += time.Millisecond
					p, err := a.Allocate(now, flow, tab)
					if err != nil {
						fails++
					} else {
						tab.occupy(p)
					}
					if len(tab.list) > 0 && (err == nil || occ == 0) {
						q := tab.release(rng.IntN(len(tab.list)))
						if rel != nil {
							rel.Release(now, flow, q)
						}
					}
				}
				b.ReportMetric(float64(tab.probes)/float64(b.N), "probes/op")
				b.ReportMetric(float64(fails)/float64(b.N), "fails/op")
			})
		}
	}
}

// drain brings a free-list allocator in line with tab: it allocates every
// port through a Checker that accepts all, then releases those tab does
// not hold, in port order.
func drain(a allocator.Allocator, rel allocator.Releaser, tab *occupiedTable, f allocator.Flow, r allocator.Range) {
	all := &occupiedTable{}
	for {
		p, err := a.Allocate(0, f, all)
		if err != nil {
			break
		}
		all.occupy(p)
	}
	for p := int(r.Lo); p <= int(r.Hi); p++ {
		if tab.bits[p>>6]&(1<<(p&63)) == 0 {
			rel.Release(0, f, uint16(p))
		}
	}
}
