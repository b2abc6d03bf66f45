package workload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzTrace feeds arbitrary bytes to the trace reader. It must never
// panic; what it accepts must satisfy the format's invariants and read
// back the same when written out again; what it rejects must be a
// *TraceError naming the trace and a line.
func FuzzTrace(f *testing.F) {
	f.Add([]byte(goodTrace))
	f.Add([]byte(TraceHeader + "\n0,10.0.0.1,198.18.0.1,443,1s,client\n1,10.0.0.1,198.18.0.1,443,forever,rst\n"))
	f.Add([]byte(TraceHeader + "\n2s,10.0.0.1,198.18.0.1,443,1s,client\n1s,::1,::2,1,0,server\n"))
	f.Add([]byte(TraceHeader + "\n0,10.0.0.1,198.18.0.1,443,1s\n"))
	f.Add([]byte("time,src\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		sum, verr := ValidateTrace("f", bytes.NewReader(data))
		if sum.Records < 0 || sum.Malformed < 0 || sum.First > sum.Last {
			t.Fatalf("summary %+v", sum)
		}
		checkTraceError(t, verr)

		s := Spec{Arrivals: Trace, TraceName: "f", TraceOpen: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}
		w, err := s.New(1)
		if err != nil {
			t.Fatal(err)
		}
		var out []Arrival
		var text strings.Builder
		text.WriteString(TraceHeader + "\n")
		for {
			a, ok := nextOf(w)
			if !ok {
				break
			}
			if len(out) > 0 && a.At < out[len(out)-1].At || a.At < 0 || a.At > MaxSample {
				t.Fatalf("attempt at %v after %d attempts", a.At, len(out))
			}
			if a.Hold < 0 || a.Hold > MaxSample && a.Hold != Forever || a.Close > RST || a.Client != -1 ||
				a.Flow.Src.Is4() != a.Flow.Dst.Addr().Is4() || a.Flow.Dst.Port() == 0 || a.Flow.Src.Zone() != "" {
				t.Fatalf("bad attempt %+v", a)
			}
			out = append(out, a)
			hold := fmt.Sprint(int64(a.Hold)) + "ns"
			if a.Hold == Forever {
				hold = "forever"
			}
			fmt.Fprintf(&text, "%dns,%v,%v,%d,%s,%v\n", a.At, a.Flow.Src, a.Flow.Dst.Addr(), a.Flow.Dst.Port(), hold, a.Close)
		}
		rerr := w.Err()
		checkTraceError(t, rerr)
		if (verr == nil) != (rerr == nil) || verr == nil && len(out) != sum.Records || len(out) > sum.Records {
			t.Fatalf("ValidateTrace: %d records, %v; replay: %d attempts, %v", sum.Records, verr, len(out), rerr)
		}

		back, err := replayAll(t, traceSpec(text.String()))
		if err != nil || len(back) != len(out) {
			t.Fatalf("written back: %d attempts, %v; want %d\n%s", len(back), err, len(out), text.String())
		}
		for i := range out {
			if back[i] != out[i] {
				t.Fatalf("attempt %d reads back as %+v, want %+v", i, back[i], out[i])
			}
		}
	})
}

func checkTraceError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var te *TraceError
	if !errors.As(err, &te) || te.Name != "f" || te.Line < 1 || te.Msg == "" {
		t.Fatalf("error %v is not a *TraceError naming the trace and a line", err)
	}
}

// FuzzParseDist checks that ParseDist never panics and that every Dist it
// accepts reads back from its String and draws durations in range.
func FuzzParseDist(f *testing.F) {
	for _, s := range []string{"100ms", "exp:100ms", "lognormal:100ms,1.0", "pareto:10ms,1.5", "uniform:1s,2s",
		"forever", "fixed:1s", "pareto:1ns,1e-300", "lognormal:2562047h,1e300", "uniform:0s,2562047h", ":", "exp:", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDist(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "distribution ") {
				t.Fatalf("error %q does not name the distribution", err)
			}
			return
		}
		back, err := ParseDist(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDist(%q) = %v; its String %q reads back as %v, %v", s, d, d.String(), back, err)
		}
		if d.Mean() < 0 {
			t.Fatalf("Mean(%v) = %v", d, d.Mean())
		}
		sm := newSampler(d, newStream(1, streamHolds))
		for range 10 {
			if x := sm.draw(); x < 0 || x > MaxSample && x != Forever {
				t.Fatalf("%v drew %v", d, x)
			}
		}
	})
}

// FuzzScanDuration checks the allocation-free duration parser against
// time.ParseDuration: with a unit they agree, and a plain number x is x
// seconds.
func FuzzScanDuration(f *testing.F) {
	for _, s := range []string{"1.5s", "0", "1.5", ".5h", "9223372036.854775807s", "1h30m", "1µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := scanDuration([]byte(s))
		if !ok {
			return
		}
		in := s
		if s != "" && '0' <= s[len(s)-1] && s[len(s)-1] <= '9' || strings.HasSuffix(s, ".") {
			in += "s"
		}
		want, err := time.ParseDuration(in)
		if err != nil || got != want {
			t.Fatalf("scanDuration(%q) = %v; time.ParseDuration(%q) = %v, %v", s, got, in, want, err)
		}
	})
}

// FuzzParseIPv4 checks the allocation-free IPv4 parser against
// netip.ParseAddr.
func FuzzParseIPv4(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "01.0.0.1", "256.1.1.1", "::ffff:1.2.3.4", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok != (err == nil && want.Is4()) || ok && got != want {
			t.Fatalf("parseIPv4(%q) = %v, %v; netip.ParseAddr = %v, %v", s, got, ok, want, err)
		}
	})
}
