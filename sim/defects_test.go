package sim

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/sim/workload"
)

// closeCounter is a trace whose Close is counted.
type closeCounter struct {
	io.Reader
	closes int
}

func (c *closeCounter) Close() error { c.closes++; return nil }

// traceConfig returns a linux run replaying a trace of n attempts, one
// every second, and the trace's reader.
func traceConfig(t *testing.T, n int) (Config, *closeCounter) {
	t.Helper()
	var b strings.Builder
	b.WriteString("time,src,dst,dst_port,hold,close\n")
	for i := 0; i < n; i++ {
		b.WriteString(time.Duration(i * int(time.Second)).String())
		b.WriteString(",10.0.0.1,192.0.2.1,443,100ms,client\n")
	}
	tr := &closeCounter{Reader: strings.NewReader(b.String())}
	spec, err := allocator.Lookup("linux")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Allocator: mustSpec("linux"),
		Stack:     StackFromProfile(spec.Profile),
		Workload: workload.Spec{
			Arrivals:  workload.Trace,
			TraceName: "t.csv",
			TraceOpen: func() (io.ReadCloser, error) { return tr, nil },
		},
	}
	return cfg, tr
}

// TestTraceClosedWhenRunStopsEarly checks that the simulator closes a
// trace it did not read to the end: a run cut by its duration, one cut
// by its attempt limit and one cancelled all close it exactly once, as
// does a run that reads it whole.
func TestTraceClosedWhenRunStopsEarly(t *testing.T) {
	for _, c := range []struct {
		name   string
		set    func(*Config)
		ctx    func() context.Context
		fails  bool
		tried  int64
		closes int
	}{
		{name: "whole", set: func(*Config) {}, tried: 10},
		{name: "duration", set: func(c *Config) { c.Duration = 3500 * time.Millisecond }, tried: 4},
		{name: "attempts", set: func(c *Config) { c.MaxAttempts = 2 }, tried: 2},
		{name: "cancelled", set: func(*Config) {}, fails: true, ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, tr := traceConfig(t, 10)
			c.set(&cfg)
			ctx := context.Background()
			if c.ctx != nil {
				ctx = c.ctx()
			}
			r, err := Run(ctx, cfg)
			if (err != nil) != c.fails {
				t.Fatalf("err = %v, want failure %v", err, c.fails)
			}
			if !c.fails && r.Attempts != c.tried {
				t.Errorf("%d attempts, want %d", r.Attempts, c.tried)
			}
			if tr.closes != 1 {
				t.Errorf("trace closed %d times, want once", tr.closes)
			}
		})
	}
}

// TestScriptBackInTime checks that a script whose times go backwards is
// refused with the attempt that does, instead of being replayed out of
// order.
func TestScriptBackInTime(t *testing.T) {
	cfg, _ := traceConfig(t, 0)
	f := allocator.Flow{Path: allocator.Connect, Src: workload.SourceAddr(0), Dst: workload.DestAddr(0, false)}
	cfg.Script = []workload.Arrival{{At: time.Second, Flow: f}, {At: 2 * time.Second, Flow: f}, {At: 1500 * time.Millisecond, Flow: f}}
	_, err := Run(context.Background(), cfg)
	want := "sim: script attempt 3 at 1.5s goes back in time: expected times >= 0 in non-decreasing order (attempt 2 is at 2s)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	cfg.Script = []workload.Arrival{{At: -time.Second, Flow: f}}
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "script attempt 1 at -1s goes back in time") {
		t.Errorf("negative time: err = %v", err)
	}
}
