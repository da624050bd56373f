//go:build e2e

package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one program the harness started inside the namespace, in a
// process group of its own, with its output in <dir>/logs/<name>.log.
type Process struct {
	Name string
	Args []string
	Log  string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes
}

// startProcess runs argv in the namespace. The child gets SIGKILL when the
// test process dies (Pdeathsig), so even a crash or a `go test -timeout`
// panic leaves nothing running; only the empty namespace, which the next
// run's CleanStale (or hack/e2e/cleanup.sh) removes.
func startProcess(ns *Netns, logDir, name string, argv ...string) (*Process, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own copy
	cmd := ns.Command(argv...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Args: argv, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id (and its process group's).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *Process) Stop(grace time.Duration) {
	if done, _ := p.Exited(); done {
		return
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything that left the group but stayed in the namespace is killed
	// when the namespace is deleted.
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// processes is the set a cluster stops in reverse start order.
type processes struct {
	mu    sync.Mutex
	procs []*Process
}

func (ps *processes) add(p *Process) {
	ps.mu.Lock()
	ps.procs = append(ps.procs, p)
	ps.mu.Unlock()
}

func (ps *processes) stopAll(grace time.Duration) {
	ps.mu.Lock()
	procs := append([]*Process(nil), ps.procs...)
	ps.procs = nil
	ps.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(grace)
	}
}

func (ps *processes) list() []*Process {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]*Process(nil), ps.procs...)
}

// describeExit names a dead process for an error message with its log tail.
func describeExit(p *Process) string {
	_, err := p.Exited()
	return fmt.Sprintf("%s exited (%v); last lines of %s:\n%s", p.Name, err, p.Log, indent(p.Tail(30)))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
