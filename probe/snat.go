package probe

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim"
	"github.com/portsim/portsim/sim/workload"
)

// SNATRule is the masquerade rule of a SNAT experiment, as nftables
// writes it on the node's postrouting chain.
type SNATRule string

const (
	// Masquerade is `masquerade`: keep the pod's source port when the
	// translated tuple is unique, else search from a random offset
	// (get_unique_tuple, net/netfilter/nf_nat_core.c).
	Masquerade SNATRule = "masquerade"
	// MasqueradeRandom is `masquerade random` (iptables --random,
	// NF_NAT_RANGE_PROTO_RANDOM): never keep the port.
	MasqueradeRandom SNATRule = "random"
	// MasqueradeFullyRandom is `masquerade fully-random` (iptables
	// --random-fully, NF_NAT_RANGE_PROTO_RANDOM_FULLY): never keep the
	// port.
	MasqueradeFullyRandom SNATRule = "fully-random"
)

// nft returns the rule's statement.
func (r SNATRule) nft() string {
	if r == Masquerade {
		return "masquerade"
	}
	return "masquerade " + string(r)
}

// Random reports whether the rule turns port preservation off (the
// netfilter model's random parameter).
func (r SNATRule) Random() bool { return r != Masquerade }

// SNATExperiment is a live test of the SNAT race: pods in one network
// namespace (one address each) connect through a node namespace that
// forwards and masquerades to a server namespace, all joined by veth
// pairs. In each round every worker, pinned to a CPU of its own, connects
// at the same moment (a spin barrier releases them), so that the node
// translates the SYNs on several CPUs at once.
type SNATExperiment struct {
	// Name names the experiment.
	Name string `json:"name"`
	// Rule is the node's masquerade rule.
	Rule SNATRule `json:"rule"`
	// SamePort makes every worker of a round bind one source port (round
	// r uses SNATBasePort + r, each worker from its own pod address), so
	// that a rule that keeps ports picks one tuple for all of them.
	// Otherwise the pods' kernel chooses the ports at connect().
	SamePort bool `json:"same_port"`
	// Rounds is the number of rounds, 1 to 2000.
	Rounds int `json:"rounds"`
	// Workers is the number of pods connecting in each round, 2 to 8; 0
	// means one per CPU the probe may run on, at least 2 and at most 8.
	Workers int `json:"workers,omitempty"`
}

// The addresses of the SNAT topology, all inside the probe's namespaces:
// pods on 10.200.0.0/24 behind the node's n0 (10.200.0.1), the server on
// 10.201.0.0/24 behind the node's n1 (10.201.0.1, the masquerade
// address).
var (
	snatNode   = netip.MustParseAddr("10.200.0.1")
	snatNAT    = netip.MustParseAddr("10.201.0.1")
	snatServer = netip.AddrPortFrom(netip.MustParseAddr("10.201.0.2"), 8080)
)

// snatPod returns the address of pod w.
func snatPod(w int) netip.Addr { return netip.AddrFrom4([4]byte{10, 200, 0, byte(2 + w)}) }

// SNATBasePort is the first source port of a SamePort experiment.
const SNATBasePort = 40000

// Validate checks the experiment.
func (e SNATExperiment) Validate() error {
	if e.Name == "" {
		return errors.New("SNAT experiment without a name")
	}
	switch e.Rule {
	case Masquerade, MasqueradeRandom, MasqueradeFullyRandom:
	default:
		return fmt.Errorf("experiment %s: rule %q: expected masquerade, random or fully-random", e.Name, e.Rule)
	}
	if e.Rounds < 1 || e.Rounds > 2000 {
		return fmt.Errorf("experiment %s: rounds %d: expected 1 to 2000", e.Name, e.Rounds)
	}
	if e.Workers != 0 && (e.Workers < 2 || e.Workers > 8) {
		return fmt.Errorf("experiment %s: workers %d: expected 2 to 8, or 0 for one per CPU", e.Name, e.Workers)
	}
	return nil
}

// DefaultSNATRounds is the number of rounds of each standard SNAT
// experiment.
const DefaultSNATRounds = 500

// SNATExperiments returns the standard SNAT race experiments: the three
// masquerade rules with the pods' own source ports, and with one source
// port for all pods of a round.
func SNATExperiments() []SNATExperiment {
	var out []SNATExperiment
	for _, same := range []bool{false, true} {
		for _, r := range []SNATRule{Masquerade, MasqueradeRandom, MasqueradeFullyRandom} {
			name := "snat-" + string(r)
			if r == Masquerade {
				name = "snat-masquerade"
			}
			if same {
				name += "-same-port"
			}
			out = append(out, SNATExperiment{Name: name, Rule: r, SamePort: same, Rounds: DefaultSNATRounds})
		}
	}
	return out
}

