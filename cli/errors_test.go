package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/probe"
	"github.com/portsim/portsim/results/chart"
)

// errorCase is a row of the "Errors and limits" table of README.md: a
// command, what it prints on stderr (exactly, with the test's directory
// as DIR and the lock holder's pid, command line and start time as PID,
// COMMAND and TIME) and its exit status.
type errorCase struct {
	show string   // the command as the table shows it
	args []string // its arguments
	code int
	want string
	// before prepares the case and returns a function undoing it.
	before func(t *testing.T) func()
	cancel bool // run with a cancelled context (an interrupted run)
}

// normalizeErr replaces what changes between runs in an error message.
func normalizeErr(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	s = regexp.MustCompile("\\(pid [0-9]+, `[^`]*`, started [^)]*\\)").ReplaceAllString(s, "(pid PID, `COMMAND`, started TIME)")
	s = regexp.MustCompile(`(fingerprint|this suite) [0-9a-f]{12}`).ReplaceAllString(s, "$1 F")
	s = regexp.MustCompile(`about [0-9.]+ [KMG]iB`).ReplaceAllString(s, "about N MiB")
	s = regexp.MustCompile("to see all [0-9]+").ReplaceAllString(s, "to see all N")
	s = regexp.MustCompile(`or a setting \([^)]*\)`).ReplaceAllString(s, "or a setting (SETTINGS)")
	return s
}

