package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/probe"
)

// TestErrorsAndLimits checks every row of the "Errors and limits" table
// of README.md: the exit status (2 for usage errors, 1 for failures) and
// the message, which names the flag, file or line and what was expected.
func TestErrorsAndLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badKey := write("badkey.yaml", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rat: 5\n")
	badType := write("badtype.yaml", "name: x\nseeds: [1, 2]\nallocators: [linux]\nscenarios: [{name: a}]\n")
	badChart := write("badchart.yaml", "name: x\nallocators: [linux]\ncharts: [probe-cdf]\nscenarios: [{name: a}]\n")
	trace := write("trace.csv", "time,src,dst,dst_port,hold,close\n0s,10.0.0.1,198.18.0.1,443,1s,client\n1s,10.0.0.1,198.18.0.1,443,-2s,client\n")
	notADir := write("afile", "a file where a directory should be")
	recorded := filepath.Join("..", "..", "probe", "testdata", "linux-6.18-x86_64.json")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"inverted range", []string{"run", "-range", "61000-32768"}, 2, "flag -range: range 61000-32768: inverted (LO > HI); expected LO-HI with 1 <= LO <= HI <= 65535"},
		{"port 0", []string{"run", "-range", "0-100"}, 2, `flag -range: range "0-100": LO is port 0, which is not an ephemeral port`},
		{"above 65535", []string{"run", "-range", "1024-70000"}, 2, `flag -range: range "1024-70000": HI 70000 is above 65535`},
		{"empty range", []string{"run", "-range", ""}, 2, `flag -range: range "": expected LO-HI`},
		{"all reserved", []string{"run", "-range", "100-200", "-reserved", "1-65535"}, 2, "the reserved ports cover the whole range; leave at least one port unreserved"},
		{"negative rate", []string{"run", "-rate", "-5"}, 2, `flag -rate: "-5": expected a positive finite number`},
		{"NaN rate", []string{"run", "-rate", "NaN"}, 2, `flag -rate: "NaN": expected a positive finite number`},
		{"Inf rate", []string{"run", "-rate", "Inf"}, 2, `flag -rate: "Inf": expected a positive finite number`},
		{"absurd rate", []string{"run", "-rate", "1e12"}, 2, "flag -rate 1e+12: expected a finite rate in attempts per second, > 0 and <= 1e+09"},
		{"negative duration", []string{"run", "-duration", "-1s"}, 2, `flag -duration: "-1s": expected a duration >= 0 such as 60s or 10m`},
		{"absurd duration", []string{"run", "-duration", "1000000h"}, 2, `flag -duration: "1000000h" is absurdly long`},
		{"no stop", []string{"run", "-duration", "0", "-attempts", "0"}, 2, "duration and attempts are both 0: set a duration (e.g. 10m) or a number of attempts"},
		{"memory budget", []string{"run", "-destinations", "1000000", "-rate", "1e6", "-hold", "forever", "-duration", "60s"}, 2, "above the budget of 4.0 GiB: lower destinations, sources, rate, hold time or prefill, or raise the budget with -max-memory"},
		{"unknown allocator", []string{"run", "-allocator", "linx"}, 2, `flag -allocator: unknown allocator "linx" (did you mean "linux"?)`},
		{"unknown param", []string{"run", "-param", "tabel=256"}, 2, `flag -param "tabel=256": no allocator given takes a param "tabel"`},
		{"bad param", []string{"run", "-param", "table=100"}, 2, "param table=100: expected a power of two in 1..1048576"},
		{"unknown flag", []string{"run", "-rat", "5"}, 2, "portsim run: flag provided but not defined: -rat\nrun 'portsim help run' for usage"},
		{"unknown command", []string{"rnu"}, 2, `unknown command "rnu" (did you mean "run"?)`},
		{"unknown suite", []string{"bench", "standrad"}, 2, `suite "standrad": no embedded suite by that name and no such file (did you mean "standard"?)`},
		{"suite unknown key", []string{"bench", badKey}, 2, badKey + `:5: scenario "a": unknown key "rat" (did you mean "rate"?)`},
		{"suite wrong type", []string{"bench", badType}, 2, badType + ":2: seeds: expected a single value, got a list"},
		{"suite unknown chart", []string{"bench", badChart}, 2, badChart + `:3: charts: unknown chart "probe-cdf" (did you mean "probes-cdf"?)`},
		{"malformed trace", []string{"run", "-trace", trace}, 2, trace + ":3: column hold"},
		{"unwritable output", []string{"bench", "-o", filepath.Join(notADir, "out"), filepath.Join("..", "..", "bench", "testdata", "tiny.yaml")}, 2, "flag -o: output directory"},
		{"shard 0/N", []string{"bench", "-shard", "0/4"}, 2, `flag -shard "0/4": expected K/N with 1 <= K <= N, e.g. 2/4`},
		{"shard K>N", []string{"bench", "-shard", "5/4"}, 2, `flag -shard "5/4": expected K/N with 1 <= K <= N`},
		{"shard no N", []string{"bench", "-shard", "2"}, 2, `flag -shard "2": expected K/N`},
		{"resume without run", []string{"bench", "-resume", dir}, 2, "flag -resume: " + dir + " holds no suite run"},
		{"probe observations without compare", []string{"probe", "-observations", recorded}, 2, "flag -observations: give the model to check with -compare ALLOCATOR"},
		{"probe unknown experiment", []string{"probe", "-compare", "linux", "-observations", recorded, "-only", "connect-exhast"}, 2, `flag -only: no experiment "connect-exhast" (did you mean "connect-exhaust"?)`},
		{"probe failing model", []string{"probe", "-compare", "sequential", "-observations", recorded}, 1, "probe: 15 of 37 checks fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := portsim(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("portsim %s\nexit %d, stderr %q\nwant exit %d and %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.want)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 0 && tc.name != "malformed trace" && tc.name != "unknown flag" {
				t.Errorf("the error takes more than one line: %q", errs)
			}
		})
	}
}

