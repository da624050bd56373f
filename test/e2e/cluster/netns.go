//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// NetnsPrefix starts the name of every network namespace the harness
// makes; the rest of the name is the pid of the process that made it, so a
// later run can tell a leftover (its maker is gone) from a live cluster.
const NetnsPrefix = "va-e2e-"

// Netns is a network namespace of our own, made with `ip netns add`.
// Nothing in it routes anywhere: it has only lo, carrying the cluster's
// address ranges, so no packet sent inside it can leave it.
type Netns struct {
	Name string
	fd   int // /run/netns/<Name>, open for the namespace's lifetime
}

// CreateNetns makes the namespace name with lo up and each prefix added to
// lo. On lo the kernel treats a whole prefix as local, so every address in
// it can be bound inside the namespace.
func CreateNetns(name string, prefixes ...string) (*Netns, error) {
	if err := run("ip", "netns", "add", name); err != nil {
		return nil, err
	}
	n := &Netns{Name: name, fd: -1}
	fail := func(err error) (*Netns, error) {
		n.Delete()
		return nil, err
	}
	if err := run("ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return fail(err)
	}
	for _, p := range prefixes {
		if err := run("ip", "-n", name, "addr", "add", p, "dev", "lo"); err != nil {
			return fail(err)
		}
	}
	fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("open netns %s: %w", name, err))
	}
	n.fd = fd
	return n, nil
}

// Command returns a command that runs argv inside the namespace
// (`ip netns exec`, which then execs argv: the pid is argv's own).
func (n *Netns) Command(argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// DialContext opens a connection from inside the namespace. The socket is
// created on an OS thread that has entered the namespace (a socket belongs
// to the namespace it was created in for its whole life), so the test
// process reaches the cluster's addresses without any route or forwarder
// in the host's own namespace. It fits rest.Config.Dial.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// If the thread cannot be put back into its own namespace it stays
		// locked, and the runtime ends it when this goroutine returns.
		back := false
		defer func() {
			if back {
				runtime.UnlockOSThread()
			}
		}()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			back = true
			ch <- result{nil, fmt.Errorf("netns %s: %w", n.Name, err)}
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			back = true
			ch <- result{nil, fmt.Errorf("setns %s: %w", n.Name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		back = unix.Setns(self, unix.CLONE_NEWNET) == nil
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// Pids lists the processes that run in the namespace.
func (n *Netns) Pids() []int {
	return netnsPids(n.Name)
}

// Delete kills whatever still runs in the namespace and removes it.
func (n *Netns) Delete() error {
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	return deleteNetns(n.Name)
}

func netnsPids(name string) []int {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func deleteNetns(name string) error {
	for i := 0; i < 50; i++ {
		pids := netnsPids(name)
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return run("ip", "netns", "del", name)
}

// CleanStale removes the namespaces (and kills their processes) that an
// earlier run left behind: those named NetnsPrefix<pid> whose pid no longer
// runs, as after a crash, a `go test -timeout` panic or a SIGKILL. Live
// clusters of other runs are left alone. It returns the names removed.
func CleanStale() []string {
	entries, _ := os.ReadDir("/run/netns")
	var removed []string
	for _, e := range entries {
		name := e.Name()
		pid, err := strconv.Atoi(strings.TrimPrefix(name, NetnsPrefix))
		if !strings.HasPrefix(name, NetnsPrefix) || err != nil {
			continue
		}
		if syscall.Kill(pid, 0) == nil || syscall.Kill(pid, 0) == syscall.EPERM {
			continue
		}
		if deleteNetns(name) == nil {
			removed = append(removed, name)
		}
		leftovers, _ := filepath.Glob(filepath.Join("/dev/shm", name+"-etcd-*"))
		for _, d := range leftovers {
			os.RemoveAll(d)
		}
	}
	return removed
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
