//go:build e2e

package nodeagent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/voiceassist/autoscaling/test/e2e/netns"
	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// process is one run of a container: a local program in a process group of
// its own (so a signal reaches everything it forked), inside the pods'
// network namespace; its exit code is 128+signal when signalled, as a
// kubelet reports it.
type process = supervise.Process

// procSpec is what startProcess runs.
type procSpec struct {
	argv     []string
	env      []string
	dir      string
	uid, gid int // -1: as the agent (root)
	log      string
	// cgroup, if set, holds the process from before its program runs
	// (through shim, the agent's own executable: see shim.go).
	cgroup *ctrCgroup
	shim   string
}

func startProcess(ns *netns.Namespace, s procSpec) (*process, error) {
	if len(s.argv) == 0 {
		return nil, errors.New("empty command")
	}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	fork := ns.Start
	if s.cgroup != nil {
		// What the fork would have failed on without the shim (a program
		// the image lacks) fails here, not as the shim's exit 127.
		if cmd.Err != nil {
			return nil, cmd.Err
		}
		if _, err := exec.LookPath(cmd.Path); err != nil {
			return nil, err
		}
		// The shim execs cmd.Path with the container's argv once the
		// agent has put it into the cgroup.
		cmd = exec.Command(s.shim, append([]string{cmd.Path}, s.argv...)...)
		cmd.Args[0] = shimArg0
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.ExtraFiles = []*os.File{r} // shimReadyFD
		fork = func(cmd *exec.Cmd) error {
			defer r.Close()
			defer w.Close() // without a byte written: the shim exits 126
			if err := ns.Start(cmd); err != nil {
				return err
			}
			if err := s.cgroup.add(cmd.Process.Pid); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				return err
			}
			_, err := w.Write([]byte{1})
			return err
		}
	}
	cmd.Env = s.env
	cmd.Dir = s.dir
	if s.uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid), NoSetGroups: true}}
	}
	// Forked from a thread inside the namespace. Pdeathsig (the pods die
	// with the agent's process, even on SIGKILL or a `go test -timeout`
	// panic) is tied to the forking thread; the thread Namespace.Do forks
	// on only ends if it could not leave the namespace again, which kills
	// the child at once rather than later. Pdeathsig and the process group
	// survive the shim's exec.
	return supervise.Start(supervise.Spec{Name: filepath.Base(s.argv[0]), Cmd: cmd, Log: s.log, Fork: fork})
}

// linkShim makes the agent's executable reachable by the containers'
// users (the test binary's own directory is root's 0700): a hard link in
// dir, or a copy when dir is on another file system.
func linkShim(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "nodeagent-cgroup-shim")
	if err := os.Link(self, dst); err == nil {
		return dst, nil
	}
	in, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

// --- /proc ----------------------------------------------------------------

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

var pageSize = uint64(os.Getpagesize())

// procStat is what the agent reads of one process.
type procStat struct {
	pid, ppid, pgrp int
	cpu             time.Duration // utime+stime (its threads', dead ones included) + waited-for children's
	rss             uint64        // resident bytes
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// comm may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	ticks := num(14) + num(15) + num(16) + num(17) // utime stime cutime cstime
	s := procStat{
		pid:  pid,
		ppid: int(num(4)),
		pgrp: int(num(5)),
		cpu:  time.Duration(ticks) * time.Second / clockTicks,
		rss:  num(24) * pageSize,
	}
	// The tick counts are truncated to 10 ms; the scheduler's own
	// per-thread nanosecond counts of the live threads are a finer lower
	// bound (metrics-server drops a container whose CPU total is exactly 0).
	if ns := schedRuntime(pid); ns > s.cpu {
		s.cpu = ns
	}
	return s, nil
}

func schedRuntime(pid int) time.Duration {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	var sum uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			v, _ := strconv.ParseUint(f[0], 10, 64)
			sum += v
		}
	}
	return time.Duration(sum)
}

// allProcs reads every process's stat once.
func allProcs() map[int]procStat {
	ents, _ := os.ReadDir("/proc")
	out := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readProcStat(pid); err == nil {
			out[pid] = s
		}
	}
	return out
}

// treeUsage sums CPU and resident memory over the process root and
// everything in its process group or descended from it.
func treeUsage(procs map[int]procStat, root int) (cpu time.Duration, rss uint64, ok bool) {
	if _, ok := procs[root]; !ok {
		return 0, 0, false
	}
	children := map[int][]int{}
	for pid, s := range procs {
		children[s.ppid] = append(children[s.ppid], pid)
	}
	seen := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	for pid, s := range procs {
		if s.pgrp == root {
			walk(pid)
		}
	}
	for pid := range seen {
		s := procs[pid]
		cpu += s.cpu
		rss += s.rss
	}
	return cpu, rss, true
}

// nodeUsage is the whole machine's CPU time (/proc/stat: all but idle and
// iowait) and working set (/proc/meminfo: MemTotal - MemAvailable).
func nodeUsage() (cpu time.Duration, mem uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	var ticks uint64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	cpu = time.Duration(ticks) * time.Second / clockTicks
	b, err = os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	var total, avail uint64
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = n * 1024
		case "MemAvailable:":
			avail = n * 1024
		}
	}
	if total == 0 || avail > total {
		return 0, 0, errors.New("/proc/meminfo: no MemTotal/MemAvailable")
	}
	return cpu, total - avail, nil
}
