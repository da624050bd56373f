package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/service"
)

// Service is one of our services running in the test's process through
// service.Run, exactly as its binary's main runs it, with a context for
// SIGTERM and a buffer for its stderr (usage, errors, JSON logs).
type Service struct {
	Addr string // host:port it listens on
	URL  string // http://Addr

	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan struct{}
	code   int
}

// StartService runs cmd with args and the environment env (nothing from
// the process's own), listening on a free loopback port through
// $LISTEN_ADDR unless env or args set it, and waits until it accepts
// connections. It is stopped, if still running, when the test ends.
func StartService(t testing.TB, cmd service.Command, env map[string]string, args ...string) *Service {
	t.Helper()
	e := map[string]string{}
	for k, v := range env {
		e[k] = v
	}
	if e["LISTEN_ADDR"] == "" {
		e["LISTEN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	if _, set := e["METRICS_LISTEN"]; !set && cmd.Name == "voiceassist-server" {
		// The gateway's /metrics port defaults to :9091, which tests
		// running in parallel would all want.
		e["METRICS_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	s := RunService(t, cmd, e, args...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("%s exited %d during start-up:\n%s", cmd.Name, s.code, s.Stderr())
		default:
		}
		if err := WaitTCP(s.Addr, 50*time.Millisecond); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after 30 s:\n%s", cmd.Name, s.Addr, s.Stderr())
		}
	}
}

// RunService runs cmd with args and env (nothing from the process's own
// environment), without choosing a listen address or waiting for it: for a
// service expected to exit at once (--help, bad flags).
func RunService(t testing.TB, cmd service.Command, env map[string]string, args ...string) *Service {
	t.Helper()
	e := map[string]string{}
	for k, v := range env {
		e[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{Addr: e["LISTEN_ADDR"], stderr: &lockedBuffer{}, cancel: cancel, done: make(chan struct{})}
	s.URL = "http://" + s.Addr
	go func() {
		defer close(s.done)
		s.code = service.Run(ctx, cmd, args, func(k string) string { return e[k] }, s.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
			t.Errorf("%s still running 60 s after the test", cmd.Name)
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", cmd.Name, s.Stderr())
		}
	})
	return s
}

// Stop cancels the service's context (SIGTERM) and returns its exit code
// and how long it took to exit; it fails the test after within.
func (s *Service) Stop(t testing.TB, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	s.cancel()
	return s.Wait(t, within), time.Since(start)
}

// SIGTERM cancels the service's context and returns at once.
func (s *Service) SIGTERM() { s.cancel() }

// Wait waits for the service to exit and returns its exit code.
func (s *Service) Wait(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(within):
		t.Fatalf("still running %s later:\n%s", within, s.Stderr())
		return -1
	}
}

// WaitReady polls /ready until it answers 200.
func (s *Service) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		res, err := c.Get(s.URL + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("exited %d before ready:\n%s", s.code, s.Stderr())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready not 200 after %s (last: %v):\n%s", timeout, err, s.Stderr())
		}
	}
}

// Stderr is everything the service wrote so far.
func (s *Service) Stderr() string { return s.stderr.String() }

// Logs decodes the JSON log lines written so far; lines that are not JSON
// log records are returned in bad.
func (s *Service) Logs() (records []map[string]any, bad []string) {
	sc := bufio.NewScanner(bytes.NewReader([]byte(s.Stderr())))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["msg"] == nil {
			bad = append(bad, sc.Text())
			continue
		}
		records = append(records, m)
	}
	return records, bad
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
