package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/service"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// probesOnly is the smallest component: no knobs of its own, it serves the
// probes with a check on the store it was given (test-only, to exercise the
// runtime without one of the real services' own behaviour).
type probesOnly struct{ work func(context.Context) error }

func (probesOnly) Flags(*envflag.Set) {}
func (probesOnly) Setup(*service.Common) (service.Setup, error) {
	return service.Setup{Serving: service.Serving{ShutdownGrace: 5 * time.Second}}, nil
}
func (p probesOnly) Start(d service.Deps) (*service.Unit, error) {
	pr := &service.Probes{Timeout: d.Common.ReadyTimeout, Log: d.Log}
	if d.Store != nil {
		pr.Checks = append(pr.Checks, service.PostgresCheck(d.Store))
	}
	return &service.Unit{Handler: pr.Handler(), Probes: pr, Work: p.work}, nil
}

func command(postgres bool, work func(context.Context) error) service.Command {
	return service.Command{Name: "probes-only", Summary: "A test service.", Listen: ":0", Postgres: postgres,
		New: func() service.Component { return probesOnly{work} }}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	res, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %s", url, res.StatusCode, b)
	}
	return res.StatusCode, m
}

// While PostgreSQL is down at start-up the process is alive (/health 200)
// and says what it waits for (/ready 503 naming PostgreSQL); once the
// database is up it becomes ready without a restart.
func TestStartupWaitsForPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Stop()
	s := testenv.StartService(t, command(true, nil), map[string]string{"DATABASE_URL": pg.DSN})
	if code, body := getJSON(t, s.URL+"/health"); code != 200 || body["status"] != "ok" {
		t.Fatalf("/health during start-up: %d %v", code, body)
	}
	// "starting" until the first attempt fails, then the failure.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := getJSON(t, s.URL+"/ready")
		checks, _ := body["checks"].(map[string]any)
		if code != 503 || body["status"] != "not ready" {
			t.Fatalf("/ready during start-up: %d %v", code, body)
		}
		if strings.Contains(fmt.Sprint(checks["startup"]), "PostgreSQL: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready never named PostgreSQL: %v", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := getJSON(t, s.URL+"/anything"); code != 503 || body["error"] != "starting" {
		t.Fatalf("other paths during start-up: %d %v", code, body)
	}
	pg.Start()
	s.WaitReady(t, 30*time.Second)
	if code, body := getJSON(t, s.URL+"/ready"); code != 200 || body["checks"].(map[string]any)["postgres"] != "ok" {
		t.Fatalf("/ready after start-up: %d %v", code, body)
	}
	if code, _ := s.Stop(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(s.Stderr(), "PostgreSQL not ready; retrying") {
		t.Errorf("no retry logged:\n%s", s.Stderr())
	}
}

// The start-up retry gives up after --startup-timeout with exit 1, naming
// the dependency, the attempts and the last error.
func TestStartupGivesUp(t *testing.T) {
	port := testenv.FreePort(t) // nothing listens there
	s := testenv.StartService(t, command(true, nil), map[string]string{
		"DATABASE_URL": fmt.Sprintf("postgres://x@127.0.0.1:%d/db?sslmode=disable", port), "STARTUP_TIMEOUT": "1500ms"})
	// That it gave up because of --startup-timeout, and not for another
	// reason, is asserted on the event (the cause it logs) below, not on
	// a wall-clock ceiling; Wait's bound, far below the 1-minute default,
	// only keeps a broken timeout from hanging the test.
	code := s.Wait(t, 30*time.Second)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, s.Stderr())
	}
	for _, want := range []string{"PostgreSQL: gave up after", "attempts", "--startup-timeout reached", "connect"} {
		if !strings.Contains(s.Stderr(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, s.Stderr())
		}
	}
}

// SIGTERM during start-up stops at once, with exit 0. The start-up
// timeout is an hour, so stopping within Stop's bound (generous for a
// loaded machine, yet minutes short of the timeout) can only be the
// signal's doing, and exit 0 (not 1) says it was not the retry giving up.
func TestSIGTERMDuringStartup(t *testing.T) {
	port := testenv.FreePort(t)
	s := testenv.StartService(t, command(true, nil), map[string]string{
		"DATABASE_URL": fmt.Sprintf("postgres://x@127.0.0.1:%d/db?sslmode=disable", port), "STARTUP_TIMEOUT": "1h"})
	if code, took := s.Stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after %s:\n%s", code, took, s.Stderr())
	}
	if !strings.Contains(s.Stderr(), "stopped during start-up") || strings.Contains(s.Stderr(), "--startup-timeout reached") {
		t.Errorf("not stopped by SIGTERM during start-up:\n%s", s.Stderr())
	}
}

