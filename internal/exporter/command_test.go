package exporter_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/exporter"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// The command, run as cmd/queue-exporter runs it, serves the queue metrics
// from a real Redis, including items pushed by hand the way the spec's
// worker test does, and exits 0 on SIGTERM.
func TestCommandServesMetrics(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	if err := rdb.LPush(context.Background(), "voiceassist:queue:{voice-jobs}", "job1", "job2", "job3").Err(); err != nil {
		t.Fatal(err)
	}
	s := testenv.StartService(t, exporter.Command, map[string]string{"REDIS_ADDR": srv.Addr, "QUEUES": "voice-jobs,other"})
	get := func(path string) string {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: reading the body: %v", path, err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	s.WaitReady(t, 10*time.Second)
	if b := get("/health"); !strings.Contains(b, `"ok"`) {
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
	if code, _ := s.Stop(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, s.Stderr())
	}
	if _, bad := s.Logs(); len(bad) > 0 {
		t.Errorf("stderr lines that are not JSON logs: %q", bad)
	}

	h := testenv.RunService(t, exporter.Command, nil, "--help")
	if code := h.Wait(t, 5*time.Second); code != 0 || !strings.Contains(h.Stderr(), "REDIS_ADDR") || !strings.Contains(h.Stderr(), "QUEUES") {
		t.Fatalf("--help: exit %d\n%s", code, h.Stderr())
	}
}

// With Redis down from the start the exporter still starts and serves
// voiceassist_queue_exporter_up 0: waiting for Redis would hide the outage.
func TestCommandStartsWithoutRedis(t *testing.T) {
	s := testenv.StartService(t, exporter.Command, map[string]string{"REDIS_ADDR": "127.0.0.1:1"}, "--scrape-timeout=500ms")
	s.WaitReady(t, 10*time.Second)
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "voiceassist_queue_exporter_up 0") || strings.Contains(string(b), "voiceassist_queue_depth{") {
		t.Fatalf("/metrics with Redis down:\n%s", b)
	}
}
