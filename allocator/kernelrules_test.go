package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/dchest/siphash"
)

// This file pins rules of the kernel code that the allocators follow,
// each at the exact point where it switches, with expectations worked out
// from the kernel source quoted in the test's comment rather than from
// the model.

// krFree is a Checker that finds every port free.
type krFree struct{}

func (krFree) Free(uint16, Flow) bool { return true }

// krTCP and krUDP are flows from 10.0.0.1 to 198.18.0.1:443.
var (
	krTCP = Flow{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")}
	krUDP = Flow{Path: UDP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")}
)

// krFreeBSD13 builds the FreeBSD 13 model with randomcps cps and
// randomtime rt over 10000..65535, and returns it with the time of its
// first ipport_tick.
func krFreeBSD13(t *testing.T, seed uint64, cps, rt int) (*bsdPick, time.Duration) {
	t.Helper()
	a, err := freebsd13Spec().New(Config{Range: Range{Lo: 10000, Hi: 65535}, Seed: seed,
		Params: map[string]string{"randomcps": fmt.Sprint(cps), "randomtime": fmt.Sprint(rt)}})
	if err != nil {
		t.Fatal(err)
	}
	b := a.(*bsdPick)
	return b, b.nextTick
}

// krSequential makes TCP allocations at the given times and reports, for
// each after the first, whether it took the port after the previous one
// (in_pcb_lport's ++*lastport with no random draw). With 55,536 ports a
// random draw lands there with probability 1/55,535, and the seeds are
// fixed.
func krSequential(t *testing.T, a *bsdPick, times ...time.Duration) []bool {
	t.Helper()
	var seq []bool
	var prev uint16
	for i, at := range times {
		p, err := a.Allocate(at, krTCP, krFree{})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			seq = append(seq, p == prev+1 || prev == 65535 && p == 10000)
		}
		prev = p
	}
	return seq
}

// TestFreeBSD13RandomcpsBoundary: ipport_tick (FreeBSD 13
// sys/netinet/in_pcb.c) keeps random allocation when
//
//	V_ipport_tcpallocs <= V_ipport_tcplastcount + V_ipport_randomcps
//
// so exactly randomcps allocations between two ticks leave the next
// allocations random, and randomcps+1 turn them sequential
// (V_ipport_stoprandom = V_ipport_randomtime). A tick due at the time of
// an allocation runs before it. The allocations are made from the first
// tick T to 1 ns before the next; the tick at T+1 s judges them, and the
// allocations at T+1 s and after follow its verdict.
func TestFreeBSD13RandomcpsBoundary(t *testing.T) {
	for _, cps := range []int{10, 3} {
		for _, extra := range []int{0, 1} {
			for _, seed := range []uint64{1, 2} {
				a, tick := krFreeBSD13(t, seed, cps, 45)
				next := tick + time.Second
				var times []time.Duration
				for i := range cps + extra - 1 {
					times = append(times, tick+time.Duration(i)*time.Millisecond)
				}
				times = append(times, next-time.Nanosecond, next, next+time.Millisecond, next+2*time.Millisecond)
				seq := krSequential(t, a, times...)
				burst, after := seq[:len(seq)-3], seq[len(seq)-3:]
				if slices.Contains(burst, true) {
					t.Errorf("randomcps %d seed %d: sequential before any tick judged a busy second: %v", cps, seed, burst)
				}
				want := []bool{extra == 1, extra == 1, extra == 1}
				if !slices.Equal(after, want) {
					t.Errorf("randomcps %d, %d allocations in a second, seed %d: sequential %v from the tick on, want %v",
						cps, cps+extra, seed, after, want)
				}
			}
		}
	}
}

// TestFreeBSD13IdleCatchUp: ipport_tick runs once a second whether or not
// a socket asks for a port (callout_reset(&ipport_tick_callout, hz, ...)),
// and a tick that sees no more than randomcps new allocations counts
// V_ipport_stoprandom down by one. So after the tick at T+1 s that saw a
// burst sets it to randomtime = 45, the ticks at T+2 s, T+3 s, ... bring
// it to 0 at T+46 s: an allocation after an idle gap is sequential before
// T+46 s (stoprandom still 1 just before) and random from T+46 s on, and
// a gap that ends mid-way leaves the right number of quiet seconds to go.
func TestFreeBSD13IdleCatchUp(t *testing.T) {
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for _, seed := range []uint64{1, 2, 3} {
		for _, tc := range []struct {
			name string
			gaps []float64 // times after T of later allocations, in seconds
			want []bool    // whether each is sequential after the one before
		}{
			// One idle gap of several seconds, ending in the throttle.
			{"idle 5.5 s", []float64{6.5, 6.6}, []bool{true, true}},
			// Idle until just before the 45th quiet tick: still throttled.
			{"idle to T+46s-1ns", []float64{46 - 1e-9, 46}, []bool{true, false}},
			// Idle until exactly the 45th quiet tick: random at once.
			{"idle to T+46s", []float64{46, 46.1, 46.2}, []bool{false, false, false}},
			// Two idle gaps adding up to 45 quiet ticks, one allocation
			// in between (not more than randomcps in its second).
			{"idle 20.5 s then 24.5 s", []float64{21.5, 45.9, 46, 46.1}, []bool{true, true, false, false}},
			// Several idle seconds, then a second with randomcps+1
			// allocations starts randomtime again from its tick.
			{"idle, then another burst", []float64{10.5, 10.6, 10.7, 10.8, 10.9, 10.91, 10.92, 10.93, 10.94, 10.95, 10.96, 55.9, 56}, []bool{true, true, true, true, true, true, true, true, true, true, true, true, false}},
		} {
			a, tick := krFreeBSD13(t, seed, 10, 45)
			// The burst: 11 allocations at T .. T+10 ms, judged at T+1 s.
			var times []time.Duration
			for i := range 11 {
				times = append(times, tick+time.Duration(i)*time.Millisecond)
			}
			times = append(times, tick+sec(1)) // the first sequential one
			for _, g := range tc.gaps {
				times = append(times, tick+sec(g))
			}
			seq := krSequential(t, a, times...)
			if got := seq[11:]; !slices.Equal(got, tc.want) {
				t.Errorf("seed %d, %s: sequential %v after the throttled allocation at T+1s, want %v", seed, tc.name, got, tc.want)
			}
			if !seq[10] {
				t.Errorf("seed %d, %s: the allocation at T+1s after 11 in a second was random, want sequential", seed, tc.name)
			}
		}
	}
}

// TestFreeBSD13TwoTicksDue: with randomtime 2, the burst judged at T+1 s
// sets stoprandom to 2 and the quiet ticks at T+2 s and T+3 s bring it to
// 0. An allocation made exactly at T+3 s, the first since T+1 s, comes
// after both ticks (each runs at its time, before the allocation) and is
// random; one made 1 ns earlier sees only the first and is sequential.
func TestFreeBSD13TwoTicksDue(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		for _, tc := range []struct {
			at   time.Duration // after T
			want bool          // sequential
		}{
			{3*time.Second - time.Nanosecond, true},
			{3 * time.Second, false},
		} {
			a, tick := krFreeBSD13(t, seed, 10, 2)
			var times []time.Duration
			for i := range 11 {
				times = append(times, tick+time.Duration(i)*time.Millisecond)
			}
			times = append(times, tick+time.Second, tick+tc.at)
			seq := krSequential(t, a, times...)
			if !seq[10] || seq[11] != tc.want {
				t.Errorf("seed %d: sequential at T+1s %v, at T+%v %v; want true, %v", seed, seq[10], tc.at, seq[11], tc.want)
			}
		}
	}
}

