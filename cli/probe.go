package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/internal/suggest"
	"github.com/portsim/portsim/probe"
	"github.com/portsim/portsim/results"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

const probeUsage = `
Usage: portsim probe [flags]

Measures how the running Linux kernel hands out ephemeral ports and, with
-compare, checks an allocator model against the measurements.

Each experiment runs in a network namespace of its own, created for it
(as root, or through an unprivileged user namespace) and holding only
loopback: the probe sets ip_local_port_range, ip_local_reserved_ports,
tcp_tw_reuse and tcp_timestamps there and never touches the host's
settings. The experiments are small and bounded: connections to one and
to several interleaved destinations on 127.0.0.0/8 with client close,
server close or reset; exhaustion of a 200-port range with connections
kept open and with TIME_WAIT under tcp_tw_reuse 0, 1 and 2; bind(0) and
UDP parity and spread; reserved ports. They take a few seconds, most of
it waiting out tcp_tw_reuse_delay.

Without -compare the observations are written as JSON (to -o FILE, or to
standard output) with the kernel release and the settings.

With -compare ALLOCATOR the same experiments run through the simulator,
with the same settings, the same attempts at the same times and the same
closes, and a table shows one check per row: exact values where the
kernel is deterministic (successes before EADDRNOTAVAIL, where the parity
switches, errnos, reserved ports), a two-sample chi-square test at
α = 0.001 where it is random (successive differences, spread, parity).
ALLOCATOR models connect(); bind(0) and UDP experiments use -bind and
-udp. The exit status is 0 only when every check passes. Without
-observations the kernel is measured first.

With -snat the probe runs the SNAT race experiments instead. In new
network and mount namespaces it builds a pod namespace (one address per
pod), a node namespace that forwards and masquerades with nftables, and
a server namespace, joined by veth pairs; it needs ip (iproute2) and nft
(nftables). In each of 500 rounds the pods, one per CPU on a thread
pinned to it, connect at the same moment, so that the node translates
their SYNs on several CPUs at once: with the rule masquerade, masquerade
random and masquerade fully-random, each with the pods' own source ports
and with one source port for all pods of a round. A table gives the
node's conntrack counters (insert_failed, drop, clash_resolve,
search_restart), the SYN retransmissions and connects of 1 s or more,
and the kernel's clash share against the netfilter model's, simulated
with the same flows at the same times on the same CPUs and the
-confirm-delay. -o keeps the observations; -observations compares a
recording.

Examples:

	# Measure this kernel and keep the observations
	portsim probe -o probe.json

	# Measure, then check the Linux model (exit status 0 when all pass)
	portsim probe -compare linux

	# Check other models against a recorded probe, without measuring
	portsim probe -compare sequential -observations probe.json
	portsim probe -compare linux -param per_socket_range=true -observations probe.json

	# Only some experiments
	portsim probe -compare linux -only connect-exhaust,tw-reuse-2

	# The SNAT race on this kernel against the netfilter model
	portsim probe -snat
	portsim probe -snat -only snat-masquerade-same-port,snat-fully-random-same-port
`

