package worker_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// buildWorker builds cmd/voiceassist-worker into a temporary directory: only
// kill -9 needs a process of its own; everything else runs the command in
// this process (startCommand).
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "voiceassist-worker")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/voiceassist/autoscaling/cmd/voiceassist-worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// workerProc is the worker binary running as a subprocess.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	url    string
	exited chan struct{}
	// waitErr is cmd.Wait's result, set before exited is closed (an
	// *exec.ExitError for a worker killed or exiting non-zero).
	waitErr error
}

func startProc(t *testing.T, bin string, e *env, args ...string) *workerProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := &workerProc{stderr: &bytes.Buffer{}, url: "http://" + addr, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "REDIS_ADDR="+e.redis.Addr, "DATABASE_URL="+e.pg.DSN, "LISTEN_ADDR="+addr,
		"WORKER_CONCURRENCY=2", "REAP_INTERVAL=100ms")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			if err := p.cmd.Process.Kill(); err != nil {
				t.Errorf("kill worker: %v", err)
			}
			<-p.exited
		}
		if t.Failed() {
			t.Logf("worker stderr:\n%s", p.stderr.String())
		}
	})
	waitFor(t, 20*time.Second, "worker /ready", func() bool {
		resp, err := httpClient.Get(p.url + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// SIGTERM mid-job loses nothing. With a job longer than the drain timeout
// the command (run as cmd/voiceassist-worker runs it) exits 0 in time and
// the job is back in the queue; with one that fits, the job is done. Either
// way a second worker leaves it done.
func TestSIGTERMMidJobLosesNothing(t *testing.T) {
	e := newEnv(t)
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name         string
		simulate     string
		drain        string
		wantInQueue  bool
		maxExitDelay time.Duration
	}{
		// The exit bounds are generous (a loaded 2-core CI machine), yet
		// each stays far below what a broken drain would take: the 60 s
		// job, or the 10 s drain timeout with a job that never ends.
		{"JobOutlastsDrainTimeout", "60s", "500ms", true, 15 * time.Second},
		{"JobFinishesWithinDrain", "1s", "10s", false, 9 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startCommand(t, e, "--simulate-work", tc.simulate, "--drain-timeout", tc.drain)
			id := newJob(t, e, q, wav(t, 0.5))
			waitStatus(t, e.st, id, store.StatusProcessing, 20*time.Second)
			code, took := p.Stop(t, 30*time.Second)
			if code != 0 {
				t.Fatalf("exit code %d after SIGTERM, want 0", code)
			}
			if took > tc.maxExitDelay {
				t.Errorf("exit took %v, want under %v", took, tc.maxExitDelay)
			}
			j := jobStatus(t, e.st, id)
			s := stats(t, q)
			switch {
			case j.Status == store.StatusDone:
				if tc.wantInQueue {
					t.Errorf("job done although it outlasts the drain timeout")
				}
				if s.Depth+s.Inflight+s.Delayed != 0 {
					t.Errorf("job done but still queued: %+v", s)
				}
			case s.Depth == 1 && s.Inflight == 0:
				if !tc.wantInQueue {
					t.Errorf("job released although it fits in the drain timeout")
				}
			default:
				t.Fatalf("job lost: status %s, queue %+v", j.Status, s)
			}
			// Every stderr line is a JSON log record, and job ids are
			// logged under the key every service uses.
			logs, bad := p.Logs()
			if len(bad) > 0 {
				t.Errorf("log lines that are not slog JSON: %q", bad)
			}
			if !strings.Contains(p.Stderr(), "draining") {
				t.Errorf("no draining log line:\n%s", p.Stderr())
			}
			var sawJobID bool
			for _, l := range logs {
				if l["job_id"] == id {
					sawJobID = true
				}
				if _, ok := l["job"]; ok {
					t.Errorf("log line with key job (want job_id): %v", l)
				}
			}
			if !sawJobID {
				t.Errorf("no log line names job_id %s:\n%s", id, p.Stderr())
			}
			// A second worker finishes whatever is left.
			r := start(t, e.rdb, e.st, worker.Config{})
			waitStatus(t, e.st, id, store.StatusDone, 20*time.Second)
			r.shutdown(t, 10*time.Second)
		})
	}
}

// startCommand runs the worker command in this process with the given
// flags, configured through the environment as the Deployment does.
func startCommand(t *testing.T, e *env, args ...string) *testenv.Service {
	t.Helper()
	p := testenv.StartService(t, worker.Command, map[string]string{"REDIS_ADDR": e.redis.Addr, "DATABASE_URL": e.pg.DSN,
		"WORKER_CONCURRENCY": "2", "REAP_INTERVAL": "100ms"}, args...)
	p.WaitReady(t, 20*time.Second)
	return p
}

func TestCommandHelpAndBadConfig(t *testing.T) {
	h := testenv.RunService(t, worker.Command, nil, "--help")
	if code := h.Wait(t, 5*time.Second); code != 0 {
		t.Fatalf("--help: exit %d\n%s", code, h.Stderr())
	}
	for _, s := range []string{"-concurrency", "WORKER_CONCURRENCY", "-redis-addr", "REDIS_ADDR", "-database-url", "DATABASE_URL",
		"-drain-timeout", "DRAIN_TIMEOUT", "-listen", ":9090", "SIGTERM"} {
		if !strings.Contains(h.Stderr(), s) {
			t.Errorf("--help lacks %q", s)
		}
	}
	b := testenv.RunService(t, worker.Command, nil)
	if code := b.Wait(t, 5*time.Second); code != 2 || !strings.Contains(b.Stderr(), "DATABASE_URL") {
		t.Fatalf("without DATABASE_URL: exit %d %s; want exit 2 naming DATABASE_URL", code, b.Stderr())
	}
}

// kill -9 mid-job: the process gets no chance to release its job, so the
// lease is all that saves it. After the lease expires another worker's
// reaper returns the job and it is processed, on its second attempt.
func TestSIGKILLMidJobReprocessedAfterLease(t *testing.T) {
	bin := buildWorker(t)
	e := newEnv(t)
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}

	p := startProc(t, bin, e, "--simulate-work", "60s", "--lease", "2s")
	id := newJob(t, e, q, wav(t, 0.5))
	waitStatus(t, e.st, id, store.StatusProcessing, 20*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if s := stats(t, q); s.Inflight != 1 {
		t.Fatalf("after kill -9 the job should still be leased to the dead worker: %+v", s)
	}
	killed := time.Now()
	r := start(t, e.rdb, e.st, worker.Config{})
	waitStatus(t, e.st, id, store.StatusDone, 30*time.Second)
	r.shutdown(t, 10*time.Second)
	if j := jobStatus(t, e.st, id); j.Attempts != 2 {
		t.Errorf("job done on attempt %d, want 2 (the killed worker's attempt counts)", j.Attempts)
	}
	if s := stats(t, q); s.Depth+s.Inflight+s.Delayed+s.Dead != 0 {
		t.Errorf("job done but still in the queue: %+v", s)
	}
	t.Logf("reprocessed %v after kill -9", time.Since(killed).Round(time.Millisecond))
}
