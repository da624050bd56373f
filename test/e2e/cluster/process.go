//go:build e2e

package cluster

import (
	"path/filepath"
	"strings"

	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// Process is one program the harness started inside the namespace, in a
// process group of its own, with its output in <dir>/logs/<name>.log
// (test/e2e/supervise).
type Process = supervise.Process

// startProcess runs argv in the namespace (`ip netns exec`, which execs
// argv: the pid is argv's own). The child gets SIGKILL when the test
// process dies, so even a crash or a `go test -timeout` panic leaves
// nothing running; only the empty namespace, which the next run's
// CleanStale (or hack/e2e/cleanup.sh) removes. Anything that left the
// process group but stayed in the namespace is killed when the namespace
// is deleted.
func startProcess(ns *Netns, logDir, name string, argv ...string) (*Process, error) {
	return supervise.Start(supervise.Spec{Name: name, Cmd: ns.Command(argv...), Log: filepath.Join(logDir, name+".log")})
}

// describeExit names a dead process for an error message with its log tail.
func describeExit(p *Process) string { return p.Describe(30) }

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
