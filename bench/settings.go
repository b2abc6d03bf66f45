package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// Setup is the stack, workload and stopping rule of one simulation, before
// an allocator and seeds are chosen. Settings (from a suite file or from
// `portsim run` flags) are applied to it one by one.
type Setup struct {
	// Stack starts as the allocator's Profile (sim.StackFromProfile).
	Stack sim.Stack
	// Workload starts as DefaultWorkload.
	Workload workload.Spec
	// Duration and Attempts stop the run (DefaultDuration, no attempt
	// limit).
	Duration time.Duration
	Attempts int64
	// SampleEvery is the occupancy sampling step (100ms).
	SampleEvery time.Duration
	// Prefill is the share of ports held from the start by background
	// connections (see sim.Config.Prefill; default 0).
	Prefill float64
	// Race is the concurrent NAT of the SNAT race (sim.Race): one CPU
	// (no race) unless the cpus setting says more; DefaultRace otherwise.
	Race sim.Race
	// Inside is the inside hosts that choose the flows' original ports
	// (sim.Inside): none unless the inside-hosts setting says so, each
	// with the linux allocator unless inside-allocator names another.
	Inside sim.Inside
	// Dir is the directory relative paths (traces) are resolved against.
	Dir string
	// Start is the starting state read from the state setting's file
	// (StateName), nil for an empty table.
	Start     []workload.StateRecord
	StateName string

	// arrivalsSet records that the arrivals setting was given, so that a
	// trace given with other arrivals is a conflict whatever the order of
	// the two settings.
	arrivalsSet bool
	// DurationSet reports that the duration setting was given. A trace
	// replays whole unless it was: DefaultDuration does not cut it.
	DurationSet bool

	// Registry resolves allocator names in settings (inside-allocator);
	// the zero Set means portsim's built-in allocators.
	Registry allocator.Set
}

// DefaultDuration is the simulated time of a run when no setting says
// otherwise.
const DefaultDuration = 60 * time.Second

// DefaultWorkload is the workload before any setting: Poisson arrivals at
// 100/s to one destination from one source, exponential holds with a 100ms
// mean, closed by the client, through connect().
func DefaultWorkload() workload.Spec {
	return workload.Spec{
		Arrivals:     workload.Poisson,
		Rate:         100,
		Destinations: 1,
		DestOrder:    workload.Uniform,
		ZipfS:        1,
		Sources:      1,
		Hold:         workload.MustParseDist("exp:100ms"),
		Think:        workload.MustParseDist("exp:1s"),
		Close:        workload.ClientClose,
		Path:         allocator.Connect,
	}
}

// NewSetup returns the setup an allocator starts from: its Profile's
// stack, the default workload and duration.
func NewSetup(p allocator.Profile) Setup {
	return Setup{
		Stack:       sim.StackFromProfile(p),
		Workload:    DefaultWorkload(),
		Duration:    DefaultDuration,
		SampleEvery: 100 * time.Millisecond,
		Race:        DefaultRace(),
		Inside:      sim.Inside{Spec: mustBuiltin("linux")},
	}
}

// mustBuiltin returns the built-in allocator called name, which exists.
func mustBuiltin(name string) allocator.Spec {
	spec, err := allocator.Lookup(name)
	if err != nil {
		panic(err) // a built-in name: cannot happen
	}
	return spec
}

// DefaultRace is the concurrent NAT before any setting: one CPU (no
// race); with more, confirm delays exp:5us, a 1 s first SYN
// retransmission timeout (Linux TCP_TIMEOUT_INIT) and 6 retransmissions
// (tcp_syn_retries).
func DefaultRace() sim.Race {
	return sim.Race{CPUs: 1, ConfirmDelay: workload.MustParseDist("exp:5us"), SynRTO: time.Second, SynRetries: 6}
}

// Setting is one named knob of a scenario. Suite files use the names as
// keys; `portsim run` uses them as flags.
type Setting struct {
	// Name is the key, e.g. "time-wait".
	Name string
	// Usage says what it sets, the accepted form and the default.
	Usage string
	// Sweepable reports whether a suite may give a list of values.
	Sweepable bool
	apply     func(s *Setup, v string) error
}

// Settings returns every setting, in the order help text lists them.
func Settings() []Setting { return slices.Clone(settingTable()) }

