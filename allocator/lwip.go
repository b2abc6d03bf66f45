package allocator

import "errors"

// lwipSpec is a placeholder until the allocator is written.
func lwipSpec() Spec {
	return Spec{
		Name:    "lwip",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
