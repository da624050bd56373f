// Package worker is the VoiceAssist worker: it consumes job ids from the
// Redis queue (internal/queue), processes each job's audio (internal/audio)
// and records the outcome in PostgreSQL (internal/store), which is the
// record of what was accepted.
//
// # Per job
//
//	claim → store.Get → store.MarkProcessing(lease) → decode + analyze →
//	    lease check (Extend) → store.Complete(lease) → ack
//
// Delivery is at least once, so every step is safe to repeat: a job whose row
// is already done (the worker died between Complete and the ack) is just
// acked, and one already failed is dead-lettered again. Rows only move
// forward (queued → processing → done|failed, guarded in SQL) and the result
// is written only under the lease token MarkProcessing recorded, so a worker
// that stalled past its lease and lost the job to another never writes.
//
// # Whose fault
//
// Only a job's own failure counts as an attempt. Audio that does not decode,
// or no row for the id, can never succeed: the row is marked failed and the
// job dead-lettered at once. Another error of the analysis is retried with
// exponential backoff until MaxAttempts, then dead-lettered. An error of a
// dependency — PostgreSQL or Redis unavailable, a timeout talking to them —
// is not the job's: the job is released without spending an attempt, the
// worker stops claiming (/ready reports why) and resumes by itself once
// both answer again.
//
// While a job runs its lease is renewed (heartbeat every Lease/3), so a long
// job is not handed to a second worker; a worker that dies stops renewing and
// the reaper, which every worker runs, gives the job back after the lease.
// Every worker also runs the reconciler (reconcile.go), which re-enqueues the
// jobs PostgreSQL holds as accepted that Redis has lost.
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
	MarkProcessing(ctx context.Context, id string, attempt int, lease string) error
	Complete(ctx context.Context, id, lease string, result json.RawMessage) error
	FailLeased(ctx context.Context, id, lease, reason string) error
	Fail(ctx context.Context, id string, reason string) error
	ListPending(ctx context.Context, olderThan time.Duration, after store.Pending, limit int) ([]store.Pending, error)
	PendingSummary(ctx context.Context) (int64, time.Duration, error)
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
// the job; any other error retries it (counting an attempt: a Processor's
// error is the job's fault).
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
	// ReconcileInterval is how often the reconciler compares PostgreSQL's
	// accepted jobs with the queue; default DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// ReconcileGrace is how long a job's row must be unchanged before the
	// reconciler may re-enqueue it; default DefaultReconcileGrace.
	ReconcileGrace time.Duration
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
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.ReconcileGrace <= 0 {
		c.ReconcileGrace = DefaultReconcileGrace
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
	gate   *gate           // closed while a dependency is down
	mu     sync.Mutex
	active map[string]*queue.Lease // by token
}

type metrics struct {
	processed, deadLettered, leaseLost, audioSeconds prometheus.Counter
	failed, dependencyErrors                         *prometheus.CounterVec
	duration                                         *prometheus.HistogramVec
	wait                                             prometheus.Histogram
	inProgress, paused                               prometheus.Gauge
	rec                                              reconcileMetrics
}