func (a *app) runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-child" {
		// The hidden child of a probe, re-executed in a new namespace.
		return probe.Child(ctx, os.Stdin, stdout)
	}
	fs := newFlags("probe", probeUsage, stdout)
	out := fs.String("o", "", "write the observations as JSON to `FILE` (without -compare they go to standard output)")
	compare := fs.String("compare", "", "check the connect() model `ALLOCATOR` against the observations (see `portsim list`)")
	var params stringList
	fs.Var(&params, "param", "parameter `KEY=VALUE` of the -compare allocator (repeatable)")
	bindModel := fs.String("bind", "linux-bind", "model `ALLOCATOR` of the bind(0) experiments")
	udpModel := fs.String("udp", "linux-udp", "model `ALLOCATOR` of the UDP experiments")
	obsFile := fs.String("observations", "", "compare with the probe recorded in `FILE` instead of measuring")
	only := fs.String("only", "", "run or compare only the experiments `NAME[,NAME...]`")
	seed := fs.Uint64("seed", 1, "allocator seed of the first simulated replicate")
	replicates := fs.Int("replicates", probe.DefaultReplicates, "simulated replicates per experiment, 1 to 100")
	parallel := fs.Int("parallel", 3, "experiments measured at once, 1 to 16")
	timeout := fs.Duration("timeout", time.Minute, "the longest one experiment may take")
	snat := fs.Bool("snat", false, "run the SNAT race experiments (pods, a masquerading node, a server) instead, and compare them with the netfilter model")
	confirmDelay := fs.String("confirm-delay", "exp:5us", "with -snat, the model's time `DIST` from a tuple's choice to its conntrack insert")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("probe: unexpected argument %q (see `portsim help probe`)", fs.Arg(0))
	}
	if *snat {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, f := range []string{"compare", "param", "bind", "udp", "parallel"} {
			if set[f] {
				return usagef("flag -%s: not with -snat, whose model is netfilter with the rule's flag", f)
			}
		}
		return a.probeSNAT(ctx, snatFlags{out: *out, obsFile: *obsFile, only: *only, seed: *seed, replicates: *replicates, timeout: *timeout, confirmDelay: *confirmDelay}, stdout, stderr)
	}
	if *obsFile != "" && *compare == "" {
		return usagef("flag -observations: give the model to check with -compare ALLOCATOR")
	}
	if *obsFile != "" && *out != "" {
		return usagef("flag -o: nothing is measured with -observations, so there is nothing new to write")
	}
	if len(params) > 0 && *compare == "" {
		return usagef("flag -param: it sets a parameter of the -compare allocator; give -compare ALLOCATOR")
	}
	if *replicates < 1 || *replicates > 100 {
		return usagef("flag -replicates %d: expected 1 to 100", *replicates)
	}
	if *parallel < 1 || *parallel > 16 {
		return usagef("flag -parallel %d: expected 1 to 16", *parallel)
	}
	if *timeout <= 0 {
		return usagef("flag -timeout %v: expected a positive duration such as 1m", *timeout)
	}
	var models probe.Models
	if *compare != "" {
		m := probe.Model{Name: *compare, Params: map[string]string{}}
		specs := map[string]allocator.Spec{}
		for _, p := range params {
			k, v, ok := strings.Cut(p, "=")
			if !ok || k == "" {
				return usagef("flag -param %q: expected KEY=VALUE", p)
			}
			m.Params[k] = v
		}
		for _, f := range [][2]string{{"compare", *compare}, {"bind", *bindModel}, {"udp", *udpModel}} {
			spec, err := a.reg.Lookup(f[1])
			if err != nil {
				return usagef("flag -%s: %v", f[0], err)
			}
			specs[f[1]] = spec
		}
		m.Spec = specs[*compare]
		models = probe.Models{Connect: m, Bind: probe.Model{Name: *bindModel, Spec: specs[*bindModel]}, UDP: probe.Model{Name: *udpModel, Spec: specs[*udpModel]}}
		if err := models.Validate(); err != nil {
			return usagef("flag -param: %v", err)
		}
	}

	var obs *probe.Observations
	if *obsFile != "" {
		o, err := probe.ReadObservationsFile(*obsFile)
		if err != nil {
			return usagef("flag -observations: %v", err)
		}
		if o.Experiments, err = selectObserved(o.Experiments, *only); err != nil {
			return err
		}
		obs = o
	} else {
		exps, err := selectExperiments(probe.Experiments(), *only)
		if err != nil {
			return err
		}
		start := time.Now()
		attempts := 0
		obs, err = probe.Measure(ctx, probe.Options{
			Args:        []string{"probe", "-child"},
			Experiments: exps,
			Parallel:    *parallel,
			Timeout:     *timeout,
			Progress: func(o *probe.Observation, wall time.Duration) {
				attempts += len(o.Attempts)
				fmt.Fprintf(stderr, "probe: %-28s %5d attempts in %v\n", o.Experiment.Name, len(o.Attempts), wall.Round(time.Millisecond))
			},
		})
		if err != nil {
			return err
		}
		k := obs.Kernel
		fmt.Fprintf(stderr, "probe: %s %s (%s): %d experiment(s), %d attempts in %.1fs, namespaces made as %s\n",
			k.Sysname, k.Release, k.Machine, len(obs.Experiments), attempts, time.Since(start).Seconds(), obs.Namespace)
		switch {
		case *out != "":
			if err := results.WriteFileAtomic(*out, obs.Write); err != nil {
				return fmt.Errorf("flag -o: %w", err)
			}
			fmt.Fprintf(stderr, "probe: observations written to %s\n", *out)
		case *compare == "":
			return obs.Write(stdout)
		}
	}
	if *compare == "" {
		return nil
	}
	rep, err := probe.Compare(ctx, obs, probe.CompareOptions{Models: models, Seed: *seed, Replicates: *replicates})
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	return rep.Err()
}

