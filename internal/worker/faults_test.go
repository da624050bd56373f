package worker_test

// Fault tests: real Redis and PostgreSQL, the worker run with the SHIPPED
// DEFAULTS (worker.Command given nothing but the addresses: 30 s lease,
// 5 attempts, 1 s backoff base, 5 s reap interval, 15 s reconcile interval,
// 30 s reconcile grace), a backlog, one fault injected. Each ends with every
// job PostgreSQL accepted done exactly once — one result write per row
// (jobs.completions = 1), one success counted by the workers in total — and
// the queue empty, and logs its counts.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// pgOutage is how long TestFaultPostgresOutage keeps PostgreSQL down. The
// issue's figure is 5 minutes; the default is 60 s because nothing in the
// shipped defaults distinguishes the two once the worker is paused: no
// attempt is counted and nothing is claimed while PostgreSQL is down, so the
// state at 60 s — two leases, twelve reaper runs, four reconciler passes,
// the prober at its 5 s cap — is the state at any later time. The test checks
// that (nothing changes between the outage's midpoint and its end). Run the
// full figure with
//
//	go test ./internal/worker -run TestFaultPostgresOutage -fault.pg-outage=5m
var pgOutage = flag.Duration("fault.pg-outage", 60*time.Second, "how long TestFaultPostgresOutage keeps PostgreSQL down")

// shippedWorker runs worker.Command in this process with the shipped
// defaults: only the addresses are set.
func shippedWorker(t *testing.T, e *env) *testenv.Service {
	t.Helper()
	s := testenv.StartService(t, worker.Command, map[string]string{"REDIS_ADDR": e.redis.Addr, "DATABASE_URL": e.pg.DSN})
	s.WaitReady(t, 60*time.Second)
	return s
}

