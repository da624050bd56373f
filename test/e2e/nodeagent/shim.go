//go:build e2e

package nodeagent

import (
	"fmt"
	"os"
	"syscall"
)

// The cgroup shim: a container's process must be in its cgroup before its
// program runs (no moment without limits, and no child forked outside).
// Go cannot run code between fork and exec, and cgroup v1 has no
// CLONE_INTO_CGROUP, so the agent starts its own executable (a hard link
// to it: the test binary's directory is root's) under argv[0] shimArg0,
// with the container's identity, network namespace, process group and
// Pdeathsig, and waits for nothing: the shim blocks on a pipe (fd 3)
// until the agent, as root, has written its pid into the container's
// cgroup.procs, then execs the program in place (same pid). If the agent
// fails to place it, the pipe closes without a byte and the shim exits 126
// without running anything. This is how runc's `runc init` waits for its
// cgroup too.
const shimArg0 = "nodeagent-cgroup-shim"

// shimReadyFD is the pipe's read end in the shim (ExtraFiles[0]).
const shimReadyFD = 3

func init() {
	// Before any test code runs: argv is [shimArg0, path, argv0, args...].
	if len(os.Args) < 3 || os.Args[0] != shimArg0 {
		return
	}
	ready := os.NewFile(shimReadyFD, "cgroup-ready")
	var b [1]byte
	if n, _ := ready.Read(b[:]); n != 1 {
		fmt.Fprintln(os.Stderr, "nodeagent: the agent did not place this container in its cgroup: not started")
		os.Exit(126)
	}
	ready.Close()
	err := syscall.Exec(os.Args[1], os.Args[2:], os.Environ())
	fmt.Fprintf(os.Stderr, "nodeagent: exec %s: %v\n", os.Args[1], err)
	os.Exit(127)
}