// Bad values are usage errors (exit 2) naming the flag or variable.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "postgres://h/db", "READY_TIMEOUT": "soon"}, nil, "$READY_TIMEOUT"},
		{map[string]string{"DATABASE_URL": "postgres://h/db", "LOG_LEVEL": "loud"}, nil, "$LOG_LEVEL"},
		{map[string]string{"DATABASE_URL": "postgres://h/db"}, []string{"--startup-timeout=0s"}, "--startup-timeout"},
		{map[string]string{"DATABASE_URL": "postgres://h/db"}, []string{"--redis-addr=redis://h:x"}, "--redis-addr"},
		{map[string]string{"DATABASE_URL": "postgres://h:port/db"}, nil, "--database-url"},
		{map[string]string{"DATABASE_URL": "postgres://h/db"}, []string{"extra"}, "unexpected arguments"},
	} {
		s := testenv.RunService(t, command(true, nil), c.env, c.args...)
		if code := s.Wait(t, 5*time.Second); code != 2 || !strings.Contains(s.Stderr(), c.want) {
			t.Errorf("env %v args %q: exit %d, %s; want exit 2 naming %s", c.env, c.args, code, s.Stderr(), c.want)
		}
	}
}

// Background work runs beside the server; at SIGTERM /ready fails while
// the work drains and the probes and metrics stay served until it is done.
func TestDrainWaitsForWork(t *testing.T) {
	stopped := make(chan struct{})
	release := make(chan struct{})
	work := func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		<-release // the work's own drain
		return nil
	}
	s := testenv.StartService(t, command(false, work), nil)
	s.WaitReady(t, 10*time.Second)
	s.SIGTERM()
	<-stopped
	if code, body := getJSON(t, s.URL+"/ready"); code != 503 || body["status"] != "draining" {
		t.Fatalf("/ready while the work drains: %d %v", code, body)
	}
	if code, _ := getJSON(t, s.URL+"/health"); code != 200 {
		t.Fatalf("/health while the work drains: %d", code)
	}
	close(release)
	if code := s.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.Stderr())
	}
}

// Work that fails on its own stops the service with exit 1.
func TestWorkFailureExits1(t *testing.T) {
	s := testenv.RunService(t, command(false, func(context.Context) error { return errors.New("boom") }),
		map[string]string{"LISTEN_ADDR": fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))})
	if code := s.Wait(t, 10*time.Second); code != 1 || !strings.Contains(s.Stderr(), "boom") {
		t.Fatalf("exit %d:\n%s", code, s.Stderr())
	}
}

// /ready runs its checks in parallel, each bounded by the timeout: two
// checks that hang end at the timeout and are both named. Parallelism is
// proven by a barrier, not by timing: each hanging check first waits until
// the other has started, which can only happen if they run at once; run
// one after the other, the first would give up on the barrier at its
// deadline and report "never started" instead of the deadline.
func TestReadyChecksParallelWithTimeout(t *testing.T) {
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	hangAfter := func(mine, other chan struct{}, otherName string) func(context.Context) error {
		var once sync.Once
		return func(ctx context.Context) error {
			once.Do(func() { close(mine) })
			select {
			case <-other:
			case <-ctx.Done():
				return fmt.Errorf("check %s never started while this one ran", otherName)
			}
			<-ctx.Done()
			return ctx.Err()
		}
	}
	p := &service.Probes{Timeout: 300 * time.Millisecond, Checks: []service.Check{
		{Name: "a", Fn: hangAfter(aStarted, bStarted, "b")}, {Name: "b", Fn: hangAfter(bStarted, aStarted, "a")},
		{Name: "c", Fn: func(context.Context) error { return nil }}}}
	ts := httptest.NewServer(p.Handler())
	defer ts.Close()
	start := time.Now()
	code, body := getJSON(t, ts.URL+"/ready")
	took := time.Since(start)
	checks := body["checks"].(map[string]any)
	if code != 503 || checks["a"] != "context deadline exceeded" || checks["b"] != "context deadline exceeded" || checks["c"] != "ok" {
		t.Fatalf("/ready: %d %v", code, body)
	}
	// A lower bound only: the checks cannot end before the timeout, however
	// loaded the machine; an upper bound would measure the scheduler.
	if took < 300*time.Millisecond {
		t.Errorf("/ready took %s with two hanging checks and a 300 ms timeout: ended before the timeout", took)
	}
	res, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Errorf("/metrics without a registry: %d", res.StatusCode)
	}
	p.SetDraining()
	if code, body := getJSON(t, ts.URL+"/ready"); code != 503 || body["status"] != "draining" {
		t.Errorf("/ready draining: %d %v", code, body)
	}
}

// Main wires SIGTERM to the drain: the signal, sent to this process, makes
// Main return 0 instead of killing the test binary.
func TestMainStopsOnSIGTERM(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	done := make(chan int, 1)
	go func() {
		done <- service.Main(command(false, nil), []string{"--listen", addr}, func(string) string { return "" })
	}()
	if err := testenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Main = %d after SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main still running 10 s after SIGTERM")
	}
}
