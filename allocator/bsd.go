package allocator

import "errors"

// freebsdSpec is a placeholder until the allocator is written.
func freebsdSpec() Spec {
	return Spec{
		Name:    "freebsd",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// freebsd13Spec is a placeholder until the allocator is written.
func freebsd13Spec() Spec {
	return Spec{
		Name:    "freebsd-13",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// openbsdSpec is a placeholder until the allocator is written.
func openbsdSpec() Spec {
	return Spec{
		Name:    "openbsd",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// netbsdSpec is a placeholder until the allocator is written.
func netbsdSpec() Spec {
	return Spec{
		Name:    "netbsd",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