// New returns a worker on rdb's queue cfg.Queue, storing results in st.
func New(rdb queue.Client, st JobStore, cfg Config) (*Worker, error) {
	cfg.defaults()
	q, err := queue.New(rdb, cfg.Queue, cfg.QueueOptions)
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, rdb: rdb, q: q, store: st, log: cfg.Logger, reg: prometheus.NewRegistry(), active: map[string]*queue.Lease{}}
	w.gate = newGate(cfg.Logger, []service.Check{service.RedisCheck(rdb), service.PostgresCheck(st)})
	w.probes = &service.Probes{Timeout: cfg.ReadyTimeout, Registry: w.reg, Log: cfg.Logger,
		Checks: []service.Check{service.RedisCheck(rdb), service.PostgresCheck(st), w.gate.check()}}
	const ns = "voiceassist_worker"
	w.m = metrics{
		processed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "jobs_processed_total",
			Help: "Jobs processed successfully (result stored, acked)."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "jobs_failed_total",
			Help: "Failed job attempts (the job's own fault), by kind: transient (retried unless out of attempts) or permanent (dead-lettered at once)."}, []string{"kind"}),
		dependencyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dependency_errors_total",
			Help: "Jobs given back without spending an attempt because a dependency failed, by dependency (postgres, redis)."}, []string{"dependency"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "claiming_paused",
			Help: "1 while the worker does not claim jobs because PostgreSQL or Redis is unavailable."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "jobs_dead_lettered_total",
			Help: "Jobs this worker moved to the dead-letter list."}),
		leaseLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "lease_lost_total",
			Help: "Jobs whose lease expired while this worker held them (a stall longer than the lease)."}),
		audioSeconds: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "audio_seconds_processed_total",
			Help: "Seconds of audio in successfully processed jobs."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "job_duration_seconds",
			Help:    "Time from claim to outcome, by outcome (done, retry, dead, released, lease_lost, dependency_down).",
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
	for _, d := range []string{depPostgres, depRedis} {
		w.m.dependencyErrors.WithLabelValues(d)
	}
	for _, o := range []string{"done", "retry", "dead", "released", "lease_lost", "dependency_down"} {
		w.m.duration.WithLabelValues(o)
	}
	w.m.rec = newReconcileMetrics(ns)
	w.gate.paused = w.m.paused
	w.reg.MustRegister(w.m.processed, w.m.failed, w.m.dependencyErrors, w.m.deadLettered, w.m.leaseLost, w.m.audioSeconds,
		w.m.duration, w.m.wait, w.m.inProgress, w.m.paused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w.m.rec.register(w.reg)
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
	reaper.Add(3)
	go func() { defer reaper.Done(); w.q.RunReaper(ctx, w.cfg.ReapInterval) }()
	go func() { defer reaper.Done(); w.runReconciler(ctx) }()
	go func() { defer reaper.Done(); w.gate.run(ctx) }()

	var consumers sync.WaitGroup
	for i := 0; i < w.cfg.Concurrency; i++ {
		consumers.Add(1)
		go func() { defer consumers.Done(); w.consume(ctx, jobCtx) }()
	}
	w.log.Info("worker started", service.KeyQueue, w.cfg.Queue, "concurrency", w.cfg.Concurrency,
		"lease", w.q.Options().Lease, "max_attempts", w.q.Options().MaxAttempts,
		"reconcile_interval", w.cfg.ReconcileInterval, "reconcile_grace", w.cfg.ReconcileGrace)

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

// consume claims and processes jobs until claimCtx is cancelled. It claims
// only while the gate is open: after a dependency failed, no consumer takes
// another job until the gate's prober sees PostgreSQL and Redis answer.
func (w *Worker) consume(claimCtx, jobCtx context.Context) {
	for {
		if !w.gate.wait(claimCtx) {
			return
		}
		l, err := w.q.Claim(claimCtx)
		// Claim never drops a job it took from Redis, even when claimCtx
		// was cancelled meanwhile: process it (the drain covers it)
		// instead of leaving it to the lease timeout. The same holds for
		// each job the ack of the previous one handed over.
		for l != nil {
			h := &handover{claimCtx: claimCtx}
			w.handle(jobCtx, l, h)
			l = h.next
		}
		if err == nil {
			continue
		}
		if claimCtx.Err() != nil {
			return
		}
		w.log.Warn("claim failed; retrying", "queue", w.cfg.Queue, "err", err)
		w.gate.trip(depRedis, err)
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

// giveBack releases a job a dependency failure interrupted. If Redis cannot
// take it back now, the gate's prober retries once Redis answers; if the
// lease expires first the reaper returns the job.
func (w *Worker) giveBack(l *queue.Lease, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.q.Release(ctx, l)
	switch {
	case err == nil:
		log.Info("job released to the queue without spending an attempt")
	case errors.Is(err, queue.ErrLeaseLost):
	default:
		log.Warn("release failed; retrying when Redis answers", "err", err)
		w.gate.retryLater(func(ctx context.Context) error {
			if err := w.q.Release(ctx, l); err != nil && !errors.Is(err, queue.ErrLeaseLost) {
				return err
			}
			return nil
		})
	}
}

// handover lets the ack of a finished job claim the consumer's next one in
// the same Redis call (queue.AckAndClaim): a busy worker then spends one
// round trip per job on the queue instead of two. It asks only while the
// consumer may still claim (claimCtx live, the gate open).
type handover struct {
	claimCtx context.Context
	next     *queue.Lease // set by ack; the consumer processes it next
}

// handle processes one claimed job to an outcome; h (may be nil) receives
// the next job if the ack claimed one.
func (w *Worker) handle(ctx context.Context, l *queue.Lease, h *handover) {
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

	outcome := w.process(jctx, l, log, h)
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

// Dependencies, as named in metrics, logs and /ready.
const (
	depPostgres = "postgres"
	depRedis    = "redis"
)

// errNoRow is why a job without a row is dead-lettered.
func errNoRow(id string) error {
	return Permanent(fmt.Errorf("job %q has no row in the jobs table", id))
}

// noRow dead-letters an id without a row: it can never succeed (an id pushed
// by hand, or a row deleted).
func (w *Worker) noRow(ctx context.Context, l *queue.Lease, log *slog.Logger) string {
	w.m.failed.WithLabelValues("permanent").Inc()
	reason := errNoRow(l.ID).Error()
	log.Warn("job failed permanently; dead-lettering", "err", reason)
	return w.deadLetter(ctx, l, log, false, reason)
}

// process runs the pipeline and settles the job; it returns the outcome
// label: done, retry, dead, released, lease_lost or dependency_down.
func (w *Worker) process(ctx context.Context, l *queue.Lease, log *slog.Logger, h *handover) string {
	sctx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, w.cfg.StoreTimeout) }

	c, cancel := sctx()
	job, err := w.store.Get(c, l.ID)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return w.noRow(ctx, l, log)
	case err != nil:
		return w.dependencyDown(ctx, l, log, depPostgres, fmt.Errorf("load job: %w", err))
	}
	switch job.Status {
	case store.StatusDone:
		// Redelivered after a crash between Complete and ack (or re-driven
		// by a reconciler that raced the ack): done already, count nothing.
		log.Info("job already done; acking the redelivery")
		w.ack(ctx, l, log, h)
		return "done"
	case store.StatusFailed:
		// Marked failed before a crash cut off the dead-lettering: finish
		// it, keeping the row's reason.
		return w.deadLetter(ctx, l, log, false, job.Error)
	}

	c, cancel = sctx()
	err = w.store.MarkProcessing(c, l.ID, l.Attempt, l.Token)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return w.noRow(ctx, l, log)
	case errors.Is(err, store.ErrStale):
		// Finished since the Get: the redelivery of the release settles it.
		return w.interrupted(l)
	case err != nil:
		return w.dependencyDown(ctx, l, log, depPostgres, fmt.Errorf("mark processing: %w", err))
	}

	result, secs, err := w.cfg.Process(ctx, job.Audio)
	if err != nil {
		if ctx.Err() != nil && !IsPermanent(err) {
			// Most likely our own cancellation (shutdown, lost lease).
			return w.interrupted(l)
		}
		return w.jobFailed(ctx, l, log, err)
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

	if out, ok := w.checkLease(ctx, l, log); !ok {
		return out
	}
	c, cancel = sctx()
	err = w.store.Complete(c, l.ID, l.Token, result)
	cancel()
	switch {
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
		return w.fenced(l, log, err)
	case err != nil:
		return w.dependencyDown(ctx, l, log, depPostgres, fmt.Errorf("store result: %w", err))
	}
	w.ack(ctx, l, log, h)
	w.m.processed.Inc()
	w.m.audioSeconds.Add(secs)
	log.Info("job done", "audio_seconds", secs, "took", time.Since(l.ClaimedAt).Seconds())
	return "done"
}

// checkLease renews the lease right before a write to PostgreSQL: a worker
// that stalled past its lease learns here that the job is someone else's.
// The write itself is fenced by the lease token in SQL, which also covers a
// stall between this check and the write.
func (w *Worker) checkLease(ctx context.Context, l *queue.Lease, log *slog.Logger) (string, bool) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := w.q.Extend(qctx, l)
	switch {
	case err == nil:
		return "", true
	case errors.Is(err, queue.ErrLeaseLost):
		return w.leaseLost(l, log, err), false
	case ctx.Err() != nil:
		return w.interrupted(l), false
	default:
		return w.dependencyDown(ctx, l, log, depRedis, fmt.Errorf("check lease: %w", err)), false
	}
}

