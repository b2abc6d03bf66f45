// Command portsim simulates and benchmarks ephemeral (source) port
// allocation: how operating systems and NAT gateways pick local ports,
// how often those choices collide, how soon ports come back and when a
// host runs out.
//
// Usage:
//
//	portsim <command> [flags] [arguments]
//
// Run `portsim help` for the commands and `portsim help <command>` (or
// `portsim <command> -h`) for each one's flags and examples. The command
// line itself is package cli, which programs that add allocators of their
// own call with them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/portsim/portsim/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
