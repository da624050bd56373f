package server_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// TestCommandSIGTERM runs the command as cmd/voiceassist-server does,
// against real PostgreSQL and Redis configured only through environment
// variables, uploads a job, then cancels its context (SIGTERM): /ready must
// fail while requests are still served (during the pre-stop delay), and it
// must exit 0 after the pre-stop delay and within the grace period,
// logging JSON throughout. The pre-stop delay is 3 s so that polling for
// the 503 has several seconds on a loaded machine: the order of events is
// asserted, not how fast the scheduler runs them.
func TestCommandSIGTERM(t *testing.T) {
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	key, line, err := auth.NewKey("cmd-test")
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "api-keys")
	if err := os.WriteFile(keys, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s := testenv.StartService(t, server.Command, map[string]string{
		"DATABASE_URL": pg.DSN, "REDIS_ADDR": rd.Addr, "QUEUE_NAME": "bin-test", "LOG_LEVEL": "debug",
		"API_KEYS_FILE": keys, "METRICS_LISTEN": metricsAddr,
	}, "--pre-stop-delay=3s", "--shutdown-grace=20s")
	s.WaitReady(t, 20*time.Second)
	get := func(p string) int {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := c.Get(s.URL + p)
		if err != nil {
			return -1
		}
		res.Body.Close()
		return res.StatusCode
	}

	n := 16000
	samples := make([]float64, n)
	for i := range samples {
		samples[i] = 0.3 * math.Sin(float64(i)/5)
	}
	var body bytes.Buffer
	if err := audio.Encode(&body, &audio.Clip{SampleRate: 16000, Channels: [][]float64{samples}}); err != nil {
		t.Fatal(err)
	}
	upload := func(key string) (*http.Response, []byte) {
		req, err := http.NewRequest("POST", s.URL+"/v1/jobs", bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "audio/wav")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return res, b
	}
	if res, b := upload(""); res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("upload without a key = %d %q %s, want 401 with WWW-Authenticate", res.StatusCode, res.Header.Get("WWW-Authenticate"), b)
	}
	if res, b := upload(key); res.StatusCode != 202 {
		t.Fatalf("upload = %d %s", res.StatusCode, b)
	}
	// /metrics only on --metrics-listen.
	if c := get("/metrics"); c != 404 {
		t.Errorf("/metrics on --listen = %d, want 404", c)
	}
	mres, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := io.ReadAll(mres.Body)
	mres.Body.Close()
	if err != nil || mres.StatusCode != 200 || !strings.Contains(string(mb), `http_requests_total{code="202",method="post",route="/v1/jobs"} 1`) {
		t.Fatalf("/metrics on --metrics-listen = %d %v:\n%.2000s", mres.StatusCode, err, mb)
	}

	start := time.Now()
	s.SIGTERM()
	// Poll for the state: /ready turns 503 while the server still serves.
	// After the pre-stop delay it stops listening (get returns -1), so a
	// 503 never seen in this window is a failure, not a slow machine.
	for c := get("/ready"); c != 503; c = get("/ready") {
		if c == -1 || time.Since(start) > 3*time.Second {
			t.Fatalf("/ready = %d, not 503 during the 3 s pre-stop delay after SIGTERM", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := get("/health"); c != 200 {
		t.Errorf("/health during pre-stop delay = %d, want 200", c)
	}
	if code := s.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.Stderr())
	}
	// The lower bound cannot flake (the delay starts after SIGTERM); the
	// upper one is the 20 s grace itself, not a guess at the machine's speed.
	if took := time.Since(start); took < 3*time.Second || took > 20*time.Second {
		t.Errorf("exited %s after SIGTERM; want after the 3 s pre-stop delay and within the 20 s grace", took)
	}

	lines, bad := s.Logs()
	if len(bad) > 0 {
		t.Errorf("non-JSON lines on stderr: %q", bad)
	}
	var sawRequest, sawJob, sawShutdown bool
	for _, l := range lines {
		if l["msg"] == "request" && l["route"] == "/v1/jobs" && l["request_id"] != "" && l["status"] == 202.0 {
			sawRequest = true
			if l["client"] != "cmd-test" {
				t.Errorf("access log line names client %v, want cmd-test", l["client"])
			}
		}
		if _, ok := l["remote"]; ok {
			t.Errorf("client address logged without --log-client-ip: %v", l)
		}
		if l["msg"] == "job queued" && l["job_id"] != nil {
			sawJob = true
		}
		if l["msg"] == "shutdown complete" {
			sawShutdown = true
		}
	}
	if !sawRequest || !sawJob || !sawShutdown {
		t.Errorf("logs lack the upload's access line (%v), its job_id (%v) or shutdown complete (%v): %d lines", sawRequest, sawJob, sawShutdown, len(lines))
	}
}

// TestCommandRefusesToStartWithoutAuth: neither keys nor issuer is a usage
// error naming the flags; a keys file that does not parse names its line.
func TestCommandRefusesToStartWithoutAuth(t *testing.T) {
	s := testenv.RunService(t, server.Command, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"})
	if code := s.Wait(t, 5*time.Second); code != 2 || !strings.Contains(s.Stderr(), "--api-keys-file") || !strings.Contains(s.Stderr(), "--allow-unauthenticated") {
		t.Fatalf("exit %d, output %s; want exit 2 naming the flags", code, s.Stderr())
	}
}

func TestCommandBadConfigExits2(t *testing.T) {
	s := testenv.RunService(t, server.Command, nil) // no DATABASE_URL
	if code := s.Wait(t, 5*time.Second); code != 2 || !strings.Contains(s.Stderr(), "DATABASE_URL") {
		t.Fatalf("exit %d, output %s; want exit 2 naming DATABASE_URL", code, s.Stderr())
	}
}
