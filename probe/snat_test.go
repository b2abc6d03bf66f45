package probe

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// snatRecording is a small SNAT observation: three rounds of two pods on
// CPUs 0 and 1 at one instant with one source port per round, of which
// the kernel dropped one SYN at confirm (CPU 1's in round 1), sent again
// after a second.
func snatRecording(rule SNATRule) *SNATObservations {
	e := SNATExperiment{Name: "snat-" + string(rule) + "-same-port", Rule: rule, SamePort: true, Rounds: 3, Workers: 2}
	o := SNATObservation{Experiment: e, NAT: netip.MustParseAddr("10.201.0.1"), Server: netip.MustParseAddrPort("10.201.0.2:8080"), Accepted: 6,
		Conntrack: map[string][]uint64{"insert_failed": {0, 1}, "drop": {0, 1}, "clashres": {0, 0}, "search_restart": {0, 0}}}
	for r := range 3 {
		for w := range 2 {
			f := SNATFlow{Round: r, Worker: w, CPU: w, AtNS: int64(r) * int64(time.Millisecond), Src: netip.AddrPortFrom(snatPod(w), uint16(SNATBasePort+r)), ConnectNS: 40_000}
			if r == 1 && w == 1 {
				f.SynRetransmits, f.ConnectNS = 1, 1_000_300_000
			}
			o.Flows = append(o.Flows, f)
		}
	}
	return &SNATObservations{Kernel: Kernel{Sysname: "Linux", Release: "6.18.0"}, Namespace: "root", Experiments: []SNATObservation{o}}
}

// TestCompareSNAT checks the model's side on a recording: with the
// default rule both pods of a round keep their one port on two CPUs at
// once, so every round clashes once (3 of 9 translations); with
// fully-random they search from random offsets and do not clash. The
// table is compared whole.
func TestCompareSNAT(t *testing.T) {
	ctx := context.Background()
	var b bytes.Buffer
	for _, rule := range []SNATRule{Masquerade, MasqueradeFullyRandom} {
		obs := snatRecording(rule)
		if err := obs.Validate(); err != nil {
			t.Fatal(err)
		}
		m := SNATModel{Seed: 1, Replicates: 2}
		rs, err := CompareSNAT(ctx, obs, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteSNATTable(&b, obs.Kernel, rs, m); err != nil {
			t.Fatal(err)
		}
	}
	want := `SNAT race, Linux 6.18.0: kernel conntrack counters in the node namespace against the netfilter model (confirm delay exp:5µs, same flows, times, CPUs and source ports)

                 experiment        rule   source ports  cpus  flows  insert_failed  drop  clash_resolve  search_restart  syn retrans  >= 1 s  failed  kernel clash %  model clash %
  snat-masquerade-same-port  masquerade  one per round     2      6              1     1              0               0            1       1       0           14.29          33.33

clash % = insert_failed / (insert_failed + confirmed flows); the model's is pooled over its replicates.
SNAT race, Linux 6.18.0: kernel conntrack counters in the node namespace against the netfilter model (confirm delay exp:5µs, same flows, times, CPUs and source ports)

                   experiment                     rule   source ports  cpus  flows  insert_failed  drop  clash_resolve  search_restart  syn retrans  >= 1 s  failed  kernel clash %  model clash %
  snat-fully-random-same-port  masquerade fully-random  one per round     2      6              1     1              0               0            1       1       0           14.29           0.00

clash % = insert_failed / (insert_failed + confirmed flows); the model's is pooled over its replicates.
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// TestSNATObservationsRoundTrip writes a recording and reads it back, and
// checks that a damaged one is refused with its reason.
func TestSNATObservationsRoundTrip(t *testing.T) {
	obs := snatRecording(Masquerade)
	var b bytes.Buffer
	if err := obs.Write(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSNATObservations(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	if err := back.Write(&b2); err != nil || b2.String() != b.String() {
		t.Errorf("round trip differs (err %v):\n%s\n%s", err, b.String(), b2.String())
	}
	for _, tc := range []struct{ from, to, want string }{
		{`"rounds":3`, `"rounds":4`, "experiment snat-masquerade-same-port: 6 flows, expected 4 rounds × 2 workers"},
		{`"rule":"masquerade"`, `"rule":"snat"`, `experiment snat-masquerade-same-port: rule "snat": expected masquerade, random or fully-random`},
		{`"insert_failed"`, `"inserted"`, "experiment snat-masquerade-same-port: no insert_failed among the conntrack counters"},
		{`"kernel"`, `"kernal"`, `not a SNAT probe recording: json: unknown field "kernal"`},
	} {
		bad := strings.Replace(b.String(), tc.from, tc.to, 1)
		if _, err := ReadSNATObservations(strings.NewReader(bad)); err == nil || err.Error() != tc.want {
			t.Errorf("%s -> %s: error %v, want %s", tc.from, tc.to, err, tc.want)
		}
	}
}
