//go:build linux

package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/portsim/portsim/allocator"
)

// Bounds of single socket calls in the child: nothing waits longer than
// this for a connect, an accept or a FIN.
const sockTimeout = 2 * time.Second

// sysctlDir is where the per-namespace IPv4 settings live. Opened by a
// process, it shows that process's network namespace.
const sysctlDir = "/proc/sys/net/ipv4/"

// Child is the probe's child process: it reads a request from in, checks
// that it runs in a network namespace of its own that nobody has set up
// yet, sets it up, runs the experiment and writes what it observed to out.
// It refuses to touch anything in the parent's namespace.
func Child(ctx context.Context, in io.Reader, out io.Writer) error {
	var req request
	dec := json.NewDecoder(in)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("probe child: reading the request: %w (the child is started by `portsim probe`)", err)
	}
	if req.SNAT != nil {
		return snatChild(ctx, req, out)
	}
	e := req.Experiment
	if err := e.Validate(); err != nil {
		return fmt.Errorf("probe child: %w", err)
	}
	if err := checkFreshNamespace(req.ParentNetNS); err != nil {
		return err
	}
	timeout := time.Duration(req.Timeout)
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	resp := response{Kernel: uname(), Defaults: readSysctls()}
	if err := setUpLoopback(); err != nil {
		return err
	}
	if e.Dest.Addr.IsValid() && !e.Dest.Addr.IsLoopback() {
		if err := addAddress(e.Dest.Addr); err != nil {
			return err
		}
	}
	if err := writeSysctls(e.Sysctls); err != nil {
		return err
	}
	r := &runner{exp: e, lfd: -1, deadline: time.Now().Add(timeout * 8 / 10)}
	defer r.closeAll()
	if err := r.run(ctx); err != nil {
		return err
	}
	resp.Observation = Observation{Experiment: e, Sysctls: readSysctls(), Attempts: r.attempts}
	if err := json.NewEncoder(out).Encode(resp); err != nil {
		return fmt.Errorf("probe child: writing the result: %w", err)
	}
	return nil
}

// checkFreshNamespace refuses to go on unless the process is in a network
// namespace other than the parent's whose only interface is lo, still
// down: the state of a namespace nobody has touched.
func checkFreshNamespace(parent string) error {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("probe child: cannot tell the network namespace: %w", err)
	}
	if parent == "" || self == parent {
		return fmt.Errorf("probe child: refusing to change settings: not in a network namespace of its own (%s); the child is started by `portsim probe`", self)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("probe child: listing interfaces: %w", err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp != 0 {
		return fmt.Errorf("probe child: refusing to change settings: the namespace is not fresh (interfaces %s)", strings.Join(names, ", "))
	}
	return nil
}

func uname() Kernel {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return Kernel{Sysname: "Linux"}
	}
	return Kernel{Sysname: cString(u.Sysname), Release: cString(u.Release), Version: cString(u.Version), Machine: cString(u.Machine)}
}

// cString converts a NUL-terminated utsname field (int8 or uint8,
// depending on the architecture).
func cString[T int8 | uint8](b [65]T) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// readSysctls reads the settings the child reports (the defaults of the
// fresh namespace, and after writing the values in force) with whitespace
// collapsed; "absent" marks one the kernel does not have.
func readSysctls() map[string]string {
	names := []string{
		"ip_local_port_range",
		"ip_local_reserved_ports",
		"tcp_tw_reuse",
		"tcp_tw_reuse_delay",
		"tcp_timestamps",
		"tcp_max_tw_buckets",
		"ip_autobind_reuse",
	}
	m := make(map[string]string, len(names))
	for _, name := range names {
		v, err := os.ReadFile(sysctlDir + name)
		if err != nil {
			m["net.ipv4."+name] = "absent"
			continue
		}
		m["net.ipv4."+name] = strings.Join(strings.Fields(string(v)), " ")
	}
	return m
}

