package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

const versionUsage = `
Usage: portsim version

Prints portsim's module version, the VCS revision it was built from
(with "modified" when the working tree had changes), the revision's time
and the Go version, from the build information in the binary.

Example:

	portsim version
`

func (a *app) runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlags("version", versionUsage, stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version: unexpected argument %q", fs.Arg(0))
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(stdout, "portsim (no build information) %s\n", runtime.Version())
		return nil
	}
	fmt.Fprint(stdout, versionText(bi))
	return nil
}

// versionText is the output of portsim version for the build information
// bi: "portsim VERSION", then the revision, its time and whether the tree
// was modified when there are VCS settings, then the Go version.
func versionText(bi *debug.BuildInfo) string {
	var b strings.Builder
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(&b, "portsim %s\n", v)
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	if rev := set["vcs.revision"]; rev != "" {
		line := "revision " + rev
		if t := set["vcs.time"]; t != "" {
			line += " (" + t + ")"
		}
		if set["vcs.modified"] == "true" {
			line += ", modified"
		}
		fmt.Fprintln(&b, line)
	} else {
		fmt.Fprintln(&b, "revision unknown (built without VCS information)")
	}
	fmt.Fprintf(&b, "%s\n", bi.GoVersion)
	return b.String()
}
