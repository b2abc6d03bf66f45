package allocator

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/portsim/portsim/internal/suggest"
)

// Set is a collection of allocators by name: portsim's built-in ones and
// any a program adds. It is a plain value, built once where a program
// starts (the command line, a test, a user's own main) and passed down to
// whatever resolves names; there is no registry state to mutate.
type Set struct {
	specs []Spec
}

// Builtins returns the set of portsim's own allocators, in the order
// `portsim list` prints them (see Registry).
func Builtins() Set { return Set{specs: Registry()} }

// NewSet returns the built-in allocators followed by extra, in the order
// given. Each extra Spec must be complete and its name new: see
// ValidateSpec.
func NewSet(extra ...Spec) (Set, error) {
	s := Builtins()
	for _, e := range extra {
		if err := ValidateSpec(e); err != nil {
			return Set{}, err
		}
		if _, err := s.Lookup(e.Name); err == nil {
			return Set{}, fmt.Errorf("allocator %q is already registered; choose another name", e.Name)
		}
		s.specs = append(s.specs, e)
	}
	return s, nil
}

// validName is the form of an allocator name: lower-case words of
// letters and digits joined by '-' or '.', as in "linux-5.12".
var validName = regexp.MustCompile(`^[a-z][a-z0-9]*([.-][a-z0-9]+)*$`)

// ValidateSpec checks that a Spec can be registered: a name of lower-case
// letters, digits, '-' and '.' (at most 40 characters), a Summary and a
// Source, a valid default Range, and the Bound and New functions.
func ValidateSpec(s Spec) error {
	switch {
	case !validName.MatchString(s.Name) || len(s.Name) > 40:
		return fmt.Errorf("allocator name %q: expected lower-case letters and digits joined by '-' or '.', such as my-alg or linux-5.12, at most 40 characters", s.Name)
	case s.Summary == "":
		return fmt.Errorf("allocator %s: Summary is empty; say in one line what the algorithm does", s.Name)
	case s.Source == "":
		return fmt.Errorf("allocator %s: Source is empty; name what it models (an RFC section, a kernel file and function, a paper)", s.Name)
	case s.New == nil:
		return fmt.Errorf("allocator %s: New is nil", s.Name)
	case s.Bound == nil:
		return fmt.Errorf("allocator %s: Bound is nil; it returns the most probes one Allocate call makes", s.Name)
	}
	if err := s.Profile.Range.Validate(); err != nil {
		return fmt.Errorf("allocator %s: Profile: %w", s.Name, err)
	}
	seen := map[string]bool{}
	for _, p := range s.Params {
		if p.Name == "" || seen[p.Name] {
			return fmt.Errorf("allocator %s: parameter names must be non-empty and distinct (%q)", s.Name, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// Specs returns the allocators of the set, in order. The slice is a
// copy.
func (s Set) Specs() []Spec { return slices.Clone(s.specs) }

// Len returns the number of allocators in the set.
func (s Set) Len() int { return len(s.specs) }

// Names returns the names of the set's allocators, in order.
func (s Set) Names() []string {
	names := make([]string, len(s.specs))
	for i, sp := range s.specs {
		names[i] = sp.Name
	}
	return names
}

// Lookup returns the allocator called name. An unknown name gives an
// error that suggests the nearest one in the set.
func (s Set) Lookup(name string) (Spec, error) {
	for _, sp := range s.specs {
		if sp.Name == name {
			return sp, nil
		}
	}
	return Spec{}, fmt.Errorf("unknown allocator %q%s; run `portsim list` to see all %d", name, suggest.Hint(name, s.Names()), len(s.specs))
}
