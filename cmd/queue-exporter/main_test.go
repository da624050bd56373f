package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/testenv"
)

// The built binary serves the queue metrics from a real Redis, including
// items pushed by hand the way the spec's worker test does, and exits 0 on
// SIGTERM.
func TestBinaryServesMetrics(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "queue-exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	if err := rdb.LPush(context.Background(), "voiceassist:queue:{voice-jobs}", "job1", "job2", "job3").Err(); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(bin, "--listen", addr)
	cmd.Env = append(os.Environ(), "REDIS_ADDR="+srv.Addr, "QUEUES=voice-jobs,other")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	if err := testenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatal(err, stderr.String())
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if b := get("/health"); !strings.Contains(b, "ok") {
		t.Fatalf("/health: %s", b)
	}
	body := get("/metrics")
	for _, want := range []string{
		`voiceassist_queue_depth{queue="voice-jobs"} 3`,
		`voiceassist_queue_depth{queue="other"} 0`,
		`voiceassist_queue_oldest_job_age_seconds{queue="voice-jobs"}`,
		"voiceassist_queue_exporter_up 1",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "REDIS_ADDR") || !strings.Contains(string(out), "QUEUES") {
		t.Fatalf("--help: %v\n%s", err, out)
	}
}