// TestFreeBSD13UDPStaysRandom: in_pcb_lport draws a random start for UDP
// whatever ipport_stoprandom says (pcbinfo == &V_udbinfo), and keeps a
// separate lastport per PCB table, so a throttled TCP sequence is not
// disturbed by UDP allocations in between.
func TestFreeBSD13UDPStaysRandom(t *testing.T) {
	a, tick := krFreeBSD13(t, 4, 10, 45)
	for i := range 11 {
		if _, err := a.Allocate(tick+time.Duration(i)*time.Millisecond, krTCP, krFree{}); err != nil {
			t.Fatal(err)
		}
	}
	var tcp, udp []uint16
	for i := range 8 {
		at := tick + time.Second + time.Duration(i)*100*time.Millisecond
		p, err := a.Allocate(at, krTCP, krFree{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := a.Allocate(at+time.Millisecond, krUDP, krFree{})
		if err != nil {
			t.Fatal(err)
		}
		tcp, udp = append(tcp, p), append(udp, u)
	}
	for i := 1; i < len(tcp); i++ {
		if tcp[i] != tcp[i-1]+1 {
			t.Errorf("throttled TCP ports %v: not one after the other across UDP allocations %v", tcp, udp)
			break
		}
	}
	seqUDP := 0
	for i := 1; i < len(udp); i++ {
		if udp[i] == udp[i-1]+1 {
			seqUDP++
		}
	}
	if seqUDP > 0 {
		t.Errorf("UDP ports %v while TCP was throttled: %d followed the previous one, want random", udp, seqUDP)
	}
}

// TestLinuxPassKernelLoop compares linuxPass with the loop of
// __inet_hash_connect (net/ipv4/inet_hashtables.c, Linux 5.18 and later)
// written out for every small range and start:
//
//	high = lo + n; remaining = n, or n & ~1 with the parity split and n > 1
//	port = low + offset;
//	for (i = 0; i < remaining; i += step, port += step) {
//		if (unlikely(port >= high)) port -= remaining;
//		... try port ...
//	}
//
// With an odd n and step 2 this wrap rule is what leaves one port out: a
// pass from an even offset above 0 reaches hi and then wraps to lo+1+1,
// never lo; a pass from 0 stops before hi. Every candidate is compared in
// order (a Checker that refuses all), and so is the port and i found when
// exactly one candidate is free.
func TestLinuxPassKernelLoop(t *testing.T) {
	const lo = 40000
	for n := 1; n <= 13; n++ {
		for _, step := range []int{1, 2} {
			remaining := linuxRemaining(n, step == 2)
			for start := 0; start < remaining; start++ {
				var kernel []uint16
				var kernelI []int
				port := lo + start
				for i := 0; i < remaining; i += step {
					if port >= lo+n {
						port -= remaining
					}
					kernel = append(kernel, uint16(port))
					kernelI = append(kernelI, i)
					port += step
				}
				name := fmt.Sprintf("n=%d step=%d start=%d", n, step, start)
				for _, batch := range []bool{false, true} {
					rec := &krRecorder{batch: batch, t: t}
					var ch Checker = rec
					if batch {
						ch = krBatch{rec}
					}
					if _, _, ok := linuxPass(ch, krTCP, lo, n, remaining, start, step); ok || !slices.Equal(rec.probes, kernel) {
						t.Errorf("%s batch=%v: candidates %v (found %v), kernel loop %v", name, batch, rec.probes, ok, kernel)
						continue
					}
					for k, want := range kernel {
						rec := &krRecorder{batch: batch, t: t, free: want}
						ch = rec
						if batch {
							ch = krBatch{rec}
						}
						p, i, ok := linuxPass(ch, krTCP, lo, n, remaining, start, step)
						if !ok || p != want || i != kernelI[k] {
							t.Errorf("%s batch=%v, only %d free: port %d i=%d ok=%v, kernel loop %d i=%d", name, batch, want, p, i, ok, want, kernelI[k])
						}
					}
				}
			}
		}
	}
}

// krRecorder records the candidates it is asked about and finds only
// port free (none when free is 0).
type krRecorder struct {
	t      *testing.T
	batch  bool
	free   uint16
	probes []uint16
}

func (r *krRecorder) Free(p uint16, _ Flow) bool {
	r.probes = append(r.probes, p)
	return p == r.free
}

// krBatch answers whole runs as a Scanner does, and checks that a run's
// offset is a position of its cycle, as a Scanner may assume.
type krBatch struct{ *krRecorder }

func (b krBatch) ScanFree(f Flow, c Cycle, off, n int) (uint16, int, bool) {
	if off < 0 || off >= c.Len {
		b.t.Errorf("ScanFree offset %d outside the cycle's %d positions", off, c.Len)
	}
	return ScanEach(b.krRecorder, f, c, off, n)
}

// TestLinuxOffsetMemoTwoSources: port_offset hashes the source address
// with the destination (secure_ipv4_port_ephemeral(saddr, daddr, dport)),
// so two sources connecting to one destination in the same 10 s bucket
// get two offsets, and the memo of the last one must not answer for the
// other. Compared with a fresh SipHash at every call, alternating and
// repeating the sources, in one bucket and across its edge.
func TestLinuxOffsetMemoTwoSources(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.0.1:443")
	a := Flow{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: dst}
	b := Flow{Path: Connect, Src: netip.MustParseAddr("10.0.0.2"), Dst: dst}
	// Seeds whose clock phases lie in both halves of the 10 s period, so
	// that a bucket computed from a wrong phase would still cover the edge.
	halves := [2]bool{}
	for seed := uint64(1); seed <= 12; seed++ {
		l := newLinuxConnect(Range{Lo: 32768, Hi: 60999}, seed, 1<<16, false)
		halves[min(1, int(2*l.phase/linuxShufflePeriod))] = true
		if linuxSecurePortEphemeral(l.k0, l.k1, a.Src, dst, 0) == linuxSecurePortEphemeral(l.k0, l.k1, b.Src, dst, 0) {
			t.Fatal("the two sources hash alike; the test cannot tell them apart")
		}
		edge := linuxShufflePeriod - l.phase // the first bucket edge
		times := []time.Duration{0, 1, 2, 3, edge - 1, edge - 1, edge, edge, edge + 1, 2*edge - 1, 2 * edge}
		flows := []Flow{a, b, b, a, a, b, b, a, b, b, b}
		for i, now := range times {
			f := flows[i]
			want := linuxSecurePortEphemeral(l.k0, l.k1, f.Src, f.Dst, linuxTimeSeed(now, l.phase))
			if got := l.portOffset(now, f); got != want {
				t.Errorf("seed %d, call %d at %v from %v: offset %#x, fresh SipHash %#x", seed, i, now, f.Src, got, want)
			}
		}
	}
	if !halves[0] || !halves[1] {
		t.Fatalf("clock phases in the halves of the period: %v; want both", halves)
	}
	// Through Allocate: each source's first port is its own offset's.
	for _, f := range []Flow{a, b, a, b} {
		fresh := newLinuxConnect(Range{Lo: 32768, Hi: 60999}, 3, 1<<16, false)
		want, err := fresh.Allocate(5, f, krFree{})
		if err != nil {
			t.Fatal(err)
		}
		l2 := newLinuxConnect(Range{Lo: 32768, Hi: 60999}, 3, 1<<16, false)
		other := a
		if f.Src == a.Src {
			other = b
		}
		l2.portOffset(5, other) // the memo now holds the other source
		if got, err := l2.Allocate(5, f, krFree{}); err != nil || got != want {
			t.Errorf("from %v after a connect from %v: port %d (%v), want %d as on a fresh table", f.Src, other.Src, got, err, want)
		}
	}
}

// krRefRover is nf_nat_l4proto_unique_tuple before commit 6ed5943f8735,
// written as the kernel loop (see netfilterRover), for the default mode
// (no --random): keep the original port if it is in the range and free,
// else search from the protocol's u16 rover. The kernel takes the last
// candidate untested; like the model, the reference tests it.
type krRefRover struct {
	lo, n int
	rover [2]uint16
}

func (r *krRefRover) Allocate(f Flow, c Checker) (uint16, error) {
	if o := int(f.OrigPort); o >= r.lo && o <= r.lo+r.n-1 {
		if c.Free(f.OrigPort, f) {
			return f.OrigPort, nil
		}
		if r.n == 1 {
			return 0, ErrExhausted
		}
	}
	proto := 0
	if f.Path == UDP {
		proto = 1
	}
	off := r.rover[proto] // u16: off++ wraps at 65536
	for i := 0; ; off++ {
		port := uint16(r.lo + int(off)%r.n)
		i++
		if i != r.n && !c.Free(port, f) {
			continue
		}
		r.rover[proto] = off
		if i == r.n && !c.Free(port, f) {
			return 0, ErrExhausted
		}
		return port, nil
	}
}

// TestNetfilterRoverAgainstKernelLoop: the rover is a u16, so a search
// that starts within range_size of 65535 runs to the wrap and restarts at
// position 0; with a range size that does not divide 65536 (100, 7) that
// is not where off % range_size would continue. The original port is
// kept only inside the range: one below and one or two above it are not
// even probed. For rovers on both sides of the wrap, original ports in
// and outside the range, every port refused and one free at each
// position (around the wrap), the model must probe what the kernel loop probes, in order,
// return the same port and leave the same rovers, for TCP and UDP.
func TestNetfilterRoverAgainstKernelLoop(t *testing.T) {
	tcp := Flow{Path: Connect, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddrPort("198.18.0.1:443")}
	udp := tcp
	udp.Path = UDP
	for _, rg := range []Range{{Lo: 1000, Hi: 1099}, {Lo: 2000, Hi: 2006}, {Lo: 3000, Hi: 3000}} {
		n := rg.Size()
		// -1: every port refused; otherwise the position of the one free
		// port: all of them in the small ranges, and in the 100-port
		// range those around the wrap (65535 % 100 = 35) and the ends.
		frees := func(n int) []int {
			if n > 7 {
				return []int{-1, 0, 1, 2, 34, 35, 36, 37, 50, 98, 99}
			}
			out := []int{-1}
			for k := range n {
				out = append(out, k)
			}
			return out
		}
		var rovers []uint16
		for d := -n - 1; d <= 2; d++ {
			rovers = append(rovers, uint16(d)) // 65536 - n - 1 .. 65535, then 0 .. 2
		}
		for _, rover := range rovers {
			for _, orig := range []uint16{0, rg.Lo - 1, rg.Lo, rg.Hi, rg.Hi + 1, rg.Hi + 2} {
				for _, free := range frees(n) {
					deny := func(p uint16) bool { return free < 0 || int(p-rg.Lo) != free }
					m := &netfilterRover{lo: rg.Lo, n: n}
					ref := &krRefRover{lo: int(rg.Lo), n: n}
					m.rover = [2]uint16{rover, rover + 3}
					ref.rover = m.rover
					for _, base := range []Flow{tcp, udp} {
						f := base
						f.OrigPort = orig
						var got, want string
						for _, x := range []struct {
							alloc func(Flow, Checker) (uint16, error)
							out   *string
						}{
							{func(f Flow, c Checker) (uint16, error) { return m.Allocate(0, f, c) }, &got},
							{ref.Allocate, &want},
						} {
							rec := &lxRecorder{deny: deny, held: map[lxHeldKey]bool{}}
							p, err := x.alloc(f, rec)
							*x.out = fmt.Sprintf("port %d err %v probes %v", p, err, rec.probes)
						}
						if got != want || m.rover != ref.rover {
							t.Fatalf("%v %v, rover %d, original port %d, free position %d:\n  model  %s rovers %v\n  kernel %s rovers %v",
								rg, f.Path, rover, orig, free, got, m.rover, want, ref.rover)
						}
					}
				}
			}
		}
	}
}

// TestRFC6056Alg4CellWrapMidSearch: Algorithm 4 (RFC 6056 §3.3.4)
// increments table[index] on every try, and the cell is 16 bits wide, so
// a search that starts within num_ephemeral of 65535 crosses the cell's
// wrap part-way: the next candidate is (offset + 0) % num_ephemeral, not
// the port after the last one, when num_ephemeral does not divide 65536.
// With the cell set on both sides of the wrap, every port refused and one
// free at each position, the model must try what the RFC's loop tries,
// in order, and leave the cell where it does.
func TestRFC6056Alg4CellWrapMidSearch(t *testing.T) {
	f := krTCP
	for _, rg := range []Range{{Lo: 5000, Hi: 5099}, {Lo: 6000, Hi: 6006}} {
		n := rg.Size()
		for d := -n - 1; d <= 2; d++ {
			// The cell: 65536 - n - 1 .. 65535, then 0 .. 2. The free
			// position: -1 for every port refused, then about 12 across
			// the range.
			cell := uint16(d)
			for free := -1; free < n; free += max(1, n/12) {
				deny := func(p uint16) bool { return free < 0 || int(p-rg.Lo) != free }
				a, err := rfc6056Alg4Spec().New(Config{Range: rg, Seed: 4, Params: map[string]string{"table": "10"}})
				if err != nil {
					t.Fatal(err)
				}
				m := a.(*rfcAlg4)
				idx := m.cell(f)
				off := uint64(uint32(siphash.Hash(m.fk0, m.fk1, m.buf[:])))
				m.table[idx] = cell

				// The RFC's loop.
				ctr := cell
				var want []uint16
				wantPort, wantErr := uint16(0), error(ErrExhausted)
				for count := n; count > 0; count-- {
					p := rg.Lo + uint16((off+uint64(ctr))%uint64(n))
					ctr++
					want = append(want, p)
					if !deny(p) {
						wantPort, wantErr = p, nil
						break
					}
				}

				rec := &lxRecorder{deny: deny, held: map[lxHeldKey]bool{}}
				p, err := m.Allocate(0, f, rec)
				if p != wantPort || !errors.Is(err, wantErr) || !slices.Equal(rec.probes, want) || m.table[idx] != ctr {
					t.Fatalf("%v, cell %d, free position %d:\n  model port %d err %v probes %v cell %d\n  RFC   port %d err %v probes %v cell %d",
						rg, cell, free, p, err, rec.probes, m.table[idx], wantPort, wantErr, want, ctr)
				}
			}
		}
	}
}
