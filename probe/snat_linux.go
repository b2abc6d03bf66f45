//go:build linux

package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timing of a SNAT experiment: the pause between rounds, so that one
// round's handshakes are over before the next; how long the child waits
// for connects still in progress after the last round (a SYN dropped at
// confirm is sent again after 1 s, then 2 s later); how often it looks.
const (
	snatGap      = 200 * time.Microsecond
	snatSettle   = 3500 * time.Millisecond
	snatPollStep = 10 * time.Millisecond
)

// snatChild runs a SNAT experiment in the child: it checks that it has
// network and mount namespaces of its own, builds the pod, node and
// server namespaces inside them, runs the rounds and writes what it saw.
func snatChild(ctx context.Context, req request, out io.Writer) error {
	e := *req.SNAT
	if err := e.Validate(); err != nil {
		return fmt.Errorf("probe child: %w", err)
	}
	if err := checkFreshNamespace(req.ParentNetNS); err != nil {
		return err
	}
	mnt, err := namespaceOf("mnt")
	if err != nil {
		return err
	}
	if req.ParentMntNS == "" || mnt == req.ParentMntNS {
		return fmt.Errorf("probe child: refusing to mount anything: not in a mount namespace of its own (%s); the child is started by `portsim probe`", mnt)
	}
	timeout := time.Duration(req.Timeout)
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	deadline := time.Now().Add(timeout * 8 / 10)
	cpus, err := allowedCPUs()
	if err != nil {
		return err
	}
	if e.Workers == 0 {
		e.Workers = min(8, max(2, len(cpus)))
	}
	// Mounts made from here on stay in this mount namespace: / becomes
	// private (nothing propagates back), and a tmpfs on /run holds the
	// names of the namespaces (/run/netns) that ip creates.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("probe child: making the mounts private: %w", err)
	}
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("probe child: mounting a tmpfs on /run: %w", err)
	}
	t, err := buildSNAT(ctx, e)
	if err != nil {
		return err
	}
	defer t.close()
	obs, err := t.run(ctx, e, cpus, deadline)
	if err != nil {
		return fmt.Errorf("probe child: experiment %s: %w", e.Name, err)
	}
	if err := json.NewEncoder(out).Encode(response{Kernel: uname(), SNAT: obs}); err != nil {
		return fmt.Errorf("probe child: writing the result: %w", err)
	}
	return nil
}

// allowedCPUs returns the CPUs the process may run on.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("probe child: sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// snatTopology is the built namespaces: file descriptors of the pod, node
// and server network namespaces.
type snatTopology struct {
	pod, node, srv int
}

func (t *snatTopology) close() {
	for _, fd := range []int{t.pod, t.node, t.srv} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

// command runs a program with stdin, naming it in the error with its
// output.
func command(ctx context.Context, stdin string, name string, args ...string) error {
	_, err := commandOutput(ctx, stdin, name, args...)
	return err
}

// commandOutput runs a program with stdin and returns its standard
// output.
func commandOutput(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String() + "\n" + out.String())
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("%s is not installed (the SNAT experiments need ip from iproute2 and nft from nftables, and conntrack where /proc/net/stat/nf_conntrack is missing)", name)
		}
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, lastLine(msg))
	}
	return out.String(), nil
}

