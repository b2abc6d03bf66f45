package allocator

import "errors"

// randomWindowSpec is a placeholder until the allocator is written.
func randomWindowSpec() Spec {
	return Spec{
		Name:    "random-window",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
