// Package allocatortest is a conformance suite for allocator
// implementations, in the manner of testing/fstest. A program that adds
// its own allocator tests it with one call:
//
//	func TestConformance(t *testing.T) {
//		allocatortest.Run(t, mySpec(), nil) // nil: the default parameters
//	}
//
// Run checks the contract in the allocator package documentation:
//
//   - every port returned is in the range and not reserved;
//   - every port returned is one the Checker answered true for in that call;
//   - no call makes more probes than Spec.Bound;
//   - ErrExhausted comes only once the bound is spent: with every port
//     refused, a call makes exactly Spec.Bound probes. The one exception is
//     an allocator with a free list (an allocator.Releaser), which may fail
//     without a probe when every port of the range is handed out and not
//     yet released, as HAProxy's port ranges do;
//   - an exhaustive allocator finds the single free port of a range;
//   - the same seed and calls give the same ports, with and without a
//     Checker that answers in batches (allocator.Scanner);
//   - a one-port range works.
//
// Table is an in-memory Checker for a program's own property tests.
package allocatortest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// Table is an in-memory Checker for tests. It holds ports per 4-tuple or
// exclusively, refuses reserved ports and any port Deny rejects, counts
// probes and remembers which ports it answered true for since the last
// Reset.
type Table struct {
	// Scope is the sharing rule: FourTuple holds (src, port, dst), Exclusive
	// holds (src, port).
	Scope allocator.Scope
	// Range supplies the reserved ports, which are always refused.
	Range allocator.Range
	// Deny, when not nil, refuses every port for which it returns true.
	Deny func(port uint16) bool

	// Probes counts Free calls since the last Reset.
	Probes int
	// Answered records, since the last Reset, whether each probed port was
	// answered free.
	Answered map[uint16]bool

	held map[holdKey]int
}

type holdKey struct {
	src  netip.Addr
	port uint16
	dst  netip.AddrPort
}

func (t *Table) key(port uint16, f allocator.Flow) holdKey {
	k := holdKey{src: f.Src, port: port}
	if t.Scope == allocator.FourTuple && f.Path == allocator.Connect {
		k.dst = f.Dst
	}
	return k
}

// Free reports whether port is free for f and counts one probe.
func (t *Table) Free(port uint16, f allocator.Flow) bool {
	t.Probes++
	ok := !t.Range.IsReserved(port) && (t.Deny == nil || !t.Deny(port))
	if ok && t.held != nil {
		if t.Scope == allocator.FourTuple && f.Path == allocator.Connect {
			ok = t.held[t.key(port, f)] == 0 && t.held[holdKey{src: f.Src, port: port, dst: bindMark}] == 0
		} else {
			ok = t.held[holdKey{src: f.Src, port: port}] == 0
		}
	}
	if t.Answered == nil {
		t.Answered = make(map[uint16]bool)
	}
	if prev, seen := t.Answered[port]; !seen || !prev {
		t.Answered[port] = ok
	}
	return ok
}

// bindMark marks, in 4-tuple mode, a port held by an exclusive socket.
var bindMark = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)

// Hold records that f now holds port.
func (t *Table) Hold(port uint16, f allocator.Flow) {
	if t.held == nil {
		t.held = make(map[holdKey]int)
	}
	t.held[holdKey{src: f.Src, port: port}]++ // the local port is in use
	if t.Scope == allocator.FourTuple && f.Path == allocator.Connect {
		t.held[t.key(port, f)]++
	} else if t.Scope == allocator.FourTuple {
		t.held[holdKey{src: f.Src, port: port, dst: bindMark}]++
	}
}

// Drop releases a port that f held.
func (t *Table) Drop(port uint16, f allocator.Flow) {
	t.held[holdKey{src: f.Src, port: port}]--
	if t.Scope == allocator.FourTuple && f.Path == allocator.Connect {
		t.held[t.key(port, f)]--
	} else if t.Scope == allocator.FourTuple {
		t.held[holdKey{src: f.Src, port: port, dst: bindMark}]--
	}
}

// Reset clears the probe count and the answers.
func (t *Table) Reset() {
	t.Probes = 0
	clear(t.Answered)
}

// batchTable is a Table that also answers in batches, through
// allocator.ScanEach, so that allocators are exercised on both paths.
type batchTable struct{ *Table }

func (b batchTable) ScanFree(f allocator.Flow, c allocator.Cycle, off, n int) (uint16, int, bool) {
	return allocator.ScanEach(b.Table, f, c, off, n)
}

// Flows returns n connect() flows from one source to n destinations. Each
// carries an original source port inside r, for NAT allocators that try
// to preserve it.
func Flows(n int, r allocator.Range) []allocator.Flow {
	src := netip.MustParseAddr("10.0.0.1")
	out := make([]allocator.Flow, n)
	for i := range out {
		dst := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		orig := r.Lo + uint16((i*7919)%r.Size())
		out[i] = allocator.Flow{Path: allocator.Connect, Src: src, Dst: netip.AddrPortFrom(dst, 443), OrigPort: orig}
	}
	return out
}

