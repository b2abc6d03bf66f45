package allocator

import "errors"

// windowsSpec is a placeholder until the allocator is written.
func windowsSpec() Spec {
	return Spec{
		Name:    "windows",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