// SNATFlow is one connect() of a SNAT experiment.
type SNATFlow struct {
	// Round and Worker say which round and which pod made it.
	Round  int `json:"round"`
	Worker int `json:"worker"`
	// CPU is the CPU the connect() ran on, and so the CPU that
	// translated its first SYN (veth hands the packet to the same CPU's
	// backlog).
	CPU int `json:"cpu"`
	// AtNS is the time of the connect() since the first round, in
	// nanoseconds.
	AtNS int64 `json:"at_ns"`
	// Src is the pod's address and source port.
	Src netip.AddrPort `json:"src"`
	// SynRetransmits is tcpi_total_retrans of the socket: SYNs sent again.
	SynRetransmits int `json:"syn_retransmits"`
	// ConnectNS is how long the connect() took, to the 10 ms of the
	// polling, or -1 when it did not succeed.
	ConnectNS int64 `json:"connect_ns"`
}

// OK reports whether the connect() succeeded.
func (f SNATFlow) OK() bool { return f.ConnectNS >= 0 }

// SNATObservation is the outcome of one SNAT experiment.
type SNATObservation struct {
	// Experiment is the experiment as run, with Workers resolved.
	Experiment SNATExperiment `json:"experiment"`
	// NAT is the node's address towards the server (the masquerade
	// address) and Server the listener.
	NAT    netip.Addr     `json:"nat"`
	Server netip.AddrPort `json:"server"`
	// Flows are every connect() in the order made.
	Flows []SNATFlow `json:"flows"`
	// Accepted is the number of connections the server accepted.
	Accepted int `json:"accepted"`
	// Conntrack is what the node's conntrack counted during the
	// experiment: the growth of each column of /proc/net/stat/nf_conntrack
	// in the node's namespace (insert_failed, drop, clash_resolve,
	// search_restart, ...), per CPU.
	Conntrack map[string][]uint64 `json:"conntrack"`
}

// Counter returns the growth of conntrack counter name summed over CPUs.
// The kernel's columns clashres and insert_failed are also known by
// conntrack -S's names, clash_resolve.
func (o *SNATObservation) Counter(name string) uint64 {
	if name == "clash_resolve" {
		name = "clashres"
	}
	var n uint64
	for _, v := range o.Conntrack[name] {
		n += v
	}
	return n
}

// CPUs returns the CPUs the connects ran on, in increasing order.
func (o *SNATObservation) CPUs() []int {
	var cpus []int
	for _, f := range o.Flows {
		if !slices.Contains(cpus, f.CPU) {
			cpus = append(cpus, f.CPU)
		}
	}
	slices.Sort(cpus)
	return cpus
}

// SNATObservations is what one SNAT probe of a kernel recorded.
type SNATObservations struct {
	// Kernel identifies the kernel probed.
	Kernel Kernel `json:"kernel"`
	// Namespace is "root" or "user", as in Observations.
	Namespace string `json:"namespace"`
	// Experiments are the experiments run, in order.
	Experiments []SNATObservation `json:"experiments"`
}

// SNATModel is how CompareSNAT simulates an experiment.
type SNATModel struct {
	// ConfirmDelay is the time from a SYN's translation to its insert at
	// confirm (default DefaultConfirmDelay).
	ConfirmDelay workload.Dist
	// Seed is the seed of the first replicate; Replicates (default 20)
	// the number of simulations, each with its own allocator and delay
	// seeds.
	Seed       uint64
	Replicates int
}

// DefaultConfirmDelay returns the model's default confirm delay, the
// simulator's (exp:5us).
func DefaultConfirmDelay() workload.Dist { return workload.MustParseDist("exp:5us") }

// SNATResult compares one SNAT experiment with the model.
type SNATResult struct {
	// Experiment is the experiment's name and Rule its rule.
	Experiment string
	Rule       SNATRule
	SamePort   bool
	// CPUs is the number of CPUs the kernel translated on.
	CPUs int
	// Flows is the number of connect() calls; Failed how many did not
	// succeed.
	Flows, Failed int
	// InsertFailed, Drop, ClashResolve and SearchRestart are the node's
	// conntrack counters.
	InsertFailed, Drop, ClashResolve, SearchRestart uint64
	// SynRetransmits is the SYNs the pods sent again, and Slow the
	// connects that took a second or more.
	SynRetransmits, Slow int
	// KernelShare is InsertFailed / (InsertFailed + confirmed flows).
	KernelShare float64
	// ModelClashes and ModelTranslations are pooled over the replicates;
	// ModelShare is their quotient.
	ModelClashes, ModelTranslations uint64
	ModelShare                      float64
}

