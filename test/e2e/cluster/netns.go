//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/test/e2e/netns"
)

// NetnsPrefix starts the name of every network namespace the harness
// makes; the rest of the name is the pid of the process that made it, so a
// later run can tell a leftover (its maker is gone) from a live cluster.
const NetnsPrefix = "va-e2e-"

// Netns is a network namespace of our own, made with `ip netns add`.
// Nothing in it routes anywhere: it has only lo, carrying the cluster's
// address ranges, so no packet sent inside it can leave it. Its embedded
// handle (test/e2e/netns) dials, listens and forks from inside it: a
// socket created on an OS thread that has entered the namespace belongs to
// it for its whole life, so the test process reaches the cluster's
// addresses without any route or forwarder in the host's own namespace
// (DialContext fits rest.Config.Dial).
type Netns struct {
	*netns.Namespace // /run/netns/<Name>, open for the namespace's lifetime
}

// CreateNetns makes the namespace name with lo up and each prefix added to
// lo. On lo the kernel treats a whole prefix as local, so every address in
// it can be bound inside the namespace.
func CreateNetns(name string, prefixes ...string) (*Netns, error) {
	if err := run("ip", "netns", "add", name); err != nil {
		return nil, err
	}
	fail := func(err error) (*Netns, error) {
		deleteNetns(name)
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
	ns, err := netns.Open(name)
	if err != nil {
		return fail(err)
	}
	return &Netns{ns}, nil
}

// Command returns a command that runs argv inside the namespace
// (`ip netns exec`, which then execs argv: the pid is argv's own).
func (n *Netns) Command(argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// Pids lists the processes that run in the namespace.
func (n *Netns) Pids() []int {
	return netnsPids(n.Name)
}

// Delete kills whatever still runs in the namespace and removes it.
func (n *Netns) Delete() error {
	n.Close()
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
	// Kill what runs inside until nothing does (a dying process may fork
	// no more, but one killed may not be gone from the list at once).
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		pids := netnsPids(name)
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		return len(pids) == 0, nil
	})
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
