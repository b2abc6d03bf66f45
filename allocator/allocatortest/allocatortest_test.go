package allocatortest

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// The kit is tested from both sides: it must accept every registered
// allocator and two simple correct ones, and it must reject each of a set
// of deliberately broken allocators with the failures that name its
// fault. A rejection can only be observed from outside the failing test,
// so each broken allocator runs in a child process of this test binary.

// fake is a test allocator. Its search starts at a position derived from
// the destination (so that refusals are common) and walks the range
// upwards; the fault fields break it in one way each.
type fake struct {
	lo     uint16
	n      int
	out    int // ports handed out and not released (faultLostRelease)
	offset int // added to the start; differs between instances with shared state
	fault  string
}

// Faults of the broken allocators, each one violation of the contract.
const (
	faultNone          = ""
	faultIgnoreAnswer  = "ignore-answer"  // returns its first candidate, free or not
	faultReserved      = "reserved"       // takes the range's second hundred as free without asking
	faultOverBound     = "over-bound"     // declares a bound of 5 probes but searches the whole range
	faultGiveUp        = "give-up"        // gives up after the first refusal
	faultOtherError    = "other-error"    // reports a refusal as an error of its own
	faultNeverSucceeds = "never-succeeds" // asks about one port (its bound), then gives up
	faultBounded       = "bounded"        // tries at most 8 ports (correct unless it claims to be exhaustive)
	faultSharedState   = "shared-state"   // instances share a counter, so one seed does not give one sequence
	faultBatchSkips    = "batch-skips"    // through a Scanner, skips one more port after a refusal
	faultLate          = "late"           // from 1 s of virtual time on: gives up after a refusal, starts half a range further on through a Scanner, probes a held one-port range twice
	faultOnePortHeld   = "one-port-held"  // returns the only port of a one-port range without asking
	faultOnePortLate   = "one-port-late"  // from 1 s of virtual time on, refuses a one-port range's free port
	faultLostRelease   = "lost-release"   // a free list that loses releases made after 1 s (one-port range)
)

func (a *fake) start(f allocator.Flow) int {
	b := f.Dst.Addr().As4()
	return ((int(b[2])*256+int(b[3]))*97 + a.offset) % a.n
}

func (a *fake) Allocate(now time.Duration, f allocator.Flow, c allocator.Checker) (uint16, error) {
	late := a.fault == faultLate && now >= time.Second
	if a.n == 1 {
		p := a.lo
		switch {
		case a.fault == faultOnePortHeld:
			return p, nil
		case a.fault == faultLostRelease && a.out > 0:
			return 0, allocator.ErrExhausted // the free list is empty
		case a.fault == faultOnePortLate && now >= time.Second:
			c.Free(p, f)
			return 0, allocator.ErrExhausted
		}
		if c.Free(p, f) && a.fault != faultNeverSucceeds {
			if a.fault == faultLostRelease {
				a.out++
			}
			return p, nil
		}
		if late {
			c.Free(p, f)
		}
		return 0, allocator.ErrExhausted
	}
	pos := a.start(f)
	if _, batch := c.(allocator.Scanner); batch && late {
		pos = (pos + a.n/2) % a.n
	}
	tries := a.n
	switch a.fault {
	case faultBounded:
		tries = min(8, a.n)
	case faultNeverSucceeds:
		tries = 1
	}
	for i := 0; i < tries; i++ {
		p := a.lo + uint16((pos+i)%a.n)
		if a.fault == faultReserved && p >= a.lo+100 && p < a.lo+200 {
			return p, nil
		}
		if c.Free(p, f) && a.fault != faultNeverSucceeds {
			return p, nil
		}
		switch a.fault {
		case faultIgnoreAnswer:
			return p, nil
		case faultOtherError:
			return 0, errors.New("no luck")
		case faultGiveUp:
			return 0, allocator.ErrExhausted
		case faultBatchSkips:
			if _, batch := c.(allocator.Scanner); batch {
				i++
			}
		}
		if late {
			return 0, allocator.ErrExhausted
		}
	}
	return 0, allocator.ErrExhausted
}

// releasingFake is a fake with a free list's Release method, for the rule
// that only an allocator with every port handed out may fail early.
type releasingFake struct{ *fake }

func (r releasingFake) Release(now time.Duration, _ allocator.Flow, _ uint16) {
	if r.fault == faultLostRelease && now < time.Second {
		r.out--
	}
}

