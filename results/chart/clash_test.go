package chart

import (
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/portsim/portsim/results"
	"gonum.org/v1/plot"
)

// raceRuns returns hand-made runs of the SNAT race: three variants
// (netfilter-rover with --random, netfilter-rover with the default rule,
// netfilter with random=true), two settings (2 CPUs with 5 µs and 4 CPUs
// with 50 µs mean confirm delays), rates 100 and 400, two seeds each,
// 64,512 ports. Clashes are set so that the first variant matches its
// analytic share x = λd(C−1)/C; netfilter sees none. Every SYN of the
// default rule checks one port (kept its original one) in half the runs'
// allocations and three ports in the other half, so q = 1/2; netfilter
// checks two ports per SYN, so m = 2.
func raceRuns() []results.Run {
	type variant struct {
		alloc  string
		params map[string]string
	}
	variants := []variant{
		{"netfilter-rover", map[string]string{"random": "true"}},
		{"netfilter-rover", map[string]string{"random": "false"}},
		{"netfilter", map[string]string{"random": "true"}},
	}
	settings := []struct {
		cpus  int
		delay string
		ns    int64
	}{{2, "exp:5us", 5000}, {4, "exp:50us", 50000}}
	var runs []results.Run
	for _, v := range variants {
		for _, st := range settings {
			for _, rate := range []float64{100, 400} {
				for seed := range 2 {
					r := results.Run{
						Suite: "snat-race", Scenario: "node",
						Labels: map[string]string{
							"rate": strconv.Itoa(int(rate)), "cpus": strconv.Itoa(st.cpus), "confirm-delay": st.delay,
						},
						Allocator: v.alloc, Params: v.params, Seed: uint64(seed + 1), Replicate: seed,
						Setup: results.Setup{
							Range: "1024-65535", Ports: 64512, TimeWaitNS: int64(120 * time.Second), Scope: "4-tuple",
							Sources: 1, Destinations: 1, Path: "connect", Close: "client", Arrivals: "poisson",
							RatePerSec: rate, HoldMeanNS: int64(50 * time.Millisecond),
							CPUs: st.cpus, ConfirmDelay: st.delay, ConfirmDelayMeanNS: st.ns,
							SynRTONS: int64(time.Second), SynRetries: 6,
						},
						FirstFailureNS: -1,
					}
					syns := int64(rate * 240)
					x := rate * float64(st.ns) / 1e9 * float64(st.cpus-1) / float64(st.cpus)
					switch {
					case v.alloc == "netfilter":
						r.Clashes = 0
						r.Probes.RecordN(2, uint64(syns))
					case v.params["random"] == "true":
						r.Clashes = int64(math.Round(x * float64(syns)))
						r.Probes.RecordN(3000, uint64(syns))
					default:
						r.Clashes = int64(math.Round(x / 4 * float64(syns)))
						r.Probes.RecordN(1, uint64(syns/2))
						r.Probes.RecordN(3, uint64(syns-syns/2))
					}
					r.Successes = syns - r.Clashes
					r.Attempts = syns
					lat := &results.Hist{}
					lat.RecordN(60_000, uint64(r.Successes))
					r.ConnectLatency = lat
					runs = append(runs, r)
				}
			}
		}
	}
	return runs
}