// buildSNAT makes the namespaces pod, node and server, joins them by veth
// pairs (pod p0 - node n0, node n1 - server s0), lets the node forward
// and installs its masquerade rule. Everything is made from inside the
// probe's own network namespace, and named under its private /run.
func buildSNAT(ctx context.Context, e SNATExperiment) (*snatTopology, error) {
	var b strings.Builder
	for _, ns := range []string{"pod", "node", "srv"} {
		fmt.Fprintf(&b, "netns add %s\n", ns)
	}
	b.WriteString("link add p0 type veth peer name n0\nlink set p0 netns pod\nlink set n0 netns node\n")
	b.WriteString("link add n1 type veth peer name s0\nlink set n1 netns node\nlink set s0 netns srv\n")
	var pod strings.Builder
	for w := range e.Workers {
		fmt.Fprintf(&pod, "addr add %v/24 dev p0\n", snatPod(w))
	}
	fmt.Fprintf(&pod, "link set lo up\nlink set p0 up\nroute add default via %v\n", snatNode)
	steps := []struct{ ns, batch string }{
		{"", b.String()},
		{"pod", pod.String()},
		{"node", fmt.Sprintf("addr add %v/24 dev n0\naddr add %v/24 dev n1\nlink set lo up\nlink set n0 up\nlink set n1 up\n", snatNode, snatNAT)},
		{"srv", fmt.Sprintf("addr add %v/24 dev s0\nlink set lo up\nlink set s0 up\n", snatServer.Addr())},
	}
	for _, st := range steps {
		args := []string{"-batch", "-"}
		if st.ns != "" {
			args = append([]string{"-n", st.ns}, args...)
		}
		if err := command(ctx, st.batch, "ip", args...); err != nil {
			return nil, fmt.Errorf("probe child: building the namespaces: %w", err)
		}
	}
	t := &snatTopology{pod: -1, node: -1, srv: -1}
	for _, x := range []struct {
		fd   *int
		name string
	}{{&t.pod, "pod"}, {&t.node, "node"}, {&t.srv, "srv"}} {
		fd, err := syscall.Open("/run/netns/"+x.name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("probe child: opening namespace %s: %w", x.name, err)
		}
		*x.fd = fd
	}
	if err := inNamespace(t.node, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		t.close()
		return nil, fmt.Errorf("probe child: enabling forwarding in the node namespace: %w", err)
	}
	rules := fmt.Sprintf("table ip portsim {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"n1\" %s\n\t}\n}\n", e.Rule.nft())
	if err := command(ctx, rules, "ip", "netns", "exec", "node", "nft", "-f", "-"); err != nil {
		t.close()
		return nil, fmt.Errorf("probe child: installing the masquerade rule: %w", err)
	}
	return t, nil
}

// inNamespace runs f on a thread of its own in network namespace fd. The
// thread is thrown away afterwards, never returned to the scheduler in
// another namespace.
func inNamespace(fd int, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		done <- f()
	}()
	return <-done
}

// conntrackStats reads the conntrack counters of the node namespace:
// /proc/net/stat/nf_conntrack, or where the kernel has none
// (CONFIG_NF_CONNTRACK_PROCFS off) `conntrack -S`.
func (t *snatTopology) conntrackStats(ctx context.Context) (map[string][]uint64, error) {
	var m map[string][]uint64
	err := inNamespace(t.node, func() error {
		var err error
		m, err = readConntrackStats()
		return err
	})
	if !errors.Is(err, os.ErrNotExist) {
		return m, err
	}
	out, err := commandOutput(ctx, "", "ip", "netns", "exec", "node", "conntrack", "-S")
	if err != nil {
		return nil, fmt.Errorf("reading the conntrack counters: %w", err)
	}
	return parseConntrackS(out)
}

// parseConntrackS reads the output of `conntrack -S`, one line per CPU
// ("cpu=0 found=0 ... insert_failed=0 drop=0 ... clash_resolve=0"),
// naming clash_resolve clashres as /proc/net/stat/nf_conntrack does.
func parseConntrackS(out string) (map[string][]uint64, error) {
	m := map[string][]uint64{}
	for line := range strings.Lines(out) {
		for _, kv := range strings.Fields(line) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "cpu" {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("reading the conntrack counters: conntrack -S: %s: %w", kv, err)
			}
			if k == "clash_resolve" {
				k = "clashres"
			}
			m[k] = append(m[k], n)
		}
	}
	if _, ok := m["insert_failed"]; !ok {
		return nil, fmt.Errorf("reading the conntrack counters: conntrack -S printed no insert_failed: %q", lastLine(out))
	}
	return m, nil
}

// readConntrackStats reads /proc/net/stat/nf_conntrack of the calling
// thread's network namespace: per column, one value per CPU.
func readConntrackStats() (map[string][]uint64, error) {
	f, err := os.Open("/proc/thread-self/net/stat/nf_conntrack")
	if err != nil {
		return nil, fmt.Errorf("reading the conntrack counters: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return nil, errors.New("reading the conntrack counters: empty")
	}
	cols := strings.Fields(sc.Text())
	m := make(map[string][]uint64, len(cols))
	for sc.Scan() {
		vals := strings.Fields(sc.Text())
		if len(vals) != len(cols) {
			return nil, fmt.Errorf("reading the conntrack counters: %d values under %d columns", len(vals), len(cols))
		}
		for i, v := range vals {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("reading the conntrack counters: %s %q: %w", cols[i], v, err)
			}
			m[cols[i]] = append(m[cols[i]], n)
		}
	}
	return m, sc.Err()
}

