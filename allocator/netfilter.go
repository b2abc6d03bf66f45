package allocator

import "errors"

// netfilterSpec is a placeholder until the allocator is written.
func netfilterSpec() Spec {
	return Spec{
		Name:    "netfilter",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
