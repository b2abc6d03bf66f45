package cli

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeCommand is one `$ portsim ...` line of a README.md code block
// with the output the README shows under it.
type readmeCommand struct {
	line int      // line number in README.md
	args []string // the arguments after "portsim"
	want []string // expected output lines; "..." stands for any lines
}

// readmeCommands returns the portsim commands of README.md's code blocks.
func readmeCommands(t *testing.T) []readmeCommand {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []readmeCommand
	var cur *readmeCommand
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			in = !in
			cur = nil
			continue
		}
		if !in {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "$ "); ok {
			cur = nil
			if args, ok := strings.CutPrefix(rest, "portsim "); ok {
				cmds = append(cmds, readmeCommand{line: n, args: splitArgs(args)})
				cur = &cmds[len(cmds)-1]
			}
			continue
		}
		if cur != nil {
			cur.want = append(cur.want, line)
		}
	}
	return cmds
}

// splitArgs splits a command line at spaces, keeping 'quoted' words
// whole.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			have = true
		case r == ' ' && !quoted:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// terminalLines returns what a terminal shows of a command: its standard
// output, then its standard error without the lines that report wall
// time, which change from run to run.
func terminalLines(stdout, stderr string) []string {
	var lines []string
	if stdout != "" {
		lines = strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	}
	for _, l := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if l == "" || strings.Contains(l, "of wall time") || strings.Contains(l, "attempts per second of run time") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// matchLines reports whether got matches want, where a want line "..."
// matches any number of lines.
func matchLines(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && matchLines(got[1:], want[1:])
}

// TestREADMECommands runs every `$ portsim` command of README.md's code
// blocks, in order, in one scratch directory (so later commands see the
// output directories of earlier ones), and compares what a terminal shows
// of it (standard output, then standard error less wall times) with the
// lines the README shows under it ("..." stands for any lines;
// a command shown without output must only succeed). probe measures the
// running kernel, whose output is the machine's own, so it is not run.
func TestREADMECommands(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) == 0 {
		t.Fatal("README.md has no `$ portsim` command")
	}
	// A scratch directory that sees the repository's files (captures,
	// suites) through links, so relative paths in the README work and
	// output directories land in the scratch directory.
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "out" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	// The README's demonstration capture and snapshot, recorded as it
	// describes, are kept under traffic/testdata.
	for _, name := range []string{"demo.pcap", "demo-ss.txt"} {
		if err := os.Symlink(filepath.Join(root, "traffic", "testdata", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, c := range cmds {
		if c.args[0] == "probe" {
			continue
		}
		var out, errb bytes.Buffer
		code := Main(context.Background(), c.args, &out, &errb)
		if code != 0 {
			t.Errorf("README.md:%d: portsim %s: exit %d\n%s", c.line, strings.Join(c.args, " "), code, errb.String())
			continue
		}
		if len(c.want) == 0 {
			// The README shows no output: only the exit status counts.
			continue
		}
		got := terminalLines(out.String(), errb.String())
		if !matchLines(got, c.want) {
			t.Errorf("README.md:%d: portsim %s: the output differs from the README's\n--- got\n%s\n--- README\n%s",
				c.line, strings.Join(c.args, " "), strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}