// CompareSNAT runs each observed experiment through the simulator: the
// netfilter model with the rule's random flag on as many CPUs as the
// kernel used, each flow at its measured time on its measured CPU, with
// its measured source port as the original port, and the model's confirm
// delay. It returns one result per experiment.
func CompareSNAT(ctx context.Context, obs *SNATObservations, m SNATModel) ([]SNATResult, error) {
	if m.ConfirmDelay == (workload.Dist{}) {
		m.ConfirmDelay = DefaultConfirmDelay()
	}
	if m.Replicates <= 0 {
		m.Replicates = 20
	}
	spec, err := allocator.Lookup("netfilter")
	if err != nil {
		return nil, err
	}
	var out []SNATResult
	for i := range obs.Experiments {
		o := &obs.Experiments[i]
		e := o.Experiment
		r := SNATResult{Experiment: e.Name, Rule: e.Rule, SamePort: e.SamePort, Flows: len(o.Flows),
			InsertFailed: o.Counter("insert_failed"), Drop: o.Counter("drop"),
			ClashResolve: o.Counter("clash_resolve"), SearchRestart: o.Counter("search_restart")}
		cpus := o.CPUs()
		r.CPUs = len(cpus)
		ok := 0
		for _, f := range o.Flows {
			if !f.OK() {
				r.Failed++
				continue
			}
			ok++
			r.SynRetransmits += f.SynRetransmits
			if f.ConnectNS >= int64(time.Second) {
				r.Slow++
			}
		}
		if n := r.InsertFailed + uint64(ok); n > 0 {
			r.KernelShare = float64(r.InsertFailed) / float64(n)
		}
		script := snatScript(o, cpus)
		params := map[string]string{"random": fmt.Sprint(e.Rule.Random())}
		for k := range m.Replicates {
			seed := m.Seed + uint64(k)
			res, err := sim.Run(ctx, sim.Config{
				Allocator: spec,
				Params:    params,
				AllocSeed: seed,
				Seed:      seed,
				Stack:     sim.StackFromProfile(spec.Profile),
				Script:    script,
				Race:      sim.Race{CPUs: max(2, len(cpus)), ConfirmDelay: m.ConfirmDelay, SynRTO: time.Second, SynRetries: 6},
			})
			if err != nil {
				return nil, fmt.Errorf("experiment %s: %w", e.Name, err)
			}
			r.ModelClashes += uint64(res.Clashes)
			r.ModelTranslations += uint64(res.Clashes + res.Successes)
		}
		if r.ModelTranslations > 0 {
			r.ModelShare = float64(r.ModelClashes) / float64(r.ModelTranslations)
		}
		out = append(out, r)
	}
	return out, nil
}

// snatScript is an experiment's flows as a simulator script: each at its
// time, on its CPU (numbered in the order of cpus), from the NAT address
// with the pod's port as the original port, held to the end.
func snatScript(o *SNATObservation, cpus []int) []workload.Arrival {
	flows := slices.Clone(o.Flows)
	slices.SortStableFunc(flows, func(a, b SNATFlow) int {
		switch {
		case a.AtNS < b.AtNS:
			return -1
		case a.AtNS > b.AtNS:
			return 1
		}
		return 0
	})
	script := make([]workload.Arrival, len(flows))
	for i, f := range flows {
		script[i] = workload.Arrival{
			At:     time.Duration(max(0, f.AtNS)),
			Flow:   allocator.Flow{Path: allocator.Connect, Src: o.NAT, Dst: o.Server, OrigPort: f.Src.Port()},
			Hold:   workload.Forever,
			Close:  workload.RST,
			Client: -1,
			CPU:    slices.Index(cpus, f.CPU) + 1,
		}
	}
	return script
}

// WriteSNATTable writes the comparison as a table, one experiment a row.
func WriteSNATTable(w io.Writer, k Kernel, rs []SNATResult, m SNATModel) error {
	if m.ConfirmDelay == (workload.Dist{}) {
		m.ConfirmDelay = DefaultConfirmDelay()
	}
	if _, err := fmt.Fprintf(w, "SNAT race, %s %s: kernel conntrack counters in the node namespace against the netfilter model (confirm delay %v, same flows, times, CPUs and source ports)\n\n",
		k.Sysname, k.Release, m.ConfirmDelay); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "experiment\trule\tsource ports\tcpus\tflows\tinsert_failed\tdrop\tclash_resolve\tsearch_restart\tsyn retrans\t>= 1 s\tfailed\tkernel clash %\tmodel clash %\t")
	for _, r := range rs {
		ports := "pods' own"
		if r.SamePort {
			ports = "one per round"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t\n", r.Experiment, r.Rule.nft(), ports, r.CPUs, r.Flows,
			r.InsertFailed, r.Drop, r.ClashResolve, r.SearchRestart, r.SynRetransmits, r.Slow, r.Failed, 100*r.KernelShare, 100*r.ModelShare)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nclash % = insert_failed / (insert_failed + confirmed flows); the model's is pooled over its replicates.")
	return err
}

