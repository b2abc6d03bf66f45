package probe

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// Model is an allocator with its parameters.
type Model struct {
	// Name is the allocator's name.
	Name string
	// Params are the allocator's parameters; missing ones take their
	// defaults.
	Params map[string]string
	// Spec is the allocator, as resolved by the caller (for example from
	// an allocator.Set holding a program's own allocators). When Spec.New
	// is nil, Name names one of portsim's built-in allocators.
	Spec allocator.Spec
}

// spec returns the model's allocator.
func (m Model) spec() (allocator.Spec, error) {
	if m.Spec.New != nil {
		return m.Spec, nil
	}
	return allocator.Lookup(m.Name)
}

// String returns the name, followed by the parameters in brackets.
func (m Model) String() string {
	if len(m.Params) == 0 {
		return m.Name
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(m.Params)) {
		kv = append(kv, k+"="+m.Params[k])
	}
	return m.Name + "(" + strings.Join(kv, ",") + ")"
}

// Models says which model each kind of experiment is compared with: Linux
// has one algorithm for connect(), another for TCP bind(0) and a third
// for UDP.
type Models struct {
	// Connect models TCP connect() from an unbound socket.
	Connect Model
	// Bind models TCP bind() to port 0.
	Bind Model
	// UDP models UDP autobind and UDP bind() to port 0.
	UDP Model
}

// LinuxModels returns connect as the connect() model, with Linux's
// bind(0) and UDP models (linux-bind, linux-udp) for the other paths.
func LinuxModels(connect Model) Models {
	return Models{Connect: connect, Bind: Model{Name: "linux-bind"}, UDP: Model{Name: "linux-udp"}}
}

// For returns the model of a path.
func (m Models) For(p allocator.Path) Model {
	switch p {
	case allocator.Bind:
		return m.Bind
	case allocator.UDP:
		return m.UDP
	}
	return m.Connect
}

// Validate checks that every model names a registered allocator whose
// parameters are valid.
func (m Models) Validate() error {
	for _, x := range []struct {
		path  string
		model Model
	}{{"connect", m.Connect}, {"bind", m.Bind}, {"udp", m.UDP}} {
		spec, err := x.model.spec()
		if err != nil {
			return fmt.Errorf("%s model: %w", x.path, err)
		}
		if _, err := spec.Build(allocator.Config{Range: spec.Profile.Range, Seed: 1, Params: x.model.Params}); err != nil {
			return fmt.Errorf("%s model: %w", x.path, err)
		}
	}
	return nil
}

// path returns the one simulator path of an experiment's attempt steps.
func (e Experiment) path() allocator.Path {
	for _, s := range e.Steps {
		if s.Op != OpWait {
			return s.Op.Path()
		}
	}
	return allocator.Connect
}

// twReuseDelay returns the tcp_tw_reuse_delay the kernel had, or 1 s (the
// default, and the most the seconds-boundary rule of older kernels
// waits) when it has none.
func twReuseDelay(sysctls map[string]string) time.Duration {
	ms, err := strconv.Atoi(sysctls["net.ipv4.tcp_tw_reuse_delay"])
	if err != nil || ms <= 0 {
		return time.Second
	}
	return time.Duration(ms) * time.Millisecond
}

// modelStack is the simulated stack of an experiment: the settings the
// kernel had, with the TIME_WAIT length and the sharing rule of the
// modelled OS.
func modelStack(ob *Observation, m Model) (sim.Stack, error) {
	spec, err := m.spec()
	if err != nil {
		return sim.Stack{}, err
	}
	e := ob.Experiment
	r, err := e.Sysctls.Range()
	if err != nil {
		return sim.Stack{}, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	return sim.Stack{
		Range:        r,
		TimeWait:     spec.Profile.TimeWait,
		Scope:        spec.Profile.Scope,
		TWReuse:      e.Sysctls.TWReuse,
		TWReuseDelay: twReuseDelay(ob.Sysctls),
		Timestamps:   e.Sysctls.Timestamps,
	}, nil
}

// Script returns the kernel's attempts of ob as a simulator script: the
// same flows at the same times, each held as long as the kernel held it
// (for ever when kept open) and closed the same way. An attempt that
// failed in the kernel is held as its step says, in case the model
// succeeds.
func Script(ob *Observation) []workload.Arrival {
	e := ob.Experiment
	any4 := netip.IPv4Unspecified()
	script := make([]workload.Arrival, len(ob.Attempts))
	for i, a := range ob.Attempts {
		s := e.Steps[a.Step]
		f := allocator.Flow{Path: s.Op.Path(), Src: any4}
		switch s.Op {
		case OpConnect:
			f.Src, f.Dst = e.Dest.Src, e.Dest.At(a.Dst)
		case OpUDPConnect:
			f.Dst = e.Dest.At(a.Dst)
		}
		hold := a.Hold
		switch {
		case s.Hold == Keep:
			hold = workload.Forever
		case hold < 0:
			hold = 0
		}
		script[i] = workload.Arrival{At: a.At, Flow: f, Hold: hold, Close: s.Hold.close(), Client: -1}
	}
	return script
}

// Simulate runs the kernel's attempts of ob through the simulator with
// model m and allocator seed, and returns the model's attempts: the
// kernel's, with the port and errno the model gave.
func Simulate(ctx context.Context, ob *Observation, m Model, seed uint64) ([]Attempt, error) {
	e := ob.Experiment
	stack, err := modelStack(ob, m)
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, 0, len(ob.Attempts))
	spec, err := m.spec()
	if err != nil {
		return nil, err
	}
	cfg := sim.Config{
		Allocator: spec,
		Params:    m.Params,
		AllocSeed: seed,
		Stack:     stack,
		Script:    Script(ob),
		OnAttempt: func(r results.Attempt) error {
			if len(out) == len(ob.Attempts) {
				return fmt.Errorf("more attempts than the script has")
			}
			a := ob.Attempts[len(out)]
			a.Port, a.Errno = r.Port, 0
			if !r.OK {
				a.Port, a.Errno = 0, e.Steps[a.Step].Op.Errno()
			}
			out = append(out, a)
			return nil
		},
	}
	if _, err := sim.Run(ctx, cfg); err != nil {
		return nil, fmt.Errorf("experiment %s with %v: %w", e.Name, m, err)
	}
	if len(out) != len(ob.Attempts) {
		return nil, fmt.Errorf("experiment %s with %v: the simulator made %d of %d attempts", e.Name, m, len(out), len(ob.Attempts))
	}
	return out, nil
}
