package probe

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tinyObservations is a hand-made probe of a 4-port range: four
// connections kept open to one destination, then EADDRNOTAVAIL.
func tinyObservations() *Observations {
	lo := netip.MustParseAddr("127.0.0.1")
	e := Experiment{
		Name:    "tiny",
		Doc:     "4 ports, 5 connects: 1 failure",
		Sysctls: Sysctls{PortRange: "40000-40003", TWReuse: 2, Timestamps: true},
		Dest:    Dest{Addr: lo, Count: 1, Port: 5001, Src: lo},
		Steps:   []Step{{Op: OpConnect, Count: 10, UntilFail: true, Hold: Keep}},
		Checks:  []Check{{Kind: CheckExhaust}, {Kind: CheckParityRuns}, {Kind: CheckErrno}},
	}
	at := func(us int) time.Duration { return time.Duration(us) * time.Microsecond }
	return &Observations{
		Format:    FormatVersion,
		Kernel:    Kernel{Sysname: "Linux", Release: "6.18.0", Machine: "x86_64"},
		Namespace: "root",
		Defaults:  map[string]string{"net.ipv4.tcp_tw_reuse": "2"},
		Experiments: []Observation{{
			Experiment: e,
			Sysctls:    map[string]string{"net.ipv4.tcp_tw_reuse_delay": "1000"},
			Attempts: []Attempt{
				{Step: 0, At: at(10), Dst: 0, Port: 40002, Hold: -1},
				{Step: 0, At: at(20), Dst: 0, Port: 40000, Hold: -1},
				{Step: 0, At: at(30), Dst: 0, Port: 40003, Hold: -1},
				{Step: 0, At: at(40), Dst: 0, Port: 40001, Hold: -1},
				{Step: 0, At: at(50), Dst: 0, Errno: EADDRNOTAVAIL, Hold: -1},
			},
		}},
	}
}

func TestObservationsRoundTrip(t *testing.T) {
	o := tinyObservations()
	var buf bytes.Buffer
	if err := o.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("not JSON:\n%s", buf.String())
	}
	// One attempt per line.
	if !strings.Contains(buf.String(), "\n    [0,10,0,40002,0,-1],\n    [0,20,0,40000,0,-1],") {
		t.Errorf("attempts are not one per line:\n%s", buf.String())
	}
	got, err := ReadObservations(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("round trip changed the observations (-want +got):\n%s", diff)
	}
}

func TestAttemptJSON(t *testing.T) {
	a := Attempt{Step: 2, At: 1500 * time.Millisecond, Dst: -1, Port: 0, Errno: EADDRINUSE, Hold: -1}
	b, err := json.Marshal(a)
	if err != nil || string(b) != "[2,1500000,-1,0,98,-1]" {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back Attempt
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Fatalf("Unmarshal = %+v, %v; want %+v", back, err, a)
	}
	for _, bad := range []string{`[1,2,3]`, `{"step":1}`, `[0,0,0,70000,0,-1]`, `[0,-5,0,1,0,-1]`, `[0,0,-2,1,0,-1]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) accepted it", bad)
		}
	}
}

func TestReadObservationsErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *Observations)
		want string
	}{
		{"format", func(o *Observations) { o.Format = 2 }, "format 2"},
		{"no experiments", func(o *Observations) { o.Experiments = nil }, "no experiments"},
		{"bad experiment", func(o *Observations) { o.Experiments[0].Experiment.Sysctls.TWReuse = 7 }, "tcp_tw_reuse 7"},
		{"twice", func(o *Observations) { o.Experiments = append(o.Experiments, o.Experiments[0]) }, "appears twice"},
		{"step", func(o *Observations) { o.Experiments[0].Attempts[1].Step = 1 }, "step 1 is not a step"},
		{"destination", func(o *Observations) { o.Experiments[0].Attempts[1].Dst = 1 }, "destination 1"},
		{"time", func(o *Observations) { o.Experiments[0].Attempts[1].At = 0 }, "time goes back"},
		{"port out of range", func(o *Observations) { o.Experiments[0].Attempts[1].Port = 50000 }, "port 50000"},
		{"port on failure", func(o *Observations) { o.Experiments[0].Attempts[4].Port = 40000 }, "port 40000 with EADDRNOTAVAIL"},
		{"hold", func(o *Observations) { o.Experiments[0].Attempts[0].Hold = time.Millisecond }, "hold"},
	}
	for _, tc := range tests {
		o := tinyObservations()
		tc.edit(o)
		var buf bytes.Buffer
		if err := o.Write(&buf); err != nil {
			t.Fatal(err)
		}
		_, err := ReadObservations(&buf)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadObservations = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadObservations(strings.NewReader(`{"format":1,"colour":"red"}`)); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := ReadObservationsFile("testdata/no-such-file.json"); err == nil {
		t.Error("a missing file was read")
	}
}