// MeasureSNAT runs the SNAT experiments on the live kernel, one after the
// other (they would disturb each other's timing), each in new network and
// mount namespaces of its own, and returns what they observed. Of opt it
// uses Exe, Args, Env and Timeout; progress, when not nil, is called
// after each experiment. Like Measure, it is all or nothing.
func MeasureSNAT(ctx context.Context, opt Options, exps []SNATExperiment, progress func(o *SNATObservation, wall time.Duration)) (*SNATObservations, error) {
	if err := startProbe(&opt, exps, func(e SNATExperiment) string { return e.Name }, "SNAT experiments"); err != nil {
		return nil, err
	}
	netns, err := parentNamespace()
	if err != nil {
		return nil, err
	}
	mntns, err := namespaceOf("mnt")
	if err != nil {
		return nil, err
	}
	obs := &SNATObservations{Namespace: "root"}
	user := false
	for i, e := range exps {
		req := request{SNAT: &e, ParentNetNS: netns, ParentMntNS: mntns, Timeout: Duration(opt.Timeout)}
		start := time.Now()
		var r response
		if i == 0 {
			r, user, err = startFirst(ctx, opt, req)
		} else {
			r, err = runChild(ctx, opt, req, user)
		}
		if ctx.Err() != nil {
			return nil, interrupted(ctx)
		}
		if err != nil {
			return nil, err
		}
		if r.SNAT == nil {
			return nil, fmt.Errorf("experiment %s: the child sent no SNAT observation", e.Name)
		}
		if i == 0 {
			obs.Kernel = r.Kernel
			if user {
				obs.Namespace = "user"
			}
		}
		obs.Experiments = append(obs.Experiments, *r.SNAT)
		if progress != nil {
			progress(&obs.Experiments[i], time.Since(start))
		}
	}
	return obs, nil
}

// Validate checks recorded SNAT observations: known experiments with
// flows of their rounds and workers, and conntrack counters.
func (o *SNATObservations) Validate() error {
	if len(o.Experiments) == 0 {
		return errors.New("no SNAT experiments")
	}
	names := map[string]bool{}
	for i := range o.Experiments {
		x := &o.Experiments[i]
		e := x.Experiment
		if err := e.Validate(); err != nil {
			return err
		}
		if names[e.Name] {
			return fmt.Errorf("experiment %s appears twice", e.Name)
		}
		names[e.Name] = true
		if e.Workers < 2 {
			return fmt.Errorf("experiment %s: workers %d: a recording has 2 to 8", e.Name, e.Workers)
		}
		if !x.NAT.Is4() || !x.Server.Addr().Is4() {
			return fmt.Errorf("experiment %s: nat %v, server %v: expected IPv4 addresses", e.Name, x.NAT, x.Server)
		}
		if len(x.Flows) != e.Rounds*e.Workers {
			return fmt.Errorf("experiment %s: %d flows, expected %d rounds × %d workers", e.Name, len(x.Flows), e.Rounds, e.Workers)
		}
		for j, f := range x.Flows {
			if f.Round < 0 || f.Round >= e.Rounds || f.Worker < 0 || f.Worker >= e.Workers || f.CPU < 0 || f.AtNS < 0 || f.SynRetransmits < 0 || f.ConnectNS < -1 {
				return fmt.Errorf("experiment %s: flow %d: out of range (%+v)", e.Name, j, f)
			}
		}
		if _, ok := x.Conntrack["insert_failed"]; !ok {
			return fmt.Errorf("experiment %s: no insert_failed among the conntrack counters", e.Name)
		}
	}
	return nil
}

// Write writes the observations as JSON, on one line.
func (o *SNATObservations) Write(w io.Writer) error {
	return json.NewEncoder(w).Encode(o)
}

// ReadSNATObservations reads and validates observations written by
// Write.
func ReadSNATObservations(r io.Reader) (*SNATObservations, error) {
	var o SNATObservations
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("not a SNAT probe recording: %w", err)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

// ReadSNATObservationsFile reads a file written by Write, naming it in
// errors.
func ReadSNATObservationsFile(path string) (*SNATObservations, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o, err := ReadSNATObservations(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}
