//go:build e2e

package nodeagent

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netns is an open handle on a network namespace made by `ip netns add`
// (/run/netns/<name>). The agent itself stays in the host's namespace; it
// dials, listens and starts processes inside the pods' namespace by doing
// each of those on an OS thread that has entered it. A socket belongs to
// the namespace it was created in for its whole life, and a child process
// inherits the namespace of the thread that forked it.
type netns struct {
	name string
	fd   int
}

func openNetns(name string) (*netns, error) {
	fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	return &netns{name: name, fd: fd}, nil
}

func (n *netns) close() {
	if n != nil && n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// do runs fn on an OS thread that is inside the namespace. If the thread
// cannot be switched back it stays locked, and the runtime ends it when the
// goroutine returns, so no other goroutine ever runs in the wrong namespace.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back := false
		defer func() {
			if back {
				runtime.UnlockOSThread()
			}
		}()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			back = true
			errc <- fmt.Errorf("netns %s: %w", n.name, err)
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			back = true
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		err = fn()
		back = unix.Setns(self, unix.CLONE_NEWNET) == nil
		errc <- err
	}()
	return <-errc
}

// DialContext opens a connection from inside the namespace.
func (n *netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen opens a listening socket inside the namespace.
func (n *netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// start forks cmd from a thread inside the namespace. cmd's Stdout and
// Stderr must be *os.File (or nil) so Start spawns no copying goroutine
// that would run elsewhere; that does not matter for the child anyway,
// whose namespace is fixed at fork.
func (n *netns) start(cmd *exec.Cmd) error {
	return n.do(cmd.Start)
}
