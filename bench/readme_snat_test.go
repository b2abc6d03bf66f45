package bench

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestREADMESnatRaceTable checks the clash shares of the README's table
// in "Will my pods hit the SNAT race?" against the reference runs in
// docs/snat-race/runs.csv (which TestSnatRaceReference holds to the
// model): for each rule, the share of SYNs that clashed over the three
// seeds at 400/s, on 2 CPUs with 5 µs confirm delays and on 8 CPUs with
// 50 µs. A cell is a percentage ("0.81 %", compared to its printed
// decimals), "N in M" (clashes in SYNs) or "0". The p99 column comes from
// the merged latency histograms the report prints; it is not checked
// here.
func TestREADMESnatRaceTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../docs/snat-race/runs.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	type key struct{ alloc, params, cpus, delay string }
	type sum struct{ clashes, syns int64 }
	sums := map[key]sum{}
	for _, r := range recs[1:] {
		if r[col["scenario"]] != "node" || r[col["rate"]] != "400" {
			continue
		}
		k := key{r[col["allocator"]], r[col["params"]], r[col["cpus"]], r[col["confirm-delay"]]}
		c, err1 := strconv.ParseInt(r[col["clashes"]], 10, 64)
		n, err2 := strconv.ParseInt(r[col["attempts"]], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("runs.csv: %v", r)
		}
		s := sums[k]
		s.clashes += c
		s.syns += n
		sums[k] = s
	}
	rules := map[string][2]string{
		"before 2022, MASQUERADE (shared rover)":    {"netfilter-rover", "random=false"},
		"before 2022, `--random`":                   {"netfilter-rover", "random=true"},
		"before 2022, `--random-fully`":             {"netfilter-rover", "random-fully=true"},
		"since 2022 (`netfilter`), default":         {"netfilter", "random=false"},
		"since 2022, `--random` / `--random-fully`": {"netfilter", "random=true"},
	}
	settings := [2][2]string{{"2", "exp:5us"}, {"8", "exp:50us"}}
	text := string(readme)
	start := strings.Index(text, "| NAT (kernel, rule) |")
	if start < 0 {
		t.Fatal("README: the SNAT race table is missing")
	}
	checked := 0
	for _, line := range strings.Split(text[start:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rule, ok := rules[cells[0]]
		if !ok {
			t.Errorf("README: SNAT race table row %q names no rule this test knows", cells[0])
			continue
		}
		for j, st := range settings {
			s, ok := sums[key{rule[0], rule[1], st[0], st[1]}]
			if !ok || s.syns == 0 {
				t.Errorf("runs.csv: no runs of %s %s at 400/s, %s CPUs, %s", rule[0], rule[1], st[0], st[1])
				continue
			}
			if err := cellMatches(cells[1+j], s.clashes, s.syns); err != nil {
				t.Errorf("README: %s at 400/s, %s CPUs, %s: %v", cells[0], st[0], st[1], err)
			}
			checked++
		}
	}
	if checked != 2*len(rules) {
		t.Errorf("checked %d cells, want %d", checked, 2*len(rules))
	}
}

// cellMatches reports whether a README cell says clashes in syns.
func cellMatches(cell string, clashes, syns int64) error {
	cell = strings.TrimSuffix(cell, " clash")
	switch {
	case cell == "0":
		if clashes != 0 {
			return fmt.Errorf("says 0, the runs have %d clashes in %d SYNs", clashes, syns)
		}
	case strings.Contains(cell, " in "):
		want := fmt.Sprintf("%d in %s", clashes, groupThousands(syns))
		if cell != want {
			return fmt.Errorf("says %q, the runs have %q", cell, want)
		}
	case strings.HasSuffix(cell, " %"):
		num := strings.TrimSuffix(cell, " %")
		dec := 0
		if i := strings.IndexByte(num, '.'); i >= 0 {
			dec = len(num) - i - 1
		}
		if got := strconv.FormatFloat(100*float64(clashes)/float64(syns), 'f', dec, 64); got != num {
			return fmt.Errorf("says %s %%, the runs have %s %% (%d clashes in %d SYNs)", num, got, clashes, syns)
		}
	default:
		return fmt.Errorf("cell %q: expected a percentage, \"N in M\" or 0", cell)
	}
	return nil
}

// groupThousands writes n with commas between groups of three digits.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