// writeSysctls writes the experiment's settings and reads them back.
func writeSysctls(s Sysctls) error {
	r, err := s.Range()
	if err != nil {
		return fmt.Errorf("probe child: %w", err)
	}
	ts := "0"
	if s.Timestamps {
		ts = "1"
	}
	writes := [][2]string{
		{"ip_local_port_range", fmt.Sprintf("%d %d", r.Lo, r.Hi)},
		{"tcp_tw_reuse", strconv.Itoa(s.TWReuse)},
		{"tcp_timestamps", ts},
	}
	if s.Reserved != "" {
		writes = append(writes, [2]string{"ip_local_reserved_ports", s.Reserved})
	}
	for _, w := range writes {
		if err := os.WriteFile(sysctlDir+w[0], []byte(w[1]+"\n"), 0o644); err != nil {
			return fmt.Errorf("probe child: cannot set net.ipv4.%s = %s in the new namespace: %w", w[0], w[1], errors.Unwrap(err))
		}
		got, err := os.ReadFile(sysctlDir + w[0])
		if err != nil {
			return fmt.Errorf("probe child: cannot read back net.ipv4.%s: %w", w[0], err)
		}
		if !sameSetting(w[0], w[1], string(got)) {
			return fmt.Errorf("probe child: the kernel refused net.ipv4.%s = %s (it reads %q)", w[0], w[1], strings.TrimSpace(string(got)))
		}
	}
	return nil
}

// sameSetting compares a written setting with what the kernel reads back:
// fields for the range, the set of ports for reserved ports.
func sameSetting(name, want, got string) bool {
	if name != "ip_local_reserved_ports" {
		return strings.Join(strings.Fields(want), " ") == strings.Join(strings.Fields(got), " ")
	}
	a, err1 := allocator.ParseSpans(want)
	b, err2 := allocator.ParseSpans(strings.TrimSpace(got))
	if err1 != nil || err2 != nil {
		return false
	}
	ra, rb := allocator.Range{Reserved: a}, allocator.Range{Reserved: b}
	for p := 1; p < 65536; p++ {
		if ra.IsReserved(uint16(p)) != rb.IsReserved(uint16(p)) {
			return false
		}
	}
	return true
}

// ifreq is struct ifreq: an interface name and a 24-byte union, of which
// the probe uses ifr_flags and ifr_addr (a sockaddr_in).
type ifreq struct {
	name  [syscall.IFNAMSIZ]byte
	union [24]byte
}

func newIfreq(name string) *ifreq {
	var r ifreq
	copy(r.name[:syscall.IFNAMSIZ-1], name)
	return &r
}

func ioctl(fd int, req uintptr, r *ifreq) error {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(r)))
	if errno != 0 {
		return errno
	}
	return nil
}

// setUpLoopback brings lo up (SIOCSIFFLAGS), which gives it 127.0.0.1/8.
func setUpLoopback() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("probe child: socket: %w", err)
	}
	defer syscall.Close(fd)
	r := newIfreq("lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, r); err != nil {
		return fmt.Errorf("probe child: reading the flags of lo: %w", err)
	}
	flags := *(*uint16)(unsafe.Pointer(&r.union[0]))
	*(*uint16)(unsafe.Pointer(&r.union[0])) = flags | syscall.IFF_UP
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, r); err != nil {
		return fmt.Errorf("probe child: bringing lo up: %w", err)
	}
	return nil
}

// addAddress adds a to lo (as the alias lo:1, SIOCSIFADDR).
func addAddress(a netip.Addr) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("probe child: socket: %w", err)
	}
	defer syscall.Close(fd)
	r := newIfreq("lo:1")
	*(*uint16)(unsafe.Pointer(&r.union[0])) = syscall.AF_INET // sin_family, host order
	a4 := a.As4()
	copy(r.union[4:8], a4[:]) // sin_addr, network order
	if err := ioctl(fd, syscall.SIOCSIFADDR, r); err != nil {
		return fmt.Errorf("probe child: adding %v to lo: %w", a, err)
	}
	return nil
}

// runner runs one experiment's steps.
type runner struct {
	exp      Experiment
	lfd      int // the listener, or -1
	open     []int
	attempts []Attempt
	start    time.Time
	deadline time.Time
}

// errDeadline is returned when an experiment runs out of time.
var errDeadline = errors.New("deadline expired")

func (r *runner) since() time.Duration { return time.Since(r.start) }

func (r *runner) closeAll() {
	for _, fd := range r.open {
		syscall.Close(fd)
	}
	r.open = nil
	if r.lfd >= 0 {
		syscall.Close(r.lfd)
		r.lfd = -1
	}
}

