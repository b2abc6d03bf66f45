package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCompareTWReuse runs one backend at 25/s on a range of 1,000 ports (a knee of 16.7/s) with tcp_tw_reuse 0 and 1
// (3 seeds each) and compares them: linux's failures fall significantly
// (TIME_WAIT is taken over), freebsd's, which has no TIME_WAIT trouble at
// that rate, do not change. The output is compared exactly.
func TestCompareTWReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tw := range []string{"0", "1"} {
		_, errs, code := portsim(t, "run", "-allocator", "linux,freebsd", "-range", "40000-40999", "-rate", "25", "-duration", "2m",
			"-tw-reuse", tw, "-seeds", "3", "-o", filepath.Join(dir, "tw"+tw))
		if code != 0 {
			t.Fatalf("run -tw-reuse %s: exit %d: %s", tw, code, errs)
		}
	}
	out, errs, code := portsim(t, "compare", "-metric", "failure_fraction,probes_mean", filepath.Join(dir, "tw0"), filepath.Join(dir, "tw1"))
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	golden(t, "compare-tw-reuse.golden", out)

	out, errs, code = portsim(t, "compare", "-metric", "failure_fraction", "-a", "linux", "-b", "freebsd", filepath.Join(dir, "tw0"))
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	golden(t, "compare-allocators.golden", out)

	out, _, code = portsim(t, "compare", "-o", filepath.Join(dir, "changes"), filepath.Join(dir, "tw0"), filepath.Join(dir, "tw1"))
	if code != 0 || out == "" {
		t.Fatalf("compare -o: exit %d", code)
	}
	for _, f := range []string{"compare.txt", "compare.json", "compare-failure_fraction.png", "compare-probes_mean.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "changes", f)); err != nil {
			t.Errorf("compare -o wrote no %s: %v", f, err)
		}
	}
}

// TestCompareErrors checks the usage errors of compare.
func TestCompareErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", dir}, "portsim: compare: expected two result sets, OLD and NEW (suite output directories or runs.jsonl files), got 1 arguments (see `portsim help compare`)\n"},
		{[]string{"compare", dir, dir}, "portsim: compare: " + dir + " holds no runs.jsonl: expected a suite output directory (portsim bench -o DIR, portsim run -o DIR)\n"},
		{[]string{"compare", empty, empty}, "portsim: compare: " + empty + " holds no runs\n"},
		{[]string{"compare", "-metric", "probes_maen", empty, empty}, "portsim: flag -metric: unknown metric \"probes_maen\" (did you mean \"probes_mean\"?); expected names from runs.csv such as failure_fraction, probes_mean (see `portsim list`)\n"},
		{[]string{"compare", "-alpha", "0", empty, empty}, "portsim: flag -alpha: 0: expected a significance level in (0, 0.5], such as 0.05\n"},
		{[]string{"compare", "-a", "linux", empty}, "portsim: compare: give both -a and -b (two allocators of one result set)\n"},
	} {
		out, errs, code := portsim(t, c.args...)
		if code != 2 || out != "" || errs != c.want {
			t.Errorf("%q: exit %d, stdout %q, stderr\n%q\nwant exit 2, stderr\n%q", c.args, code, out, errs, c.want)
		}
	}
}