// settingTable is the table of settings, built once: a suite's cells
// look a setting up for every value they apply.
var settingTable = sync.OnceValue(buildSettings)

// buildSettings builds the table of settings.
func buildSettings() []Setting {
	stack := []Setting{
		{"range", "ephemeral port range LO-HI (default: the allocator's OS default)", true, func(s *Setup, v string) error {
			r, err := allocator.ParseRange(v)
			s.Stack.Range.Lo, s.Stack.Range.Hi = r.Lo, r.Hi
			return err
		}},
		{"reserved", "reserved ports never handed out, e.g. 8080,9000-9100 (default none)", true,
			set(allocator.ParseSpans, func(s *Setup) *[]allocator.Span { return &s.Stack.Range.Reserved })},
		{"time-wait", "TIME_WAIT length held by the side that closes first, e.g. 60s; 0 for none (default: the allocator's OS default)", true,
			set(duration(true), func(s *Setup) *time.Duration { return &s.Stack.TimeWait })},
		{"tw-reuse", "tcp_tw_reuse: 0 never, 1 always, 2 loopback destinations only (default: the OS default, 2 on Linux)", true,
			set(wholeIn(0, 2, "0, 1 or 2"), func(s *Setup) *int { return &s.Stack.TWReuse })},
		{"tw-reuse-delay", "tcp_tw_reuse_delay: time after TIME_WAIT begins before it may be taken over (default 1s on Linux)", true,
			set(duration(true), func(s *Setup) *time.Duration { return &s.Stack.TWReuseDelay })},
		{"timestamps", "TCP timestamps on (true/false); TIME_WAIT take-over needs them (default: the OS default)", true,
			set(parseBool, func(s *Setup) *bool { return &s.Stack.Timestamps })},
		{"scope", "sharing rule of connect(): 4-tuple or exclusive (default: the OS default)", true,
			set(trimmed(allocator.ParseScope), func(s *Setup) *allocator.Scope { return &s.Stack.Scope })},
		{"arrivals", "arrival process: constant, poisson, burst, closed or trace (default poisson)", true, func(s *Setup, v string) error {
			s.arrivalsSet = true
			return set(trimmed(workload.ParseArrivals), func(s *Setup) *workload.Arrivals { return &s.Workload.Arrivals })(s, v)
		}},
		{"rate", "attempts per second of constant, poisson and burst arrivals (default 100)", true,
			set(parsePositive, func(s *Setup) *float64 { return &s.Workload.Rate })},
	}
	// The arrival processes' own parameters, declared with them.
	for _, p := range workload.Params() {
		stack = append(stack, Setting{p.Name, p.Usage, true, func(s *Setup, v string) error { return p.Set(&s.Workload, v) }})
	}
	return append(stack, []Setting{
		{"destinations", "number of destinations (default 1)", true,
			set(workload.ParseCount, func(s *Setup) *int { return &s.Workload.Destinations })},
		{"dest-order", "how attempts pick a destination: uniform, zipf, zipf:S (exponent S, default 1) or round-robin (default uniform)", true, func(s *Setup, v string) error {
			kind, exp, hasExp := strings.Cut(strings.TrimSpace(v), ":")
			o, err := workload.ParseDestOrder(kind)
			if err != nil {
				return err
			}
			s.Workload.DestOrder = o
			if hasExp {
				if o != workload.Zipf {
					return fmt.Errorf("%q: only zipf takes an exponent (zipf:S)", v)
				}
				f, err := parsePositive(exp)
				if err != nil {
					return fmt.Errorf("zipf exponent: %w", err)
				}
				s.Workload.ZipfS = f
			}
			return nil
		}},
		{"loopback", "destinations on 127.0.0.0/8, where tcp_tw_reuse=2 applies (default false)", true,
			set(parseBool, func(s *Setup) *bool { return &s.Workload.Loopback })},
		{"sources", "number of source IP addresses, used round-robin (default 1)", true,
			set(workload.ParseCount, func(s *Setup) *int { return &s.Workload.Sources })},
		{"hold", "connection hold time: 100ms, exp:MEAN, lognormal:MEDIAN,SIGMA, pareto:MIN,SHAPE, uniform:LO,HI or forever (default exp:100ms)", true,
			set(workload.ParseDist, func(s *Setup) *workload.Dist { return &s.Workload.Hold })},
		{"close", "side that closes first: client (holds TIME_WAIT), server or rst (default client)", true,
			set(trimmed(workload.ParseClose), func(s *Setup) *workload.Close { return &s.Workload.Close })},
		{"path", "socket operation: connect, bind (bind to port 0) or udp (default connect)", true,
			set(trimmed(allocator.ParsePath), func(s *Setup) *allocator.Path { return &s.Workload.Path })},
		{"orig-ports", "NAT: range LO-HI the inside hosts' own source ports come from, which a NAT tries to keep (default none)", true,
			set(allocator.ParseRange, func(s *Setup) *allocator.Range { return &s.Workload.OrigPorts })},
		{"trace", "CSV trace to replay (header time,src,dst,dst_port,hold,close); sets arrivals to trace", false, func(s *Setup, v string) error {
			path, err := s.file(v)
			s.Workload.TraceName = path
			s.Workload.TraceOpen = func() (io.ReadCloser, error) { return os.Open(path) }
			return err
		}},
		{"rate-scale", "replay a trace this many times as fast: its attempt times divided by the factor, holds unchanged (default 1)", true, func(s *Setup, v string) error {
			f, err := parsePositive(v)
			if err == nil && f > 1e6 {
				err = fmt.Errorf("%q: expected a factor <= 1e6", v)
			}
			s.Workload.TraceScale = f
			return err
		}},
		{"state", "starting state to begin from instead of an empty table: a CSV written by portsim import from ss or conntrack output (header src,src_port,dst,dst_port,state,remaining)", false, func(s *Setup, v string) error {
			path, err := s.file(v)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			s.Start, err = workload.ReadState(path, f)
			s.StateName = path
			return err
		}},
		{"duration", "simulated time to run, e.g. 10m (default 60s, a trace replays whole); 0 for no limit when attempts is set", true, func(s *Setup, v string) error {
			s.DurationSet = true
			return set(duration(true), func(s *Setup) *time.Duration { return &s.Duration })(s, v)
		}},
		{"attempts", "stop after this many attempts (default no limit)", true, func(s *Setup, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%q: expected a whole number >= 0", v)
			}
			s.Attempts = n
			return nil
		}},
		{"prefill", "share of each pair's ports held from the start by connections that never close, chosen at random, in [0, 1) (default 0)", true, func(s *Setup, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || !(f >= 0 && f < 1) {
				return fmt.Errorf("%q: expected a fraction >= 0 and < 1, e.g. 0.99", v)
			}
			s.Prefill = f
			return nil
		}},
		{"sample", "occupancy sampling step (default 100ms)", true,
			set(duration(false), func(s *Setup) *time.Duration { return &s.SampleEvery })},
		{"cpus", "CPUs translating new flows at once; above 1 models the SNAT race (default 1: none)", true,
			set(wholeIn(1, 4096, "a whole number in 1..4096"), func(s *Setup) *int { return &s.Race.CPUs })},
		{"confirm-delay", "time from a NAT tuple's choice to its conntrack insert, a distribution like hold (default exp:5us)", true, func(s *Setup, v string) error {
			d, err := workload.ParseDist(v)
			if err == nil && d.Mean() == workload.Forever {
				err = fmt.Errorf("%q: expected a finite distribution such as exp:5us", v)
			}
			s.Race.ConfirmDelay = d
			return err
		}},
		{"inside-hosts", "NAT: inside hosts (pods) whose own allocators choose the original source ports the NAT tries to keep; 0 for none (default 0)", true,
			set(wholeIn(0, 65000, "a whole number in 0..65000"), func(s *Setup) *int { return &s.Inside.Hosts })},
		{"inside-allocator", "NAT: the allocator of every inside host, each with its own secret (default linux)", true, func(s *Setup, v string) error {
			reg := s.Registry
			if reg.Len() == 0 {
				reg = allocator.Builtins()
			}
			spec, err := reg.Lookup(strings.TrimSpace(v))
			s.Inside.Spec = spec
			return err
		}},
		{"syn-rto", "first SYN retransmission timeout after a clash, doubled each time (default 1s, Linux TCP_TIMEOUT_INIT)", true,
			set(duration(false), func(s *Setup) *time.Duration { return &s.Race.SynRTO })},
		{"syn-retries", "SYN retransmissions before connect() fails (default 6, Linux tcp_syn_retries)", true,
			set(wholeIn(0, 30, "a whole number in 0..30"), func(s *Setup) *int { return &s.Race.SynRetries })},
	}...)
}

