package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Options configure Measure.
type Options struct {
	// Exe is the program re-executed as the child in each new namespace;
	// empty means the running program (/proc/self/exe).
	Exe string
	// Args are the arguments that make Exe call Child with the request on
	// its standard input and its standard output as the result (for
	// portsim: "probe", "-child").
	Args []string
	// Env is added to the child's environment.
	Env []string
	// Experiments are the experiments to run; nil means Experiments().
	Experiments []Experiment
	// Parallel is how many experiments run at once (default 3). Each has
	// its own namespace; the standard ones use distinct destination ports
	// so that they do not share a table_perturb cell.
	Parallel int
	// Timeout bounds each experiment (default 60 s); the child stops
	// itself a little earlier with a clear error.
	Timeout time.Duration
	// Progress, when not nil, is called after each experiment, one call
	// at a time.
	Progress func(o *Observation, wall time.Duration)
}

// request is what the parent sends a child on its standard input.
type request struct {
	Experiment  Experiment `json:"experiment"`
	ParentNetNS string     `json:"parent_netns"`
	Timeout     Duration   `json:"timeout"`
	// SNAT, when set, is the experiment instead of Experiment; its child
	// runs in a mount namespace of its own too, other than ParentMntNS.
	SNAT        *SNATExperiment `json:"snat,omitempty"`
	ParentMntNS string          `json:"parent_mntns,omitempty"`
}

// name returns the name of the request's experiment.
func (r request) name() string {
	if r.SNAT != nil {
		return r.SNAT.Name
	}
	return r.Experiment.Name
}

// response is what a child prints on its standard output.
type response struct {
	Kernel      Kernel            `json:"kernel"`
	Defaults    map[string]string `json:"defaults"`
	Observation Observation       `json:"observation"`
	SNAT        *SNATObservation  `json:"snat,omitempty"`
}

// name returns the name of the experiment the child ran.
func (r response) name() string {
	if r.SNAT != nil {
		return r.SNAT.Experiment.Name
	}
	return r.Observation.Experiment.Name
}

// ChildEnv is set in the environment of every probe child. Measure
// refuses to run where it is set, so that a program re-executed with the
// wrong arguments (a test binary, say) cannot start probes of its own.
const ChildEnv = "PORTSIM_PROBE_CHILD"

// Defaults of Options.
const (
	defaultParallel = 3
	defaultTimeout  = 60 * time.Second
)

// errNamespace marks a failure to create the child's namespaces, as
// opposed to a failure inside the experiment.
type errNamespace struct {
	user bool // with CLONE_NEWUSER
	err  error
}

func (e *errNamespace) Error() string { return e.err.Error() }
func (e *errNamespace) Unwrap() error { return e.err }

// Measure runs the experiments on the live kernel, each in a new network
// namespace, and returns what they observed. It returns an error, and no
// observations, if any experiment could not be run to its end: probing
// is all or nothing.
func Measure(ctx context.Context, opt Options) (*Observations, error) {
	exps := opt.Experiments
	if exps == nil {
		exps = Experiments()
	}
	if err := startProbe(&opt, exps, func(e Experiment) string { return e.Name }, "experiments"); err != nil {
		return nil, err
	}
	if opt.Parallel <= 0 {
		opt.Parallel = defaultParallel
	}
	netns, err := parentNamespace()
	if err != nil {
		return nil, err
	}
	req := func(e Experiment) request {
		return request{Experiment: e, ParentNetNS: netns, Timeout: Duration(opt.Timeout)}
	}

	// The first experiment settles how namespaces are made.
	obs := &Observations{Format: FormatVersion, Experiments: make([]Observation, len(exps))}
	var mu sync.Mutex
	done := func(i int, r response, wall time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		obs.Experiments[i] = r.Observation
		if opt.Progress != nil {
			opt.Progress(&obs.Experiments[i], wall)
		}
	}
	start := time.Now()
	first, user, err := startFirst(ctx, opt, req(exps[0]))
	if ctx.Err() != nil {
		return nil, interrupted(ctx)
	}
	if err != nil {
		return nil, err
	}
	obs.Kernel, obs.Defaults = first.Kernel, first.Defaults
	obs.Namespace = "root"
	if user {
		obs.Namespace = "user"
	}
	done(0, first, time.Since(start))

	parent := ctx
	// The first experiment to fail cancels the others; its error, the
	// cause, is the one reported.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.Parallel)
	for i := 1; i < len(exps) && gctx.Err() == nil; i++ {
		g.Go(func() error {
			t := time.Now()
			r, err := runChild(gctx, opt, req(exps[i]), user)
			if err != nil {
				return err
			}
			done(i, r, time.Since(t))
			return nil
		})
	}
	err = g.Wait()
	if parent.Err() != nil {
		return nil, interrupted(parent)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("probe: %w", err)
		}
		return nil, err
	}
	return obs, nil
}