func fakeSpec(fault string, exhaustive, releaser bool) allocator.Spec {
	var shared *int
	if fault == faultSharedState {
		shared = new(int)
	}
	name := "fake-" + fault
	if fault == faultNone {
		name = "fake-correct"
	}
	if releaser {
		name += "-releaser"
	}
	return allocator.Spec{
		Name:    name,
		Summary: "a test allocator",
		Source:  "allocatortest_test.go",
		Profile: allocator.Profile{Range: allocator.Range{Lo: 1024, Hi: 65535}, TimeWait: time.Minute, Scope: allocator.FourTuple},
		Bound: func(cfg allocator.Config) int {
			if fault == faultBounded {
				return min(8, cfg.Range.Size())
			}
			if fault == faultNeverSucceeds {
				return 1
			}
			if fault == faultOverBound {
				return min(5, cfg.Range.Size())
			}
			return cfg.Range.Size()
		},
		Exhaustive: exhaustive,
		New: func(cfg allocator.Config) (allocator.Allocator, error) {
			a := &fake{lo: cfg.Range.Lo, n: cfg.Range.Size(), fault: fault}
			if shared != nil {
				*shared++ // every instance starts one port further on
				a.offset = *shared
			}
			if fault == "new-fails" {
				return nil, errors.New("cannot start")
			}
			if releaser {
				return releasingFake{a}, nil
			}
			return a, nil
		},
	}
}

// broken lists the allocators the kit must reject, by the name the child
// process is given.
var broken = map[string]allocator.Spec{
	"ignore-answer":             fakeSpec(faultIgnoreAnswer, true, false),
	"reserved":                  fakeSpec(faultReserved, true, false),
	"over-bound":                fakeSpec(faultOverBound, true, false),
	"give-up":                   fakeSpec(faultGiveUp, false, false),
	"give-up-releaser":          fakeSpec(faultGiveUp, false, true),
	"other-error":               fakeSpec(faultOtherError, false, false),
	"never-succeeds":            fakeSpec(faultNeverSucceeds, false, false),
	"bounded-claims-exhaustive": fakeSpec(faultBounded, true, false),
	"shared-state":              fakeSpec(faultSharedState, true, false),
	"batch-skips":               fakeSpec(faultBatchSkips, true, false),
	"late":                      fakeSpec(faultLate, true, false),
	"one-port-held":             fakeSpec(faultOnePortHeld, true, false),
	"one-port-late":             fakeSpec(faultOnePortLate, true, false),
	"lost-release":              fakeSpec(faultLostRelease, true, true),
	"new-fails":                 fakeSpec("new-fails", true, false),
}

// TestBrokenChild is the child process of TestRunRejectsBrokenAllocators.
func TestBrokenChild(t *testing.T) {
	name := os.Getenv("ALLOCATORTEST_BROKEN")
	if name == "" {
		t.Skip("runs only as a child of TestRunRejectsBrokenAllocators")
	}
	Run(t, broken[name], nil)
}

// failureLine matches the lines of go test -v output that matter: a
// failed test and a message, without timings and file positions.
var (
	failLine = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)
	msgLine  = regexp.MustCompile(`^\s+allocatortest(?:_test)?\.go:\d+: (.*)$`)
)

// runBroken runs Run on broken[name] in a child process and returns its
// failed tests and messages, in order.
func runBroken(t *testing.T, name string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "ALLOCATORTEST_BROKEN="+name)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("%s: the child run ended with %v, want a test failure (exit status 1); output:\n%s", name, err, out)
	}
	var got []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if m := failLine.FindStringSubmatch(line); m != nil {
			got = append(got, "FAIL "+m[1])
		} else if m := msgLine.FindStringSubmatch(line); m != nil {
			got = append(got, "  "+m[1])
		}
	}
	return got
}