// set is the apply function of a setting that parses its value with
// parse and stores it in the field of the setup that at returns.
func set[T any](parse func(string) (T, error), at func(*Setup) *T) func(*Setup, string) error {
	return func(s *Setup, v string) error {
		x, err := parse(v)
		*at(s) = x
		return err
	}
}

// trimmed parses the value without its surrounding spaces.
func trimmed[T any](parse func(string) (T, error)) func(string) (T, error) {
	return func(v string) (T, error) { return parse(strings.TrimSpace(v)) }
}

// duration parses a duration, positive or with zeroOK at least 0.
func duration(zeroOK bool) func(string) (time.Duration, error) {
	return func(v string) (time.Duration, error) { return workload.ParseDuration(v, zeroOK) }
}

// wholeIn parses a whole number from lo to hi; want is the expected form
// its error gives.
func wholeIn(lo, hi int, want string) func(string) (int, error) {
	return func(v string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q: expected %s", v, want)
		}
		return n, nil
	}
}

// file is the path a file setting names, relative to the suite's
// directory.
func (s *Setup) file(v string) (string, error) {
	path := strings.TrimSpace(v)
	if path == "" {
		return "", fmt.Errorf("expected a file name")
	}
	if !filepath.IsAbs(path) && s.Dir != "" {
		path = filepath.Join(s.Dir, path)
	}
	return path, nil
}

