package main

import (
	"context"
	"errors"
	"io"
)

func runCapacity(context.Context, []string, io.Writer, io.Writer) error {
	return errors.New("capacity: not available yet")
}
