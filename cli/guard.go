package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/portsim/portsim/bench"
)

// errMemory is the cause of a context cancelled by the memory guard.
var errMemory = errors.New("memory")

// memoryGuard watches the process's memory while ctx runs work: it sets
// the Go runtime's soft memory limit (runtime/debug.SetMemoryLimit) to
// limit, so the garbage collector works harder as the heap nears it, and
// cancels the returned context with cause errMemory once the memory the
// runtime holds passes it anyway, so that the run stops with a message
// instead of the runtime dying out of memory. limit 0 takes 90 % of the
// memory the machine (or its cgroup) allows. stop releases the guard.
func memoryGuard(ctx context.Context, limit int64) (context.Context, int64, func()) {
	if limit <= 0 {
		limit = availableMemory() / 10 * 9
	}
	if limit <= 0 {
		return ctx, 0, func() {}
	}
	old := debug.SetMemoryLimit(limit)
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				metrics.Read(samples)
				held := int64(samples[0].Value.Uint64() - samples[1].Value.Uint64())
				if held > limit {
					cancel(errMemory)
					return
				}
			}
		}
	}()
	return ctx, limit, func() {
		close(done)
		cancel(nil)
		debug.SetMemoryLimit(old)
	}
}

// memoryError is the error of a run the guard stopped.
func memoryError(limit int64, err error) error {
	msg := fmt.Sprintf("stopped: the process used more than %s, the most this machine allows it (90 %% of its memory); run fewer runs at once (-j) or a smaller workload", bench.FormatBytes(float64(limit)))
	if errors.Is(err, bench.ErrInterrupted) {
		// Keep the runs saved and the resume hint.
		_, rest, _ := strings.Cut(err.Error(), ": ")
		msg += "; " + rest
	}
	return errors.New(msg)
}

// availableMemory returns the memory this process may use: the smaller of
// the machine's memory (/proc/meminfo) and its cgroup's limit
// (memory.max), or 0 when neither is known.
func availableMemory() int64 {
	var total int64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					total = kb << 10
				}
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