// SettingNames returns the names of all settings.
func SettingNames() []string {
	var out []string
	for _, s := range settingTable() {
		out = append(out, s.Name)
	}
	return out
}

// LookupSetting returns the setting called name, or an error suggesting
// the nearest one.
func LookupSetting(name string) (Setting, error) {
	for _, s := range settingTable() {
		if s.Name == name {
			return s, nil
		}
	}
	return Setting{}, fmt.Errorf("unknown setting %q%s", name, suggest.Hint(name, SettingNames()))
}

// Apply sets name to v in s. The error names the setting and the
// expected form.
func (st Setting) Apply(s *Setup, v string) error {
	if err := st.apply(s, v); err != nil {
		return fmt.Errorf("%s: %w", st.Name, err)
	}
	return nil
}

// resolve settles what depends on several settings, whatever order they
// came in: a trace sets the arrivals to trace, and conflicts with other
// arrivals given explicitly.
func (s *Setup) resolve() error {
	switch {
	case s.Workload.TraceName != "" && s.arrivalsSet && s.Workload.Arrivals != workload.Trace:
		return fmt.Errorf("settings trace and arrivals %s conflict: a trace brings its own arrival times; drop arrivals %s (or set it to trace)",
			s.Workload.Arrivals, s.Workload.Arrivals)
	case s.Workload.TraceName != "":
		s.Workload.Arrivals = workload.Trace
	case s.Workload.Arrivals == workload.Trace:
		return fmt.Errorf("arrivals trace needs the trace setting: the CSV file to replay")
	}
	if s.Workload.TraceScale != 0 && s.Workload.TraceName == "" {
		return fmt.Errorf("rate-scale applies to a replayed trace; give the trace setting, or for a generated workload set its rate")
	}
	return nil
}

// Validate checks the whole setup once every setting is applied.
func (s *Setup) Validate() error {
	if err := s.resolve(); err != nil {
		return err
	}
	if err := s.Stack.Validate(); err != nil {
		return err
	}
	if err := s.Workload.Validate(); err != nil {
		return settingError(err)
	}
	if s.Duration <= 0 && s.Attempts <= 0 && s.Workload.Arrivals != workload.Trace {
		return fmt.Errorf("duration and attempts are both 0: set a duration (e.g. 10m) or a number of attempts to stop the run")
	}
	if s.SampleEvery <= 0 {
		return fmt.Errorf("sample: must be positive")
	}
	return nil
}

