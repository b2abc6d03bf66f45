package allocator

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/internal/suggest"
)

// Spec describes a registered allocator.
type Spec struct {
	// Name is the registry name, kebab-case and versioned where the
	// modelled stack changed behaviour ("linux", "linux-5.12").
	Name string
	// Summary is one line on what the algorithm does.
	Summary string
	// Source names what the allocator models: an RFC section or a kernel
	// file and function.
	Source string
	// Profile holds the defaults of the modelled stack.
	Profile Profile
	// Params lists the parameters New accepts, with their defaults.
	Params []Param
	// Bound returns the most probes one Allocate call makes before it
	// returns ErrExhausted, for a Config whose Params hold every declared
	// parameter.
	Bound func(cfg Config) int
	// Exhaustive reports that Allocate always finds a free port when one of
	// the ports its search covers is free: it fails only after examining
	// all of them. Random-pick and bounded searches are not exhaustive.
	Exhaustive bool
	// New builds an allocator. Build validates the range and fills in the
	// parameter defaults before calling it.
	New func(cfg Config) (Allocator, error)
}

// Param documents one allocator parameter.
type Param struct {
	// Name is the key in Config.Params.
	Name string
	// Default is the value used when the parameter is not given, as text.
	Default string
	// Doc says what the parameter does, its units and the accepted values.
	Doc string
}

// Build validates cfg, fills in parameter defaults and returns a new
// allocator. Errors name the allocator and the bad field or parameter.
func (s Spec) Build(cfg Config) (Allocator, error) {
	cfg, err := s.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	a, err := s.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("allocator %s: %w", s.Name, err)
	}
	return a, nil
}

// Resolve validates cfg.Range and the parameter names and returns cfg with
// every declared parameter present (defaults filled in). It does not check
// parameter values; New does.
func (s Spec) Resolve(cfg Config) (Config, error) {
	if err := cfg.Range.Validate(); err != nil {
		return cfg, fmt.Errorf("allocator %s: %w", s.Name, err)
	}
	full := make(map[string]string, len(s.Params))
	for _, p := range s.Params {
		full[p.Name] = p.Default
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Params)) {
		if _, ok := full[k]; !ok {
			return cfg, fmt.Errorf("allocator %s: unknown param %q%s; %s", s.Name, k, suggest.Hint(k, s.ParamNames()), s.paramList())
		}
		full[k] = cfg.Params[k]
	}
	cfg.Params = full
	return cfg, nil
}

// ParamNames returns the names of the declared parameters.
func (s Spec) ParamNames() []string {
	names := make([]string, len(s.Params))
	for i, p := range s.Params {
		names[i] = p.Name
	}
	return names
}

func (s Spec) paramList() string {
	if len(s.Params) == 0 {
		return "it takes no params"
	}
	return "valid params: " + strings.Join(s.ParamNames(), ", ")
}

// Int returns parameter name as an integer in [lo, hi].
func (c Config) Int(name string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(c.Params[name]))
	if err != nil {
		return 0, fmt.Errorf("param %s=%q: expected an integer in %d..%d", name, c.Params[name], lo, hi)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("param %s=%d: expected an integer in %d..%d", name, v, lo, hi)
	}
	return v, nil
}

// PowerOfTwo returns parameter name as a power of two in [lo, hi].
func (c Config) PowerOfTwo(name string, lo, hi int) (int, error) {
	v, err := c.Int(name, lo, hi)
	if err != nil {
		return 0, err
	}
	if v&(v-1) != 0 {
		return 0, fmt.Errorf("param %s=%d: expected a power of two in %d..%d", name, v, lo, hi)
	}
	return v, nil
}

// Bool returns parameter name as a boolean ("true" or "false").
func (c Config) Bool(name string) (bool, error) {
	v, err := strconv.ParseBool(strings.TrimSpace(c.Params[name]))
	if err != nil {
		return false, fmt.Errorf("param %s=%q: expected true or false", name, c.Params[name])
	}
	return v, nil
}

// Duration returns parameter name as a non-negative duration such as "45s".
func (c Config) Duration(name string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(c.Params[name]))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("param %s=%q: expected a non-negative duration such as 45s", name, c.Params[name])
	}
	return v, nil
}

// Lookup returns the registered Spec called name. An unknown name gives an
// error that suggests the nearest registered one.
func Lookup(name string) (Spec, error) { return Builtins().Lookup(name) }

// Names returns the registered allocator names in registry order.
func Names() []string { return Builtins().Names() }

// New builds the registered allocator called name.
func New(name string, cfg Config) (Allocator, error) {
	s, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return s.Build(cfg)
}