// TestRunRejectsBrokenAllocators checks that each rule of the contract
// catches an allocator that breaks it, and only the subtests whose rule is
// broken fail, with the message that names the fault.
func TestRunRejectsBrokenAllocators(t *testing.T) {
	if os.Getenv("ALLOCATORTEST_BROKEN") != "" {
		t.Skip("the child runs only TestBrokenChild")
	}
	want := map[string][]string{
		"batch-skips": {
			"  same seed, call 5: 32769/<nil> through Free, 32770/<nil> through ScanFree",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/SameSeedSameSequence",
		},
		"give-up": {
			"  call 1: ErrExhausted after 1 probes; the bound is 1000",
			"  call 1: ErrExhausted after 1 probes; the bound is 1000",
			"  range 32768-60999: ErrExhausted after 1 probes, want the bound 28232",
			"  only port 20000 is free: failed after 1 probes, bound 100",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
			"FAIL TestBrokenChild/SingleFreePort",
		},
		"give-up-releaser": {
			"  call 1: ErrExhausted after 1 probes; the bound is 1000",
			"  call 1: ErrExhausted after 1 probes; the bound is 1000",
			"  range 32768-60999: ErrExhausted after 1 probes, want the bound 28232",
			"  only port 20000 is free: failed after 1 probes, bound 100",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
			"FAIL TestBrokenChild/SingleFreePort",
		},
		"bounded-claims-exhaustive": {
			"  only port 20050 is free: exhaustive allocator returned no ephemeral port available after 8 probes",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/SingleFreePort",
		},
		"ignore-answer": {
			"  call 1: port 40000 returned but the Checker did not answer it free in this call (asked true)",
			"  call 1: port 40000 returned but the Checker did not answer it free in this call (asked true)",
			"  range 32768-60999: every port refused, got port 32768, err <nil>; want ErrExhausted",
			"  only port 20000 is free, got 20097",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
			"FAIL TestBrokenChild/SingleFreePort",
		},
		"late": {
			"  call 96: ErrExhausted after 1 probes; the bound is 1000",
			"  call 96: ErrExhausted after 1 probes; the bound is 1000",
			"  range 32768-60999: ErrExhausted after 1 probes, want the bound 28232",
			"  only port 20000 is free: exhaustive allocator returned no ephemeral port available after 1 probes",
			"  same seed, call 143: 0/no ephemeral port available through Free, 33559/<nil> through ScanFree",
			"  round 1: one held port: 2 probes, bound 1",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
			"FAIL TestBrokenChild/SingleFreePort",
			"FAIL TestBrokenChild/SameSeedSameSequence",
			"FAIL TestBrokenChild/OnePortRange",
		},
		"never-succeeds": {
			"  no call succeeded in 3000 (3000 failed)",
			"  no call succeeded in 3000 (3000 failed)",
			"  round 0: one free port 50000: got 0, no ephemeral port available",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/OnePortRange",
		},
		"new-fails": {
			"  fake-new-fails: Build(40000-40999 reserved 40100-40199,40500): allocator fake-new-fails: cannot start",
			"  fake-new-fails: Build(40000-40999 reserved 40100-40199,40500): allocator fake-new-fails: cannot start",
			"  fake-new-fails: Build(32768-60999): allocator fake-new-fails: cannot start",
			"  fake-new-fails: Build(20000-20099): allocator fake-new-fails: cannot start",
			"  fake-new-fails: Build(32768-33767): allocator fake-new-fails: cannot start",
			"  fake-new-fails: Build(50000-50000): allocator fake-new-fails: cannot start",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
			"FAIL TestBrokenChild/SingleFreePort",
			"FAIL TestBrokenChild/SameSeedSameSequence",
			"FAIL TestBrokenChild/OnePortRange",
		},
		"one-port-late": {
			"  round 1: one free port 50000: got 0, no ephemeral port available",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/OnePortRange",
		},
		"lost-release": {
			"  round 2: one free port 50000: got 0, no ephemeral port available",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/OnePortRange",
		},
		"one-port-held": {
			"  round 0: the only port is held: got 50000, <nil>; want ErrExhausted",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/OnePortRange",
		},
		"other-error": {
			"  call 1: unexpected error no luck",
			"  call 1: unexpected error no luck",
			"  range 32768-60999: every port refused, got port 0, err no luck; want ErrExhausted",
			"  only port 20000 is free: failed after 1 probes, bound 100",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
			"FAIL TestBrokenChild/SingleFreePort",
		},
		"over-bound": {
			"  call 4: 7 probes, above the bound 5",
			"  call 4: 7 probes, above the bound 5",
			"  range 32768-60999: ErrExhausted after 28232 probes, want the bound 5",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
		},
		"reserved": {
			"  call 4: reserved port 40194 returned",
			"  call 4: reserved port 40194 returned",
			"  range 32768-60999: every port refused, got port 32868, err <nil>; want ErrExhausted",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/4-tuple",
			"FAIL TestBrokenChild/InRangeNotRefusedWithinBound/exclusive",
			"FAIL TestBrokenChild/ExhaustedSpendsBound",
		},
		"shared-state": {
			"  same seed, call 0: 32779/<nil> then 32780/<nil>",
			"FAIL TestBrokenChild",
			"FAIL TestBrokenChild/SameSeedSameSequence",
		},
	}
	for _, name := range slices.Sorted(maps.Keys(broken)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runBroken(t, name)
			if !slices.Equal(got, want[name]) {
				t.Errorf("the kit on %s:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want[name], "\n"))
			}
		})
	}
	if len(want) != len(broken) {
		t.Errorf("%d expectations for %d broken allocators", len(want), len(broken))
	}
}

