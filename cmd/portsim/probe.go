package main

import (
	"context"
	"errors"
	"io"
)

func runProbe(context.Context, []string, io.Writer, io.Writer) error {
	return errors.New("probe: not available yet")
}
