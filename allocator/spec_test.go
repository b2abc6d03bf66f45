package allocator_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsim/portsim/allocator"
)

// TestRegistryNames checks that every allocator the project promises is
// registered under exactly its name, once, with a summary and a source.
func TestRegistryNames(t *testing.T) {
	want := []string{
		"sequential", "rfc6056-1", "rfc6056-2", "rfc6056-3", "rfc6056-4", "rfc6056-5",
		"linux", "linux-5.12", "linux-4.6", "linux-4.1", "linux-bind", "linux-udp", "netfilter", "netfilter-6.4",
		"netfilter-rover",
		"freebsd", "freebsd-13", "freebsd-12", "openbsd", "netbsd", "macos", "windows", "lwip",
		"fifo", "random-window",
	}
	got := allocator.Names()
	if !slices.Equal(got, want) {
		t.Fatalf("registered names\n got %v\nwant %v", got, want)
	}
	for _, s := range allocator.Registry() {
		if s.Summary == "" || s.Source == "" || s.New == nil || s.Bound == nil {
			t.Errorf("%s: Summary, Source, New and Bound must all be set", s.Name)
		}
		if strings.Contains(strings.ToLower(s.Summary), "not implemented") {
			t.Errorf("%s: still a placeholder", s.Name)
		}
		if err := s.Profile.Range.Validate(); err != nil {
			t.Errorf("%s: default range: %v", s.Name, err)
		}
		if s.Profile.TimeWait <= 0 {
			t.Errorf("%s: default TIME_WAIT %v, want > 0", s.Name, s.Profile.TimeWait)
		}
		for _, p := range s.Params {
			if p.Doc == "" || p.Default == "" {
				t.Errorf("%s: param %s needs a Doc and a Default", s.Name, p.Name)
			}
		}
	}
}

// TestConfigDuration checks the duration parameter reader a program's
// own allocator may use: a Go duration of zero or more, and for anything
// else an error naming the parameter and the expected form.
func TestConfigDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"45s", 45 * time.Second, ""},
		{" 1m30s ", 90 * time.Second, ""},
		{"0s", 0, ""},
		{"-1ns", 0, `param wait="-1ns": expected a non-negative duration such as 45s`},
		{"soon", 0, `param wait="soon": expected a non-negative duration such as 45s`},
		{"", 0, `param wait="": expected a non-negative duration such as 45s`},
	} {
		got, err := allocator.Config{Params: map[string]string{"wait": tc.in}}.Duration("wait")
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("Duration(wait=%q) = %v, %q; want %v, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
	}
}

