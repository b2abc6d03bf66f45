package allocator

import "errors"

// macosSpec is a placeholder until the allocator is written.
func macosSpec() Spec {
	return Spec{
		Name:    "macos",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
