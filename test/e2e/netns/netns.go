// Package netns runs code inside a Linux network namespace made by
// `ip netns add` (/run/netns/<name>) without moving the calling process:
// Do runs a function on an OS thread that has entered the namespace. A
// socket belongs to the namespace it was created in for its whole life,
// and a child process inherits the namespace of the thread that forked it,
// so dialing, listening and forking from inside Do reach the namespace's
// addresses from a process that otherwise stays in the host's namespace.
//
// It is test infrastructure, shared by the e2e control plane
// (test/e2e/cluster), the node agent (test/e2e/nodeagent) and the metrics
// provider's own e2e test; it has no build tag so that every one of them
// can import it.
package netns

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is an open handle on a named network namespace.
type Namespace struct {
	Name string
	fd   int // /run/netns/<Name>, open until Close
}

// Open opens the namespace name (/run/netns/<name>).
func Open(name string) (*Namespace, error) {
	fd, err := unix.Open(filepath.Join("/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	return &Namespace{Name: name, fd: fd}, nil
}

// Close releases the handle (the namespace itself stays).
func (n *Namespace) Close() {
	if n != nil && n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// Do runs fn on an OS thread that is inside the namespace and returns its
// error. If the thread cannot be switched back it stays locked, and the
// runtime ends it when the goroutine returns, so no other goroutine ever
// runs in the wrong namespace.
func (n *Namespace) Do(fn func() error) error {
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
			errc <- fmt.Errorf("netns %s: %w", n.Name, err)
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			back = true
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		err = fn()
		back = unix.Setns(self, unix.CLONE_NEWNET) == nil
		errc <- err
	}()
	return <-errc
}

// DialContext opens a connection from inside the namespace. It fits
// rest.Config.Dial and http.Transport.DialContext.
func (n *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen opens a listening socket inside the namespace.
func (n *Namespace) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// Start forks cmd from a thread inside the namespace. cmd's Stdout and
// Stderr should be *os.File (or nil) so Start spawns no copying goroutine;
// the child's namespace is fixed at fork either way.
func (n *Namespace) Start(cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}
