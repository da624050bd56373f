package supervise

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

func start(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start(Spec{Name: "sh", Cmd: exec.Command("sh", "-c", script), Log: filepath.Join(t.TempDir(), "logs", "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(time.Second) })
	return p
}

func waitDone(t *testing.T, p *Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s (pid %d) still running", p.Name, p.Pid())
	}
}

func TestExitCodeAndLog(t *testing.T) {
	p := start(t, "echo out; echo err >&2; exit 3")
	waitDone(t, p)
	if got := p.ExitCode(); got != 3 {
		t.Errorf("exit code %d, want 3", got)
	}
	if done, err := p.Exited(); !done || err == nil {
		t.Errorf("Exited() = %v, %v; want true and the exit error", done, err)
	}
	if p.Running() {
		t.Error("Running() after exit")
	}
	if got := p.Tail(5); got != "out\nerr" {
		t.Errorf("log %q, want stdout and stderr in order", got)
	}
	if !strings.Contains(p.Describe(5), "exit status 3") {
		t.Errorf("Describe() = %q, want the exit status", p.Describe(5))
	}
}

// Stop sends SIGTERM to the whole group and SIGKILL after the grace
// period to a program that ignores it; the exit code is 128+signal.
func TestStopEscalatesToSIGKILL(t *testing.T) {
	p := start(t, `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return p.Tail(1) == "ready", nil
	})
	if err != nil {
		t.Fatalf("never ready: %q", p.Tail(5))
	}
	began := time.Now()
	p.Stop(300 * time.Millisecond)
	if p.Running() {
		t.Fatal("running after Stop")
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("stopped after %s: SIGTERM should have been ignored for the grace period", d)
	}
	if p.Signal() != syscall.SIGKILL || p.ExitCode() != 128+int32(syscall.SIGKILL) {
		t.Errorf("signal %v, exit code %d; want SIGKILL, %d", p.Signal(), p.ExitCode(), 128+int32(syscall.SIGKILL))
	}
}

// Kill is a crash: SIGKILL at once, never a SIGTERM the program could act
// on (its trap would write "term" to the log).
func TestKillSendsOnlySIGKILL(t *testing.T) {
	p := start(t, `trap "echo term; exit 0" TERM; echo ready; while :; do sleep 0.1; done`)
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return p.Tail(1) == "ready", nil
	})
	if err != nil {
		t.Fatalf("never ready: %q", p.Tail(5))
	}
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if p.Signal() != syscall.SIGKILL {
		t.Errorf("signal %v, want SIGKILL", p.Signal())
	}
	if strings.Contains(p.Tail(5), "term") {
		t.Errorf("log %q: the program saw a SIGTERM", p.Tail(5))
	}
	p.Kill() // safe when it is not running
}

// What a program leaves running in its process group goes with it.
func TestGroupKilledOnExit(t *testing.T) {
	p := start(t, `sleep 300 & echo $!`)
	waitDone(t, p)
	child, err := strconv.Atoi(strings.TrimSpace(p.Tail(1)))
	if err != nil || child <= 0 {
		t.Fatalf("no child pid in log: %q", p.Tail(5))
	}
	// Gone, or a zombie waiting for its reaper: either way not running.
	err = wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return syscall.Kill(child, 0) != nil || isZombie(child), nil
	})
	if err != nil {
		t.Fatalf("child %d of the exited program still runs", child)
	}
}

func isZombie(pid int) bool {
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(out)), "Z")
}

func TestGroupStopsInReverseOrder(t *testing.T) {
	var g Group
	a, b := start(t, "sleep 300"), start(t, "sleep 300")
	g.Add(a)
	g.Add(b)
	if err := g.Dead(5); err != nil {
		t.Fatalf("Dead() = %v with both running", err)
	}
	g.StopAll(5 * time.Second)
	if a.Running() || b.Running() {
		t.Fatal("running after StopAll")
	}
	if !a.FinishedAt().After(b.FinishedAt()) {
		t.Errorf("first started finished at %s, last started at %s: want the last stopped first", a.FinishedAt(), b.FinishedAt())
	}
	if len(g.List()) != 0 {
		t.Errorf("List() = %d after StopAll, want empty", len(g.List()))
	}
}