// statDelta returns after - before, column by column and CPU by CPU
// (entries, a gauge, included).
func statDelta(before, after map[string][]uint64) map[string][]uint64 {
	d := make(map[string][]uint64, len(after))
	for k, a := range after {
		b := before[k]
		v := make([]uint64, len(a))
		for i := range a {
			if i < len(b) {
				v[i] = a[i] - b[i]
			}
		}
		d[k] = v
	}
	return d
}

// getcpu returns the CPU the calling thread runs on.
func getcpu() int {
	var cpu uint32
	if _, _, e := syscall.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

// run starts the server, runs the rounds and collects the outcome.
func (t *snatTopology) run(ctx context.Context, e SNATExperiment, cpus []int, deadline time.Time) (*SNATObservation, error) {
	obs := &SNATObservation{Experiment: e, NAT: snatNAT, Server: snatServer}
	var lfd int
	if err := inNamespace(t.srv, func() error {
		var err error
		lfd, err = listenOn(snatServer)
		return err
	}); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var accepted atomic.Int64
	var acceptWG sync.WaitGroup
	acceptWG.Add(1)
	go func() {
		defer acceptWG.Done()
		for {
			nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
			if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if err != nil {
				return
			}
			accepted.Add(1)
			syscall.Close(nfd)
		}
	}()
	stopServer := func() {
		syscall.Shutdown(lfd, syscall.SHUT_RDWR)
		acceptWG.Wait()
		syscall.Close(lfd)
	}

	before, err := t.conntrackStats(ctx)
	if err != nil {
		stopServer()
		return nil, err
	}

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		stopServer()
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer syscall.Close(epfd)
	total := e.Workers * e.Rounds
	done := make([]int64, total) // when each connect finished, since start; 0 while in progress
	var until atomic.Int64       // the poller stops at this time (Unix ns), or once all finished
	until.Store(deadline.UnixNano())
	var pollWG sync.WaitGroup
	pollWG.Add(1)
	start := time.Now()
	go func() {
		defer pollWG.Done()
		pollConnects(epfd, start, done, &until)
	}()
	flows, fds, err := t.rounds(e, cpus, start, deadline, epfd)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	if err != nil {
		until.Store(0)
		pollWG.Wait()
		stopServer()
		return nil, err
	}
	settle := time.Now().Add(snatSettle)
	if settle.After(deadline) {
		settle = deadline
	}
	until.Store(settle.UnixNano())
	pollWG.Wait()
	for i, fd := range fds {
		f := &flows[i]
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			stopServer()
			return nil, fmt.Errorf("TCP_INFO: %w", err)
		}
		f.SynRetransmits = int(info.Total_retrans)
		at := done[f.Worker*e.Rounds+f.Round]
		if at > 0 && info.State != unix.BPF_TCP_SYN_SENT && info.State != unix.BPF_TCP_CLOSE {
			f.ConnectNS = max(0, at-f.AtNS)
		}
	}
	// The server accepts a connection once the client's ACK has crossed
	// the node: give the last ones a moment.
	ok := 0
	for _, f := range flows {
		if f.OK() {
			ok++
		}
	}
	for wait := time.Now().Add(time.Second); accepted.Load() < int64(ok) && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	stopServer()
	obs.Flows = flows
	obs.Accepted = int(accepted.Load())
	after, err := t.conntrackStats(ctx)
	if err != nil {
		return nil, err
	}
	obs.Conntrack = statDelta(before, after)
	return obs, ctx.Err()
}

// listenOn opens a listener on ap.
func listenOn(ap netip.AddrPort) (int, error) {
	fd, err := socket(syscall.SOCK_STREAM)
	if err != nil {
		return -1, err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("setsockopt: %w", err)
	}
	if err := syscall.Bind(fd, sockaddr(ap)); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("bind %v: %w", ap, err)
	}
	if err := syscall.Listen(fd, 4096); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("listen: %w", err)
	}
	return fd, nil
}

// snatWorker is what one worker made: its flows and their sockets.
type snatWorker struct {
	flows []SNATFlow
	fds   []int
	err   error
}