// TestRunAcceptsCorrectAllocators runs the kit on correct allocators: an
// exhaustive search, the same with a free list's Release method, and a
// search of at most 8 ports that does not claim to be exhaustive and so
// often spends exactly its bound (the registered allocators are run
// through the kit by the allocator package's tests).
func TestRunAcceptsCorrectAllocators(t *testing.T) {
	if os.Getenv("ALLOCATORTEST_BROKEN") != "" {
		t.Skip("the child runs only TestBrokenChild")
	}
	specs := []allocator.Spec{fakeSpec(faultNone, true, false), fakeSpec(faultNone, true, true), fakeSpec(faultBounded, false, false)}
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			Run(t, s, nil)
		})
	}
}

// TestScopes checks that the kit drives an allocator under its own scope
// and the other one.
func TestScopes(t *testing.T) {
	for _, own := range []allocator.Scope{allocator.FourTuple, allocator.Exclusive} {
		s := fakeSpec(faultNone, true, false)
		s.Profile.Scope = own
		got := scopes(s)
		want := []allocator.Scope{own, allocator.Exclusive}
		if own == allocator.Exclusive {
			want[1] = allocator.FourTuple
		}
		if !slices.Equal(got, want) {
			t.Errorf("scopes of a %v allocator: %v, want %v", own, got, want)
		}
	}
}