func errorCases(t *testing.T, dir string) []errorCase {
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const micro = "name: micro\nseeds: 1\nduration: 1s\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: 10\n"
	microFile := write("micro.yaml", micro)
	badKey := write("badkey.yaml", "name: x\nallocators: [linux]\nscenarios:\n  - name: a\n    rat: 5\n")
	badType := write("badtype.yaml", "name: x\nseeds: [1, 2]\nallocators: [linux]\nscenarios: [{name: a}]\n")
	badChart := write("badchart.yaml", "name: x\nallocators: [linux]\ncharts: [probe-cdf]\nscenarios: [{name: a}]\n")
	escape := write("escape.yaml", "name: ../../escape\nallocators: [linux]\nscenarios: [{name: a}]\n")
	nul := write("nul.yaml", "name: x\nallocators: [linux]\nscenarios: [{name: \"a\\0b\"}]\n")
	var rates []string
	for i := 1; i <= 1000; i++ {
		rates = append(rates, fmt.Sprint(i))
	}
	big := write("big.yaml", "name: big\nseeds: 101\nallocators: [linux]\nscenarios:\n  - name: a\n    rate: ["+strings.Join(rates, ", ")+"]\n")
	trace := write("trace.csv", "time,src,dst,dst_port,hold,close\n0s,10.0.0.1,198.18.0.1,443,1s,client\n1s,10.0.0.1,198.18.0.1,443,-2s,client\n")
	goodTrace := write("good.csv", "time,src,dst,dst_port,hold,close\n0s,10.0.0.1,198.18.0.1,443,1s,client\n")
	write("afile", "a file where a directory should be")
	write("foreign/thesis.tex", "a user's file")
	write("m1/suite.yaml", micro)
	write("m2/suite.yaml", micro)
	write("empty/suite.yaml", micro)
	write("empty/runs.jsonl", "")
	write("cut/suite.yaml", micro)
	write("cut/runs.jsonl", `{"allocator": "linux", "scen`)
	recorded := filepath.Join("..", "probe", "testdata", "linux-6.18-x86_64.json")
	rel := func(p string) string { return strings.TrimPrefix(p, dir+string(filepath.Separator)) }
	_ = rel
	return []errorCase{
		{show: "portsim run -range 61000-32768", args: []string{"run", "-range", "61000-32768"}, code: 2, want: "portsim: flag -range: range 61000-32768: inverted (LO > HI); expected LO-HI with 1 <= LO <= HI <= 65535"},
		{show: "portsim run -range 0-100", args: []string{"run", "-range", "0-100"}, code: 2, want: `portsim: flag -range: range "0-100": LO is port 0, which is not an ephemeral port; expected LO-HI with 1 <= LO <= HI <= 65535, e.g. 32768-60999`},
		{show: "portsim run -range 1024-70000", args: []string{"run", "-range", "1024-70000"}, code: 2, want: `portsim: flag -range: range "1024-70000": HI 70000 is above 65535; expected LO-HI with 1 <= LO <= HI <= 65535, e.g. 32768-60999`},
		{show: "portsim run -range 100-200 -reserved 1-65535", args: []string{"run", "-range", "100-200", "-reserved", "1-65535"}, code: 2, want: "portsim: with -allocator linux: stack: range 100-200 reserved 1-65535: the reserved ports cover the whole range; leave at least one port unreserved"},
		{show: "portsim run -rate -5", args: []string{"run", "-rate", "-5"}, code: 2, want: `portsim: flag -rate: "-5": expected a positive finite number`},
		{show: "portsim run -rate NaN", args: []string{"run", "-rate", "NaN"}, code: 2, want: `portsim: flag -rate: "NaN": expected a positive finite number`},
		{show: "portsim run -rate 1e12", args: []string{"run", "-rate", "1e12"}, code: 2, want: "portsim: flag -rate 1e+12: expected a finite rate in attempts per second, > 0 and <= 1e+09"},
		{show: "portsim run -arrivals burst -burst-on 700000h", args: []string{"run", "-arrivals", "burst", "-burst-on", "700000h"}, code: 2, want: "portsim: flag -burst-on 700000h0m0s: expected a positive duration up to 73 years, such as 10s"},
		{show: "portsim run -duration -1s", args: []string{"run", "-duration", "-1s"}, code: 2, want: `portsim: flag -duration: "-1s": expected a duration >= 0 such as 60s or 10m`},
		{show: "portsim run -duration 1000000h", args: []string{"run", "-duration", "1000000h"}, code: 2, want: `portsim: flag -duration: "1000000h" is absurdly long: expected at most 876000h0m0s (100 years)`},
		{show: "portsim run -duration 0 -attempts 0", args: []string{"run", "-duration", "0", "-attempts", "0"}, code: 2, want: "portsim: with -allocator linux: duration and attempts are both 0: set a duration (e.g. 10m) or a number of attempts to stop the run"},
		{show: "portsim run -destinations 1000000 -rate 1e6 -hold forever", args: []string{"run", "-destinations", "1000000", "-rate", "1e6", "-hold", "forever"}, code: 2, want: `portsim: scenario "run" with linux would need about N MiB per run, above the budget of 4.0 GiB: lower destinations, sources, rate, hold time or prefill, or raise the budget with -max-memory`},
		{show: "portsim run -trace good.csv -max-memory 10MiB", args: []string{"run", "-trace", goodTrace, "-max-memory", "10MiB"}, code: 2, want: `portsim: scenario "run" with linux would need about N MiB per run, above the budget of 10.0 MiB: replay a shorter trace, or raise the budget with -max-memory`},
		{show: "portsim run -rate 1e9 -duration 876000h", args: []string{"run", "-rate", "1e9", "-duration", "876000h"}, code: 2, want: "portsim: about 3.15e+18 attempts in 1 runs; above the limit of 1e+11 attempts: shorten the runs (duration, attempts, rate) or raise the limit with -max-attempts"},
		{show: "portsim run -attempts 1000000000000 -duration 0", args: []string{"run", "-attempts", "1000000000000", "-duration", "0"}, code: 2, want: "portsim: about 1e+12 attempts in 1 runs; above the limit of 1e+11 attempts: shorten the runs (duration, attempts, rate) or raise the limit with -max-attempts"},
		{show: "portsim run -allocator linx", args: []string{"run", "-allocator", "linx"}, code: 2, want: `portsim: flag -allocator: unknown allocator "linx" (did you mean "linux"?); run ` + "`portsim list` to see all N"},
		{show: "portsim run -param tabel=256", args: []string{"run", "-param", "tabel=256"}, code: 2, want: `portsim: flag -param "tabel=256": no allocator given takes a param "tabel" (their params: linux:table, linux:per_socket_range)`},
		{show: "portsim run -param table=100", args: []string{"run", "-param", "table=100"}, code: 2, want: "portsim: flag -param: allocator linux: param table=100: expected a power of two in 1..1048576"},
		{show: "portsim run -rat 5", args: []string{"run", "-rat", "5"}, code: 2, want: "portsim run: flag provided but not defined: -rat\nrun 'portsim help run' for usage"},
		{show: "portsim run -seeds x", args: []string{"run", "-seeds", "x"}, code: 2, want: "portsim run: invalid value \"x\" for flag -seeds: parse error\nrun 'portsim help run' for usage"},
		{show: "portsim rnu", args: []string{"rnu"}, code: 2, want: `portsim: unknown command "rnu" (did you mean "run"?); commands: bench, capacity, compare, help, import, list, merge, plot, probe, run, version (see ` + "`portsim help`)"},
		{show: "portsim run -trace trace.csv (a bad line)", args: []string{"run", "-trace", trace}, code: 2, want: "portsim: flag -trace: DIR/trace.csv:3: column hold: \"-2s\" is negative; expected a duration >= 0"},
		{show: "portsim run -o afile/out", args: []string{"run", "-o", filepath.Join(dir, "afile", "out")}, code: 2, want: "portsim: flag -o: output directory DIR/afile/out: cannot create it: mkdir DIR/afile: not a directory"},
		{show: "portsim run -events nodir/e.csv", args: []string{"run", "-events", filepath.Join(dir, "nodir", "e.csv"), "-duration", "1s"}, code: 2, want: "portsim: flag -events: writing DIR/nodir/e.csv: open DIR/nodir/.e.csv.tmp-*: no such file or directory"},
		{show: "portsim bench standrad", args: []string{"bench", "standrad"}, code: 2, want: `portsim: suite "standrad": no embedded suite by that name and no such file (did you mean "standard"?); embedded suites: ` + strings.Join(bench.SuiteNames(), ", ")},
		{show: "portsim bench badkey.yaml (unknown key)", args: []string{"bench", badKey}, code: 2, want: `portsim: DIR/badkey.yaml:5: scenario "a": unknown key "rat" (did you mean "rate"?); expected one of ` + "name, description, allocators, charts, x, chart-at, events, metrics, published, or a setting (SETTINGS)"},
		{show: "portsim bench badtype.yaml (wrong type)", args: []string{"bench", badType}, code: 2, want: "portsim: DIR/badtype.yaml:2: seeds: expected a single value, got a list"},
		{show: "portsim bench badchart.yaml (unknown chart)", args: []string{"bench", badChart}, code: 2, want: `portsim: DIR/badchart.yaml:3: charts: unknown chart "probe-cdf" (did you mean "probes-cdf"?): expected one of ` + chartNames() + ", errors-by-KEY"},
		{show: "portsim bench escape.yaml (name: ../../escape)", args: []string{"bench", escape}, code: 2, want: `portsim: DIR/escape.yaml:1: suite name "../../escape": expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{show: "portsim bench nul.yaml (a scenario name with NUL)", args: []string{"bench", nul}, code: 2, want: `portsim: DIR/nul.yaml:3: scenario name "a\x00b": expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{show: "portsim bench big.yaml (101,000 runs)", args: []string{"bench", big}, code: 2, want: `portsim: DIR/big.yaml:5: scenario "a": the suite has more than 100000 runs (cells × seeds) by here; split it into several suites or sweep fewer values`},
		{show: "portsim bench -o foreign micro.yaml (a directory portsim did not write)", args: []string{"bench", "-o", filepath.Join(dir, "foreign"), microFile}, code: 2, want: "portsim: flag -o: output directory DIR/foreign: not empty and not a portsim output (no .portsim-output); portsim writes only into a new or empty directory or one it wrote before"},
		{show: "portsim bench -o busy micro.yaml (while another portsim writes busy)", args: []string{"bench", "-o", filepath.Join(dir, "busy"), microFile}, code: 1,
			want: "portsim: output directory DIR/busy is in use by another portsim (pid PID, `COMMAND`, started TIME); wait for it to finish or choose another directory",
			before: func(t *testing.T) func() {
				od, err := bench.OpenOut(filepath.Join(dir, "busy"))
				if err != nil {
					t.Fatal(err)
				}
				return func() { od.Close() }
			}},
		{show: "portsim bench -resume edited (its suite.yaml edited after the run)", args: []string{"bench", "-resume", filepath.Join(dir, "edited")}, code: 2,
			want: "portsim: flag -resume: output directory DIR/edited: holds the runs of another suite or settings (fingerprint F, this suite F): its suite.yaml or a trace it replays changed since; run without -resume to start over, or choose another directory",
			before: func(t *testing.T) func() {
				out := filepath.Join(dir, "edited")
				if _, errs, code := portsim(t, "bench", "-quiet", "-o", out, microFile); code != 0 {
					t.Fatalf("bench: %s", errs)
				}
				write("edited/suite.yaml", strings.Replace(micro, "rate: 10", "rate: 20", 1))
				return func() {}
			}},
		{show: `portsim bench -resume ""`, args: []string{"bench", "-resume", ""}, code: 2, want: "portsim: flag -resume: expected the directory of the run to finish, got an empty value"},
		{show: "portsim bench -resume DIR (no run there)", args: []string{"bench", "-resume", dir}, code: 2, want: "portsim: flag -resume: DIR holds no suite run (no suite.yaml); start one with portsim bench -o DIR"},
		{show: "portsim bench -shard 0/4", args: []string{"bench", "-shard", "0/4"}, code: 2, want: `portsim: flag -shard "0/4": expected K/N with 1 <= K <= N, e.g. 2/4`},
		{show: "portsim bench -shard 5/4", args: []string{"bench", "-shard", "5/4"}, code: 2, want: `portsim: flag -shard "5/4": expected K/N with 1 <= K <= N, e.g. 2/4`},
		{show: "portsim bench -shard 2", args: []string{"bench", "-shard", "2"}, code: 2, want: `portsim: flag -shard "2": expected K/N with 1 <= K <= N, e.g. 2/4`},
		{show: "Ctrl-C during portsim bench -shard 1/2 -o sh micro.yaml", args: []string{"bench", "-quiet", "-shard", "1/2", "-o", filepath.Join(dir, "sh"), microFile}, code: 1, cancel: true,
			want: "portsim: interrupted: 0 of 1 runs are saved in DIR/sh, 1 missing; resume with `portsim bench -resume DIR/sh -shard 1/2`"},
		{show: "Ctrl-C during portsim run -allocator linux,freebsd", args: []string{"run", "-allocator", "linux,freebsd"}, code: 1, cancel: true,
			want: "portsim: interrupted after 0 of 2 runs; without an output directory nothing is saved"},
		{show: "portsim merge -o m1 m1 m2", args: []string{"merge", "-o", filepath.Join(dir, "m1"), filepath.Join(dir, "m1"), filepath.Join(dir, "m2")}, code: 2, want: "portsim: flag -o: output directory DIR/m1: is also an input (DIR/m1); merge into a new directory"},
		{show: "portsim plot empty (an empty runs.jsonl)", args: []string{"plot", filepath.Join(dir, "empty")}, code: 2, want: "portsim: plot: DIR/empty/runs.jsonl: empty; expected the runs of a finished suite run (resume an interrupted one with portsim bench -resume DIR/empty)"},
		{show: "portsim plot cut (a truncated runs.jsonl)", args: []string{"plot", filepath.Join(dir, "cut")}, code: 2, want: "portsim: plot: DIR/cut/runs.jsonl:1: truncated: the last line does not end; the file was cut short"},
		{show: "portsim capacity -target 0", args: []string{"capacity", "-target", "0"}, code: 2, want: "portsim: flag -target 0: expected a failure fraction in (0, 1) such as 0.001"},
		{show: "portsim capacity -confidence 0", args: []string{"capacity", "-confidence", "0"}, code: 2, want: "portsim: flag -confidence 0: expected a level in [0.5, 1) such as 0.95"},
		{show: "portsim capacity -seeds 0", args: []string{"capacity", "-seeds", "0"}, code: 2, want: "portsim: flag -seeds 0: expected 2 to 1000 replicates (a confidence bound needs at least 2)"},
		{show: "portsim capacity -destinations 1000000 -hold 10s", args: []string{"capacity", "-destinations", "1000000", "-hold", "10s"}, code: 2, want: "portsim: capacity of linux: a run at 1e+09/s would need about N MiB, above the budget of 4.0 GiB: lower destinations, sources or hold time, or raise the budget with -max-memory"},
		{show: "portsim capacity -hold forever", args: []string{"capacity", "-hold", "forever"}, code: 2, want: "portsim: capacity of linux: connections that never close hold every port eventually: no rate is sustainable"},
		{show: "portsim probe -observations FILE", args: []string{"probe", "-observations", recorded}, code: 2, want: "portsim: flag -observations: give the model to check with -compare ALLOCATOR"},
		{show: "portsim probe -compare linux -observations FILE -only connect-exhast", args: []string{"probe", "-compare", "linux", "-observations", recorded, "-only", "connect-exhast"}, code: 2, want: `portsim: flag -only: no experiment "connect-exhast" (did you mean "connect-exhaust"?); experiments: ` + experimentNames()},
		{show: "portsim probe -compare sequential -observations FILE (a check fails)", args: []string{"probe", "-compare", "sequential", "-observations", recorded}, code: 1, want: "portsim: probe: 15 of 37 checks fail (models: connect sequential, bind linux-bind, udp linux-udp)"},
		{show: "portsim probe -snat -compare linux", args: []string{"probe", "-snat", "-compare", "linux"}, code: 2, want: "portsim: flag -compare: not with -snat, whose model is netfilter with the rule's flag"},
		{show: "portsim probe -snat -confirm-delay forever", args: []string{"probe", "-snat", "-confirm-delay", "forever"}, code: 2, want: "portsim: flag -confirm-delay forever: expected a finite distribution such as exp:5us"},
		{show: "portsim version extra", args: []string{"version", "extra"}, code: 2, want: `portsim: version: unexpected argument "extra"`},
	}
}

func experimentNames() string {
	var names []string
	for _, e := range probe.Experiments() {
		names = append(names, e.Name)
	}
	return strings.Join(names, ", ")
}

func chartNames() string {
	var names []string
	for _, c := range chart.Charts() {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// TestErrorsAndLimits runs every row of the "Errors and limits" table of
// README.md and compares the exit status and the whole of stderr, and
// checks that the table lists exactly these rows (with -update it
// rewrites the table).
func TestErrorsAndLimits(t *testing.T) {
	dir := t.TempDir()
	var rows []string
	for _, tc := range errorCases(t, dir) {
		undo := func() {}
		if tc.before != nil {
			undo = tc.before(t)
		}
		var out, errb strings.Builder
		ctx, cancel := context.WithCancel(context.Background())
		if tc.cancel {
			cancel()
		}
		code := exitCode(run(ctx, tc.args, &out, &errb), &errb)
		cancel()
		undo()
		got := normalizeErr(strings.TrimSuffix(errb.String(), "\n"), dir)
		got = regexp.MustCompile(`tmp-[0-9]+`).ReplaceAllString(got, "tmp-*")
		if tc.want == "" {
			t.Logf("%s\n%s", tc.show, got)
			tc.want = got
		}
		if code != tc.code || got != tc.want {
			t.Errorf("%s\nexit %d, stderr\n%s\nwant exit %d, stderr\n%s", tc.show, code, got, tc.code, tc.want)
		}
		if out.Len() != 0 && tc.code == 2 {
			t.Errorf("%s: printed %q on stdout", tc.show, out.String())
		}
		rows = append(rows, readmeRow(tc.show, tc.want, tc.code))
	}
	// The memory guard's message, checked by TestMemoryGuard.
	rows = append(rows, readmeRow("portsim bench (memory use beyond 90 % of the machine's)", "portsim: "+memoryError(1<<30, nil).Error(), 1))
	checkReadmeTable(t, rows)
}

// readmeRow is the table row of a case: the command, each line of the
// message as code, the exit status.
func readmeRow(show, msg string, code int) string {
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.ReplaceAll(l, "|", "\\|")
		if strings.Contains(l, "`") {
			lines = append(lines, "`` "+l+" ``")
		} else {
			lines = append(lines, "`"+l+"`")
		}
	}
	return fmt.Sprintf("| `%s` | %s | %d |", strings.ReplaceAll(show, "|", "\\|"), strings.Join(lines, "<br>"), code)
}

// checkReadmeTable compares the rows of the README's errors table with
// rows, or rewrites them with -update.
func checkReadmeTable(t *testing.T, rows []string) {
	t.Helper()
	path := filepath.Join("..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const head = "| command | what it prints on stderr | exit |\n|---|---|---:|\n"
	text := string(b)
	i := strings.Index(text, head)
	if i < 0 {
		t.Fatalf("README.md has no table starting %q", head)
	}
	start := i + len(head)
	end := strings.Index(text[start:], "\n\n")
	if end < 0 {
		end = len(text) - start
	}
	want := strings.Join(rows, "\n")
	if got := text[start : start+end]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(text[:start]+want+text[start+end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the errors table of README.md differs from what the commands print (go test -update rewrites it); want\n%s", want)
	}
}

// TestProbeCompareRecorded checks portsim probe -compare against the
// recorded probe of a real kernel: linux passes (exit 0), sequential fails
// (exit 1, above).
func TestProbeCompareRecorded(t *testing.T) {
	out, errs, code := portsim(t, "probe", "-compare", "linux", "-observations", filepath.Join("..", "probe", "testdata", "linux-6.18-x86_64.json"))
	if code != 0 || !strings.Contains(out, "PASS: all 37 checks pass") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
}

// TestInterruptedBench checks the last row of the table: an interrupted
// bench exits 1 and says how to resume, and -resume finishes it.
func TestInterruptedBench(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join("..", "bench", "testdata", "tiny.yaml")
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
		// What cmd/portsim's main does.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, strings.Fields(os.Getenv("PORTSIM_MAIN")), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestSignalStopsBench sends SIGINT to a real portsim bench: it must stop,
// keep what it finished, exit with status 1 and say how to resume.
func TestSignalStopsBench(t *testing.T) {
	dir := t.TempDir()
	suite, _ := filepath.Abs(filepath.Join("..", "bench", "testdata", "slow.yaml"))
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
