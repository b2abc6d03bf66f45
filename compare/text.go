package compare

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/portsim/portsim/report"
)

// WriteText writes the comparison as text tables in benchstat's style:
// per metric, one line per shared cell with each side's mean ± 95 %
// interval (n seeds) and the relative change with its p-value, or "~"
// where the difference is not significant. Cells found on one side only
// are listed at the end.
func WriteText(w io.Writer, res Result) error {
	bw := bufio.NewWriter(w)
	for i, t := range res.Tables {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		dir := ""
		switch t.Better {
		case -1:
			dir = ", lower is better"
		case +1:
			dir = ", higher is better"
		}
		fmt.Fprintf(bw, "%s (%s%s)\n", t.Metric, t.Unit, dir)
		if len(t.Rows) == 0 {
			fmt.Fprintln(bw, "  no cell is on both sides")
			continue
		}
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  cell\t%s\t%s\tvs %s\n", res.A, res.B, res.A)
		for _, r := range t.Rows {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Cell, side(r.A), side(r.B), change(r))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		b, wo, c, s, u := t.Counts()
		var parts []string
		if t.Better != 0 {
			parts = append(parts, fmt.Sprintf("%d better", b), fmt.Sprintf("%d worse", wo))
		} else {
			parts = append(parts, fmt.Sprintf("%d changed", c))
		}
		parts = append(parts, fmt.Sprintf("%d ~", s))
		if u > 0 {
			parts = append(parts, fmt.Sprintf("%d too few seeds", u))
		}
		if n := len(t.Rows) - b - wo - c - s - u; n > 0 {
			parts = append(parts, fmt.Sprintf("%d undefined", n))
		}
		cells := "cells"
		if len(t.Rows) == 1 {
			cells = "cell"
		}
		fmt.Fprintf(bw, "  %d %s: %s\n", len(t.Rows), cells, strings.Join(parts, ", "))
	}
	if len(res.OnlyA) > 0 || len(res.OnlyB) > 0 {
		fmt.Fprintln(bw)
	}
	for _, c := range res.OnlyA {
		fmt.Fprintf(bw, "only in %s: %s\n", res.A, c)
	}
	for _, c := range res.OnlyB {
		fmt.Fprintf(bw, "only in %s: %s\n", res.B, c)
	}
	fmt.Fprintf(bw, "\n~: no significant difference (Welch's t-test across seeds, p >= %s); ?: fewer than 2 seeds on a side.\n",
		strconv.FormatFloat(res.Alpha, 'g', -1, 64))
	return bw.Flush()
}

// side formats one side of a row: "0.2941 ± 0.0031 (n=3)".
func side(s Side) string {
	return report.FormatMeanCI(s.Mean, s.CI95) + " (n=" + strconv.Itoa(s.N) + ")"
}

// change formats the change column of a row: "~ (p=0.412)",
// "-99.91% (p=0.000)", "+Inf% (p=0.000)" or "? (n=1+1)".
func change(r Row) string {
	switch r.Verdict {
	case "undefined":
		return "undefined on both sides"
	case "?":
		return fmt.Sprintf("? (n=%d+%d)", r.A.N, r.B.N)
	case "~":
		return fmt.Sprintf("~ (p=%.3f)", r.P)
	}
	return fmt.Sprintf("%s (p=%.3f)", percent(r.Delta), r.P)
}

// percent formats a relative change as a signed percentage.
func percent(d float64) string {
	switch {
	case math.IsNaN(d):
		return "n/a"
	case math.IsInf(d, 1):
		return "+Inf%"
	case math.IsInf(d, -1):
		return "-Inf%"
	}
	return fmt.Sprintf("%+.2f%%", 100*d)
}

// WriteJSON writes the comparison as one indented JSON object. Values
// that JSON cannot hold are written as null (NaN: undefined) or as the
// strings "+Inf" and "-Inf".
func WriteJSON(w io.Writer, res Result) error {
	type side struct {
		Mean any `json:"mean"`
		CI95 any `json:"ci95"`
		N    int `json:"n"`
	}
	type row struct {
		Cell     string `json:"cell"`
		A        side   `json:"a"`
		B        side   `json:"b"`
		Delta    any    `json:"delta"`
		DiffCI95 any    `json:"diff_ci95"`
		P        any    `json:"p"`
		Verdict  string `json:"verdict"`
	}
	type table struct {
		Metric string `json:"metric"`
		Unit   string `json:"unit"`
		Better int    `json:"better"`
		Rows   []row  `json:"rows"`
	}
	out := struct {
		A      string   `json:"a"`
		B      string   `json:"b"`
		Alpha  float64  `json:"alpha"`
		Test   string   `json:"test"`
		Tables []table  `json:"tables"`
		OnlyA  []string `json:"only_a"`
		OnlyB  []string `json:"only_b"`
	}{A: res.A, B: res.B, Alpha: res.Alpha, Test: "welch-t", OnlyA: res.OnlyA, OnlyB: res.OnlyB}
	if out.OnlyA == nil {
		out.OnlyA = []string{}
	}
	if out.OnlyB == nil {
		out.OnlyB = []string{}
	}
	for _, t := range res.Tables {
		jt := table{Metric: t.Metric, Unit: t.Unit, Better: t.Better, Rows: []row{}}
		for _, r := range t.Rows {
			jt.Rows = append(jt.Rows, row{
				Cell:     r.Cell,
				A:        side{Mean: jsonNum(r.A.Mean), CI95: jsonNum(r.A.CI95), N: r.A.N},
				B:        side{Mean: jsonNum(r.B.Mean), CI95: jsonNum(r.B.CI95), N: r.B.N},
				Delta:    jsonNum(r.Delta),
				DiffCI95: jsonNum(r.DiffCI95),
				P:        jsonNum(r.P),
				Verdict:  r.Verdict,
			})
		}
		out.Tables = append(out.Tables, jt)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// jsonNum returns v as a value JSON can hold: nil for NaN, "+Inf" or
// "-Inf" for infinities, else v.
func jsonNum(v float64) any {
	switch {
	case math.IsNaN(v):
		return nil
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return v
}