// rounds runs the rounds: one worker per pod, each on a thread pinned to
// its CPU in the pod namespace; in each round they meet at a spin barrier
// and connect at once, without waiting for the handshake.
func (t *snatTopology) rounds(e SNATExperiment, cpus []int, start, deadline time.Time, epfd int) ([]SNATFlow, []int, error) {
	var lim syscall.Rlimit
	need := uint64(e.Workers*e.Rounds + 64)
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < need {
		lim.Cur = min(need, lim.Max)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if lim.Cur < need {
			return nil, nil, fmt.Errorf("keeps %d sockets open and the open-file limit is %d: raise it (ulimit -n %d)", need-64, lim.Cur, need)
		}
	}
	var arrived, released atomic.Int64
	var abort atomic.Bool
	ws := make([]snatWorker, e.Workers)
	var wg sync.WaitGroup
	for w := range e.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			ws[w].err = t.worker(e, w, cpus[w%len(cpus)], start, deadline, epfd, &arrived, &released, &abort, &ws[w])
			if ws[w].err != nil {
				abort.Store(true)
			}
		}()
	}
	wg.Wait()
	var flows []SNATFlow
	var fds []int
	var errs []error
	for _, x := range ws {
		flows, fds = append(flows, x.flows...), append(fds, x.fds...)
		if x.err != nil {
			errs = append(errs, x.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fds, err
	}
	return flows, fds, nil
}

// errAbort ends a worker whose partner failed.
var errAbort = errors.New("another worker failed")

// worker is worker w's part of the rounds, on a locked thread.
func (t *snatTopology) worker(e SNATExperiment, w, cpu int, start, deadline time.Time, epfd int, arrived, released *atomic.Int64, abort *atomic.Bool, out *snatWorker) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("worker %d: pinning to CPU %d: %w", w, cpu, err)
	}
	if err := unix.Setns(t.pod, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("worker %d: entering the pod namespace: %w", w, err)
	}
	src := snatPod(w)
	dst := sockaddr(snatServer)
	n := int64(e.Workers)
	for r := range e.Rounds {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("worker %d: socket: %w", w, err)
		}
		out.fds = append(out.fds, fd)
		port := 0
		if e.SamePort {
			port = SNATBasePort + r
			if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
				return fmt.Errorf("worker %d: SO_REUSEADDR: %w", w, err)
			}
		} else if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fmt.Errorf("worker %d: IP_BIND_ADDRESS_NO_PORT: %w", w, err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: src.As4(), Port: port}); err != nil {
			return fmt.Errorf("worker %d: bind %v port %d: %w", w, src, port, err)
		}
		// The barrier: the last worker to arrive releases the round.
		if arrived.Add(1) == n*int64(r+1) {
			released.Store(int64(r + 1))
		}
		for spins := 0; released.Load() < int64(r+1); spins++ {
			if spins&1023 == 1023 {
				if abort.Load() {
					return errAbort
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("worker %d: round %d: %w", w, r, errDeadline)
				}
			}
		}
		at := time.Since(start)
		err = syscall.Connect(fd, dst)
		c := getcpu()
		if err != nil && !errors.Is(err, syscall.EINPROGRESS) {
			return fmt.Errorf("worker %d: round %d: connect from %v port %d: %w", w, r, src, port, err)
		}
		local, err := localAddr(fd)
		if err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		out.flows = append(out.flows, SNATFlow{Round: r, Worker: w, CPU: c, AtNS: int64(at), Src: local, ConnectNS: -1})
		ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(w*e.Rounds + r)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("worker %d: epoll_ctl: %w", w, err)
		}
		time.Sleep(snatGap)
	}
	return nil
}

// pollConnects records in done[i] when connect i finished (writable, or
// failed), as time since start, until all have or the time in until
// (Unix ns) has passed.
func pollConnects(epfd int, start time.Time, done []int64, until *atomic.Int64) {
	evs := make([]unix.EpollEvent, 64)
	left := len(done)
	for left > 0 && time.Now().UnixNano() < until.Load() {
		n, err := unix.EpollWait(epfd, evs, int(snatPollStep/time.Millisecond))
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		now := int64(time.Since(start))
		for _, ev := range evs[:n] {
			if i := int(ev.Fd); i >= 0 && i < len(done) && done[i] == 0 {
				done[i] = max(1, now)
				left--
			}
		}
	}
}
