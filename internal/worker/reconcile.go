package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/voiceassist/autoscaling/internal/service"
	"github.com/voiceassist/autoscaling/internal/store"
)

// The reconciler makes PostgreSQL, the record of what was accepted, and the
// queue agree. Every pass pages through the jobs PostgreSQL holds as queued
// or processing whose row has not changed for ReconcileGrace and asks the
// queue (queue.Redrive, one script per page) about them:
//
//   - an id the queue does not know at all is enqueued again: Redis lost its
//     data, the gateway died between the row insert and the enqueue, or a
//     processing job's lease vanished with Redis;
//   - an id the queue holds only as dead-lettered gets its row marked failed
//     (the reaper dead-letters expired leases without PostgreSQL).
//
// It runs in the worker, not the exporter: the worker already has both
// PostgreSQL and Redis (the exporter reads only Redis and should stay that
// way), and there is always one (the worker HPA's minReplicas is 1). Every
// worker runs it and no leader is elected: the check-and-enqueue is one Redis
// script, so passes running at once cannot enqueue a job twice, and a job
// re-driven that was in fact finished a moment before is acked as done.
//
// The grace period covers the gateway's insert-then-enqueue (bounded by its
// 10 s write timeout): a row younger than that may legitimately not be
// queued yet.
const (
	DefaultReconcileInterval = 15 * time.Second
	DefaultReconcileGrace    = 30 * time.Second
	reconcileBatch           = 500
)

type reconcileMetrics struct {
	redriven       *prometheus.CounterVec
	markedFailed   prometheus.Counter
	passes         *prometheus.CounterVec
	pending        prometheus.Gauge
	oldestAccepted prometheus.Gauge
}

func newReconcileMetrics(ns string) reconcileMetrics {
	m := reconcileMetrics{
		redriven: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reconciler_jobs_redriven_total",
			Help: "Jobs PostgreSQL holds as accepted that the queue had lost, re-enqueued by this worker's reconciler, by the row's state (queued, processing)."}, []string{"state"}),
		markedFailed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "reconciler_jobs_marked_failed_total",
			Help: "Dead-lettered jobs whose row the reconciler marked failed (their row still said queued or processing)."}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reconciler_passes_total",
			Help: "Reconciler passes, by result (ok, error)."}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "accepted_jobs_pending",
			Help: "Jobs PostgreSQL holds as accepted and not finished (queued or processing), queued in Redis or not, at the last reconciler pass."}),
		oldestAccepted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "accepted_job_oldest_age_seconds",
			Help: "Seconds since the oldest accepted, unfinished job was accepted (PostgreSQL's clock), at the last reconciler pass; 0 if none."}),
	}
	for _, s := range []string{store.StatusQueued, store.StatusProcessing} {
		m.redriven.WithLabelValues(s)
	}
	for _, r := range []string{"ok", "error"} {
		m.passes.WithLabelValues(r)
	}
	return m
}

func (m reconcileMetrics) register(reg *prometheus.Registry) {
	reg.MustRegister(m.redriven, m.markedFailed, m.passes, m.pending, m.oldestAccepted)
}

// ReconcileResult counts what one reconciler pass did.
type ReconcileResult struct {
	Checked      int // unfinished jobs older than the grace period
	Redriven     int // of those, re-enqueued
	MarkedFailed int // of those, dead-lettered: row marked failed
}

// runReconciler runs a pass now and then every ReconcileInterval (±10 %).
// Errors are logged: an outage must not stop the reconciler for good.
func (w *Worker) runReconciler(ctx context.Context) {
	for {
		r, err := w.Reconcile(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Warn("reconciler pass failed", "err", err)
		case r.Redriven > 0 || r.MarkedFailed > 0:
			w.log.Warn("reconciler re-drove jobs the queue had lost", "checked", r.Checked,
				"redriven", r.Redriven, "marked_failed", r.MarkedFailed)
		}
		d := time.Duration(float64(w.cfg.ReconcileInterval) * (0.9 + 0.2*rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Reconcile runs one reconciler pass (see above).
func (w *Worker) Reconcile(ctx context.Context) (ReconcileResult, error) {
	r, err := w.reconcile(ctx)
	result := "ok"
	if err != nil {
		result = "error"
	}
	w.m.rec.passes.WithLabelValues(result).Inc()
	return r, err
}

func (w *Worker) reconcile(ctx context.Context) (ReconcileResult, error) {
	var r ReconcileResult
	sctx, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
	n, oldest, err := w.store.PendingSummary(sctx)
	cancel()
	if err != nil {
		return r, err
	}
	w.m.rec.pending.Set(float64(n))
	w.m.rec.oldestAccepted.Set(oldest.Seconds())

	var cursor store.Pending
	for {
		sctx, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
		page, err := w.store.ListPending(sctx, w.cfg.ReconcileGrace, cursor, reconcileBatch)
		cancel()
		if err != nil {
			return r, err
		}
		if len(page) == 0 {
			return r, nil
		}
		r.Checked += len(page)
		ids := make([]string, len(page))
		state := make(map[string]string, len(page))
		for i, p := range page {
			ids[i] = p.ID
			state[p.ID] = p.Status
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := w.q.Redrive(qctx, ids...)
		cancel()
		if err != nil {
			return r, err
		}
		for _, id := range res.Redriven {
			w.m.rec.redriven.WithLabelValues(state[id]).Inc()
			w.log.Info("re-enqueued a job the queue had lost", service.KeyJobID, id, "state", state[id])
		}
		r.Redriven += len(res.Redriven)
		for _, d := range res.Dead {
			sctx, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
			err := w.store.Fail(sctx, d.ID, d.Reason)
			cancel()
			switch {
			case err == nil:
				w.m.rec.markedFailed.Inc()
				r.MarkedFailed++
			case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrNotFound):
			default:
				return r, err
			}
		}
		if len(page) < reconcileBatch {
			return r, nil
		}
		cursor = page[len(page)-1]
	}
}
