// Command custom-allocator is portsim with one allocator added: "example",
// RFC 6056 Algorithm 3 with per-destination random increments (see
// exampleSpec). It shows how a program adds its own port-selection
// algorithm to portsim without changing portsim's code: write an
// allocator.Spec and hand it to cli.Main, and every command (list, run,
// bench, capacity, compare, plot, probe -compare) knows it by name.
//
//	go run ./examples/custom-allocator list
//	go run ./examples/custom-allocator run -allocator example,linux -rate 500
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
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, exampleSpec())
	stop()
	os.Exit(code)
}