// interrupted is the error of a probe stopped by its context.
func interrupted(ctx context.Context) error {
	return fmt.Errorf("probe: interrupted (%w): no observations were kept", ctx.Err())
}

// startFirst runs the first experiment, as root in a new network
// namespace when the process is root, and otherwise (or when that is not
// permitted) in a new user namespace as well. It reports whether it used a
// user namespace.
func startFirst(ctx context.Context, opt Options, req request) (response, bool, error) {
	var rootErr error
	if isRoot() {
		r, err := runChild(ctx, opt, req, false)
		if err == nil {
			return r, false, nil
		}
		if !errors.As(err, new(*errNamespace)) {
			return r, false, err
		}
		rootErr = err
	}
	r, err := runChild(ctx, opt, req, true)
	if err == nil {
		return r, true, nil
	}
	if !errors.As(err, new(*errNamespace)) {
		return r, true, err
	}
	return r, true, noNamespaceError(rootErr, err)
}

// ErrUnavailable matches (with errors.Is) the error of Measure when
// probing is impossible here: not Linux, or no permission to create
// network namespaces.
var ErrUnavailable = errors.New("probing is not possible here")

// unavailableError is an error that matches ErrUnavailable.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string        { return e.msg }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// noNamespaceError is the one-line error when no namespace could be made.
func noNamespaceError(rootErr, userErr error) error {
	const allow = "run it as root (with CAP_SYS_ADMIN), or allow unprivileged user namespaces " +
		"(user.max_user_namespaces > 0, kernel.unprivileged_userns_clone = 1 where it exists, " +
		"kernel.apparmor_restrict_unprivileged_userns = 0 where it exists)"
	if rootErr != nil {
		return &unavailableError{fmt.Sprintf("probe: cannot create a network namespace (as root: %v; in a user namespace: %v): %s", rootErr, userErr, allow)}
	}
	return &unavailableError{fmt.Sprintf("probe: cannot create a network namespace as an unprivileged user (%v): %s", userErr, allow)}
}

// startProbe checks what Measure and MeasureSNAT check before they start
// a child: that this process is not a probe child itself, that there are
// experiments (what names them in the error), each valid and none named
// twice. It marks the children's environment in opt and fills its
// default timeout.
func startProbe[E interface{ Validate() error }](opt *Options, exps []E, name func(E) string, what string) error {
	if os.Getenv(ChildEnv) != "" {
		return fmt.Errorf("probe: refusing to start a probe inside a probe child (%s is set)", ChildEnv)
	}
	if len(exps) == 0 {
		return fmt.Errorf("probe: no %s to run", what)
	}
	names := map[string]bool{}
	for _, e := range exps {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		if names[name(e)] {
			return fmt.Errorf("probe: experiment %s appears twice", name(e))
		}
		names[name(e)] = true
	}
	opt.Env = append(append([]string(nil), opt.Env...), ChildEnv+"=1")
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	return nil
}
