// Package worker is the VoiceAssist worker: it consumes job ids from the
// Redis queue (internal/queue), processes each job's audio (internal/audio)
// and records the outcome in PostgreSQL (internal/store).
//
// # Per job
//
//	claim → store.Get → store.MarkProcessing → decode + analyze → store.Complete → ack
//
// Delivery is at least once, so every step is safe to repeat: a job whose row
// is already done (the worker died between Complete and the ack) is just
// acked, and one already failed is dead-lettered again.
//
// Failures split in two. Permanent ones — no row for the id, audio that does
// not decode — can never succeed: the job is dead-lettered at once and the
// row marked failed. Everything else (PostgreSQL down, a timeout) is
// transient: the job is nacked and retried with exponential backoff until its
// attempts run out, then dead-lettered.
//
// While a job runs its lease is renewed (heartbeat every Lease/3), so a long
// job is not handed to a second worker; a worker that dies stops renewing and
// the reaper, which every worker runs, gives the job back after the lease.
//
// # Shutdown
//
// When Run's context is cancelled (SIGTERM) the worker stops claiming at
// once and /ready turns false; jobs in flight get DrainTimeout to finish.
// Any still running then are released — put back at the front of the queue
// without spending an attempt — so a rollout or scale-down never loses a job.
package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/service"
	"github.com/voiceassist/autoscaling/internal/store"
)

// JobStore is the part of *store.Store the worker uses.
type JobStore interface {
	Get(ctx context.Context, id string) (*store.Job, error)
	MarkProcessing(ctx context.Context, id string, attempt int) error
	Complete(ctx context.Context, id string, result json.RawMessage) error
	Fail(ctx context.Context, id string, reason string) error
	Ping(ctx context.Context) error
}

var _ JobStore = (*store.Store)(nil)

// PermanentError marks a failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err is (or wraps) a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Processor turns a job's audio into its JSON result and reports how many
// seconds of audio it processed. Errors wrapped with Permanent dead-letter
// the job; any other error retries it.
type Processor func(ctx context.Context, wav []byte) (result json.RawMessage, audioSeconds float64, err error)

// AnalyzeAudio is the production Processor: decode the WAV, analyze it.
// Undecodable audio is permanent: the bytes will not change on a retry.
func AnalyzeAudio(_ context.Context, wav []byte) (json.RawMessage, float64, error) {
	clip, err := audio.Decode(bytes.NewReader(wav))
	if err != nil {
		return nil, 0, Permanent(fmt.Errorf("decode audio: %w", err))
	}
	res := audio.Analyze(clip)
	b, err := json.Marshal(res)
	if err != nil {
		return nil, 0, Permanent(fmt.Errorf("encode result: %w", err))
	}
	return b, res.DurationSeconds, nil
}

// Config configures a Worker. Zero fields take the defaults shown.
type Config struct {
	// Queue is the queue name; default queue.DefaultName.
	Queue string
	// QueueOptions: lease, attempts, backoff (see queue.Options).
	QueueOptions queue.Options
	// Concurrency is the number of jobs processed at once; default 1.
	Concurrency int
	// DrainTimeout bounds how long shutdown waits for jobs in flight before
	// releasing them; default DefaultDrainTimeout.
	DrainTimeout time.Duration
	// ReapInterval is how often this worker runs the queue reaper; default 5s.
	ReapInterval time.Duration
	// StoreTimeout bounds each PostgreSQL call; default 10s.
	StoreTimeout time.Duration
	// SimulateWork adds this much time to every job, to emulate a heavier
	// model in load tests of the autoscaling; 0 in production.
	SimulateWork time.Duration
	// ReadyTimeout bounds each dependency check of /ready; default
	// service.DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Process does the work; default AnalyzeAudio.
	Process Processor
	Logger  *slog.Logger
}

// DefaultDrainTimeout is below Kubernetes' default 30 s grace period.
const DefaultDrainTimeout = 25 * time.Second

// DefaultBackoffJitter is the worker's QueueOptions.BackoffJitter when it is
// 0: retries of jobs failed together by one outage should not return in one
// burst. A negative BackoffJitter means none.
const DefaultBackoffJitter = 0.2

