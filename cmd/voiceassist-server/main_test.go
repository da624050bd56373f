package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds the command once per test process.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "voiceassist-server-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "voiceassist-server")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestBinarySIGTERM builds the real binary, runs it against real PostgreSQL
// and Redis configured only through env vars, uploads a job, then sends
// SIGTERM: /ready must fail at once while requests are still served, and the
// process must exit 0 well within the grace period, logging JSON throughout.
func TestBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

	cmd := exec.Command(bin, "--pre-stop-delay=1s", "--shutdown-grace=5s")
	cmd.Env = append(os.Environ(),
		"LISTEN_ADDR="+addr, "DATABASE_URL="+pg.DSN, "REDIS_ADDR="+rd.Addr, "QUEUE_NAME=bin-test", "LOG_LEVEL=debug")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []map[string]any
		bad   []string
	)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			mu.Lock()
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				bad = append(bad, sc.Text())
			} else {
				lines = append(lines, m)
			}
			mu.Unlock()
		}
	}()
	exited := make(chan error, 1)
	go func() { <-logsDone; exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	if err := testenv.WaitTCP(addr, 20*time.Second); err != nil {
		t.Fatalf("%v\nstderr: %s", err, stderr.String())
	}
	base := "http://" + addr
	get := func(p string) int {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := c.Get(base + p)
		if err != nil {
			return -1
		}
		res.Body.Close()
		return res.StatusCode
	}
	if c := get("/ready"); c != 200 {
		t.Fatalf("/ready = %d", c)
	}

	n := 16000
	s := make([]float64, n)
	for i := range s {
		s[i] = 0.3 * math.Sin(float64(i)/5)
	}
	var body bytes.Buffer
	_ = audio.Encode(&body, &audio.Clip{SampleRate: 16000, Channels: [][]float64{s}})
	res, err := http.Post(base+"/v1/jobs", "audio/wav", &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 202 {
		t.Fatalf("upload = %d %s", res.StatusCode, b)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if c := get("/ready"); c != 503 {
		t.Errorf("/ready right after SIGTERM = %d, want 503", c)
	}
	if c := get("/health"); c != 200 {
		t.Errorf("/health during pre-stop delay = %d, want 200", c)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\nstderr: %s", err, stderr.String())
		}
		if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
			t.Errorf("exited %s after SIGTERM; want after the 1 s pre-stop delay and within the 5 s grace", el)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("non-JSON log lines: %q", bad)
	}
	var sawRequest, sawShutdown bool
	for _, l := range lines {
		if l["msg"] == "request" && l["route"] == "/v1/jobs" && l["request_id"] != "" {
			sawRequest = true
		}
		if l["msg"] == "shutdown complete" {
			sawShutdown = true
		}
	}
	if !sawRequest || !sawShutdown {
		t.Errorf("logs lack the upload's access line (%v) or shutdown complete (%v): %d lines", sawRequest, sawShutdown, len(lines))
	}
	if strings.TrimSpace(stderr.String()) != "" {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestBadConfigExits2(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no DATABASE_URL
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "DATABASE_URL") {
		t.Fatalf("err %v, output %s; want exit 2 naming DATABASE_URL", err, out)
	}
}