// selectExperiments returns the experiments named in the comma-separated
// list only, in their order, or all of them when only is empty.
func selectExperiments(all []probe.Experiment, only string) ([]probe.Experiment, error) {
	names := make([]string, len(all))
	for i, e := range all {
		names[i] = e.Name
	}
	keep, err := pickNames(names, only)
	if err != nil {
		return nil, err
	}
	var out []probe.Experiment
	for i, e := range all {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out, nil
}

// selectObserved is selectExperiments for recorded observations.
func selectObserved(all []probe.Observation, only string) ([]probe.Observation, error) {
	names := make([]string, len(all))
	for i, o := range all {
		names[i] = o.Experiment.Name
	}
	keep, err := pickNames(names, only)
	if err != nil {
		return nil, err
	}
	var out []probe.Observation
	for i, o := range all {
		if keep[i] {
			out = append(out, o)
		}
	}
	return out, nil
}

// pickNames marks the names listed in only (all when only is empty) and
// rejects a name that is not among them.
func pickNames(names []string, only string) ([]bool, error) {
	keep := make([]bool, len(names))
	if strings.TrimSpace(only) == "" {
		for i := range keep {
			keep[i] = true
		}
		return keep, nil
	}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		i := slices.Index(names, n)
		if i < 0 {
			return nil, usagef("flag -only: no experiment %q%s; experiments: %s", n, suggest.Hint(n, names), strings.Join(names, ", "))
		}
		keep[i] = true
	}
	return keep, nil
}

// snatFlags are the flags of `portsim probe -snat`.
type snatFlags struct {
	out, obsFile, only, confirmDelay string
	seed                             uint64
	replicates                       int
	timeout                          time.Duration
}

// probeSNAT measures (or reads) the SNAT race experiments and prints them
// against the netfilter model.
func (a *app) probeSNAT(ctx context.Context, f snatFlags, stdout, stderr io.Writer) error {
	if f.replicates < 1 || f.replicates > 100 {
		return usagef("flag -replicates %d: expected 1 to 100", f.replicates)
	}
	if f.timeout <= 0 {
		return usagef("flag -timeout %v: expected a positive duration such as 1m", f.timeout)
	}
	if f.obsFile != "" && f.out != "" {
		return usagef("flag -o: nothing is measured with -observations, so there is nothing new to write")
	}
	delay, err := workload.ParseDist(f.confirmDelay)
	if err != nil {
		return usagef("flag -confirm-delay: %v", err)
	}
	if err := (sim.Race{CPUs: 2, ConfirmDelay: delay, SynRTO: time.Second, SynRetries: 6}).Validate(); err != nil {
		return usagef("flag -confirm-delay %s: expected a finite distribution such as exp:5us", f.confirmDelay)
	}
	model := probe.SNATModel{ConfirmDelay: delay, Seed: f.seed, Replicates: f.replicates}
	var obs *probe.SNATObservations
	if f.obsFile != "" {
		o, err := probe.ReadSNATObservationsFile(f.obsFile)
		if err != nil {
			return usagef("flag -observations: %v", err)
		}
		names := make([]string, len(o.Experiments))
		for i, x := range o.Experiments {
			names[i] = x.Experiment.Name
		}
		keep, err := pickNames(names, f.only)
		if err != nil {
			return err
		}
		var exps []probe.SNATObservation
		for i, x := range o.Experiments {
			if keep[i] {
				exps = append(exps, x)
			}
		}
		o.Experiments = exps
		obs = o
	} else {
		all := probe.SNATExperiments()
		names := make([]string, len(all))
		for i, e := range all {
			names[i] = e.Name
		}
		keep, err := pickNames(names, f.only)
		if err != nil {
			return err
		}
		var exps []probe.SNATExperiment
		for i, e := range all {
			if keep[i] {
				exps = append(exps, e)
			}
		}
		start := time.Now()
		obs, err = probe.MeasureSNAT(ctx, probe.Options{Args: []string{"probe", "-child"}, Timeout: f.timeout}, exps,
			func(o *probe.SNATObservation, wall time.Duration) {
				fmt.Fprintf(stderr, "probe: %-28s %5d connects in %v\n", o.Experiment.Name, len(o.Flows), wall.Round(time.Millisecond))
			})
		if err != nil {
			return err
		}
		k := obs.Kernel
		fmt.Fprintf(stderr, "probe: %s %s (%s): %d SNAT experiment(s) in %.1fs, namespaces made as %s\n",
			k.Sysname, k.Release, k.Machine, len(obs.Experiments), time.Since(start).Seconds(), obs.Namespace)
		if f.out != "" {
			if err := results.WriteFileAtomic(f.out, obs.Write); err != nil {
				return fmt.Errorf("flag -o: %w", err)
			}
			fmt.Fprintf(stderr, "probe: observations written to %s\n", f.out)
		}
	}
	rs, err := probe.CompareSNAT(ctx, obs, model)
	if err != nil {
		return err
	}
	return probe.WriteSNATTable(stdout, obs.Kernel, rs, model)
}