func (c *Config) defaults() {
	if c.Queue == "" {
		c.Queue = queue.DefaultName
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = service.DefaultReadyTimeout
	}
	switch {
	case c.QueueOptions.BackoffJitter == 0:
		c.QueueOptions.BackoffJitter = DefaultBackoffJitter
	case c.QueueOptions.BackoffJitter < 0:
		c.QueueOptions.BackoffJitter = 0
	}
	if c.ReapInterval <= 0 {
		c.ReapInterval = 5 * time.Second
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 10 * time.Second
	}
	if c.Process == nil {
		c.Process = AnalyzeAudio
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.QueueOptions.Logger == nil {
		c.QueueOptions.Logger = c.Logger
	}
}

// Worker consumes one queue. Create it with New, start it with Run.
type Worker struct {
	cfg   Config
	rdb   queue.Client
	q     *queue.Queue
	store JobStore
	log   *slog.Logger
	reg   *prometheus.Registry
	m     metrics

	probes *service.Probes // /health, /ready, /metrics; draining from SIGTERM on
	mu     sync.Mutex
	active map[string]*queue.Lease // by token
}

type metrics struct {
	processed, deadLettered, leaseLost, audioSeconds prometheus.Counter
	failed                                           *prometheus.CounterVec
	duration                                         *prometheus.HistogramVec
	wait                                             prometheus.Histogram
	inProgress                                       prometheus.Gauge
}

// New returns a worker on rdb's queue cfg.Queue, storing results in st.
func New(rdb queue.Client, st JobStore, cfg Config) (*Worker, error) {
	cfg.defaults()
	q, err := queue.New(rdb, cfg.Queue, cfg.QueueOptions)
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, rdb: rdb, q: q, store: st, log: cfg.Logger, reg: prometheus.NewRegistry(), active: map[string]*queue.Lease{}}
	w.probes = &service.Probes{Timeout: cfg.ReadyTimeout, Registry: w.reg, Log: cfg.Logger,
		Checks: []service.Check{service.RedisCheck(rdb), service.PostgresCheck(st)}}
	const ns = "voiceassist_worker"
	w.m = metrics{
		processed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "jobs_processed_total",
			Help: "Jobs processed successfully (result stored, acked)."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "jobs_failed_total",
			Help: "Failed job attempts, by kind: transient (retried unless out of attempts) or permanent (dead-lettered at once)."}, []string{"kind"}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "jobs_dead_lettered_total",
			Help: "Jobs this worker moved to the dead-letter list."}),
		leaseLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "lease_lost_total",
			Help: "Jobs whose lease expired while this worker held them (a stall longer than the lease)."}),
		audioSeconds: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "audio_seconds_processed_total",
			Help: "Seconds of audio in successfully processed jobs."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "job_duration_seconds",
			Help:    "Time from claim to outcome, by outcome (done, retry, dead, released, lease_lost).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"outcome"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "job_queue_wait_seconds",
			Help:    "Time a job waited in the ready list before this worker claimed it.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "jobs_in_progress",
			Help: "Jobs being processed now."}),
	}
	// Create every labelled series up front, so dashboards and alerts see
	// 0 rather than no data before the first occurrence.
	for _, k := range []string{"transient", "permanent"} {
		w.m.failed.WithLabelValues(k)
	}
	for _, o := range []string{"done", "retry", "dead", "released", "lease_lost"} {
		w.m.duration.WithLabelValues(o)
	}
	w.reg.MustRegister(w.m.processed, w.m.failed, w.m.deadLettered, w.m.leaseLost, w.m.audioSeconds,
		w.m.duration, w.m.wait, w.m.inProgress,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return w, nil
}

// Queue is the queue the worker consumes.
func (w *Worker) Queue() *queue.Queue { return w.q }

// Registry holds the worker's metrics (Go and process collectors included).
func (w *Worker) Registry() *prometheus.Registry { return w.reg }

// Run consumes jobs until ctx is cancelled, then drains (see the package
// doc) and returns nil. It returns early only if the configuration is bad.
func (w *Worker) Run(ctx context.Context) error {
	// Jobs run on a context that outlives ctx: SIGTERM must not abort a job
	// that can finish within the drain timeout.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	var reaper sync.WaitGroup
	reaper.Add(1)
	go func() { defer reaper.Done(); w.q.RunReaper(ctx, w.cfg.ReapInterval) }()

	var consumers sync.WaitGroup
	for i := 0; i < w.cfg.Concurrency; i++ {
		consumers.Add(1)
		go func() { defer consumers.Done(); w.consume(ctx, jobCtx) }()
	}
	w.log.Info("worker started", service.KeyQueue, w.cfg.Queue, "concurrency", w.cfg.Concurrency,
		"lease", w.q.Options().Lease, "max_attempts", w.q.Options().MaxAttempts)

	<-ctx.Done()
	w.probes.SetDraining()
	w.log.Info("draining: stopped claiming", "in_flight", w.activeCount(), "drain_timeout", w.cfg.DrainTimeout)
	done := make(chan struct{})
	go func() { consumers.Wait(); close(done) }()
	select {
	case <-done:
		w.log.Info("drained: all jobs in flight finished")
	case <-time.After(w.cfg.DrainTimeout):
		leases := w.activeLeases()
		cancelJobs()
		w.log.Warn("drain timeout: releasing unfinished jobs to the queue", "jobs", len(leases))
		for _, l := range leases {
			w.release(l)
		}
	}
	reaper.Wait()
	return nil
}

