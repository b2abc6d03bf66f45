package allocator

import "errors"

// linuxSpec is a placeholder until the allocator is written.
func linuxSpec() Spec {
	return Spec{
		Name:    "linux",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
