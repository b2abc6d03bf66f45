package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// stuck is an allocator that always proposes the lowest port of its
// range, whether or not it is free: a broken allocator.
type stuck struct{ lo uint16 }

func (s stuck) Allocate(time.Duration, allocator.Flow, allocator.Checker) (uint16, error) {
	return s.lo, nil
}

// stuckSpec registers stuck under the name "stuck".
func stuckSpec() allocator.Spec {
	return allocator.Spec{
		Name:    "stuck",
		Summary: "always the lowest port, free or not (a broken allocator)",
		Source:  "a test of the simulator's check of every answer",
		Profile: allocator.Profile{Range: allocator.Range{Lo: 40000, Hi: 40999}, TimeWait: time.Minute, Scope: allocator.FourTuple},
		Bound:   func(allocator.Config) int { return 1 },
		New: func(cfg allocator.Config) (allocator.Allocator, error) {
			return stuck{cfg.Range.Lo}, nil
		},
	}
}

// TestRunBrokenAllocator checks that portsim run fails, with exit status
// 1 and the simulator's message naming the run, when an allocator hands
// out a port in use, whichever runs finish first.
func TestRunBrokenAllocator(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), strings.Fields("run -allocator linux,stuck -rate 100 -hold 10s -duration 5s"), &out, &errb, stuckSpec())
	want := "portsim: scenario run (stuck, seed 0): sim: allocator stuck returned port 40000 for 198.18.0.1:443 at 47.980779ms, which is not free (outside the range, reserved or in use)\n"
	if code != 1 || errb.String() != want || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, no table and stderr %q", code, out.String(), errb.String(), want)
	}
}

// TestRunEventsAndDir checks portsim run -events with -o: one event log
// per allocator and replicate, each with a row per attempt, the result
// directory as portsim bench writes it, and the same runs as a run
// without either.
func TestRunEventsAndDir(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "ev.csv")
	args := func(extra ...string) []string {
		return append(strings.Fields("run -allocator linux,freebsd -seeds 2 -rate 50 -duration 10s -json"), extra...)
	}
	withEvents, errs, code := portsim(t, args("-events", ev, "-o", filepath.Join(dir, "a"))...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	plain, errs, code := portsim(t, args()...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	strip := func(s string) string { // wall times differ between runs
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, `"wall_ns"`) {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if strip(withEvents) != strip(plain) {
		t.Errorf("runs with -events differ from runs without")
	}
	for _, name := range []string{"ev-linux-0.csv", "ev-linux-1.csv", "ev-freebsd-0.csv", "ev-freebsd-1.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// A header and one row per attempt: about 500 attempts at 50/s for 10 s.
		if rows := bytes.Count(b, []byte("\n")) - 1; rows < 400 || rows > 600 {
			t.Errorf("%s: %d attempts, want about 500", name, rows)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ev.csv")); !os.IsNotExist(err) {
		t.Errorf("ev.csv written although there are several runs (err %v)", err)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "a", "runs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(csv, []byte("\n")); lines != 5 {
		t.Errorf("runs.csv: %d lines, want a header and 4 runs", lines)
	}
}
