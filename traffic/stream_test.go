package traffic

import (
	"bytes"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeConns writes n connections from 10.x.y.z, one every gap, each
// with a handshake, four data segments and a client close after hold:
// ten packets a connection.
func writeConns(t testing.TB, w io.Writer, n int, gap, hold time.Duration) {
	var out bytes.Buffer
	s := newSynth(t, &out)
	srv := [4]byte{192, 0, 2, 1}
	flush := func() {
		if out.Len() > 1<<20 {
			if _, err := w.Write(out.Bytes()); err != nil {
				t.Fatal(err)
			}
			out.Reset()
		}
	}
	// Packets of connection i: at i*gap (SYN, SYN-ACK, ACK, 2 data each
	// way) and at i*gap+hold (FIN, FIN, ACK). Emitting in time order
	// interleaves the closes with later connections' openings.
	var closes []int // connections whose close is due, in order
	next := 0
	for next < n || len(closes) > 0 {
		openAt := int64(next) * int64(gap)
		if len(closes) > 0 && (next >= n || int64(closes[0])*int64(gap)+int64(hold) <= openAt) {
			i := closes[0]
			closes = closes[1:]
			at := int64(i)*int64(gap) + int64(hold)
			c := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
			s.tcp(at, c, 40000, srv, 443, 2, flagFIN|flagACK)
			s.tcp(at+10, srv, 443, c, 40000, 2, flagFIN|flagACK)
			s.tcp(at+20, c, 40000, srv, 443, 3, flagACK)
		} else {
			i := next
			next++
			c := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
			s.tcp(openAt, c, 40000, srv, 443, 1, flagSYN)
			s.tcp(openAt+1, srv, 443, c, 40000, 1, flagSYN|flagACK)
			s.tcp(openAt+2, c, 40000, srv, 443, 2, flagACK)
			s.tcp(openAt+3, c, 40000, srv, 443, 2, flagACK|0x08)
			s.tcp(openAt+4, srv, 443, c, 40000, 2, flagACK|0x08)
			s.tcp(openAt+5, c, 40000, srv, 443, 2, flagACK|0x08)
			s.tcp(openAt+6, srv, 443, c, 40000, 2, flagACK|0x08)
			closes = append(closes, i)
		}
		flush()
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestMillionConnections streams a generated capture of a million
// connections (ten million packets) through the importer and checks
// that every one comes out while memory holds only the connections of
// the last few seconds of capture.
func TestMillionConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("ten million packets")
	}
	const n = 1_000_000
	pr, pw := io.Pipe()
	go func() {
		writeConns(t, pw, n, time.Millisecond, 50*time.Millisecond)
		pw.Close()
	}()
	var got int
	var last time.Duration
	var peak uint64
	var ms runtime.MemStats
	sum, err := ReadCapture("million", pr, FormatAuto, CaptureOptions{}, func(c Conn) error {
		got++
		if c.At < last || c.Hold != 50*time.Millisecond || c.Open {
			t.Fatalf("connection %d: at %v after %v, hold %v, open %v", got, c.At, last, c.Hold, c.Open)
		}
		last = c.At
		if got%100_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != n || sum.Packets != 10*n || sum.Client != n {
		t.Errorf("%d connections (%d client closes) from %d packets; want %d from %d", got, sum.Client, sum.Packets, n, 10*n)
	}
	// 2 s of reorder window at one connection a millisecond, plus the
	// 50 ms hold: about 2050 connections wait at once.
	if sum.MaxPending > 2100 {
		t.Errorf("%d connections held at once; want at most 2100", sum.MaxPending)
	}
	if peak > 64<<20 {
		t.Errorf("live heap reached %d MiB; want under 64 MiB", peak>>20)
	}
	t.Logf("max pending %d, peak live heap %.1f MiB", sum.MaxPending, float64(peak)/(1<<20))
}

// BenchmarkReadCapture reads a generated capture of 20000 connections
// (200000 packets) from memory; packets/s is the figure to watch.
func BenchmarkReadCapture(b *testing.B) {
	var buf bytes.Buffer
	writeConns(b, &buf, 20000, time.Millisecond, 50*time.Millisecond)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var packets int64
	for range b.N {
		sum, err := ReadCapture("bench", bytes.NewReader(data), FormatPcap, CaptureOptions{}, func(Conn) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		packets += sum.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
	// On a shared machine the wall clock counts time spent waiting for a
	// core; the process's own CPU time does not.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(packets)/cpu.Seconds(), "packets/cpu-s")
	}
}
