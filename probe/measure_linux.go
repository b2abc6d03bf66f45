//go:build linux

package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// parentNamespace returns the identity of the caller's network namespace
// ("net:[4026531840]"), which the child must not share.
func parentNamespace() (string, error) {
	return namespaceOf("net")
}

// namespaceOf returns the identity of the caller's namespace of a kind
// ("net", "mnt").
func namespaceOf(kind string) (string, error) {
	ns, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		return "", fmt.Errorf("probe: cannot tell the current %s namespace (%v): /proc must be mounted", kind, err)
	}
	return ns, nil
}

func isRoot() bool { return os.Geteuid() == 0 }

// runChild re-executes the program in a new network namespace (and a new
// user namespace when user is set, mapping the caller to root in it) and
// returns what the child observed.
func runChild(ctx context.Context, opt Options, req request, user bool) (response, error) {
	name := req.name()
	in, err := json.Marshal(req)
	if err != nil {
		return response{}, fmt.Errorf("experiment %s: %w", name, err)
	}
	exe := opt.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	timeout := time.Duration(req.Timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, opt.Args...)
	cmd.Env = append(os.Environ(), opt.Env...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if req.SNAT != nil {
		// A mount namespace of its own, where the child mounts a tmpfs on
		// /run for the names of its network namespaces.
		attr.Cloneflags |= syscall.CLONE_NEWNS
	}
	if user {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return response{}, &errNamespace{user: user, err: namespaceErrno(errno)}
		}
		return response{}, fmt.Errorf("experiment %s: %w", name, err)
	}
	err = cmd.Wait()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return response{}, fmt.Errorf("experiment %s: deadline of %v expired", name, timeout)
	}
	if ctx.Err() != nil {
		return response{}, ctx.Err()
	}
	if err != nil {
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return response{}, fmt.Errorf("experiment %s: %s", name, msg)
	}
	var r response
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return response{}, fmt.Errorf("experiment %s: reading the child's result: %w", name, err)
	}
	if r.name() != name {
		return response{}, fmt.Errorf("experiment %s: the child ran %q", name, r.name())
	}
	return r, nil
}

// namespaceErrno explains why clone() refused to make a namespace.
func namespaceErrno(e syscall.Errno) error {
	switch e {
	case syscall.ENOSPC, syscall.EUSERS:
		return fmt.Errorf("%w: the limit of user namespaces is reached or 0", e)
	case syscall.EINVAL:
		return fmt.Errorf("%w: the kernel may lack network or user namespaces (CONFIG_NET_NS, CONFIG_USER_NS)", e)
	}
	return e
}

// lastLine returns the last non-empty line of s, without a "portsim: "
// prefix.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	return strings.TrimPrefix(l, "portsim: ")
}
