package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// capacityCmd runs `portsim capacity ARGS` in-process and returns its
// stdout, stderr and exit status.
func capacityCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"capacity"}, args...), &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

// TestCapacitySentence sizes a 1,000-port stack with a 10 s TIME_WAIT
// under constant arrivals (knee 100/s, docs/figures.md#t4-ports-per-time_wait): the answer
// must sit between the knee and knee/(1 − 0.001), and the analytic bound
// must be printed beside it.
func TestCapacitySentence(t *testing.T) {
	out, errs, code := capacityCmd(t, "-allocator", "linux", "-range", "40000-40999", "-time-wait", "10s",
		"-arrivals", "constant", "-hold", "0s", "-seeds", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rate float64
	i := strings.Index(out, "Sustains ")
	if i < 0 {
		t.Fatalf("no \"Sustains\" in:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i:], "Sustains %g new connections per second", &rate); err != nil {
		t.Fatalf("no \"Sustains RATE new connections per second\" in:\n%s", out)
	}
	if !(rate >= 100*(1-0.004) && rate <= 100/(1-0.001)) {
		t.Errorf("sustains %v/s; want between the knee less twice the resolution and knee/(1-0.001) = 100.1/s", rate)
	}
	for _, want := range []string{
		"Analytic bound: 1 source × 1000 ports ÷ (mean hold 0 s + TIME_WAIT 10 s) = 100/s.",
		"tcp_tw_reuse=2 applies to loopback destinations only",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestCapacityJSONAndSources checks -json and the inverse question: 420/s
// at 100/s per source needs five source addresses.
func TestCapacityJSONAndSources(t *testing.T) {
	out, errs, code := capacityCmd(t, "-allocator", "linux", "-range", "40000-40999", "-time-wait", "10s",
		"-arrivals", "constant", "-hold", "0s", "-seeds", "2", "-rate", "420", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res []struct {
		Sources, Analytic int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(res) != 1 || res[0].Sources != 5 || res[0].Analytic != 5 {
		t.Fatalf("got %+v, want 5 sources (analytic 5)", res)
	}
}

// TestCapacityUsageErrors: flags that make no sense for a capacity search
// are usage errors (exit 2) naming the flag.
func TestCapacityUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-duration", "10s"}, "flag -duration"},
		{[]string{"-attempts", "100"}, "flag -attempts"},
		{[]string{"-arrivals", "closed"}, "flag -arrivals"},
		{[]string{"-target", "1.5"}, "flag -target"},
		{[]string{"-seeds", "1"}, "flag -seeds"},
		{[]string{"-hold", "forever"}, "no rate is sustainable"},
		{[]string{"-rate", "-5"}, "flag -rate"},
		{[]string{"-allocator", "linx"}, "flag -allocator"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, errs, code := capacityCmd(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("capacity %v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, errs, tc.want)
		}
	}
	out, _, code := capacityCmd(t, "-h")
	if code != 0 || !strings.Contains(out, "How many source IPs") || !strings.Contains(out, "Does tcp_tw_reuse help") {
		t.Errorf("capacity -h: exit %d, help lacks the examples:\n%s", code, out)
	}
}
