package cli

import (
	"context"
	"io"

	"github.com/portsim/portsim/allocator"
)

// run is the command line with portsim's built-in allocators, as the
// tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return (&app{reg: allocator.Builtins()}).run(ctx, args, stdout, stderr)
}

// commands returns the commands of the command line with the built-in
// allocators.
func commands() []command { return (&app{reg: allocator.Builtins()}).commands() }
