// Package exporter exports the VoiceAssist job queues' state to Prometheus,
// for the worker HPA's External metrics (queue depth, oldest job age).
//
// Like redis_exporter it reads Redis when Prometheus scrapes, not in a
// polling loop of its own: every value is as fresh as the scrape, and an
// exporter nobody scrapes costs Redis nothing. One scrape is one pipeline
// with one EVALSHA per queue, whose work in Redis is constant in the queue
// length (LLEN, ZCARD, LINDEX -1, ZRANGE 0 0): a backlog of a million jobs,
// exactly when the autoscaler needs the metric, does not slow the scrape.
//
// It sees only what Redis holds. A job PostgreSQL accepted that Redis lost
// or never got (a gateway crash between insert and enqueue) is not in the
// depth until the workers' reconciler re-enqueues it; meanwhile the workers
// export voiceassist_worker_accepted_jobs_pending and
// voiceassist_worker_accepted_job_oldest_age_seconds from PostgreSQL, and the
// alert VoiceAssistAcceptedJobsStale watches the latter.
//
// Point it at the Redis primary, not a replica: the scrape script writes in
// one case — it records when it first saw a hand-pushed job id (one without
// an enqueue time) at the head of the list, so that job gets an age at all.
package exporter

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/voiceassist/autoscaling/internal/queue"
)

// Metric names. The first two are read by the worker HPA (docs/design.md); do not
// rename them without changing the Prometheus Adapter rules.
const (
	MetricDepth         = "voiceassist_queue_depth"
	MetricOldestAge     = "voiceassist_queue_oldest_job_age_seconds"
	MetricInflight      = "voiceassist_queue_inflight_jobs"
	MetricDead          = "voiceassist_queue_dead_letter_jobs"
	MetricDelayed       = "voiceassist_queue_delayed_jobs"
	MetricUp            = "voiceassist_queue_exporter_up"
	MetricScrapeErrors  = "voiceassist_queue_exporter_scrape_errors_total"
	MetricScrapeSeconds = "voiceassist_queue_exporter_scrape_duration_seconds"
)

// Options configure a Collector.
type Options struct {
	// Queues to export; default [queue.DefaultName].
	Queues []string
	// Timeout bounds the Redis work of one scrape; default 5s. Keep it below
	// Prometheus's scrape_timeout so a slow Redis shows as up=0, not as a
	// failed scrape with no series at all.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Collector is a prometheus.Collector over the queues in Redis.
type Collector struct {
	rdb    queue.Client
	opt    Options
	errors prometheus.Counter

	depth, age, inflight, dead, delayed, up, duration *prometheus.Desc
}

// New returns a Collector reading the queues from rdb.
func New(rdb queue.Client, opt Options) (*Collector, error) {
	if len(opt.Queues) == 0 {
		opt.Queues = []string{queue.DefaultName}
	}
	for _, q := range opt.Queues {
		if err := queue.ValidateName(q); err != nil {
			return nil, err
		}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	l := []string{"queue"}
	return &Collector{
		rdb: rdb,
		opt: opt,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricScrapeErrors, Help: "Scrapes that failed to read the queues from Redis.",
		}),
		depth: prometheus.NewDesc(MetricDepth,
			"Jobs waiting in the queue's ready list (LLEN), hand-pushed items included.", l, nil),
		age: prometheus.NewDesc(MetricOldestAge,
			"Seconds the oldest ready job has waited since it became ready (enqueued, retried or returned); 0 when none waits. Hand-pushed items count from when they were first seen.", l, nil),
		inflight: prometheus.NewDesc(MetricInflight, "Jobs claimed by a worker and not yet finished.", l, nil),
		dead:     prometheus.NewDesc(MetricDead, "Jobs in the dead-letter list.", l, nil),
		delayed:  prometheus.NewDesc(MetricDelayed, "Jobs waiting for a retry after a transient failure.", l, nil),
		up: prometheus.NewDesc(MetricUp,
			"1 if the last scrape read every queue from Redis, else 0 (the queue series are then absent, not 0, so the HPA does not scale down on an outage).", nil, nil),
		duration: prometheus.NewDesc(MetricScrapeSeconds, "Time the last scrape spent reading Redis.", nil, nil),
	}, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.age, c.inflight, c.dead, c.delayed, c.up, c.duration} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector: it reads Redis now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.Timeout)
	defer cancel()
	start := time.Now()
	stats, err := queue.CollectStats(ctx, c.rdb, c.opt.Queues)
	ch <- prometheus.MustNewConstMetric(c.duration, prometheus.GaugeValue, time.Since(start).Seconds())
	if err != nil {
		c.opt.Logger.Warn("scrape failed", "queues", c.opt.Queues, "err", err)
		c.errors.Inc()
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		c.errors.Collect(ch)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	c.errors.Collect(ch)
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(s.Depth), s.Queue)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, s.OldestAge().Seconds(), s.Queue)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(s.Inflight), s.Queue)
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.Dead), s.Queue)
		ch <- prometheus.MustNewConstMetric(c.delayed, prometheus.GaugeValue, float64(s.Delayed), s.Queue)
	}
}