func (w *Worker) leaseLost(l *queue.Lease, log *slog.Logger, err error) string {
	w.m.leaseLost.Inc()
	log.Warn("lease lost; not writing the result, the job's new holder does", "err", err)
	return "lease_lost"
}

// fenced handles a write PostgreSQL refused because the row is held under
// another lease token (or finished): another claim replaced ours, so we do
// not write. The Redis lease may still be ours — a claimant that stalled
// before its MarkProcessing can overwrite the token after our lease check —
// so give the job back untried: its next claim re-marks the row and
// finishes it, or finds it done and acks. If the lease is not ours the
// release is refused and nothing happens.
func (w *Worker) fenced(l *queue.Lease, log *slog.Logger, err error) string {
	out := w.leaseLost(l, log, err)
	w.release(l)
	return out
}

// ack acknowledges a job whose row is done. The result is stored: acking
// must not be skipped because the drain timeout cancelled ctx a moment ago.
// With h, and while claiming is allowed, the same call claims the next job
// into h.next; a lease that comes back is processed even if the ack itself
// failed (ErrLeaseLost), so no job is stranded.
func (w *Worker) ack(ctx context.Context, l *queue.Lease, log *slog.Logger, h *handover) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if h != nil && h.claimCtx.Err() == nil && w.gate.isOpen() {
		h.next, err = w.q.AckAndClaim(actx, l)
	} else {
		err = w.q.Ack(actx, l)
	}
	switch {
	case err == nil, errors.Is(err, queue.ErrLeaseLost):
		// Lost: whoever holds it now finds the row done and acks.
	default:
		// The result is in PostgreSQL; a redelivery sees status done.
		log.Warn("ack failed; a redelivery will find the job done", "err", err)
		w.gate.trip(depRedis, err)
	}
}

