package allocator

import "errors"

// fifoSpec is a placeholder until the allocator is written.
func fifoSpec() Spec {
	return Spec{
		Name:    "fifo",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
