package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// stack is a real gateway (and, when asked, a worker) on real Redis and
// PostgreSQL, in this process, as their binaries run them.
type stack struct {
	gateway, worker *testenv.Service
	key             string // the gateway's one API key
}

func startStack(t *testing.T, withWorker bool) *stack {
	t.Helper()
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	env := map[string]string{"DATABASE_URL": pg.DSN, "REDIS_ADDR": rd.Addr, "QUEUE_NAME": "loadtest"}
	key, keys := testenv.APIKey(t, "loadtest")
	// Enough analysis slots that a slow (-race, loaded) machine queues
	// rather than sheds: these tests are about the load test, not the limits.
	genv := map[string]string{"API_KEYS_FILE": keys, "MAX_IN_FLIGHT": "64"}
	for k, v := range env {
		genv[k] = v
	}
	s := &stack{gateway: testenv.StartService(t, server.Command, genv), key: key}
	s.gateway.WaitReady(t, 30*time.Second)
	if withWorker {
		w := map[string]string{"WORKER_CONCURRENCY": "4", "REAP_INTERVAL": "200ms"}
		for k, v := range env {
			w[k] = v
		}
		s.worker = testenv.StartService(t, worker.Command, w)
		s.worker.WaitReady(t, 30*time.Second)
	}
	return s
}

func clips(t *testing.T, mix string) []Clip {
	t.Helper()
	c, err := ParseMix(mix, 16000)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRunAPIConstant: a short constant run against the real gateway sends
// the total rate asked for, and every request is a real analysis (a 200
// whose duration is a clip's), counted by status.
func TestRunAPIConstant(t *testing.T) {
	s := startStack(t, false)
	const rate, secs = 10.0, 3
	sh := DefaultShape(ProfileConstant)
	sh.Duration = secs * time.Second
	c, err := ParseMix("1s=1,500ms=1", 8000) // cheap clips: the gateway shares this test's CPU
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Config{Target: TargetAPI, Shape: sh, APIRate: rate, Clips: c,
		Gateway: URLGateway(s.gateway.URL), APIKey: s.key, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	want := int(rate * secs)
	if d := rep.API.Requests - want; d < -1 || d > 1 {
		t.Errorf("sent %d requests, want %d (%g/s for %ds)", rep.API.Requests, want, rate, secs)
	}
	if rep.API.OK != rep.API.Requests || len(rep.API.Errors) != 0 {
		t.Errorf("ok %d of %d, errors %v: want every request analysed", rep.API.OK, rep.API.Requests, rep.API.Errors)
	}
	if rep.API.AchievedRate < 0.9*rate || rep.API.AchievedRate > 1.1*rate {
		t.Errorf("achieved %.1f/s, want about %g/s", rep.API.AchievedRate, rate)
	}
	for _, sec := range rep.Timeline[:secs] {
		if sec.API.Offered < rate-0.01 || sec.API.Offered > rate+0.01 {
			t.Errorf("second %d: offered %.2f, want %g", sec.T, sec.API.Offered, rate)
		}
	}
	if rep.Verdict != "pass" || rep.APILatency.P99 <= 0 || len(rep.Notes) > 0 {
		t.Errorf("verdict %s %v, p99 %v, notes %v", rep.Verdict, rep.Reasons, rep.APILatency.P99, rep.Notes)
	}
}

// TestRunAPIBadBody: a 200 that is not the clip's analysis is no success.
func TestRunAPIBadBody(t *testing.T) {
	s := startStack(t, false)
	sh := DefaultShape(ProfileConstant)
	sh.Duration = time.Second
	// The gateway's 404 for an unknown path and its /health 200 are
	// counted as what they are.
	rep, err := Run(context.Background(), Config{Target: TargetAPI, Shape: sh, APIRate: 10, Clips: clips(t, "1s"),
		Gateway: URLGateway(s.gateway.URL + "/nowhere"), APIKey: s.key, Cooldown: 0})
	if err != nil {
		t.Fatal(err)
	}
	if rep.API.OK != 0 || rep.API.Errors["404"] != rep.API.Requests || rep.Verdict != "fail" {
		t.Errorf("against a 404: ok %d, errors %v, verdict %s", rep.API.OK, rep.API.Errors, rep.Verdict)
	}
}

// TestRunWorkerBurst: a burst of real jobs, each followed through the API
// until the in-process worker has done it.
func TestRunWorkerBurst(t *testing.T) {
	s := startStack(t, true)
	const n = 30
	rep, err := Run(context.Background(), Config{Target: TargetWorker, Shape: DefaultShape(ProfileConstant), Burst: n,
		Clips: clips(t, "1s"), Gateway: URLGateway(s.gateway.URL), APIKey: s.key, Cooldown: 0, Poll: 200 * time.Millisecond, FollowTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	j := rep.Jobs
	if j.Requests != n || j.OK != n || j.Done != n || j.Failed != 0 || j.Unfinished != 0 {
		t.Errorf("burst of %d: submitted %d, accepted %d, done %d, failed %d, unfinished %d", n, j.Requests, j.OK, j.Done, j.Failed, j.Unfinished)
	}
	if j.MaxInFlight == 0 || rep.JobLatency.P99 <= 0 {
		t.Errorf("max in flight %d, job p99 %v: the jobs were not followed", j.MaxInFlight, rep.JobLatency.P99)
	}
	if rep.CapacityMetDemandSeconds < 0 || rep.Verdict != "pass" {
		t.Errorf("drained %ds, verdict %s %v", rep.CapacityMetDemandSeconds, rep.Verdict, rep.Reasons)
	}
}

// TestRunInterrupted: cancelling stops at once and still reports.
func TestRunInterrupted(t *testing.T) {
	s := startStack(t, false)
	sh := DefaultShape(ProfileConstant)
	sh.Duration = time.Hour
	// The run goes through a proxy to the real gateway that says when it
	// has served the first request: cancel once the run is under way.
	gw, err := url.Parse(s.gateway.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(gw)
	served := make(chan struct{})
	var once sync.Once
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		once.Do(func() { close(served) })
	}))
	defer front.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-served:
		case <-time.After(time.Minute): // no request served: stop the run so the test fails, not hangs
		}
		cancel()
	}()
	start := time.Now()
	rep, err := Run(ctx, Config{Target: TargetAPI, Shape: sh, APIRate: 10, Clips: clips(t, "1s"), Gateway: URLGateway(front.URL), APIKey: s.key, Cooldown: -1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	default:
		t.Fatal("the gateway served no request before the run was cancelled")
	}
	if time.Since(start) > time.Minute || !rep.Interrupted || rep.Verdict != "fail" || rep.API.Requests == 0 {
		t.Errorf("after cancel: %s, interrupted %v, verdict %s, requests %d", time.Since(start), rep.Interrupted, rep.Verdict, rep.API.Requests)
	}
}