// CheckTrace reads a replayed trace through once and reports every
// malformed line (file, line, column and the expected form), so that bad
// input is refused before a run starts rather than part way through it.
// It returns the trace's description (nil without a trace).
func (s *Setup) CheckTrace() (*workload.TraceStats, error) {
	if err := s.resolve(); err != nil {
		return nil, err
	}
	if s.Workload.Arrivals != workload.Trace {
		return nil, nil
	}
	st, err := s.Workload.SummarizeTrace()
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// RunDuration is the simulated time the run stops at: the duration
// setting, or for a trace without one, 0 (the whole trace).
func (s *Setup) RunDuration() time.Duration {
	if s.Workload.Arrivals == workload.Trace && !s.DurationSet {
		return 0
	}
	return s.Duration
}

// Config returns the simulation of this setup for one allocator (with
// its parameters) and seeds.
func (s *Setup) Config(alloc allocator.Spec, params map[string]string, allocSeed, seed uint64) sim.Config {
	return sim.Config{
		Allocator:   alloc,
		Params:      params,
		AllocSeed:   allocSeed,
		Stack:       s.Stack,
		Workload:    s.Workload,
		Seed:        seed,
		Duration:    s.RunDuration(),
		MaxAttempts: s.Attempts,
		SampleEvery: s.SampleEvery,
		Prefill:     s.Prefill,
		Start:       s.StartState(),
		Race:        s.Race,
		Inside:      s.Inside,
	}
}

// StartState returns the starting state a run begins from: the state
// file's sockets as they are when the run replays a trace (whose
// addresses are the host's own), or moved onto the generated workload's
// sources and destinations (workload.Spec.MapState) otherwise.
func (s *Setup) StartState() []workload.StateRecord {
	if s.Start == nil || s.Workload.Arrivals == workload.Trace {
		return s.Start
	}
	out, _ := s.Workload.MapState(s.Start)
	return out
}

func parsePositive(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, fmt.Errorf("%q: expected a positive finite number", v)
	}
	return f, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("%q: expected true or false", v)
	}
	return b, nil
}

// settingArgs are the placeholders of the settings' values in help text
// (-rate N, -hold DIST).
var settingArgs = map[string]string{
	"range": "LO-HI", "reserved": "PORTS", "time-wait": "D", "tw-reuse": "N", "tw-reuse-delay": "D",
	"timestamps": "BOOL", "scope": "SCOPE", "arrivals": "KIND", "rate": "N", "destinations": "N", "dest-order": "ORDER",
	"loopback": "BOOL", "sources": "N", "hold": "DIST", "close": "SIDE", "path": "PATH",
	"orig-ports": "LO-HI", "trace": "FILE", "rate-scale": "K", "state": "FILE", "duration": "D", "attempts": "N", "prefill": "F",
	"sample": "D", "cpus": "N", "confirm-delay": "DIST", "syn-rto": "D", "syn-retries": "N",
	"inside-hosts": "N", "inside-allocator": "NAME",
}

// Arg returns the placeholder of the setting's value in help text: N for
// a number, D for a duration, DIST for a distribution, LO-HI for a range.
func (st Setting) Arg() string {
	if a, ok := settingArgs[st.Name]; ok {
		return a
	}
	for _, p := range workload.Params() {
		if p.Name == st.Name {
			return p.Arg
		}
	}
	return "VALUE"
}

// SettingError is a setting whose value the workload refuses, named as
// the setting (the suite key, the flag of portsim run), not as the Go
// field it fills.
type SettingError struct {
	// Setting is the setting's name, e.g. "burst-on".
	Setting string
	// Value is the value as text; Want says what is expected.
	Value, Want string
}

// Error returns "SETTING VALUE: WANT".
func (e *SettingError) Error() string {
	return e.Setting + " " + e.Value + ": " + e.Want
}

// specFields maps the workload's fields to the settings that set them.
var specFields = map[string]string{
	"Arrivals": "arrivals", "Rate": "rate", "Destinations": "destinations", "DestOrder": "dest-order",
	"ZipfS": "dest-order", "Sources": "sources", "Hold": "hold", "Close": "close", "Path": "path",
	"OrigPorts": "orig-ports", "TraceOpen": "trace", "TraceScale": "rate-scale",
}

// settingError renames a *workload.SpecError after its setting.
func settingError(err error) error {
	se, ok := errors.AsType[*workload.SpecError](err)
	if !ok {
		return err
	}
	name, ok := specFields[se.Field]
	for _, p := range workload.Params() {
		if p.Field == se.Field {
			name, ok = p.Name, true
		}
	}
	if !ok {
		return err
	}
	want := strings.ReplaceAll(se.Want, "MaxSample (about 73 years)", "73 years")
	return &SettingError{Setting: name, Value: se.Value, Want: want}
}