// consume claims and processes jobs until claimCtx is cancelled.
func (w *Worker) consume(claimCtx, jobCtx context.Context) {
	errWait := 100 * time.Millisecond
	for {
		l, err := w.q.Claim(claimCtx)
		if l != nil {
			// Claim never drops a job it took from Redis, even when
			// claimCtx was cancelled meanwhile: process it (the drain
			// covers it) instead of leaving it to the lease timeout.
			errWait = 100 * time.Millisecond
			w.handle(jobCtx, l)
			continue
		}
		if claimCtx.Err() != nil {
			return
		}
		w.log.Warn("claim failed; retrying", "queue", w.cfg.Queue, "err", err, "retry_in", errWait)
		select {
		case <-claimCtx.Done():
			return
		case <-time.After(errWait):
		}
		errWait = min(errWait*2, 5*time.Second)
	}
}

func (w *Worker) track(l *queue.Lease, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.active[l.Token] = l
	} else {
		delete(w.active, l.Token)
	}
}

func (w *Worker) activeLeases() []*queue.Lease {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*queue.Lease, 0, len(w.active))
	for _, l := range w.active {
		out = append(out, l)
	}
	return out
}

func (w *Worker) activeCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.active)
}

// release gives a lease back on a fresh context: the job's own is cancelled
// by then. ErrLeaseLost means it was already released or finished.
func (w *Worker) release(l *queue.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.q.Release(ctx, l)
	if errors.Is(err, queue.ErrLeaseLost) {
		return
	}
	if err != nil {
		// Not lost either: the lease expires and the reaper returns the job.
		w.log.Error("release failed; the reaper will return the job when its lease expires", service.KeyJobID, l.ID, "err", err)
		return
	}
	w.log.Info("job released to the queue", service.KeyJobID, l.ID, "attempt", l.Attempt)
}

// handle processes one claimed job to an outcome.
func (w *Worker) handle(ctx context.Context, l *queue.Lease) {
	w.track(l, true)
	defer w.track(l, false)
	w.m.inProgress.Inc()
	defer w.m.inProgress.Dec()
	w.m.wait.Observe(l.Wait().Seconds())
	log := w.log.With(service.KeyJobID, l.ID, "attempt", l.Attempt, "queue", l.Queue)

	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lost atomic.Bool
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeat(jctx, l, &lost, cancel, log) }()

	outcome := w.process(jctx, l, log)
	cancel()
	<-hbDone
	if lost.Load() && outcome != "done" {
		outcome = "lease_lost"
	}
	w.m.duration.WithLabelValues(outcome).Observe(time.Since(l.ClaimedAt).Seconds())
}

// heartbeat extends the lease every Lease/3 until ctx ends. If the lease is
// lost the job is someone else's now: cancel our processing.
func (w *Worker) heartbeat(ctx context.Context, l *queue.Lease, lost *atomic.Bool, cancel func(), log *slog.Logger) {
	t := time.NewTicker(w.q.Options().Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := w.q.Extend(ctx, l)
		switch {
		case errors.Is(err, queue.ErrLeaseLost):
			lost.Store(true)
			w.m.leaseLost.Inc()
			log.Warn("lease lost while processing; abandoning the job to its new holder")
			cancel()
			return
		case err != nil && ctx.Err() == nil:
			// Redis hiccup: try again next tick; the lease has 2 more.
			log.Warn("lease renewal failed", "err", err)
		}
	}
}