// interrupted handles a job cut short by shutdown or a lost lease.
func (w *Worker) interrupted(l *queue.Lease) string {
	w.release(l)
	return "released"
}

// dependencyDown gives the job back without spending an attempt and stops
// the worker claiming until PostgreSQL and Redis answer: the job is not at
// fault, and claiming more would only fail them too.
func (w *Worker) dependencyDown(ctx context.Context, l *queue.Lease, log *slog.Logger, dep string, err error) string {
	if ctx.Err() != nil {
		return w.interrupted(l) // our own cancellation, not the dependency
	}
	w.m.dependencyErrors.WithLabelValues(dep).Inc()
	log.Warn(dep+" failed; giving the job back and pausing claims", "err", err)
	w.gate.trip(dep, err)
	w.giveBack(l, log)
	return "dependency_down"
}

// jobFailed settles an attempt that failed through the job's own fault:
// permanent → dead-letter now; transient → retry with backoff, or
// dead-letter on the last attempt.
func (w *Worker) jobFailed(ctx context.Context, l *queue.Lease, log *slog.Logger, cause error) string {
	reason := cause.Error()
	if IsPermanent(cause) {
		w.m.failed.WithLabelValues("permanent").Inc()
		log.Warn("job failed permanently; dead-lettering", "err", reason)
		return w.deadLetter(ctx, l, log, true, reason)
	}
	w.m.failed.WithLabelValues("transient").Inc()
	if l.Attempt >= w.q.Options().MaxAttempts {
		log.Warn("job out of attempts; dead-lettering", "err", reason)
		return w.deadLetter(ctx, l, log, true, fmt.Sprintf("gave up after %d attempts: %s", l.Attempt, reason))
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	out, err := w.q.Nack(qctx, l, reason)
	switch {
	case errors.Is(err, queue.ErrLeaseLost):
		return w.leaseLost(l, log, err)
	case err != nil:
		// The lease expires and the reaper returns the job.
		log.Error("nack failed", "err", err, "cause", reason)
		w.gate.trip(depRedis, err)
		return "retry"
	case out.DeadLettered:
		// Only if the queue's attempt count ran ahead of the lease's
		// (MaxAttempts lowered meanwhile): the row says why.
		w.m.deadLettered.Inc()
		w.markRowFailed(ctx, l, log, reason)
		return "dead"
	}
	log.Warn("job failed; will retry", "err", reason, "retry_at", out.RetryAt)
	return "retry"
}

// deadLetter moves the job to the dead-letter list. With row, the row is
// marked failed first, under the lease: PostgreSQL is the record, so a job
// is never dead in Redis while its row still says it is coming. If that
// write fails on PostgreSQL the job is given back instead (a later attempt
// dead-letters it).
func (w *Worker) deadLetter(ctx context.Context, l *queue.Lease, log *slog.Logger, row bool, reason string) string {
	if row {
		if out, ok := w.checkLease(ctx, l, log); !ok {
			return out
		}
		c, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
		err := w.store.FailLeased(c, l.ID, l.Token, reason)
		cancel()
		switch {
		case errors.Is(err, store.ErrStale):
			return w.fenced(l, log, err)
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return w.dependencyDown(ctx, l, log, depPostgres, fmt.Errorf("mark failed: %w", err))
		}
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch err := w.q.Fail(qctx, l, reason); {
	case errors.Is(err, queue.ErrLeaseLost):
		return w.leaseLost(l, log, err)
	case err != nil:
		// The row is failed already; the redelivery dead-letters it.
		log.Error("dead-letter failed", "err", err)
		w.gate.trip(depRedis, err)
		return "dead"
	}
	w.m.deadLettered.Inc()
	return "dead"
}

// markRowFailed records a dead-lettered job's reason in its row; the
// reconciler repeats it for any dead-lettered job whose row was missed.
func (w *Worker) markRowFailed(ctx context.Context, l *queue.Lease, log *slog.Logger, reason string) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.StoreTimeout)
	defer cancel()
	if err := w.store.FailLeased(c, l.ID, l.Token, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("could not mark the job failed in PostgreSQL; the reconciler will", "err", err)
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