// TestClashShareVsRate checks what the chart shows: one panel per
// variant titled by it, with the same axes; one legend entry per setting
// plus the zero marker and the analytic formula where they apply; the
// points' means, the zero points at their Wilson bound and the analytic
// shares of each variant's mechanism.
func TestClashShareVsRate(t *testing.T) {
	runs := raceRuns()
	c := ClashShareVsRate()
	f, err := c.Figure(runs)
	if err != nil {
		t.Fatal(err)
	}
	titles := []string{"netfilter-rover[random=true]", "netfilter-rover[random=false]", "netfilter[random=true]"}
	if len(f.Panels) != len(titles) {
		t.Fatalf("%d panels, want %d (one per variant)", len(f.Panels), len(titles))
	}
	legends := [][]string{
		{"2 CPUs, delay exp:5us", "4 CPUs, delay exp:50us", "analytic x (one hashed start)"},
		{"2 CPUs, delay exp:5us", "4 CPUs, delay exp:50us", "analytic x·q² (shared rover)"},
		{"2 CPUs, delay exp:5us", "4 CPUs, delay exp:50us", "no clash seen (upper bound)", "analytic x·(2m−1)/N (random start)"},
	}
	// Every legend entry any panel could show, in legend order.
	possible := []string{"2 CPUs, delay exp:5us", "4 CPUs, delay exp:50us", "no clash seen (upper bound)",
		"analytic x (one hashed start)", "analytic x·q² (shared rover)", "analytic x·(2m−1)/N (random start)", "analytic x·q²·(2m−1)/N"}
	// Shares run from 6.3e-8 (netfilter's analytic share at 100/s, 2 CPUs)
	// to 1.5e-2 (the rover's at 400/s, 4 CPUs, with its interval): the
	// axis spans whole decades around them, the rates a quarter beyond.
	wantY := [2]float64{-8, -1}
	wantX := [2]float64{math.Log10(80), math.Log10(500)}
	for i, p := range f.Panels {
		if p.Title.Text != titles[i] {
			t.Errorf("panel %d titled %q, want %q", i, p.Title.Text, titles[i])
		}
		got := [4]float64{p.X.Min, p.X.Max, p.Y.Min, p.Y.Max}
		want := [4]float64{wantX[0], wantX[1], wantY[0], wantY[1]}
		for j := range got {
			if math.Abs(got[j]-want[j]) > 1e-9 {
				t.Errorf("panel %d: axes %v, want %v", i, got, want)
				break
			}
		}
		texts := svgTexts(t, Figure{Panels: []*plot.Plot{p}})
		var entries []string
		for _, e := range possible {
			if slices.Contains(texts, e) {
				entries = append(entries, e)
			}
		}
		if !slices.Equal(entries, legends[i]) {
			t.Errorf("panel %q: legend entries %q, want %q (texts %q)", titles[i], entries, legends[i], texts)
		}
	}

	d, err := clashData(runs)
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range d.panels {
		if len(pn.series) != 2 {
			t.Errorf("panel %s: %d series, want 2 (one per setting)", pn.name, len(pn.series))
		}
		for _, s := range pn.series {
			if len(s.points) != 2 {
				t.Errorf("%s %s: %d points, want 2 (one per rate)", pn.name, s.setting, len(s.points))
			}
			for _, pt := range s.points {
				cpus := 2.0
				delay := 5e-6
				if s.setting == "4 CPUs, delay exp:50us" {
					cpus, delay = 4, 50e-6
				}
				x := pt.rate * delay * (cpus - 1) / cpus
				var wantShare, wantAnalytic float64
				switch pn.name {
				case "netfilter-rover[random=true]":
					wantShare, wantAnalytic = math.Round(x*pt.rate*240)/(pt.rate*240), x
				case "netfilter-rover[random=false]":
					wantShare, wantAnalytic = math.Round(x/4*pt.rate*240)/(pt.rate*240), x/4 // q = 1/2
				case "netfilter[random=true]":
					wantShare, wantAnalytic = 0, x*3/64512 // m = 2
					_, hi := results.Wilson95(0, uint64(2*pt.rate*240))
					if pt.clashes != 0 || math.Abs(pt.hi-hi) > 1e-12 {
						t.Errorf("%s %s at %v: %d clashes, bound %v; want 0 at the Wilson bound %v", pn.name, s.setting, pt.rate, pt.clashes, pt.hi, hi)
					}
				}
				if math.Abs(pt.mean-wantShare) > 1e-12 {
					t.Errorf("%s %s at %v: share %v, want %v", pn.name, s.setting, pt.rate, pt.mean, wantShare)
				}
				if math.Abs(pt.analytic-wantAnalytic) > 1e-9*wantAnalytic {
					t.Errorf("%s %s at %v: analytic %v, want %v", pn.name, s.setting, pt.rate, pt.analytic, wantAnalytic)
				}
			}
		}
	}
	if out := os.Getenv("PORTSIM_CHART_DIR"); out != "" {
		if err := c.Render(runs, out, "", "png"); err != nil {
			t.Error(err)
		}
	}
}

// TestClashShareNoModel checks that an allocator without a model gets
// no analytic line and says so, that a series of a scenario that sweeps
// only the rate is named by its setup, and that runs without the race
// are left out with ErrNoData.
func TestClashShareNoModel(t *testing.T) {
	runs := results.Select(raceRuns(), func(r *results.Run) bool { return r.Allocator == "netfilter" })
	for i := range runs {
		runs[i].Allocator = "linux"
	}
	f, err := ClashShareVsRate().Figure(runs)
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, f)
	if !slices.Contains(texts, "no analytic line: no model for linux") {
		t.Errorf("texts %q lack the missing model", texts)
	}
	// With one setting, the series is named by the runs' own CPUs and delay.
	one := results.Select(runs, func(r *results.Run) bool { return r.Labels["cpus"] == "4" })
	for i := range one {
		delete(one[i].Labels, "cpus")
		delete(one[i].Labels, "confirm-delay")
	}
	f, err = ClashShareVsRate().Figure(one)
	if err != nil {
		t.Fatal(err)
	}
	if texts := svgTexts(t, f); !slices.Contains(texts, "4 CPUs, delay exp:50us") {
		t.Errorf("one setting: texts %q lack its name", texts)
	}
	for i := range runs {
		runs[i].Setup.CPUs = 0
	}
	if _, err := ClashShareVsRate().Figure(runs); !errors.Is(err, ErrNoData) {
		t.Errorf("one-CPU runs: error %v, want ErrNoData", err)
	}
}