// poll waits for cond, checking every 100 ms, for at most timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// scrapeMetric reads one series from a service's /metrics: the sum over the
// series of family name whose labels include labels (name=value pairs).
func scrapeMetric(t *testing.T, url, name string, labels ...string) float64 {
	t.Helper()
	resp, err := httpClient.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", url, err)
	}
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("%s/metrics has no %s", url, name)
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if hasLabels(m, labels) {
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// tally counts the jobs table: rows by status, and rows that are done with
// exactly one result write.
type tally struct {
	rows, queued, processing, done, failed, doneOnce, writes int
}

func (ta tally) String() string {
	return fmt.Sprintf("%d rows: %d queued, %d processing, %d done (%d with exactly one result write; %d result writes in all), %d failed",
		ta.rows, ta.queued, ta.processing, ta.done, ta.doneOnce, ta.writes, ta.failed)
}

func countJobs(t *testing.T, pool *pgxpool.Pool) tally {
	t.Helper()
	var ta tally
	err := pool.QueryRow(context.Background(), `SELECT count(*),
		count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'processing'),
		count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed'),
		count(*) FILTER (WHERE status = 'done' AND completions = 1 AND result IS NOT NULL),
		coalesce(sum(completions), 0) FROM jobs`).
		Scan(&ta.rows, &ta.queued, &ta.processing, &ta.done, &ta.failed, &ta.doneOnce, &ta.writes)
	if err != nil {
		t.Fatal(err)
	}
	return ta
}

func openPool(t *testing.T, e *env) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), e.pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// createRows inserts n jobs in PostgreSQL (accepted) without queueing them.
func createRows(t *testing.T, e *env, n int) []string {
	t.Helper()
	clip := wav(t, 0.5)
	ids := make([]string, n)
	for i := range ids {
		id, err := e.st.Create(context.Background(), clip)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// requireAllDoneOnce waits until all accepted jobs are done and the queue is
// empty, then checks that each was done exactly once; it returns the tally.
// workers are the /metrics URLs of every worker that ran.
func requireAllDoneOnce(t *testing.T, e *env, pool *pgxpool.Pool, accepted int, timeout time.Duration, workers ...string) tally {
	t.Helper()
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last tally
	poll(t, timeout, fmt.Sprintf("all %d accepted jobs done and the queue empty", accepted), func() (bool, error) {
		last = countJobs(t, pool)
		s, err := q.Stats(context.Background())
		if err != nil {
			return false, nil // Redis may be restarting; try again
		}
		return last.done == accepted && s.Depth+s.Inflight+s.Delayed == 0, nil
	})
	ta := countJobs(t, pool)
	if ta.rows != accepted || ta.doneOnce != accepted || ta.writes != accepted || ta.failed != 0 {
		t.Errorf("jobs table: %s; want all %d done, each with one result write", ta, accepted)
	}
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Dead != 0 {
		t.Errorf("%d jobs dead-lettered, want 0", s.Dead)
	}
	var processed float64
	for _, w := range workers {
		processed += scrapeMetric(t, w, "voiceassist_worker_jobs_processed_total")
	}
	if int(processed) != accepted {
		t.Errorf("the workers counted %v jobs processed, want %d (each job once)", processed, accepted)
	}
	return ta
}

// TestFaultPostgresOutage: PostgreSQL goes down for *pgOutage (default 60 s,
// see pgOutage) under a backlog. No job spends an attempt or is
// dead-lettered, the worker stops claiming and reports not ready, and once
// PostgreSQL is back it finishes the backlog by itself.
func TestFaultPostgresOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pool := openPool(t, e)
	w := shippedWorker(t, e)
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const total = 300
	ids := createRows(t, e, total)
	// Half now, so jobs are in flight when PostgreSQL stops; half during
	// the outage, so a backlog waits through it.
	if err := q.Enqueue(context.Background(), ids[:total/2]...); err != nil {
		t.Fatal(err)
	}
	e.pg.Stop()
	if err := q.Enqueue(context.Background(), ids[total/2:]...); err != nil {
		t.Fatal(err)
	}
	outageStart := time.Now()
	poll(t, 30*time.Second, "the worker to pause claiming", func() (bool, error) {
		return scrapeMetric(t, w.URL, "voiceassist_worker_claiming_paused") == 1, nil
	})

	// Midpoint and end of the outage: the same state.
	type snapshot struct {
		depErrors, jobFailures, dead, leaseLost float64
		ready                                   int
		stats                                   queue.Stats
	}
	snap := func() snapshot {
		st, err := q.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		code, _ := get(t, w.URL+"/ready")
		return snapshot{
			depErrors:   scrapeMetric(t, w.URL, "voiceassist_worker_dependency_errors_total"),
			jobFailures: scrapeMetric(t, w.URL, "voiceassist_worker_jobs_failed_total"),
			dead:        scrapeMetric(t, w.URL, "voiceassist_worker_jobs_dead_lettered_total"),
			leaseLost:   scrapeMetric(t, w.URL, "voiceassist_worker_lease_lost_total"),
			ready:       code,
			stats:       st,
		}
	}
	waitOutage := func(until time.Duration) {
		t.Helper()
		timer := time.NewTimer(time.Until(outageStart.Add(until)))
		defer timer.Stop()
		<-timer.C // the outage's length is the test's parameter, not an event to wait for
	}
	waitOutage(*pgOutage / 2)
	mid := snap()
	waitOutage(*pgOutage)
	end := snap()
	t.Logf("PostgreSQL down %s: at the end %v dependency errors, %v job failures, %v dead-lettered, %v leases lost; queue %d ready, %d in flight, %d delayed, %d dead; /ready %d",
		time.Since(outageStart).Round(time.Second), end.depErrors, end.jobFailures, end.dead, end.leaseLost,
		end.stats.Depth, end.stats.Inflight, end.stats.Delayed, end.stats.Dead, end.ready)
	if end.ready != http.StatusServiceUnavailable {
		t.Errorf("/ready during the outage: %d, want 503", end.ready)
	}
	if end.jobFailures != 0 || end.dead != 0 || end.stats.Dead != 0 || end.stats.Delayed != 0 {
		t.Errorf("the outage was counted against jobs: %+v", end)
	}
	if end.stats.Inflight != 0 || end.stats.Depth == 0 {
		t.Errorf("queue at the end of the outage %+v: want the backlog ready, nothing held", end.stats)
	}
	if end.depErrors > 4 {
		t.Errorf("%v dependency errors: the worker kept claiming during the outage (at most one per consumer, 4, expected)", end.depErrors)
	}
	if mid.depErrors != end.depErrors || mid.stats.Depth != end.stats.Depth || mid.stats.Inflight != end.stats.Inflight {
		t.Errorf("the outage's state changed between its midpoint (%+v) and its end (%+v)", mid, end)
	}
	attempts, err := e.rdb.HGetAll(context.Background(), q.Keys().Attempts).Result()
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range attempts {
		if n != "0" {
			t.Errorf("job %s holds %s counted attempts after the outage, want 0: every interrupted attempt was given back", id, n)
		}
	}

	e.pg.Start()
	ta := requireAllDoneOnce(t, e, pool, total, 5*time.Minute, w.URL)
	t.Logf("after PostgreSQL returned: %s", ta)
}

// TestFaultRedisDataLoss: Redis is killed under a backlog and its data
// removed. The reconciler re-enqueues from PostgreSQL every job that was
// not done — exactly those — and each is done once.
func TestFaultRedisDataLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pool := openPool(t, e)
	w := shippedWorker(t, e)
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const total = 500
	ids := createRows(t, e, total)
	if err := q.Enqueue(context.Background(), ids...); err != nil {
		t.Fatal(err)
	}
	// Kill it mid-backlog: some jobs done, some in flight (their rows
	// processing, their leases about to vanish), most still queued.
	poll(t, 60*time.Second, "the first jobs done", func() (bool, error) { return countJobs(t, pool).done >= 10, nil })
	e.redis.Kill()
	e.redis.RemoveData()
	// No result is written without Redis (the lease check before the write
	// needs it): once the jobs in flight have settled, what is not done
	// now is what the reconciler must re-drive.
	poll(t, 30*time.Second, "the jobs in flight to settle", func() (bool, error) {
		return scrapeMetric(t, w.URL, "voiceassist_worker_jobs_in_progress") == 0, nil
	})
	before := countJobs(t, pool)
	lost := before.queued + before.processing
	t.Logf("Redis killed, data removed: %s", before)
	if lost == 0 {
		t.Fatalf("test setup: the backlog was done before Redis was killed (%s)", before)
	}
	e.redis.Start()
	ta := requireAllDoneOnce(t, e, pool, total, 3*time.Minute, w.URL)
	redriven := scrapeMetric(t, w.URL, "voiceassist_worker_reconciler_jobs_redriven_total")
	t.Logf("after Redis restarted empty: %s; re-driven %v of the %d not done (%v of them processing when Redis died)", ta, redriven, lost,
		scrapeMetric(t, w.URL, "voiceassist_worker_reconciler_jobs_redriven_total", "state", "processing"))
	if int(redriven) != lost {
		t.Errorf("reconciler re-drove %v jobs, want the %d not done when Redis died", redriven, lost)
	}
}

