package traffic

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/portsim/portsim/sim/workload"
)

// FuzzReadCapture: any input either fails with a *CaptureError or gives
// connections in order of start with holds >= 0; it never panics.
func FuzzReadCapture(f *testing.F) {
	for _, name := range []string{"testdata/lo.pcap", "testdata/lo.pcapng", "testdata/any-sll2.pcap"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 2000)])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var last Conn
		n := 0
		_, err := ReadCapture("fuzz", bytes.NewReader(in), FormatAuto, CaptureOptions{}, func(c Conn) error {
			if c.Hold < 0 || (n > 0 && c.At < last.At) || !c.Src.IsValid() || c.Src.Is4() != c.Dst.Addr().Is4() {
				t.Fatalf("connection %d: %+v after %+v", n, c, last)
			}
			last = c
			n++
			return nil
		})
		if err != nil && n > 0 {
			if _, ok := err.(*CaptureError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
		}
	})
}

// FuzzReadText: the ss and conntrack readers never panic, and what they
// accept writes to a state that reads back the same.
func FuzzReadText(f *testing.F) {
	for _, name := range []string{"testdata/ss-tano.txt", "testdata/ct-list.txt", "testdata/nf_conntrack.txt", "testdata/ct-events.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b[:min(len(b), 1500)]))
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, read := range []func(emit func(workload.StateRecord) error) error{
			func(emit func(workload.StateRecord) error) error {
				_, err := ReadSS("fuzz", strings.NewReader(in), SSOptions{}, emit)
				return err
			},
			func(emit func(workload.StateRecord) error) error {
				_, err := ReadConntrack("fuzz", strings.NewReader(in), emit)
				return err
			},
		} {
			var buf bytes.Buffer
			w := workload.NewStateWriter(&buf)
			var recs []workload.StateRecord
			if err := read(func(r workload.StateRecord) error { recs = append(recs, r); return w.Write(r) }); err != nil {
				continue
			}
			w.Flush()
			back, err := workload.ReadState("state", &buf)
			if err != nil || len(back) != len(recs) {
				t.Fatalf("state written from %q does not read back: %v (%d of %d)", in, err, len(back), len(recs))
			}
			for i := range recs {
				if back[i] != recs[i] {
					t.Fatalf("socket %d: %+v read back as %+v", i, recs[i], back[i])
				}
			}
		}
		ReadConntrackEvents("fuzz", strings.NewReader(in), TCP, func(c Conn) error {
			if c.Hold < 0 {
				t.Fatalf("negative hold %+v", c)
			}
			return nil
		})
	})
}