// Run checks spec against the allocator contract. params are passed to
// every instance (nil for the defaults).
func Run(t *testing.T, spec allocator.Spec, params map[string]string) {
	t.Helper()
	t.Run("InRangeNotRefusedWithinBound", func(t *testing.T) { testInRange(t, spec, params) })
	t.Run("ExhaustedSpendsBound", func(t *testing.T) { testExhausted(t, spec, params) })
	t.Run("SingleFreePort", func(t *testing.T) { testSingleFree(t, spec, params) })
	t.Run("SameSeedSameSequence", func(t *testing.T) { testDeterministic(t, spec, params) })
	t.Run("OnePortRange", func(t *testing.T) { testOnePort(t, spec, params) })
}

func build(t *testing.T, spec allocator.Spec, r allocator.Range, seed uint64, params map[string]string) (allocator.Allocator, int) {
	t.Helper()
	cfg := allocator.Config{Range: r, Seed: seed, Params: params}
	a, err := spec.Build(cfg)
	if err != nil {
		t.Fatalf("%s: Build(%v): %v", spec.Name, r, err)
	}
	full, err := spec.Resolve(cfg)
	if err != nil {
		t.Fatalf("%s: Resolve: %v", spec.Name, err)
	}
	return a, spec.Bound(full)
}

// scopes returns the scopes to test an allocator under: its own and the
// other one, since a user may combine any allocator with any stack.
func scopes(spec allocator.Spec) []allocator.Scope {
	return []allocator.Scope{spec.Profile.Scope, 1 - spec.Profile.Scope}
}

type heldPort struct {
	port uint16
	flow allocator.Flow
}

// testInRange drives an allocator through a busy table with reserved ports
// and random refusals, holding and releasing ports, and checks every
// answer.
func testInRange(t *testing.T, spec allocator.Spec, params map[string]string) {
	for _, scope := range scopes(spec) {
		t.Run(scope.String(), func(t *testing.T) {
			r := allocator.Range{Lo: 40000, Hi: 40999, Reserved: []allocator.Span{{Lo: 40100, Hi: 40199}, {Lo: 40500, Hi: 40500}}}
			a, bound := build(t, spec, r, 7, params)
			rng := rand.New(rand.NewPCG(1, 2))
			tab := &Table{Scope: scope, Range: r, Deny: func(p uint16) bool { return p%17 == 3 }}
			flows := Flows(4, r)
			rel, _ := a.(allocator.Releaser)
			var held []heldPort
			now := time.Duration(0)
			ok, fails := 0, 0
			for i := range 3000 {
				now += time.Duration(rng.IntN(20)) * time.Millisecond
				f := flows[rng.IntN(len(flows))]
				tab.Reset()
				p, err := a.Allocate(now, f, tab)
				if tab.Probes > bound {
					t.Fatalf("call %d: %d probes, above the bound %d", i, tab.Probes, bound)
				}
				if errors.Is(err, allocator.ErrExhausted) {
					fails++
					if tab.Probes != bound && !(rel != nil && len(held) == r.Size()) {
						t.Fatalf("call %d: ErrExhausted after %d probes; the bound is %d", i, tab.Probes, bound)
					}
				} else if err != nil {
					t.Fatalf("call %d: unexpected error %v", i, err)
				} else {
					ok++
					if !r.Contains(p) {
						t.Fatalf("call %d: port %d outside %v", i, p, r)
					}
					if r.IsReserved(p) {
						t.Fatalf("call %d: reserved port %d returned", i, p)
					}
					if free, asked := tab.Answered[p]; !asked || !free {
						t.Fatalf("call %d: port %d returned but the Checker did not answer it free in this call (asked %v)", i, p, asked)
					}
					tab.Hold(p, f)
					held = append(held, heldPort{p, f})
				}
				// Release about as many as are allocated, and never
				// leave more than 600 ports held.
				for len(held) > 0 && (len(held) > 600 || rng.IntN(3) == 0) {
					j := rng.IntN(len(held))
					h := held[j]
					held[j] = held[len(held)-1]
					held = held[:len(held)-1]
					tab.Drop(h.port, h.flow)
					if rel != nil {
						rel.Release(now, h.flow, h.port)
					}
				}
			}
			if ok == 0 {
				t.Fatalf("no call succeeded in 3000 (%d failed)", fails)
			}
		})
	}
}