// crashingEnqueuer is the injected crash point of the gateway: every third
// upload dies between the row insert and the enqueue. panic(ErrAbortHandler)
// ends the handler there, as a kill would: the client gets no response,
// nothing after the insert runs (no enqueue, no marking the row failed).
type crashingEnqueuer struct {
	q       *queue.Queue
	n       atomic.Int64
	crashed atomic.Int64
}

func (c *crashingEnqueuer) Enqueue(ctx context.Context, ids ...string) error {
	if c.n.Add(1)%3 == 0 {
		c.crashed.Add(1)
		panic(http.ErrAbortHandler)
	}
	return c.q.Enqueue(ctx, ids...)
}

// TestFaultGatewayCrashBetweenInsertAndEnqueue: uploads through the real
// gateway handler, a third of them cut off after the insert. Every job
// PostgreSQL accepted is done once: those the gateway queued, and those it
// did not, re-driven by the reconciler after its grace period.
func TestFaultGatewayCrashBetweenInsertAndEnqueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pool := openPool(t, e)
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ce := &crashingEnqueuer{q: q}
	gw := httptest.NewServer(server.New(server.DefaultConfig(), server.Deps{Jobs: e.st, Queue: ce, Redis: e.rdb, Logger: quietLogger(t)}).Handler())
	defer gw.Close()
	w := shippedWorker(t, e)

	const uploads = 60
	clip := wav(t, 0.5)
	var accepted, cutOff int
	for range uploads {
		resp, err := httpClient.Post(gw.URL+"/v1/jobs", "audio/wav", bytes.NewReader(clip))
		if err != nil {
			cutOff++ // the connection died with the handler
			continue
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("upload: %d", resp.StatusCode)
		}
		accepted++
	}
	if int(ce.crashed.Load()) != cutOff || cutOff == 0 {
		t.Fatalf("%d crashes injected, %d uploads cut off: want the same, non-zero", ce.crashed.Load(), cutOff)
	}
	ta := requireAllDoneOnce(t, e, pool, uploads, 3*time.Minute, w.URL)
	redriven := scrapeMetric(t, w.URL, "voiceassist_worker_reconciler_jobs_redriven_total", "state", "queued")
	t.Logf("%d uploads: %d answered 202, %d cut off between insert and enqueue; %s; re-driven %v",
		uploads, accepted, cutOff, ta, redriven)
	if int(redriven) != cutOff {
		t.Errorf("reconciler re-drove %v jobs, want the %d the gateway never queued", redriven, cutOff)
	}
}

