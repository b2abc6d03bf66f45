// Package cli is portsim's command line: list, run, bench, capacity,
// plot, compare, merge, import, probe and version. cmd/portsim calls
// Main; a program that adds allocators of its own calls it too, with its
// allocators, and gets the whole command line with them (see
// examples/custom-allocator):
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, mySpec())
//		stop()
//		os.Exit(code)
//	}
//
// Every command resolves allocator names against portsim's built-in
// allocators and the extra ones, so suites, `-allocator`, `probe -compare`
// and `compare -a/-b` may name them.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/portsim/portsim/allocator"
	"github.com/portsim/portsim/bench"
	"github.com/portsim/portsim/internal/suggest"
)

// Main runs portsim's command line with args (the arguments after the
// program name), writes to stdout and stderr, and returns the process exit
// status: 0 on success, 2 for a usage error (bad flags, arguments, input
// files, or an extra allocator that cannot be registered), 1 for a
// failure while running. Cancelling ctx (on SIGINT or SIGTERM, say) stops
// a run; finished suite runs stay saved. extra allocators are added to
// portsim's own (see allocator.NewSet).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, extra ...allocator.Spec) int {
	reg, err := allocator.NewSet(extra...)
	if err != nil {
		fmt.Fprintf(stderr, "portsim: %v\n", err)
		return 2
	}
	a := &app{reg: reg}
	return exitCode(a.run(ctx, args, stdout, stderr), stderr)
}

// app is the command line with the allocators its commands know.
type app struct {
	reg allocator.Set
}

// exitCode prints err and returns the process exit status: 0 on success,
// 2 for a usage error (bad flags, arguments or input files, an output
// directory that cannot be used), 1 for a failure while running.
func exitCode(err error, stderr io.Writer) int {
	var fe flagError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "portsim %s: %v\nrun 'portsim help %s' for usage\n", fe.cmd, fe.err, fe.cmd)
		return 2
	case errors.As(err, new(usageError)), errors.As(err, new(*bench.DirError)):
		fmt.Fprintf(stderr, "portsim: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "portsim: %v\n", err)
	return 1
}

// flagError is an error of the flag parser (an unknown flag, a value that
// does not parse): printed with a pointer to the command's help, as the go
// command does.
type flagError struct {
	cmd string
	err error
}

func (f flagError) Error() string { return f.cmd + ": " + f.err.Error() }
func (f flagError) Unwrap() error { return f.err }

// usageError marks an error in what the user asked for, as opposed to a
// failure while doing it.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// asUsage marks err as a usage error.
func asUsage(err error) error {
	if err == nil || errors.As(err, new(usageError)) {
		return err
	}
	return usageError{err}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func (a *app) commands() []command {
	return []command{
		{"list", "list allocators, workload kinds, embedded suites and charts", a.runList},
		{"run", "simulate one scenario with one or more allocators and print a table", a.runRun},
		{"bench", "run a suite in parallel and write results, charts and a report", a.runBench},
		{"capacity", "find the highest sustainable new-connection rate", a.runCapacity},
		{"plot", "redraw the charts and report.md of a suite run from runs.jsonl", a.runPlot},
		{"compare", "compare two result sets, or two allocators, metric by metric with significance tests", a.runCompare},
		{"merge", "join the outputs of sharded suite runs into one result set", a.runMerge},
		{"import", "turn a capture, conntrack table or ss snapshot into a trace or starting state", a.runImport},
		{"probe", "measure the live Linux kernel's port choices; -compare checks a model", a.runProbe},
		{"version", "print portsim's version, VCS revision and Go version", a.runVersion},
		{"help", "show help for portsim or one command", nil},
	}
}

// run is portsim with its arguments, output streams and a context that is
// cancelled on SIGINT or SIGTERM.
func (a *app) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		a.writeHelp(stdout)
		return nil
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			a.writeHelp(stdout)
			return nil
		}
		return a.run(ctx, []string{rest[0], "-h"}, stdout, stderr)
	}
	var names []string
	for _, c := range a.commands() {
		names = append(names, c.name)
		if c.name == name && c.run != nil {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	sort.Strings(names)
	return usagef("unknown command %q%s; commands: %s (see `portsim help`)", name, suggest.Hint(name, names), strings.Join(names, ", "))
}

func (a *app) writeHelp(w io.Writer) {
	fmt.Fprint(w, `portsim simulates and benchmarks ephemeral (source) port allocation.

Usage:

	portsim <command> [flags] [arguments]

Commands:

`)
	for _, c := range a.commands() {
		fmt.Fprintf(w, "	%-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples:

	portsim bench                                  # the standard suite, report in out/standard
	portsim run -allocator linux -rate 500         # one backend above the 470/s knee
	portsim capacity -allocator linux -tw-reuse 1  # highest sustainable rate with tcp_tw_reuse
	portsim list                                   # what can be simulated

Run 'portsim help <command>' for a command's flags and more examples.
`)
}

// newFlags returns a flag set for a command that prints its usage (once)
// to stdout on -h and returns flag errors instead of exiting.
func newFlags(name, usage string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(stdout, strings.TrimLeft(usage, "\n"))
		fmt.Fprintln(stdout, "\nFlags:")
		printDefaults(stdout, fs)
	}
	return fs
}

// printDefaults lists the flags of fs as flag.PrintDefaults does, with a
// placeholder for each flag's value: the backquoted word of its usage,
// the setting's form for the settings, else N, F, D or S by its type.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if st, err := bench.LookupSetting(f.Name); err == nil && fs.Lookup(f.Name) == f && st.Usage == f.Usage {
			arg = st.Arg()
		}
		switch arg {
		case "int", "uint", "int64", "uint64":
			arg = "N"
		case "float":
			arg = "F"
		case "duration":
			arg = "D"
		case "string", "value":
			arg = "S"
		}
		line := "  -" + f.Name
		if arg != "" {
			line += " " + arg
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		switch f.DefValue {
		case "", "0", "false", "[]":
		default:
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

// parseMixed is parseFlags for commands whose arguments may come before,
// between or after their flags ("portsim bench capacity -o DIR"). It
// returns the arguments that are not flags, in order.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseFlagsOnly is parseFlags for commands that take flags and no
// arguments: an argument left after the flags is a usage error naming it.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q (flags come before arguments; see `portsim help %s`)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// parseFlags parses args, turning -h into flag.ErrHelp (after printing
// the usage, once) and any other flag error into a flagError naming the
// command.
func parseFlags(fs *flag.FlagSet, args []string) error {
	show := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = show
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			show()
			return err
		}
		return flagError{cmd: fs.Name(), err: err}
	}
	return nil
}
