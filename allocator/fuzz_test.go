package allocator_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/allocator/allocatortest"
)

// FuzzParseRange checks that ParseRange never panics and that what it
// accepts is a valid range that prints back to itself.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"32768-60999", "1-65535", "0-1", "5-4", "1024", "-", "a-b", " 7 - 9 ", "1-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := allocator.ParseRange(s)
		if err != nil {
			if !strings.Contains(err.Error(), "range") {
				t.Fatalf("error %q does not name the range", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRange(%q) accepted an invalid range: %v", s, err)
		}
		back, err := allocator.ParseRange(r.String())
		if err != nil || back.Lo != r.Lo || back.Hi != r.Hi {
			t.Fatalf("%q -> %v -> %v, %v", s, r, back, err)
		}
	})
}

// FuzzParseSpans checks that ParseSpans never panics and round-trips
// through FormatSpans.
func FuzzParseSpans(f *testing.F) {
	for _, s := range []string{"8080,9000-9100", "", "0", "1,,2", "65535", "9-8", "1-2,3-4,5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := allocator.ParseSpans(s)
		if err != nil {
			return
		}
		for _, x := range sp {
			if x.Lo == 0 || x.Hi < x.Lo {
				t.Fatalf("ParseSpans(%q) accepted %v", s, x)
			}
		}
		back, err := allocator.ParseSpans(allocator.FormatSpans(sp))
		if err != nil || len(back) != len(sp) {
			t.Fatalf("%q -> %v -> %v, %v", s, sp, back, err)
		}
		for i := range sp {
			if back[i] != sp[i] {
				t.Fatalf("%q -> %v -> %v", s, sp, back)
			}
		}
	})
}

// FuzzAllocators drives every registered allocator with a fuzzed range,
// reserved span, seed and refusal pattern, and checks the contract of the
// allocator package on every call: the port is in the range, not
// reserved and answered free in that call; no call exceeds Spec.Bound; an
// ErrExhausted comes after exactly Bound probes, except from a free list
// whose every port is out.
func FuzzAllocators(f *testing.F) {
	f.Add(uint8(0), uint16(32768), uint16(200), uint16(40), uint16(5), uint64(1), uint64(0x5555))
	f.Add(uint8(6), uint16(1), uint16(0), uint16(0), uint16(0), uint64(2), uint64(0))
	f.Add(uint8(12), uint16(65500), uint16(35), uint16(65510), uint16(3), uint64(3), uint64(^uint64(0)))
	specs := allocator.Registry()
	f.Fuzz(func(t *testing.T, which uint8, lo, span, resLo, resSpan uint16, seed, deny uint64) {
		spec := specs[int(which)%len(specs)]
		if lo == 0 {
			lo = 1
		}
		span %= 2048
		hi := lo + span
		if hi < lo {
			hi = 65535
		}
		r := allocator.Range{Lo: lo, Hi: hi}
		if resSpan > 0 && resLo > 0 && resLo+resSpan%64 >= resLo {
			r.Reserved = []allocator.Span{{Lo: resLo, Hi: resLo + resSpan%64}}
		}
		if r.Usable() == 0 {
			r.Reserved = nil
		}
		a, err := spec.Build(allocator.Config{Range: r, Seed: seed})
		if err != nil {
			t.Fatalf("%s: Build(%v): %v", spec.Name, r, err)
		}
		full, _ := spec.Resolve(allocator.Config{Range: r, Seed: seed})
		bound := spec.Bound(full)
		tab := &allocatortest.Table{Scope: spec.Profile.Scope, Range: r, Deny: func(p uint16) bool { return deny>>(p%64)&1 == 1 }}
		rel, _ := a.(allocator.Releaser)
		flows := allocatortest.Flows(3, r)
		held := 0
		for i := range 300 {
			f := flows[i%len(flows)]
			tab.Reset()
			p, err := a.Allocate(time.Duration(i)*time.Millisecond, f, tab)
			if tab.Probes > bound {
				t.Fatalf("%s on %v: %d probes above the bound %d", spec.Name, r, tab.Probes, bound)
			}
			if errors.Is(err, allocator.ErrExhausted) {
				if tab.Probes != bound && (rel == nil || held < r.Size()) {
					t.Fatalf("%s on %v: ErrExhausted after %d probes, bound %d", spec.Name, r, tab.Probes, bound)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", spec.Name, err)
			}
			if !r.Contains(p) || r.IsReserved(p) || !tab.Answered[p] {
				t.Fatalf("%s on %v: port %d out of range, reserved or not answered free", spec.Name, r, p)
			}
			tab.Hold(p, f)
			held++
		}
	})
}