// TestFaultWorkerStoppedPastLease: a real worker process (the built
// cmd/voiceassist-worker, shipped defaults plus --simulate-work so it is
// holding jobs) is SIGSTOPped mid-job for longer than its 30 s lease. A
// second worker's reaper returns its jobs and the second worker finishes
// them; when the first is resumed it finds its leases lost and writes
// nothing.
func TestFaultWorkerStoppedPastLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pool := openPool(t, e)
	bin := buildWorker(t)
	q, err := queue.New(e.rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	stalled := exec.Command(bin)
	stalled.Env = append(os.Environ(), "REDIS_ADDR="+e.redis.Addr, "DATABASE_URL="+e.pg.DSN, "LISTEN_ADDR="+addr, "SIMULATE_WORK=5s")
	var stderr lockedWriter
	stalled.Stderr = &stderr
	if err := stalled.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- stalled.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			if err := stalled.Process.Kill(); err != nil { // SIGKILL works on a stopped process
				t.Errorf("kill the stalled worker: %v", err)
			}
			<-exited
		}
		if t.Failed() {
			t.Logf("stalled worker stderr:\n%s", stderr.String())
		}
	})
	stalledURL := "http://" + addr
	poll(t, 60*time.Second, "the stalled worker ready", func() (bool, error) {
		code, err := statusOf(stalledURL + "/ready")
		return err == nil && code == http.StatusOK, nil
	})

	const total = 40
	ids := createRows(t, e, total)
	if err := q.Enqueue(context.Background(), ids...); err != nil {
		t.Fatal(err)
	}
	// It claims 4 (its concurrency) and works 5 s on each: stop it then.
	var held int
	poll(t, 30*time.Second, "the worker to hold jobs", func() (bool, error) {
		held = countJobs(t, pool).processing
		return held == 4, nil
	})
	if err := stalled.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	t.Logf("worker SIGSTOPped holding %d jobs", held)

	other := shippedWorker(t, e)
	requireAllDoneOnce(t, e, pool, total, 3*time.Minute, other.URL)
	stoppedFor := time.Since(stoppedAt)
	if stoppedFor < 30*time.Second {
		t.Errorf("all done %s after the stop, within the 30 s lease: the stalled worker's jobs were not held", stoppedFor)
	}

	if err := stalled.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "the resumed worker to find its leases lost", func() (bool, error) {
		n := scrapeMetric(t, stalledURL, "voiceassist_worker_job_duration_seconds", "outcome", "lease_lost")
		return int(n) == held, nil
	})
	ta := countJobs(t, pool)
	resumedProcessed := scrapeMetric(t, stalledURL, "voiceassist_worker_jobs_processed_total")
	otherProcessed := scrapeMetric(t, other.URL, "voiceassist_worker_jobs_processed_total")
	t.Logf("stopped %s; after SIGCONT: %s; processed: resumed worker %v, other worker %v",
		stoppedFor.Round(time.Second), ta, resumedProcessed, otherProcessed)
	if ta.doneOnce != total || ta.writes != total || resumedProcessed != 0 || int(otherProcessed) != total {
		t.Errorf("a worker whose lease was lost wrote a result: %s; resumed worker processed %v", ta, resumedProcessed)
	}
}

func statusOf(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, resp.Body.Close()
}

// lockedWriter collects a subprocess's stderr; safe for the test to read
// while the process writes.
type lockedWriter struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