// testExhausted refuses every port and checks that ErrExhausted comes after
// exactly Bound probes.
func testExhausted(t *testing.T, spec allocator.Spec, params map[string]string) {
	for _, r := range []allocator.Range{{Lo: 32768, Hi: 60999}, {Lo: 1000, Hi: 1009}, {Lo: 5000, Hi: 5100}} {
		a, bound := build(t, spec, r, 3, params)
		tab := &Table{Scope: spec.Profile.Scope, Range: r, Deny: func(uint16) bool { return true }}
		for i, f := range Flows(3, r) {
			tab.Reset()
			p, err := a.Allocate(time.Duration(i)*time.Second, f, tab)
			if !errors.Is(err, allocator.ErrExhausted) {
				t.Fatalf("range %v: every port refused, got port %d, err %v; want ErrExhausted", r, p, err)
			}
			if tab.Probes != bound {
				t.Fatalf("range %v: ErrExhausted after %d probes, want the bound %d", r, tab.Probes, bound)
			}
		}
	}
}

// testSingleFree leaves one port free and checks that an exhaustive
// allocator finds it, and that any allocator that fails has spent its
// bound.
func testSingleFree(t *testing.T, spec allocator.Spec, params map[string]string) {
	r := allocator.Range{Lo: 20000, Hi: 20099}
	for _, free := range []uint16{20000, 20001, 20050, 20098, 20099} {
		a, bound := build(t, spec, r, uint64(free), params)
		tab := &Table{Scope: spec.Profile.Scope, Range: r, Deny: func(p uint16) bool { return p != free }}
		for i, f := range Flows(3, r) {
			tab.Reset()
			p, err := a.Allocate(time.Duration(i)*time.Second, f, tab)
			switch {
			case err == nil && p != free:
				t.Fatalf("only port %d is free, got %d", free, p)
			case err != nil && spec.Exhaustive:
				t.Fatalf("only port %d is free: exhaustive allocator returned %v after %d probes", free, err, tab.Probes)
			case err != nil && tab.Probes != bound:
				t.Fatalf("only port %d is free: failed after %d probes, bound %d", free, tab.Probes, bound)
			}
		}
	}
}

// testDeterministic runs two instances with one seed, one through a plain
// Checker and one through a batch Checker, and requires the same ports.
func testDeterministic(t *testing.T, spec allocator.Spec, params map[string]string) {
	r := allocator.Range{Lo: 32768, Hi: 33767}
	seq := func(batch bool, seed uint64) []string {
		a, _ := build(t, spec, r, seed, params)
		tab := &Table{Scope: spec.Profile.Scope, Range: r}
		var c allocator.Checker = tab
		if batch {
			c = batchTable{tab}
		}
		rel, _ := a.(allocator.Releaser)
		flows := Flows(5, r)
		var out []string
		var held []heldPort
		for i := range 2000 {
			f := flows[i%len(flows)]
			now := time.Duration(i) * 7 * time.Millisecond
			p, err := a.Allocate(now, f, c)
			out = append(out, fmt.Sprintf("%d/%v", p, err))
			if err == nil {
				tab.Hold(p, f)
				held = append(held, heldPort{p, f})
			}
			if len(held) > 300 {
				h := held[0]
				held = held[1:]
				tab.Drop(h.port, h.flow)
				if rel != nil {
					rel.Release(now, h.flow, h.port)
				}
			}
		}
		return out
	}
	a, b, c := seq(false, 11), seq(false, 11), seq(true, 11)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, call %d: %s then %s", i, a[i], b[i])
		}
		if a[i] != c[i] {
			t.Fatalf("same seed, call %d: %s through Free, %s through ScanFree", i, a[i], c[i])
		}
	}
}

// testOnePort checks a range of one port: it is handed out when free and
// the allocator fails cleanly when it is not.
func testOnePort(t *testing.T, spec allocator.Spec, params map[string]string) {
	r := allocator.Range{Lo: 50000, Hi: 50000}
	a, bound := build(t, spec, r, 5, params)
	f := Flows(1, r)[0]
	tab := &Table{Scope: allocator.Exclusive, Range: r}
	rel, _ := a.(allocator.Releaser)
	for round := range 3 {
		tab.Reset()
		p, err := a.Allocate(time.Duration(round)*time.Second, f, tab)
		if err != nil || p != 50000 {
			t.Fatalf("round %d: one free port 50000: got %d, %v", round, p, err)
		}
		tab.Hold(p, f)
		tab.Reset()
		if p2, err := a.Allocate(time.Duration(round)*time.Second, f, tab); !errors.Is(err, allocator.ErrExhausted) {
			t.Fatalf("round %d: the only port is held: got %d, %v; want ErrExhausted", round, p2, err)
		}
		if _, isRel := a.(allocator.Releaser); tab.Probes != bound && !isRel {
			t.Fatalf("round %d: one held port: %d probes, bound %d", round, tab.Probes, bound)
		}
		tab.Drop(p, f)
		if rel != nil {
			rel.Release(time.Duration(round)*time.Second, f, p)
		}
	}
}
