package allocator

import "errors"

// rfc6056Alg1Spec is a placeholder until the allocator is written.
func rfc6056Alg1Spec() Spec {
	return Spec{
		Name:    "rfc6056-1",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// rfc6056Alg2Spec is a placeholder until the allocator is written.
func rfc6056Alg2Spec() Spec {
	return Spec{
		Name:    "rfc6056-2",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// rfc6056Alg3Spec is a placeholder until the allocator is written.
func rfc6056Alg3Spec() Spec {
	return Spec{
		Name:    "rfc6056-3",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// rfc6056Alg4Spec is a placeholder until the allocator is written.
func rfc6056Alg4Spec() Spec {
	return Spec{
		Name:    "rfc6056-4",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// rfc6056Alg5Spec is a placeholder until the allocator is written.
func rfc6056Alg5Spec() Spec {
	return Spec{
		Name:    "rfc6056-5",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
