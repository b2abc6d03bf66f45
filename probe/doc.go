// Package probe measures how the running Linux kernel hands out ephemeral
// ports and checks an allocator model against those measurements.
//
// # Experiments as data
//
// An [Experiment] is a small, bounded script: the per-namespace sysctls to
// set (ip_local_port_range, ip_local_reserved_ports, tcp_tw_reuse,
// tcp_timestamps), the destinations on 127.0.0.0/8 (or one address added to
// lo), and a list of steps (connect, bind(0), UDP connect or bind(0),
// wait), each with a bounded number of attempts and what happens to each
// socket afterwards (kept open, client close, server close, reset).
// [Experiments] returns the standard set; each carries the [Check]s that
// compare its outcome.
//
// # Measuring
//
// [Measure] runs every experiment in a fresh network namespace of its own
// (so that nothing one leaves behind, such as 60 s of TIME_WAIT, touches
// another) by re-executing the program as a child with CLONE_NEWNET, plus
// CLONE_NEWUSER when it is not root. The child, [Child], refuses to run
// unless it is in a new namespace whose only interface is a loopback that
// is still down; it brings lo up, writes the sysctls, reads them back, runs
// the steps with raw socket calls and reports every attempt. The host's
// own settings are never touched. The result, [Observations], records the
// kernel release, the defaults of a fresh namespace and, per experiment,
// the experiment itself and every attempt with its time, port and errno,
// as JSON ([Observations.Write], [ReadObservations]).
//
// # Comparing
//
// [Compare] replays each recorded experiment through the simulator: the
// same range, reserved ports, tcp_tw_reuse, timestamps and
// tcp_tw_reuse_delay, and a script of the same attempts at the same times
// with the same closes (sim.Config.Script). The model's TIME_WAIT length
// and sharing rule come from the allocator's profile. Each check takes the
// same statistic from both: exact values where the kernel is deterministic
// (successes before EADDRNOTAVAIL, where the parity switches, errnos,
// reserved ports handed out), and a two-sample chi-square test of
// homogeneity at α = 0.001 where it is random (successive differences,
// the spread of ports over the range, parity). The [Report] is PASS only
// when every check passes.
//
// # The SNAT race
//
// [MeasureSNAT] runs [SNATExperiments] in new network and mount
// namespaces: a pod namespace, a node namespace that forwards and
// masquerades (nftables masquerade, random or fully-random) and a server
// namespace, joined by veth pairs, made with ip and nft under a private
// tmpfs on /run. In each round the pods, on threads pinned to different
// CPUs, connect at the same moment, so that the node translates their
// SYNs on several CPUs at once. It records the node's conntrack counters
// (insert_failed, drop, clash_resolve, search_restart) and each connect's
// time, CPU, source port and SYN retransmissions. [CompareSNAT] replays
// the flows through the simulator's concurrent NAT (sim.Race) with the
// netfilter model on the same CPUs.
package probe