// process runs the pipeline and settles the job; it returns the outcome
// label: done, retry, dead or released.
func (w *Worker) process(ctx context.Context, l *queue.Lease, log *slog.Logger) string {
	sctx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, w.cfg.StoreTimeout) }

	c, cancel := sctx()
	job, err := w.store.Get(c, l.ID)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return w.fail(ctx, l, log, Permanent(fmt.Errorf("job %q has no row in the jobs table", l.ID)))
	case err != nil:
		return w.fail(ctx, l, log, fmt.Errorf("load job: %w", err))
	}
	switch job.Status {
	case store.StatusDone:
		// Redelivered after a crash between Complete and ack: done already.
		log.Info("job already done; acking the redelivery")
		return w.ack(ctx, l, log, 0)
	case store.StatusFailed:
		// Marked failed before a crash cut off the dead-lettering: finish
		// it, keeping the row's reason.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.q.Fail(qctx, l, job.Error); err != nil {
			log.Error("dead-letter failed", "err", err)
		} else {
			w.m.deadLettered.Inc()
		}
		return "dead"
	}

	c, cancel = sctx()
	err = w.store.MarkProcessing(c, l.ID, l.Attempt)
	cancel()
	if errors.Is(err, store.ErrNotFound) {
		return w.fail(ctx, l, log, Permanent(fmt.Errorf("job %q has no row in the jobs table", l.ID)))
	} else if err != nil {
		return w.fail(ctx, l, log, fmt.Errorf("mark processing: %w", err))
	}

	result, secs, err := w.cfg.Process(ctx, job.Audio)
	if err != nil {
		return w.fail(ctx, l, log, err)
	}
	if w.cfg.SimulateWork > 0 {
		select {
		case <-time.After(w.cfg.SimulateWork):
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return w.interrupted(l)
	}

	c, cancel = sctx()
	err = w.store.Complete(c, l.ID, result)
	cancel()
	if err != nil {
		return w.fail(ctx, l, log, fmt.Errorf("store result: %w", err))
	}
	return w.ack(ctx, l, log, secs)
}

func (w *Worker) ack(ctx context.Context, l *queue.Lease, log *slog.Logger, audioSeconds float64) string {
	// The result is stored: acking must not be skipped because the drain
	// timeout cancelled ctx a moment ago.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.q.Ack(actx, l); err != nil {
		// The result is in PostgreSQL either way; a redelivery sees status
		// done and acks. Count the job once, here, where its work was done.
		log.Warn("ack failed; a redelivery will find the job done", "err", err)
	}
	w.m.processed.Inc()
	w.m.audioSeconds.Add(audioSeconds)
	log.Info("job done", "audio_seconds", audioSeconds, "took", time.Since(l.ClaimedAt).Seconds())
	return "done"
}

// interrupted handles a job cut short by shutdown or a lost lease.
func (w *Worker) interrupted(l *queue.Lease) string {
	w.release(l)
	return "released"
}

// fail settles a failed attempt: permanent → dead-letter now and mark the
// row failed; transient → nack (retry with backoff, or dead-letter when out
// of attempts).
func (w *Worker) fail(ctx context.Context, l *queue.Lease, log *slog.Logger, cause error) string {
	if ctx.Err() != nil && !IsPermanent(cause) {
		// The error is most likely our own cancellation, not the job's.
		return w.interrupted(l)
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	reason := cause.Error()
	if IsPermanent(cause) {
		w.m.failed.WithLabelValues("permanent").Inc()
		log.Warn("job failed permanently; dead-lettering", "err", reason)
		w.markFailed(qctx, l, log, reason)
		if err := w.q.Fail(qctx, l, reason); err != nil {
			log.Error("dead-letter failed", "err", err)
			return "dead"
		}
		w.m.deadLettered.Inc()
		return "dead"
	}
	w.m.failed.WithLabelValues("transient").Inc()
	out, err := w.q.Nack(qctx, l, reason)
	if err != nil {
		// The lease will expire and the reaper will count this attempt.
		log.Error("nack failed", "err", err, "cause", reason)
		return "retry"
	}
	if out.DeadLettered {
		w.m.deadLettered.Inc()
		log.Warn("job out of attempts; dead-lettered", "err", reason)
		w.markFailed(qctx, l, log, fmt.Sprintf("gave up after %d attempts: %s", out.Attempt, reason))
		return "dead"
	}
	log.Warn("job failed; will retry", "err", reason, "retry_at", out.RetryAt)
	return "retry"
}

// markFailed records a dead-lettered job's reason in its row, best effort: a
// missing row or a PostgreSQL outage must not keep the job out of the
// dead-letter list, which is the record operators look at.
func (w *Worker) markFailed(ctx context.Context, l *queue.Lease, log *slog.Logger, reason string) {
	c, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
	defer cancel()
	if err := w.store.Fail(c, l.ID, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("could not mark the job failed in PostgreSQL", "err", err)
	}
}

// Draining reports whether the worker stopped claiming for shutdown.
func (w *Worker) Draining() bool { return w.probes.Draining() }

// Handler serves /health, /ready and /metrics (service.Probes).
//
// /health is liveness and checks nothing outside the process: a Redis or
// PostgreSQL outage must not make Kubernetes restart every worker.
// /ready is 200 only when Redis and PostgreSQL answer and the worker is not
// draining, so a worker that cannot make progress is visible (and the HPA
// treats it as unready) without being killed.
func (w *Worker) Handler() http.Handler { return w.probes.Handler() }
