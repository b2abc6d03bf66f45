// Command record makes TCP connections with known holds and close sides
// on loopback, for the capture tests of package traffic. It is run by
// traffic/testdata/record.sh inside a private network namespace while
// tcpdump records; it is not part of portsim.
//
// For each address given (one per family) it listens on that address
// and opens, 20 ms apart, the connections of the plan below, each
// holding for its hold and then closing from its side: client (the
// client closes first), server (the server closes first) or rst (the
// client resets it, SO_LINGER 0). The open connections stay established
// until standard input closes, so that the capture ends before them. It
// writes the plan to -plan as CSV (family,index,hold_ms,close) and
// prints "ready" once every connection but the open ones has closed.
package main

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// plan is what each family's connections do: count, hold and close side.
var plan = []struct {
	n     int
	hold  time.Duration
	close string
}{
	{5, 150 * time.Millisecond, "client"},
	{4, 250 * time.Millisecond, "server"},
	{3, 100 * time.Millisecond, "rst"},
	{2, 0, "open"},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

func run() error {
	planPath := flag.String("plan", "plan.csv", "write the plan to `FILE`")
	port := flag.Int("port", 8080, "server port")
	flag.Parse()
	if flag.NArg() == 0 {
		return fmt.Errorf("usage: record [-plan FILE] [-port N] ADDRESS [ADDRESS]")
	}
	f, err := os.Create(*planPath)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"family", "index", "hold_ms", "close"})
	var wg sync.WaitGroup
	var openConns []net.Conn
	var mu sync.Mutex
	errs := make(chan error, 100)
	for _, addr := range flag.Args() {
		family := "ipv4"
		if strings.Contains(addr, ":") {
			family = "ipv6"
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(*port)))
		if err != nil {
			return err
		}
		go serve(ln)
		i := 0
		for _, p := range plan {
			for range p.n {
				w.Write([]string{family, strconv.Itoa(i), strconv.Itoa(int(p.hold / time.Millisecond)), p.close})
				i++
				wg.Add(1)
				go func(hold time.Duration, mode string) {
					defer wg.Done()
					c, err := client(ln.Addr().String(), hold, mode)
					if err != nil {
						errs <- err
						return
					}
					if c != nil {
						mu.Lock()
						openConns = append(openConns, c)
						mu.Unlock()
					}
				}(p.hold, p.close)
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	w.Flush()
	if err := f.Close(); err != nil {
		return err
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	time.Sleep(300 * time.Millisecond) // the last FINs and ACKs
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range openConns {
		c.Close()
	}
	return nil
}

// client opens one connection, tells the server the mode and hold, and
// closes it as planned; an open connection is returned still open.
func client(addr string, hold time.Duration, mode string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(c, "%s %d\n", mode, hold.Milliseconds()); err != nil {
		return nil, err
	}
	switch mode {
	case "open":
		return c, nil
	case "client":
		time.Sleep(hold)
		return nil, c.Close()
	case "rst":
		time.Sleep(hold)
		c.(*net.TCPConn).SetLinger(0)
		return nil, c.Close()
	case "server":
		io.Copy(io.Discard, c) // until the server's FIN
		return nil, c.Close()
	}
	return nil, fmt.Errorf("mode %q", mode)
}

func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			var mode string
			var ms int
			fmt.Sscanf(line, "%s %d", &mode, &ms)
			if mode == "server" {
				time.Sleep(time.Duration(ms) * time.Millisecond)
				return // close first
			}
			io.Copy(io.Discard, br) // until the client's FIN or RST
		}()
	}
}
