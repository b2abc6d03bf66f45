package allocator

import "errors"

// linux512Spec is a placeholder until the allocator is written.
func linux512Spec() Spec {
	return Spec{
		Name:    "linux-5.12",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// linux46Spec is a placeholder until the allocator is written.
func linux46Spec() Spec {
	return Spec{
		Name:    "linux-4.6",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// linux41Spec is a placeholder until the allocator is written.
func linux41Spec() Spec {
	return Spec{
		Name:    "linux-4.1",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
