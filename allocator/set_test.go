package allocator_test

import (
	"strings"
	"testing"

	"github.com/portsim/portsim/allocator"
)

// mine is a minimal but complete Spec: the textbook sequential search
// under another name.
func mine(name string) allocator.Spec {
	s, err := allocator.Builtins().Lookup("sequential")
	if err != nil {
		panic(err)
	}
	s.Name = name
	return s
}

func TestNewSet(t *testing.T) {
	s, err := allocator.NewSet(mine("my-alg"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Len(), allocator.Builtins().Len()+1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	if names := s.Names(); names[len(names)-1] != "my-alg" {
		t.Errorf("the extra allocator is not last: %v", names)
	}
	if sp, err := s.Lookup("my-alg"); err != nil || sp.Name != "my-alg" {
		t.Errorf("Lookup(my-alg) = %v, %v", sp.Name, err)
	}
	// The built-in set does not see it: sets are values.
	if _, err := allocator.Builtins().Lookup("my-alg"); err == nil {
		t.Error("Builtins() found an allocator added to another set")
	}
	_, err = s.Lookup("my-agl")
	if err == nil || !strings.Contains(err.Error(), `unknown allocator "my-agl" (did you mean "my-alg"?)`) {
		t.Errorf("Lookup(my-agl) error = %v", err)
	}
}

func TestNewSetRejects(t *testing.T) {
	noNew := mine("x")
	noNew.New = nil
	noBound := mine("y")
	noBound.Bound = nil
	noSummary := mine("u")
	noSummary.Summary = ""
	noSource := mine("z")
	noSource.Source = ""
	badRange := mine("w")
	badRange.Profile.Range = allocator.Range{Lo: 9, Hi: 3}
	dupParam := mine("v")
	dupParam.Params = []allocator.Param{{Name: "a"}, {Name: "a"}}
	for _, c := range []struct {
		spec allocator.Spec
		want string
	}{
		{mine("linux"), `allocator "linux" is already registered`},
		{mine("My Alg"), `allocator name "My Alg": expected lower-case letters`},
		{mine(""), `allocator name "": expected`},
		{mine("a-"), `allocator name "a-": expected`},
		{noNew, "allocator x: New is nil"},
		{noBound, "allocator y: Bound is nil"},
		{noSource, "allocator z: Source is empty"},
		{noSummary, "allocator u: Summary is empty"},
		{badRange, "allocator w: Profile: "},
		{dupParam, `allocator v: parameter names must be non-empty and distinct ("a")`},
	} {
		_, err := allocator.NewSet(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSet(%q): error %v, want one containing %q", c.spec.Name, err, c.want)
		}
	}
	if _, err := allocator.NewSet(mine("a"), mine("a")); err == nil {
		t.Error("NewSet accepted the same name twice")
	}
}
