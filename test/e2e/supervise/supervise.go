// Package supervise runs the programs a test starts (the e2e control
// plane's processes, the node agent's containers, the integration tests'
// service binaries): each in a process group of its own, with its output
// appended to a log file, killed with the test process (Pdeathsig), and
// stopped with SIGTERM to the group, then SIGKILL after a grace period.
//
// It is test infrastructure with no build tag, so test/e2e/cluster,
// test/e2e/nodeagent and internal/integration share it.
package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec is what Start runs.
type Spec struct {
	// Name names the process in messages.
	Name string
	// Cmd is the program, with its Path, Args, Env, Dir and (optionally)
	// SysProcAttr.Credential set; Start sets Stdout, Stderr and the rest
	// of SysProcAttr.
	Cmd *exec.Cmd
	// Log is the file the program's stdout and stderr are appended to; its
	// directory is created.
	Log string
	// Fork starts Cmd; nil means (*exec.Cmd).Start. netns.Namespace.Start
	// forks it inside a network namespace.
	Fork func(*exec.Cmd) error
}

// Process is one started program.
type Process struct {
	Name string
	Log  string

	cmd     *exec.Cmd
	pid     int
	started time.Time

	done     chan struct{}
	err      error // the rest is set before done closes
	exitCode int32
	signal   syscall.Signal
	finished time.Time
}

// Start starts s.Cmd. The child gets SIGKILL when the thread that forked
// it dies (Pdeathsig; with the default Fork that is when the test process
// dies), so even a crash or a `go test -timeout` panic leaves nothing
// running. When the program exits, whatever it left in its process group
// is killed with it.
func Start(s Spec) (*Process, error) {
	if s.Cmd == nil || len(s.Cmd.Args) == 0 {
		return nil, fmt.Errorf("start %s: empty command", s.Name)
	}
	if err := os.MkdirAll(filepath.Dir(s.Log), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own copy
	cmd := s.Cmd
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	fork := s.Fork
	if fork == nil {
		fork = (*exec.Cmd).Start
	}
	if err := fork(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	p := &Process{Name: s.Name, Log: s.Log, cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	p.finished = time.Now()
	p.err = err
	if st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		// 128+signal, as a kubelet reports a signalled container.
		p.signal = st.Signal()
		p.exitCode = 128 + int32(st.Signal())
	} else if p.cmd.ProcessState != nil {
		p.exitCode = int32(p.cmd.ProcessState.ExitCode())
	} else if err != nil {
		p.exitCode = 128
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	close(p.done)
}

// Pid is the process's id (and its process group's).
func (p *Process) Pid() int { return p.pid }

// Args is the command line the process was started with.
func (p *Process) Args() []string { return p.cmd.Args }

// StartedAt is when the process was started.
func (p *Process) StartedAt() time.Time { return p.started }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	done, _ := p.Exited()
	return !done
}

// Exited reports whether the process has ended, and how (cmd.Wait's error:
// nil for exit status 0).
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// The following are valid once Done is closed.

// ExitCode is the exit status, or 128+signal when a signal ended it.
func (p *Process) ExitCode() int32 { return p.exitCode }

// Signal is the signal that ended the process, or 0.
func (p *Process) Signal() syscall.Signal { return p.signal }

// FinishedAt is when the process exited.
func (p *Process) FinishedAt() time.Time { return p.finished }

// Stop sends SIGTERM to the process group, waits up to grace, then sends
// SIGKILL, and returns once the process has exited.
func (p *Process) Stop(grace time.Duration) {
	if !p.Running() {
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

// Kill sends SIGKILL to the process group at once (no SIGTERM: the program
// gets no chance to shut down, as in a crash) and returns once it has exited.
func (p *Process) Kill() {
	if !p.Running() {
		return
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.done
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	return Tail(p.Log, n)
}

// Describe names a dead process for an error message, with its log's tail.
func (p *Process) Describe(lines int) string {
	_, err := p.Exited()
	return fmt.Sprintf("%s exited (%v); last lines of %s:\n%s", p.Name, err, p.Log, indent(p.Tail(lines)))
}

// Tail returns the last n lines of the file path.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// Group is a set of processes stopped together, in reverse start order.
type Group struct {
	mu    sync.Mutex
	procs []*Process
}

// Add puts p in the group.
func (g *Group) Add(p *Process) {
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
}

// List returns the group's processes in start order.
func (g *Group) List() []*Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Process(nil), g.procs...)
}

// Dead returns an error naming every process of the group that has
// exited, with its log's tail, or nil.
func (g *Group) Dead(lines int) error {
	var errs []error
	for _, p := range g.List() {
		if !p.Running() {
			errs = append(errs, errors.New(p.Describe(lines)))
		}
	}
	return errors.Join(errs...)
}

// StopAll stops every process (Stop(grace) each, last started first) and
// empties the group.
func (g *Group) StopAll(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(grace)
	}
}