// TestProbeCompareRecorded checks portsim probe -compare against the
// recorded probe of a real kernel: linux passes (exit 0), sequential fails
// (exit 1, above).
func TestProbeCompareRecorded(t *testing.T) {
	out, errs, code := portsim(t, "probe", "-compare", "linux", "-observations", filepath.Join("..", "..", "probe", "testdata", "linux-6.18-x86_64.json"))
	if code != 0 || !strings.Contains(out, "PASS: all 37 checks pass") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

// TestInterruptedBench checks the last row of the table: an interrupted
// bench exits 1 and says how to resume, and -resume finishes it.
func TestInterruptedBench(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join("..", "..", "bench", "testdata", "tiny.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // interrupted before the first run finishes
	var out, errb strings.Builder
	err := run(ctx, []string{"bench", "-o", dir, "-j", "1", suite}, &out, &errb)
	if !errors.Is(err, bench.ErrInterrupted) || exitCode(err, &errb) != 1 {
		t.Fatalf("err = %v, want an interruption with exit status 1", err)
	}
	if !strings.Contains(errb.String(), "resume with `portsim bench -resume "+dir+"`") {
		t.Errorf("stderr %q does not say how to resume", errb.String())
	}
	if _, _, code := portsim(t, "bench", "-resume", dir); code != 0 {
		t.Fatalf("resume: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		t.Error("the resumed run wrote no report")
	}
}

// TestMain lets TestSignalStopsBench run the real main in a child
// process: with PORTSIM_MAIN set, the test binary is portsim.
func TestMain(m *testing.M) {
	if os.Getenv(probe.ChildEnv) != "" {
		// A probe re-executes its binary as the child in a new namespace:
		// in these tests that binary is the test binary.
		os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
	}
	if os.Getenv("PORTSIM_MAIN") != "" {
		os.Args = append([]string{"portsim"}, strings.Fields(os.Getenv("PORTSIM_MAIN"))...)
		main()
	}
	os.Exit(m.Run())
}

// TestSignalStopsBench sends SIGINT to a real portsim bench: it must stop,
// keep what it finished, exit with status 1 and say how to resume.
func TestSignalStopsBench(t *testing.T) {
	dir := t.TempDir()
	suite, _ := filepath.Abs(filepath.Join("..", "..", "bench", "testdata", "slow.yaml"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PORTSIM_MAIN=bench -j 1 -o "+dir+" "+suite)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the first run is saved, then interrupt.
	deadline := time.Now().Add(60 * time.Second)
	for {
		entries, _ := os.ReadDir(filepath.Join(dir, "cells"))
		if len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no run finished within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "portsim bench -resume "+dir) {
		t.Fatalf("stderr %q does not say how to resume", stderr.String())
	}
}
