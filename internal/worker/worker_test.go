package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// env is a real Redis and a real PostgreSQL with the jobs table.
type env struct {
	redis *testenv.Redis
	rdb   *redis.Client
	pg    *testenv.Postgres
	st    *store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{redis: testenv.StartRedis(t), pg: testenv.StartPostgres(t)}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr, PoolSize: 32})
	t.Cleanup(func() { e.rdb.Close() })
	st, err := store.Open(context.Background(), e.pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	e.st = st
	return e
}

var queueSeq atomic.Int64

// uniqueQueue isolates subtests that share one Redis.
func uniqueQueue() string { return fmt.Sprintf("test-%d", queueSeq.Add(1)) }

// wav synthesizes a mono 16 kHz WAV of "syllables": 300 ms bursts of a
// 220 Hz tone with harmonics, 200 ms apart, over faint noise.
func wav(t testing.TB, seconds float64) []byte {
	t.Helper()
	const rate = 16000
	n := int(seconds * rate)
	s := make([]float64, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range s {
		s[i] = 0.001 * (rng.Float64()*2 - 1)
		if pos := i % (rate / 2); pos >= rate/5 {
			ph := 2 * math.Pi * 220 * float64(i) / rate
			s[i] += 0.3*math.Sin(ph) + 0.15*math.Sin(2*ph) + 0.08*math.Sin(3*ph)
		}
	}
	var b bytes.Buffer
	if err := audio.Encode(&b, &audio.Clip{SampleRate: rate, Channels: [][]float64{s}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func quietLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return testenv.Logger(t)
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// countMessage is a slog.Handler that counts the records with message msg:
// a test waits on a logged event instead of sleeping.
type countMessage struct {
	slog.Handler
	msg string
	n   *atomic.Int64
}

func (h countMessage) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h countMessage) WithAttrs(as []slog.Attr) slog.Handler {
	return countMessage{h.Handler.WithAttrs(as), h.msg, h.n}
}

func (h countMessage) WithGroup(g string) slog.Handler {
	return countMessage{h.Handler.WithGroup(g), h.msg, h.n}
}

// running is a worker started in this process.
type running struct {
	w    *worker.Worker
	stop context.CancelFunc
	done chan struct{}
}

func start(t *testing.T, rdb *redis.Client, st worker.JobStore, cfg worker.Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger(t)
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = 50 * time.Millisecond
	}
	w, err := worker.New(rdb, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// shutdown cancels the worker's context (what SIGTERM does in main) and
// waits for Run to return.
func (r *running) shutdown(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	r.stop()
	select {
	case <-r.done:
	case <-time.After(within):
		t.Fatalf("worker did not stop within %v", within)
	}
	return time.Since(begin)
}

// waitFor polls cond every 20 ms until it holds, for at most timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
}

func jobStatus(t *testing.T, st *store.Store, id string) *store.Job {
	t.Helper()
	j, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %s: %v", id, err)
	}
	return j
}

func waitStatus(t *testing.T, st *store.Store, id, status string, timeout time.Duration) *store.Job {
	t.Helper()
	var j *store.Job
	waitFor(t, timeout, "job "+id+" "+status, func() bool {
		j = jobStatus(t, st, id)
		return j.Status == status
	})
	return j
}

// metric returns the value of a counter or gauge, or a histogram's count,
// whose labels include the given name=value pairs.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func newJob(t *testing.T, e *env, q *queue.Queue, audio []byte) string {
	t.Helper()
	id, err := e.st.Create(context.Background(), audio)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func stats(t *testing.T, q *queue.Queue) queue.Stats {
	t.Helper()
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The worker tests share one Redis and one PostgreSQL (each subtest its own
// queue): starting PostgreSQL costs seconds on a 2-core machine.
func TestWorker(t *testing.T) {
	e := newEnv(t)

	t.Run("EndToEnd", func(t *testing.T) {
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue()})
		id := newJob(t, e, r.w.Queue(), wav(t, 2))
		j := waitStatus(t, e.st, id, store.StatusDone, 20*time.Second)
		var res audio.Result
		if err := json.Unmarshal(j.Result, &res); err != nil {
			t.Fatalf("result %s: %v", j.Result, err)
		}
		if res.DurationSeconds != 2 || res.SampleRate != 16000 || res.Channels != 1 || len(res.Voiced) == 0 {
			t.Fatalf("result %s", j.Result)
		}
		if j.Attempts != 1 || j.Error != "" {
			t.Fatalf("job %+v", j)
		}
		waitFor(t, 5*time.Second, "ack", func() bool { s := stats(t, r.w.Queue()); return s.Inflight == 0 && s.Depth == 0 })
		reg := r.w.Registry()
		if v := metric(t, reg, "voiceassist_worker_jobs_processed_total"); v != 1 {
			t.Errorf("processed %v", v)
		}
		if v := metric(t, reg, "voiceassist_worker_audio_seconds_processed_total"); v != 2 {
			t.Errorf("audio seconds %v", v)
		}
		if v := metric(t, reg, "voiceassist_worker_job_duration_seconds", "outcome", "done"); v != 1 {
			t.Errorf("duration observations %v", v)
		}
		if v := metric(t, reg, "go_goroutines"); v == 0 {
			t.Error("no Go collector")
		}
	})

	t.Run("ManyJobsConcurrentlyEachOnce", func(t *testing.T) {
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue(), Concurrency: 4})
		clip := wav(t, 0.5)
		ids := make([]string, 40)
		for i := range ids {
			ids[i] = newJob(t, e, r.w.Queue(), clip)
		}
		for _, id := range ids {
			if j := waitStatus(t, e.st, id, store.StatusDone, 60*time.Second); j.Attempts != 1 {
				t.Errorf("job %s: %d attempts, want 1", id, j.Attempts)
			}
		}
		waitFor(t, 5*time.Second, "all acked", func() bool {
			return metric(t, r.w.Registry(), "voiceassist_worker_jobs_processed_total") == 40
		})
	})

	t.Run("PoisonJobsDeadLettered", func(t *testing.T) {
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue(), QueueOptions: queue.Options{MaxAttempts: 5}})
		q := r.w.Queue()
		bad := newJob(t, e, q, []byte("this is not a WAV file"))
		// The spec's test pushes bare ids by hand: no row exists for them.
		if err := e.rdb.LPush(context.Background(), q.Keys().Ready, "job1").Err(); err != nil {
			t.Fatal(err)
		}
		j := waitStatus(t, e.st, bad, store.StatusFailed, 20*time.Second)
		if !strings.Contains(j.Error, "decode audio") {
			t.Errorf("row error %q", j.Error)
		}
		waitFor(t, 10*time.Second, "2 dead letters", func() bool { return stats(t, q).Dead == 2 })
		dl, err := q.DeadLetters(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]queue.DeadLetter{}
		for _, d := range dl {
			reasons[d.ID] = d
		}
		if d := reasons["job1"]; d.Attempts != 1 || !strings.Contains(d.Reason, "no row") {
			t.Errorf("job1 dead letter %+v: want 1 attempt, reason naming the missing row", d)
		}
		if d := reasons[bad]; d.Attempts != 1 || !strings.Contains(d.Reason, "decode audio") {
			t.Errorf("bad-audio dead letter %+v", d)
		}
		reg := r.w.Registry()
		if v := metric(t, reg, "voiceassist_worker_jobs_dead_lettered_total"); v != 2 {
			t.Errorf("dead lettered %v", v)
		}
		if v := metric(t, reg, "voiceassist_worker_jobs_failed_total", "kind", "permanent"); v != 2 {
			t.Errorf("permanent failures %v", v)
		}
	})

	// A PostgreSQL error is not the job's fault: the job is given back
	// without spending an attempt, and the worker resumes once PostgreSQL
	// answers its ping.
	t.Run("StoreErrorSpendsNoAttempt", func(t *testing.T) {
		fs := &flakyStore{Store: e.st}
		fs.failCompletes.Store(2)
		r := start(t, e.rdb, fs, worker.Config{Queue: uniqueQueue()})
		id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
		j := waitStatus(t, e.st, id, store.StatusDone, 30*time.Second)
		if j.Attempts != 1 || j.Completions != 1 {
			t.Errorf("done on attempt %d with %d result writes, want 1 and 1 (store errors spend no attempt)", j.Attempts, j.Completions)
		}
		reg := r.w.Registry()
		if v := metric(t, reg, "voiceassist_worker_dependency_errors_total", "dependency", "postgres"); v != 2 {
			t.Errorf("postgres dependency errors %v, want 2", v)
		}
		if v := metric(t, reg, "voiceassist_worker_jobs_failed_total", "kind", "transient"); v != 0 {
			t.Errorf("transient job failures %v, want 0", v)
		}
	})

	// A stale claimant overwrote the row's lease token after our lease
	// check (it stalled before its MarkProcessing): PostgreSQL refuses our
	// write, we write nothing, and the job given back is finished by its
	// next claim, with one result write.
	t.Run("FencedWriteGivesJobBack", func(t *testing.T) {
		is := &intrudingStore{Store: e.st}
		is.intrude.Store(1)
		r := start(t, e.rdb, is, worker.Config{Queue: uniqueQueue()})
		id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
		j := waitStatus(t, e.st, id, store.StatusDone, 30*time.Second)
		if j.Completions != 1 || j.Attempts != 1 {
			t.Errorf("done with %d result writes on attempt %d, want 1 and 1 (the refused write gave the job back untried)", j.Completions, j.Attempts)
		}
		if v := metric(t, r.w.Registry(), "voiceassist_worker_lease_lost_total"); v != 1 {
			t.Errorf("lease lost %v, want 1 (the fenced write)", v)
		}
	})

	// An analysis error that may pass is the job's own: retried with
	// backoff, each retry an attempt.
	t.Run("TransientFailureRetriedWithBackoff", func(t *testing.T) {
		var calls atomic.Int64
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue(),
			QueueOptions: queue.Options{MaxAttempts: 5, BackoffBase: 50 * time.Millisecond},
			Process: func(ctx context.Context, b []byte) (json.RawMessage, float64, error) {
				if calls.Add(1) <= 2 {
					return nil, 0, errors.New("injected: analysis ran out of scratch space")
				}
				return worker.AnalyzeAudio(ctx, b)
			}})
		id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
		j := waitStatus(t, e.st, id, store.StatusDone, 20*time.Second)
		if j.Attempts != 3 {
			t.Errorf("done on attempt %d, want 3 (two transient failures)", j.Attempts)
		}
		if v := metric(t, r.w.Registry(), "voiceassist_worker_jobs_failed_total", "kind", "transient"); v != 2 {
			t.Errorf("transient failures %v", v)
		}
	})

	t.Run("TransientFailureOutOfAttempts", func(t *testing.T) {
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue(),
			QueueOptions: queue.Options{MaxAttempts: 2, BackoffBase: 20 * time.Millisecond},
			Process: func(context.Context, []byte) (json.RawMessage, float64, error) {
				return nil, 0, errors.New("injected: analysis failed")
			}})
		id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
		j := waitStatus(t, e.st, id, store.StatusFailed, 20*time.Second)
		if !strings.Contains(j.Error, "gave up after 2 attempts") {
			t.Errorf("row error %q", j.Error)
		}
		waitFor(t, 5*time.Second, "the dead letter", func() bool { return stats(t, r.w.Queue()).Dead == 1 })
		if s := stats(t, r.w.Queue()); s.Dead != 1 || s.Delayed != 0 || s.Depth != 0 {
			t.Errorf("queue %+v", s)
		}
	})

	// kill -9 of a worker: the job was claimed and never acked. After the
	// lease the reaper (run by the surviving worker) returns it and it is
	// processed on attempt 2.
	t.Run("CrashedWorkerJobRedelivered", func(t *testing.T) {
		name := uniqueQueue()
		opts := queue.Options{Lease: 400 * time.Millisecond}
		q, err := queue.New(e.rdb, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		id := newJob(t, e, q, wav(t, 0.5))
		if l, err := q.TryClaim(context.Background()); err != nil || l == nil || l.ID != id {
			t.Fatalf("crashing consumer's claim: %v %v", l, err)
		}
		start(t, e.rdb, e.st, worker.Config{Queue: name, QueueOptions: opts})
		j := waitStatus(t, e.st, id, store.StatusDone, 20*time.Second)
		if j.Attempts != 2 {
			t.Errorf("done on attempt %d, want 2", j.Attempts)
		}
	})

	// A job longer than its lease keeps it through heartbeats: a second
	// worker on the same queue, reaping often, never gets it. The job runs
	// until the test has seen Redis's clock pass the first deadline with the
	// lease still held (events, not a guessed duration); the 3 s lease
	// leaves a loaded machine two heartbeats of slack.
	t.Run("LeaseRenewedDuringLongJob", func(t *testing.T) {
		name := uniqueQueue()
		started, finish := make(chan struct{}), make(chan struct{})
		var once atomic.Bool
		cfg := worker.Config{Queue: name, QueueOptions: queue.Options{Lease: 3 * time.Second},
			Process: func(ctx context.Context, b []byte) (json.RawMessage, float64, error) {
				if once.CompareAndSwap(false, true) {
					close(started)
				}
				select {
				case <-finish:
				case <-ctx.Done():
					return nil, 0, ctx.Err()
				}
				return worker.AnalyzeAudio(ctx, b)
			}}
		a := start(t, e.rdb, e.st, cfg)
		b := start(t, e.rdb, e.st, cfg)
		id := newJob(t, e, a.w.Queue(), wav(t, 0.5))
		<-started
		keys := a.w.Queue().Keys()
		first, err := e.rdb.ZScore(context.Background(), keys.Inflight, id).Result()
		if err != nil {
			t.Fatal(err)
		}
		holder, err := e.rdb.HGet(context.Background(), keys.Claims, id).Result()
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "Redis's clock past the first lease deadline", func() bool {
			now, err := e.rdb.Time(context.Background()).Result()
			if err != nil {
				t.Fatal(err)
			}
			return now.UnixMilli() > int64(first)
		})
		deadline, err := e.rdb.ZScore(context.Background(), keys.Inflight, id).Result()
		if err != nil {
			t.Fatalf("job not in flight past its first deadline: %v", err)
		}
		holderNow, err := e.rdb.HGet(context.Background(), keys.Claims, id).Result()
		if err != nil {
			t.Fatal(err)
		}
		if deadline <= first || holderNow != holder {
			t.Fatalf("past the first deadline: deadline %v (first %v), holder %q (first %q): the lease was not renewed", deadline, first, holderNow, holder)
		}
		close(finish)
		j := waitStatus(t, e.st, id, store.StatusDone, 20*time.Second)
		if j.Attempts != 1 || j.Completions != 1 {
			t.Errorf("done on attempt %d with %d result writes, want 1 and 1: the lease was not renewed", j.Attempts, j.Completions)
		}
		for _, r := range []*running{a, b} {
			if v := metric(t, r.w.Registry(), "voiceassist_worker_lease_lost_total"); v != 0 {
				t.Errorf("lease lost %v", v)
			}
		}
	})

	// SIGTERM with a job that finishes within the drain timeout: it is done.
	t.Run("DrainFinishesJobInFlight", func(t *testing.T) {
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue(), SimulateWork: 700 * time.Millisecond, DrainTimeout: 10 * time.Second})
		id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
		waitStatus(t, e.st, id, store.StatusProcessing, 10*time.Second)
		r.shutdown(t, 10*time.Second)
		if j := jobStatus(t, e.st, id); j.Status != store.StatusDone {
			t.Fatalf("after drain the job is %s, want done", j.Status)
		}
		if s := stats(t, r.w.Queue()); s.Inflight != 0 || s.Depth != 0 {
			t.Fatalf("queue after drain %+v", s)
		}
	})

	// SIGTERM with a job longer than the drain timeout: the worker stops in
	// time and the job is back at the front of the queue, its attempt not
	// spent; the next worker finishes it.
	t.Run("DrainTimeoutReleasesJob", func(t *testing.T) {
		name := uniqueQueue()
		r := start(t, e.rdb, e.st, worker.Config{Queue: name, SimulateWork: time.Minute, DrainTimeout: 300 * time.Millisecond})
		id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
		waitStatus(t, e.st, id, store.StatusProcessing, 10*time.Second)
		// Generous for a loaded machine, yet far below the 1-minute job a
		// drain ignoring its timeout would wait for; the job's release is
		// asserted on the queue below.
		if took := r.shutdown(t, 30*time.Second); took > 15*time.Second {
			t.Errorf("shutdown took %v with a 300ms drain timeout", took)
		}
		s := stats(t, r.w.Queue())
		if s.Depth != 1 || s.Inflight != 0 {
			t.Fatalf("after drain timeout: %+v, want the job back in the ready list", s)
		}
		start(t, e.rdb, e.st, worker.Config{Queue: name})
		if j := waitStatus(t, e.st, id, store.StatusDone, 20*time.Second); j.Attempts != 1 {
			t.Errorf("finished on attempt %d, want 1 (a release does not spend an attempt)", j.Attempts)
		}
	})

	t.Run("HealthReadyMetricsEndpoints", func(t *testing.T) {
		r := start(t, e.rdb, e.st, worker.Config{Queue: uniqueQueue()})
		ts := httptest.NewServer(r.w.Handler())
		defer ts.Close()
		for path, want := range map[string]int{"/health": 200, "/ready": 200, "/metrics": 200} {
			if code, body := get(t, ts.URL+path); code != want {
				t.Errorf("GET %s: %d %s", path, code, body)
			}
		}
		_, body := get(t, ts.URL+"/metrics")
		for _, m := range []string{"voiceassist_worker_jobs_processed_total", "voiceassist_worker_job_duration_seconds_bucket",
			"voiceassist_worker_jobs_failed_total", "process_cpu_seconds_total", "go_goroutines"} {
			if !strings.Contains(body, m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
		// Draining: not ready.
		r.stop()
		<-r.done
		if code, body := get(t, ts.URL+"/ready"); code != 503 || !strings.Contains(body, "draining") {
			t.Errorf("/ready while draining: %d %s", code, body)
		}
		if code, _ := get(t, ts.URL+"/health"); code != 200 {
			t.Errorf("/health while draining: %d", code)
		}
	})
}

// /ready follows Redis: false while it is down, true when it is back; the
// worker keeps running through the outage and processes jobs afterwards.
func TestReadyFollowsRedisOutage(t *testing.T) {
	e := newEnv(t)
	var claimFailed atomic.Int64
	r := start(t, e.rdb, e.st, worker.Config{Logger: slog.New(countMessage{quietLogger(t).Handler(), "claim failed; retrying", &claimFailed})})
	ts := httptest.NewServer(r.w.Handler())
	defer ts.Close()
	if code, body := get(t, ts.URL+"/ready"); code != 200 {
		t.Fatalf("/ready: %d %s", code, body)
	}
	e.redis.Stop()
	code, body := get(t, ts.URL+"/ready")
	if code != 503 || !strings.Contains(body, "redis") {
		t.Fatalf("/ready with Redis down: %d %s", code, body)
	}
	if code, _ := get(t, ts.URL+"/health"); code != 200 {
		t.Fatalf("/health with Redis down: %d (liveness must not depend on Redis)", code)
	}
	// The consumers hit the outage (the event, not a sleep) before Redis
	// comes back.
	waitFor(t, 15*time.Second, "a consumer to fail a claim on the outage", func() bool { return claimFailed.Load() > 0 })
	e.redis.Start()
	waitFor(t, 15*time.Second, "/ready after Redis is back", func() bool { c, _ := get(t, ts.URL+"/ready"); return c == 200 })
	id := newJob(t, e, r.w.Queue(), wav(t, 0.5))
	waitStatus(t, e.st, id, store.StatusDone, 20*time.Second)
}

// PostgreSQL down: /ready is false, the job is given back without spending
// an attempt (never dead-lettered), the worker stops claiming, and it
// finishes the job by itself once PostgreSQL is back. (The 5-minute outage
// under a backlog, with the shipped defaults, is TestFaultPostgresOutage.)
func TestPostgresOutageIsNotTheJobsFault(t *testing.T) {
	e := newEnv(t)
	r := start(t, e.rdb, e.st, worker.Config{StoreTimeout: time.Second})
	ts := httptest.NewServer(r.w.Handler())
	defer ts.Close()
	id, err := e.st.Create(context.Background(), wav(t, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	e.pg.Stop()
	if err := r.w.Queue().Enqueue(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	reg := r.w.Registry()
	waitFor(t, 20*time.Second, "the worker to hit the outage and pause", func() bool {
		return metric(t, reg, "voiceassist_worker_claiming_paused") == 1
	})
	code, body := get(t, ts.URL+"/ready")
	if code != 503 || !strings.Contains(body, "postgres") || !strings.Contains(body, "claiming") {
		t.Fatalf("/ready with PostgreSQL down: %d %s", code, body)
	}
	// Paused: the job waits in the ready list, its attempt given back.
	waitFor(t, 10*time.Second, "the job back in the ready list", func() bool {
		s := stats(t, r.w.Queue())
		return s.Depth == 1 && s.Inflight == 0
	})
	if s := stats(t, r.w.Queue()); s.Dead != 0 || s.Delayed != 0 {
		t.Fatalf("queue during the outage %+v: want the job ready, not dead or delayed", s)
	}
	n, err := e.rdb.HGet(context.Background(), r.w.Queue().Keys().Attempts, id).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("attempts during the outage = %d, want 0", n)
	}
	if v := metric(t, reg, "voiceassist_worker_jobs_failed_total", "kind", "transient"); v != 0 {
		t.Fatalf("%v transient job failures counted for a PostgreSQL outage", v)
	}
	e.pg.Start()
	j := waitStatus(t, e.st, id, store.StatusDone, 60*time.Second)
	if j.Attempts != 1 || j.Completions != 1 {
		t.Fatalf("after the outage: attempt %d, %d result writes; want 1 and 1", j.Attempts, j.Completions)
	}
	waitFor(t, 10*time.Second, "/ready after PostgreSQL is back", func() bool { c, _ := get(t, ts.URL+"/ready"); return c == 200 })
}

// flakyStore is the real store with injected Complete failures, to drive the
// transient-failure path deterministically (a real outage is tested above).
type flakyStore struct {
	*store.Store
	failCompletes atomic.Int64
}

func (f *flakyStore) Complete(ctx context.Context, id, lease string, result json.RawMessage) error {
	if f.failCompletes.Add(-1) >= 0 {
		return errors.New("injected: connection reset by peer")
	}
	return f.Store.Complete(ctx, id, lease, result)
}

// intrudingStore is the real store where, before the first Complete, an
// intruder marks the row processing under its own lease token.
type intrudingStore struct {
	*store.Store
	intrude atomic.Int64
}

func (s *intrudingStore) Complete(ctx context.Context, id, lease string, result json.RawMessage) error {
	if s.intrude.Add(-1) >= 0 {
		if err := s.Store.MarkProcessing(ctx, id, 1, "intruder"); err != nil {
			return err
		}
	}
	return s.Store.Complete(ctx, id, lease, result)
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// One reconciler pass, directly: a job PostgreSQL accepted that the queue
// never got is enqueued once however often the pass runs; one the reaper
// dead-lettered (lease expired on its last attempt) gets its row marked
// failed; one the queue holds is left alone.
func TestReconcilePass(t *testing.T) {
	e := newEnv(t)
	name := uniqueQueue()
	w, err := worker.New(e.rdb, e.st, worker.Config{Queue: name, ReconcileGrace: time.Millisecond,
		QueueOptions: queue.Options{MaxAttempts: 1, Lease: 50 * time.Millisecond}, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	q := w.Queue()
	ctx := context.Background()
	lost, err := e.st.Create(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	queued := newJob(t, e, q, []byte("b"))
	crashed := newJob(t, e, q, []byte("c"))
	// "queued" is taken first (FIFO); a consumer claims "crashed" too and dies.
	if err := e.rdb.LRem(ctx, q.Keys().Ready, 0, queued).Err(); err != nil {
		t.Fatal(err)
	}
	l, err := q.TryClaim(ctx)
	if err != nil || l == nil || l.ID != crashed {
		t.Fatalf("claim: %+v %v, want %s", l, err, crashed)
	}
	if err := q.Enqueue(ctx, queued); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the lease to expire and the reaper to dead-letter it", func() bool {
		r, err := q.Reap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r.DeadLettered == 1
	})
	waitFor(t, 10*time.Second, "the rows older than the 1 ms grace", func() bool {
		r, err := w.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Checked < 3 {
			return false
		}
		if r.Redriven != 1 || r.MarkedFailed != 1 {
			t.Fatalf("first pass %+v, want 3 checked, 1 re-driven, 1 marked failed", r)
		}
		return true
	})
	for range 3 {
		r, err := w.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Redriven != 0 || r.MarkedFailed != 0 {
			t.Fatalf("a later pass did something again: %+v", r)
		}
	}
	if s := stats(t, q); s.Depth != 2 || s.Dead != 1 {
		t.Fatalf("queue %+v, want the lost and the queued job ready, the crashed one dead", s)
	}
	if j := jobStatus(t, e.st, crashed); j.Status != store.StatusFailed || !strings.Contains(j.Error, "lease expired") {
		t.Fatalf("dead-lettered job's row: %+v", j)
	}
	if j := jobStatus(t, e.st, lost); j.Status != store.StatusQueued {
		t.Fatalf("re-driven job's row: %+v", j)
	}
	reg := w.Registry()
	if v := metric(t, reg, "voiceassist_worker_reconciler_jobs_redriven_total", "state", "queued"); v != 1 {
		t.Errorf("redriven{queued} = %v, want 1", v)
	}
	if v := metric(t, reg, "voiceassist_worker_reconciler_jobs_marked_failed_total"); v != 1 {
		t.Errorf("marked failed = %v, want 1", v)
	}
	if v := metric(t, reg, "voiceassist_worker_accepted_jobs_pending"); v != 2 {
		t.Errorf("accepted pending = %v, want 2 (the failed one is finished)", v)
	}
}