func (r *runner) run(ctx context.Context) error {
	e := r.exp
	kept := 0
	for _, s := range e.Steps {
		if s.Op == OpConnect {
			if r.lfd < 0 {
				var err error
				if r.lfd, err = listen(e.Dest.Port); err != nil {
					return err
				}
			}
		}
		if s.Hold == Keep {
			kept += s.Count
		}
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*kept+64) {
		return fmt.Errorf("keeps up to %d sockets open and the open-file limit is %d: raise it (ulimit -n %d)", 2*kept, lim.Cur, 2*kept+64)
	}
	r.start = time.Now()
	for i, s := range e.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.Op == OpWait {
			w := time.Duration(s.Wait)
			if time.Now().Add(w).After(r.deadline) {
				return fmt.Errorf("step %d (wait %v): %w", i, w, errDeadline)
			}
			time.Sleep(w)
			continue
		}
		if err := r.step(i, s); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, s.Op, err)
		}
	}
	return nil
}

// step makes the attempts of step i: round robin over the destinations,
// each dropping out at its first failure when the step runs until failure.
func (r *runner) step(i int, s Step) error {
	n := 1
	if s.Op.usesDest() {
		n = r.exp.Dest.Count
	}
	done := make([]bool, n)
	left, made := n, 0
	for made < s.Count && left > 0 {
		for d := 0; d < n && made < s.Count; d++ {
			if done[d] {
				continue
			}
			if time.Now().After(r.deadline) {
				return errDeadline
			}
			dst := d
			if !s.Op.usesDest() {
				dst = -1
			}
			a, err := r.attempt(i, s, dst)
			if err != nil {
				return err
			}
			r.attempts = append(r.attempts, a)
			made++
			if !a.OK() && s.UntilFail {
				done[d] = true
				left--
			}
		}
	}
	return nil
}

func (r *runner) attempt(i int, s Step, dst int) (Attempt, error) {
	switch s.Op {
	case OpConnect:
		return r.connect(i, s, dst)
	case OpBind:
		return r.bind(i, s, syscall.SOCK_STREAM)
	case OpUDPBind:
		return r.bind(i, s, syscall.SOCK_DGRAM)
	case OpUDPConnect:
		return r.udpConnect(i, s, dst)
	}
	return Attempt{}, fmt.Errorf("op %q cannot make attempts", s.Op)
}

func socket(typ int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			return -1, fmt.Errorf("socket: %w (raise the open-file limit, ulimit -n)", err)
		}
		return -1, fmt.Errorf("socket: %w", err)
	}
	return fd, nil
}

func setTimeout(fd, opt int) error {
	tv := syscall.NsecToTimeval(int64(sockTimeout))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
		return fmt.Errorf("setsockopt: %w", err)
	}
	return nil
}

func sockaddr(ap netip.AddrPort) *syscall.SockaddrInet4 {
	return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}

func addrPort(sa syscall.Sockaddr) netip.AddrPort {
	if s4, ok := sa.(*syscall.SockaddrInet4); ok {
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port))
	}
	return netip.AddrPort{}
}

func localAddr(fd int) (netip.AddrPort, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockname: %w", err)
	}
	return addrPort(sa), nil
}

// listen opens the listener of the experiment's destinations on
// 0.0.0.0:port.
func listen(port uint16) (int, error) {
	fd, err := socket(syscall.SOCK_STREAM)
	if err != nil {
		return -1, err
	}
	fail := func(what string, err error) (int, error) {
		syscall.Close(fd)
		return -1, fmt.Errorf("listener on port %d: %s: %w", port, what, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(port)}); err != nil {
		return fail("bind", err)
	}
	if err := syscall.Listen(fd, 4096); err != nil {
		return fail("listen", err)
	}
	if err := setTimeout(fd, syscall.SO_RCVTIMEO); err != nil {
		return fail("accept timeout", err)
	}
	return fd, nil
}

// connectRetry is a blocking connect() that survives signals: a connect
// interrupted after the port was chosen goes on in the kernel, and calling
// connect() again waits for it (EISCONN once it is established).
func connectRetry(fd int, dst netip.AddrPort) error {
	for {
		err := syscall.Connect(fd, sockaddr(dst))
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EISCONN):
			return nil
		}
		return err
	}
}

func acceptRetry(lfd int) (int, syscall.Sockaddr, error) {
	for {
		nfd, sa, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return nfd, sa, err
	}
}

