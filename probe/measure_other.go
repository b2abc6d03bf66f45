//go:build !linux

package probe

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// errNotLinux is why nothing can be measured here.
func errNotLinux() error {
	return &unavailableError{fmt.Sprintf("probe: measuring needs Linux network namespaces and this is %s/%s: compare with a probe recorded on Linux instead (-observations FILE)", runtime.GOOS, runtime.GOARCH)}
}

func parentNamespace() (string, error) { return "", errNotLinux() }

func isRoot() bool { return false }

func runChild(context.Context, Options, request, bool) (response, error) {
	return response{}, errNotLinux()
}

// Child is the probe's child process. It runs only on Linux.
func Child(context.Context, io.Reader, io.Writer) error { return errNotLinux() }

func namespaceOf(string) (string, error) { return "", errNotLinux() }