// TestFlows checks the flows the kit drives allocators with: one source,
// destinations 198.18.x.y:443 numbered from 0, and original ports spread
// over the range by steps of 7919.
func TestFlows(t *testing.T) {
	r := allocator.Range{Lo: 1000, Hi: 1009}
	got := Flows(3, r)
	var s []string
	for _, f := range got {
		s = append(s, fmt.Sprintf("%v %v->%v orig %d", f.Path, f.Src, f.Dst, f.OrigPort))
	}
	want := []string{
		"connect 10.0.0.1->198.18.0.0:443 orig 1000",
		"connect 10.0.0.1->198.18.0.1:443 orig 1009",
		"connect 10.0.0.1->198.18.0.2:443 orig 1008",
	}
	if !slices.Equal(s, want) {
		t.Errorf("Flows(3, %v):\n%s\nwant\n%s", r, strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
	if f := Flows(300, allocator.Range{Lo: 2000, Hi: 65535})[258]; f.Dst != netip.MustParseAddrPort("198.18.1.2:443") || f.OrigPort != 2000+258*7919%63536 {
		t.Errorf("Flows(300)[258] = %v orig %d, want 198.18.1.2:443 orig %d", f.Dst, f.OrigPort, 2000+258*7919%63536)
	}
}

// TestTable checks the in-memory Checker: the 4-tuple and exclusive
// sharing rules, a port held by an exclusive socket in 4-tuple mode,
// reserved and denied ports, the probe count and the answers.
func TestTable(t *testing.T) {
	src := netip.MustParseAddr("10.0.0.1")
	other := netip.MustParseAddr("10.0.0.2")
	d1 := netip.MustParseAddrPort("198.18.0.1:443")
	d2 := netip.MustParseAddrPort("198.18.0.2:443")
	c1 := allocator.Flow{Path: allocator.Connect, Src: src, Dst: d1}
	c2 := allocator.Flow{Path: allocator.Connect, Src: src, Dst: d2}
	c3 := allocator.Flow{Path: allocator.Connect, Src: other, Dst: d1}
	u1 := allocator.Flow{Path: allocator.UDP, Src: src, Dst: d1}
	b1 := allocator.Flow{Path: allocator.Bind, Src: src}
	r := allocator.Range{Lo: 100, Hi: 199, Reserved: []allocator.Span{{Lo: 150, Hi: 150}}}

	type step struct {
		op   string // "free", "hold", "drop"
		port uint16
		f    allocator.Flow
		want bool // for "free"
	}
	for _, tc := range []struct {
		name  string
		scope allocator.Scope
		steps []step
	}{
		{"4-tuple: a connect holds its destination only", allocator.FourTuple, []step{
			{"free", 120, c1, true},
			{"hold", 120, c1, false},
			{"free", 120, c1, false},
			{"free", 120, c2, true},
			{"free", 120, c3, true},
			{"free", 120, u1, false}, // a UDP socket needs the local port to itself
			{"free", 121, u1, true},
			{"drop", 120, c1, false},
			{"free", 120, c1, true},
			{"free", 120, u1, true},
		}},
		{"4-tuple: a bound socket holds the local port for every destination", allocator.FourTuple, []step{
			{"hold", 130, b1, false},
			{"free", 130, c1, false},
			{"free", 130, c2, false},
			{"free", 130, c3, true},
			{"free", 130, u1, false},
			{"drop", 130, b1, false},
			{"free", 130, c1, true},
			{"free", 130, c2, true},
		}},
		{"4-tuple: UDP holds the local port for every destination", allocator.FourTuple, []step{
			{"hold", 131, u1, false},
			{"free", 131, c2, false},
			{"drop", 131, u1, false},
			{"free", 131, c2, true},
		}},
		{"4-tuple: two holds of one 4-tuple need two drops", allocator.FourTuple, []step{
			{"hold", 132, c1, false},
			{"hold", 132, c1, false},
			{"drop", 132, c1, false},
			{"free", 132, c1, false},
			{"drop", 132, c1, false},
			{"free", 132, c1, true},
		}},
		{"exclusive: a connect holds the local port", allocator.Exclusive, []step{
			{"free", 120, c1, true},
			{"hold", 120, c1, false},
			{"free", 120, c2, false},
			{"free", 120, c3, true},
			{"free", 120, u1, false},
			{"drop", 120, c1, false},
			{"free", 120, c2, true},
		}},
		{"reserved and denied ports are refused", allocator.FourTuple, []step{
			{"free", 150, c1, false},
			{"free", 151, c1, true},
			{"free", 166, c1, false}, // denied
			{"free", 167, c1, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := &Table{Scope: tc.scope, Range: r, Deny: func(p uint16) bool { return p == 166 }}
			probes := 0
			for i, s := range tc.steps {
				switch s.op {
				case "hold":
					tab.Hold(s.port, s.f)
				case "drop":
					tab.Drop(s.port, s.f)
				case "free":
					probes++
					if got := tab.Free(s.port, s.f); got != s.want {
						t.Errorf("step %d: Free(%d, %v %v->%v) = %v, want %v", i, s.port, s.f.Path, s.f.Src, s.f.Dst, got, s.want)
					}
					if tab.Probes != probes {
						t.Errorf("step %d: Probes %d, want %d", i, tab.Probes, probes)
					}
				}
			}
		})
	}

	// Answers: a port answered free once in a call counts as answered free.
	tab := &Table{Scope: allocator.Exclusive, Range: r}
	tab.Free(120, c1)
	tab.Hold(120, c1)
	tab.Free(120, c2)
	tab.Free(121, c2)
	tab.Hold(121, c2)
	tab.Free(121, c1)
	tab.Drop(121, c2)
	tab.Free(121, c1)
	want := map[uint16]bool{120: true, 121: true}
	if !sameAnswers(tab.Answered, want) || tab.Probes != 5 {
		t.Errorf("answers %v after 5 probes (Probes %d), want %v", tab.Answered, tab.Probes, want)
	}
	tab2 := &Table{Scope: allocator.Exclusive, Range: r}
	tab2.Hold(122, c1)
	tab2.Free(122, c2)
	if want := map[uint16]bool{122: false}; !sameAnswers(tab2.Answered, want) {
		t.Errorf("answers %v, want %v", tab2.Answered, want)
	}
	tab.Reset()
	if tab.Probes != 0 || len(tab.Answered) != 0 {
		t.Errorf("after Reset: Probes %d, answers %v; want none", tab.Probes, tab.Answered)
	}
	// A table that has never held a port refuses only reserved and denied
	// ports.
	empty := &Table{Scope: allocator.FourTuple, Range: r}
	if !empty.Free(120, c1) || empty.Free(150, c1) {
		t.Errorf("empty table: Free(120) %v, Free(150 reserved) %v; want true, false", empty.Free(120, c1), empty.Free(150, c1))
	}
}

func sameAnswers(a, b map[uint16]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