// waitEOF reads from fd until the peer's FIN.
func waitEOF(fd int) error {
	var b [1]byte
	for {
		n, err := syscall.Read(fd, b[:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			return fmt.Errorf("no FIN from the peer within %v", sockTimeout)
		}
		if err != nil {
			return fmt.Errorf("waiting for the peer's FIN: %w", err)
		}
		if n != 0 {
			return errors.New("waiting for the peer's FIN: unexpected data")
		}
		return nil
	}
}

// connect makes one TCP connection to destination d, accepts it and
// closes (or keeps) both ends as the step says.
func (r *runner) connect(i int, s Step, d int) (Attempt, error) {
	dst := r.exp.Dest.At(d)
	a := Attempt{Step: i, Dst: d, Hold: -1}
	fd, err := socket(syscall.SOCK_STREAM)
	if err != nil {
		return a, err
	}
	if err := setTimeout(fd, syscall.SO_SNDTIMEO); err != nil {
		syscall.Close(fd)
		return a, err
	}
	a.At = r.since()
	if err := connectRetry(fd, dst); err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			a.Errno = EADDRNOTAVAIL
			return a, nil
		}
		return a, fmt.Errorf("connect to %v: %w", dst, err)
	}
	nfd := -1
	fail := func(err error) (Attempt, error) {
		syscall.Close(fd)
		if nfd >= 0 {
			syscall.Close(nfd)
		}
		return a, err
	}
	local, err := localAddr(fd)
	if err != nil {
		return fail(err)
	}
	if local.Addr() != r.exp.Dest.Src {
		return fail(fmt.Errorf("connect to %v: source address %v, expected %v", dst, local.Addr(), r.exp.Dest.Src))
	}
	a.Port = local.Port()
	nfd, peer, err := acceptRetry(r.lfd)
	if err != nil {
		return fail(fmt.Errorf("accept: %w", err))
	}
	if addrPort(peer) != local {
		return fail(fmt.Errorf("accepted a connection from %v, expected %v", addrPort(peer), local))
	}
	if err := setTimeout(fd, syscall.SO_RCVTIMEO); err != nil {
		return fail(err)
	}
	if err := setTimeout(nfd, syscall.SO_RCVTIMEO); err != nil {
		return fail(err)
	}
	switch s.Hold {
	case Keep:
		r.open = append(r.open, fd, nfd)
		return a, nil
	case Reset:
		if err := syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0}); err != nil {
			return fail(fmt.Errorf("setsockopt SO_LINGER: %w", err))
		}
		syscall.Close(fd)
		syscall.Close(nfd)
	case ClientClose:
		syscall.Close(fd)
		if err := waitEOF(nfd); err != nil {
			syscall.Close(nfd)
			return a, fmt.Errorf("client close on port %d: %w", a.Port, err)
		}
		syscall.Close(nfd)
	case ServerClose:
		syscall.Close(nfd)
		if err := waitEOF(fd); err != nil {
			syscall.Close(fd)
			return a, fmt.Errorf("server close on port %d: %w", a.Port, err)
		}
		syscall.Close(fd)
	default:
		return fail(fmt.Errorf("hold %q is not for TCP connect", s.Hold))
	}
	a.Hold = r.since() - a.At
	return a, nil
}

// bind binds a TCP or UDP socket to 0.0.0.0 port 0.
func (r *runner) bind(i int, s Step, typ int) (Attempt, error) {
	a := Attempt{Step: i, Dst: -1, Hold: -1}
	fd, err := socket(typ)
	if err != nil {
		return a, err
	}
	a.At = r.since()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{}); err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.EADDRINUSE) {
			a.Errno = EADDRINUSE
			return a, nil
		}
		return a, fmt.Errorf("bind to port 0: %w", err)
	}
	return r.keepOrClose(a, fd, s)
}

// udpConnect connects an unbound UDP socket to destination d, which
// autobinds it.
func (r *runner) udpConnect(i int, s Step, d int) (Attempt, error) {
	dst := r.exp.Dest.At(d)
	a := Attempt{Step: i, Dst: d, Hold: -1}
	fd, err := socket(syscall.SOCK_DGRAM)
	if err != nil {
		return a, err
	}
	a.At = r.since()
	if err := syscall.Connect(fd, sockaddr(dst)); err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.EAGAIN) {
			a.Errno = EAGAIN
			return a, nil
		}
		return a, fmt.Errorf("UDP connect to %v: %w", dst, err)
	}
	return r.keepOrClose(a, fd, s)
}

func (r *runner) keepOrClose(a Attempt, fd int, s Step) (Attempt, error) {
	local, err := localAddr(fd)
	if err != nil {
		syscall.Close(fd)
		return a, err
	}
	a.Port = local.Port()
	if s.Hold == Keep {
		r.open = append(r.open, fd)
		return a, nil
	}
	syscall.Close(fd)
	a.Hold = r.since() - a.At
	return a, nil
}
