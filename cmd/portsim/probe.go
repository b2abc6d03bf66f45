package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portsim/portsim/probe"
)

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-child" {
		return probe.Child(ctx, os.Stdin, stdout)
	}
	obs, err := probe.Measure(ctx, probe.Options{Args: []string{"probe", "-child"}, Progress: func(o *probe.Observation, wall time.Duration) {
		fmt.Fprintf(stderr, "%s: %d attempts in %v\n", o.Experiment.Name, len(o.Attempts), wall)
	}})
	if err != nil {
		return err
	}
	return obs.Write(stdout)
}