// TestBuildValidates checks that bad configurations give errors that name
// the field and the expected form.
func TestBuildValidates(t *testing.T) {
	seq, err := allocator.Lookup("sequential")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  allocator.Config
		want string
	}{
		{"port0", allocator.Config{Range: allocator.Range{Lo: 0, Hi: 100}}, "port 0 is not an ephemeral port"},
		{"inverted", allocator.Config{Range: allocator.Range{Lo: 2000, Hi: 1000}}, "inverted"},
		{"empty", allocator.Config{}, "port 0"},
		{"all reserved", allocator.Config{Range: allocator.Range{Lo: 1000, Hi: 1010, Reserved: []allocator.Span{{Lo: 990, Hi: 1020}}}}, "reserved ports cover the whole range"},
		{"unknown param", allocator.Config{Range: allocator.Range{Lo: 1000, Hi: 2000}, Params: map[string]string{"decending": "true"}}, `unknown param "decending" (did you mean "descending"?)`},
		{"bad bool", allocator.Config{Range: allocator.Range{Lo: 1000, Hi: 2000}, Params: map[string]string{"descending": "yes please"}}, `param descending="yes please": expected true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seq.Build(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: err = %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "sequential") {
				t.Errorf("error %q does not name the allocator", err)
			}
		})
	}
}

func TestLookupSuggests(t *testing.T) {
	_, err := allocator.Lookup("linx")
	if err == nil || !strings.Contains(err.Error(), `did you mean "linux"?`) {
		t.Fatalf("Lookup(linx) = %v", err)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    allocator.Range
		wantErr string
	}{
		{"32768-60999", allocator.Range{Lo: 32768, Hi: 60999}, ""},
		{" 1 - 65535 ", allocator.Range{Lo: 1, Hi: 65535}, ""},
		{"5000-5000", allocator.Range{Lo: 5000, Hi: 5000}, ""},
		{"0-100", allocator.Range{}, "port 0"},
		{"100-0", allocator.Range{}, "port 0"},
		{"2000-1000", allocator.Range{}, "inverted"},
		{"1024-65536", allocator.Range{}, "65536 is above 65535"},
		{"1024", allocator.Range{}, "expected LO-HI"},
		{"", allocator.Range{}, "expected LO-HI"},
		{"a-b", allocator.Range{}, `"a" is not a port number`},
		{"-5-10", allocator.Range{}, "is empty"},
	} {
		got, err := allocator.ParseRange(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseRange(%q) err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.Lo != tc.want.Lo || got.Hi != tc.want.Hi {
			t.Errorf("ParseRange(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSpans(t *testing.T) {
	got, err := allocator.ParseSpans("8080, 9000-9100,22")
	if err != nil {
		t.Fatal(err)
	}
	want := []allocator.Span{{Lo: 8080, Hi: 8080}, {Lo: 9000, Hi: 9100}, {Lo: 22, Hi: 22}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if s := allocator.FormatSpans(got); s != "8080,9000-9100,22" {
		t.Errorf("FormatSpans = %q", s)
	}
	for _, bad := range []string{"0", "9100-9000", "70000", "1,,2", "x"} {
		if _, err := allocator.ParseSpans(bad); err == nil {
			t.Errorf("ParseSpans(%q) accepted", bad)
		}
	}
	r := allocator.Range{Lo: 100, Hi: 199, Reserved: []allocator.Span{{Lo: 90, Hi: 110}, {Lo: 105, Hi: 120}, {Lo: 199, Hi: 300}}}
	if u := r.Usable(); u != 100-21-1 {
		t.Errorf("Usable = %d, want %d", u, 100-21-1)
	}
}

// TestRangeUsable checks the count of ports a range can hand out: each
// reserved port inside the range counts once, however the spans are
// ordered, overlap (by one port or more), touch or reach outside the
// range. Each expectation is also checked port by port with IsReserved.
func TestRangeUsable(t *testing.T) {
	sp := func(lo, hi uint16) allocator.Span { return allocator.Span{Lo: lo, Hi: hi} }
	for _, tc := range []struct {
		name     string
		r        allocator.Range
		reserved []allocator.Span
		want     int
	}{
		{"none", allocator.Range{Lo: 1, Hi: 100}, nil, 100},
		{"one port", allocator.Range{Lo: 1, Hi: 100}, []allocator.Span{sp(7, 7)}, 99},
		{"unsorted, overlapping", allocator.Range{Lo: 1, Hi: 100}, []allocator.Span{sp(50, 60), sp(10, 20), sp(15, 55)}, 100 - 51},
		{"sharing one port", allocator.Range{Lo: 1, Hi: 100}, []allocator.Span{sp(20, 30), sp(10, 20)}, 100 - 21},
		{"touching", allocator.Range{Lo: 1, Hi: 100}, []allocator.Span{sp(21, 30), sp(10, 20)}, 100 - 21},
		{"nested and repeated", allocator.Range{Lo: 1, Hi: 100}, []allocator.Span{sp(40, 41), sp(30, 60), sp(40, 41), sp(35, 36)}, 100 - 31},
		{"reaching outside", allocator.Range{Lo: 100, Hi: 199}, []allocator.Span{sp(190, 300), sp(1, 100), sp(250, 260)}, 100 - 10 - 1},
		{"entirely outside", allocator.Range{Lo: 100, Hi: 199}, []allocator.Span{sp(1, 99), sp(200, 65535)}, 100},
		{"whole range", allocator.Range{Lo: 100, Hi: 199}, []allocator.Span{sp(150, 199), sp(100, 150)}, 0},
		{"inverted range", allocator.Range{Lo: 200, Hi: 100}, []allocator.Span{sp(150, 160)}, 0},
	} {
		r := tc.r
		r.Reserved = tc.reserved
		if got := r.Usable(); got != tc.want {
			t.Errorf("%s: %v Usable = %d, want %d", tc.name, r, got, tc.want)
		}
		count := 0
		for p := int(r.Lo); p <= int(r.Hi); p++ {
			if !r.IsReserved(uint16(p)) {
				count++
			}
		}
		if count != tc.want {
			t.Errorf("%s: %d ports of %v not reserved, the table says %d", tc.name, count, r, tc.want)
		}
	}
}

// TestPathScopeNames checks that every path and scope prints as the name
// its parser reads, that the parsers accept the documented aliases, and
// that they refuse other words with the expected forms.
func TestPathScopeNames(t *testing.T) {
	for _, p := range []allocator.Path{allocator.Connect, allocator.Bind, allocator.UDP} {
		if got, err := allocator.ParsePath(p.String()); got != p || err != nil {
			t.Errorf("ParsePath(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	if s := allocator.Path(7).String(); s != "Path(7)" {
		t.Errorf("Path(7).String() = %q", s)
	}
	names := map[allocator.Scope]string{allocator.FourTuple: "4-tuple", allocator.Exclusive: "exclusive"}
	for sc, name := range names {
		if sc.String() != name {
			t.Errorf("%d.String() = %q, want %q", sc, sc.String(), name)
		}
		if got, err := allocator.ParseScope(name); got != sc || err != nil {
			t.Errorf("ParseScope(%q) = %v, %v; want %v", name, got, err, sc)
		}
	}
	for _, alias := range []string{"fourtuple", "four-tuple"} {
		if got, err := allocator.ParseScope(alias); got != allocator.FourTuple || err != nil {
			t.Errorf("ParseScope(%q) = %v, %v; want 4-tuple", alias, got, err)
		}
	}
	if _, err := allocator.ParseScope("shared"); err == nil || err.Error() != `scope "shared": expected 4-tuple or exclusive` {
		t.Errorf("ParseScope(shared): %v", err)
	}
	if _, err := allocator.ParsePath("listen"); err == nil || err.Error() != `path "listen": expected connect, bind or udp` {
		t.Errorf("ParsePath(listen): %v", err)
	}
}

// TestUnknownParamLists checks the error for a param an allocator does
// not take: it lists the allocator's params, or says it takes none.
func TestUnknownParamLists(t *testing.T) {
	var withParams, without bool
	for _, s := range allocator.Builtins().Specs() {
		_, err := s.Build(allocator.Config{Range: s.Profile.Range, Params: map[string]string{"zz": "1"}})
		want := fmt.Sprintf(`allocator %s: unknown param "zz"; it takes no params`, s.Name)
		if len(s.Params) > 0 {
			withParams = true
			want = fmt.Sprintf(`allocator %s: unknown param "zz"; valid params: %s`, s.Name, strings.Join(s.ParamNames(), ", "))
		} else {
			without = true
		}
		if err == nil || err.Error() != want {
			t.Errorf("%s: err %v, want %q", s.Name, err, want)
		}
	}
	if !withParams || !without {
		t.Fatal("the built-in allocators no longer include both kinds")
	}
}
