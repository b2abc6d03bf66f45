package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/bench"
)

// TestMemoryGuard: past its limit the guard cancels the work with a cause
// the commands turn into a clear error (exit status 1).
func TestMemoryGuard(t *testing.T) {
	ctx, limit, stop := memoryGuard(context.Background(), 1<<20)
	defer stop()
	if limit != 1<<20 {
		t.Fatalf("limit %d", limit)
	}
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a process holding more than 1 MiB was not stopped by a 1 MiB guard")
	}
	if !errors.Is(context.Cause(ctx), errMemory) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	interrupted := fmt.Errorf("%w: 3 of 10 runs are saved in out, 7 missing; resume with `portsim bench -resume out`", bench.ErrInterrupted)
	err := memoryError(limit, interrupted)
	want := "stopped: the process used more than 1.0 MiB, the most this machine allows it (90 % of its memory); run fewer runs at once (-j) or a smaller workload; 3 of 10 runs are saved in out, 7 missing; resume with `portsim bench -resume out`"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	var b strings.Builder
	if code := exitCode(err, &b); code != 1 || b.String() != "portsim: "+want+"\n" {
		t.Errorf("exit %d, %q", code, b.String())
	}
}

// TestProgressLog: off a terminal, progress is a line every logInterval
// with the runs done, the rate and the time left; -quiet prints nothing.
func TestProgressLog(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var b strings.Builder
	p := newProgress(&b, t0, false)
	p.now = func() time.Time { return now }
	p.update(0, 40)
	for i := 1; i <= 40; i++ {
		now = now.Add(time.Second)
		p.update(i, 40)
	}
	p.finish()
	want := "portsim: 5/40 runs done (12%), 1 runs/s, about 35s left\n" +
		"portsim: 10/40 runs done (25%), 1 runs/s, about 30s left\n" +
		"portsim: 15/40 runs done (38%), 1 runs/s, about 25s left\n" +
		"portsim: 20/40 runs done (50%), 1 runs/s, about 20s left\n" +
		"portsim: 25/40 runs done (62%), 1 runs/s, about 15s left\n" +
		"portsim: 30/40 runs done (75%), 1 runs/s, about 10s left\n" +
		"portsim: 35/40 runs done (88%), 1 runs/s, about 5s left\n" +
		"portsim: 40/40 runs done (100%), 1 runs/s\n"
	if b.String() != want {
		t.Errorf("progress log\n%s\nwant\n%s", b.String(), want)
	}
	var q strings.Builder
	p = newProgress(&q, t0, true)
	p.now = func() time.Time { return now }
	p.update(40, 40)
	if q.Len() != 0 {
		t.Errorf("-quiet printed %q", q.String())
	}
}
