package capacity

import "github.com/portsim/portsim/allocator"

// mustSpec returns the built-in allocator called name, for tests.
func mustSpec(name string) allocator.Spec {
	s, err := allocator.Builtins().Lookup(name)
	if err != nil {
		panic(err)
	}
	return s
}
