//go:build e2e

package nodeagent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one run of a container: a local program in a process group of
// its own (so a signal reaches everything it forked), inside the pods'
// network namespace.
type process struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	log     string

	done     chan struct{}
	exitCode int32 // set before done closes; 128+signal when signalled, as a kubelet reports it
	signal   syscall.Signal
	finished time.Time
}

// procSpec is what startProcess runs.
type procSpec struct {
	argv     []string
	env      []string
	dir      string
	uid, gid int // -1: as the agent (root)
	log      string
}

func startProcess(ns *netns, s procSpec) (*process, error) {
	if len(s.argv) == 0 {
		return nil, errors.New("empty command")
	}
	if err := os.MkdirAll(filepath.Dir(s.log), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: the pods die with the agent's process, even on SIGKILL or
	// a `go test -timeout` panic. (It is tied to the forking thread; the
	// thread netns.do forks on only ends if it could not leave the
	// namespace again, which kills the child at once rather than later.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if s.uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid), NoSetGroups: true}
	}
	if err := ns.start(cmd); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), log: s.log, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.finished = time.Now()
		if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			p.signal = st.Signal()
			p.exitCode = 128 + int32(st.Signal())
		} else if cmd.ProcessState != nil {
			p.exitCode = int32(cmd.ProcessState.ExitCode())
		} else if err != nil {
			p.exitCode = 128
		}
		// Whatever the program left behind in its group goes with it.
		syscall.Kill(-p.pid, syscall.SIGKILL)
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM to the process group, waits up to grace, then
// sends SIGKILL, and returns once the process has exited.
func (p *process) terminate(grace time.Duration) {
	if p.exited() {
		return
	}
	syscall.Kill(-p.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		syscall.Kill(-p.pid, syscall.SIGKILL)
		<-p.done
	}
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
