package allocator

import "errors"

// linuxBindSpec is a placeholder until the allocator is written.
func linuxBindSpec() Spec {
	return Spec{
		Name:    "linux-bind",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}

// linuxUDPSpec is a placeholder until the allocator is written.
func linuxUDPSpec() Spec {
	return Spec{
		Name:    "linux-udp",
		Summary: "not implemented yet",
		Profile: linuxProfile(),
		Bound:   func(cfg Config) int { return cfg.Range.Size() },
		New:     func(Config) (Allocator, error) { return nil, errors.New("not implemented yet") },
	}
}
