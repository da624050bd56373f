package worker

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/service"
)

// Command is the voiceassist-worker binary: cmd/voiceassist-worker runs it
// with service.Main.
var Command = service.Command{
	Name: "voiceassist-worker",
	Summary: `voiceassist-worker processes voice jobs: it claims job ids from the Redis queue,
analyzes each job's audio and stores the result in PostgreSQL, serving /health,
/ready and /metrics. On SIGTERM it stops claiming, lets jobs in flight finish
for --drain-timeout, returns the rest to the queue and exits 0.`,
	Listen:   ":9090",
	Postgres: true,
	New:      func() service.Component { return &component{} },
}

// Flags is the voiceassist-worker command line: the common settings and
// the worker's own.
type Flags struct {
	service.Common
	Worker Config
}

type component struct{ f Flags }

func (c *component) Flags(s *envflag.Set) {
	w := &c.f.Worker
	s.String(&w.Queue, "queue", "QUEUE_NAME", queue.DefaultName, "queue to consume (keys voiceassist:queue:{name}...)")
	s.Int(&w.Concurrency, "concurrency", "WORKER_CONCURRENCY", 4, "jobs processed at once (each uses up to one CPU)")
	s.Duration(&w.DrainTimeout, "drain-timeout", "DRAIN_TIMEOUT", DefaultDrainTimeout, "after SIGTERM, how long jobs in flight may run before they are released back to the queue; keep it well below terminationGracePeriodSeconds")
	s.Duration(&w.QueueOptions.Lease, "lease", "JOB_LEASE", 30*time.Second, "lease on a claimed job, renewed every third of it while the job runs; a crashed worker's job is redelivered after it")
	s.Int(&w.QueueOptions.MaxAttempts, "max-attempts", "MAX_ATTEMPTS", 5, "claims a job gets before a failure of its own (an analysis error) or an expired lease dead-letters it; PostgreSQL or Redis errors never count")
	s.Duration(&w.QueueOptions.BackoffBase, "backoff-base", "BACKOFF_BASE", time.Second, "delay before the first retry; doubles per attempt")
	s.Duration(&w.QueueOptions.BackoffMax, "backoff-max", "BACKOFF_MAX", 5*time.Minute, "longest retry delay")
	s.Duration(&w.ReapInterval, "reap-interval", "REAP_INTERVAL", 5*time.Second, "how often this worker returns expired leases and promotes due retries (every worker does; it is safe)")
	s.Duration(&w.StoreTimeout, "store-timeout", "STORE_TIMEOUT", 10*time.Second, "timeout of each PostgreSQL call; a call that fails or times out gives the job back without spending an attempt and pauses claiming until PostgreSQL answers")
	s.Duration(&w.ReconcileInterval, "reconcile-interval", "RECONCILE_INTERVAL", DefaultReconcileInterval, "how often this worker re-enqueues the jobs PostgreSQL holds as accepted that Redis has lost (every worker does; it is idempotent)")
	s.Duration(&w.ReconcileGrace, "reconcile-grace", "RECONCILE_GRACE", DefaultReconcileGrace, "how long a job's row must be unchanged before the reconciler may re-enqueue it; keep it above the gateway's 10s insert-to-enqueue time")
	s.Duration(&w.SimulateWork, "simulate-work", "SIMULATE_WORK", 0, "extra time per job to emulate a heavier model in autoscaling load tests; 0 in production")
}

func (c *component) Setup(common *service.Common) (service.Setup, error) {
	c.f.Common = *common
	w := &c.f.Worker
	w.ReadyTimeout = common.ReadyTimeout
	var errs []error
	if err := queue.ValidateName(w.Queue); err != nil {
		errs = append(errs, fmt.Errorf("--queue: %w", err))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"--concurrency", w.Concurrency}, {"--max-attempts", w.QueueOptions.MaxAttempts}} {
		if v.n < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", v.name, v.n))
		}
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"--drain-timeout", w.DrainTimeout}, {"--lease", w.QueueOptions.Lease}, {"--backoff-base", w.QueueOptions.BackoffBase},
		{"--backoff-max", w.QueueOptions.BackoffMax}, {"--reap-interval", w.ReapInterval}, {"--store-timeout", w.StoreTimeout},
		{"--reconcile-interval", w.ReconcileInterval}, {"--reconcile-grace", w.ReconcileGrace}} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", v.name, v.d))
		}
	}
	if w.SimulateWork < 0 {
		errs = append(errs, fmt.Errorf("--simulate-work %s: must not be negative", w.SimulateWork))
	}
	return service.Setup{
		// The HTTP server keeps serving through the drain (/ready false,
		// /metrics scrapable); releasing unfinished jobs takes a few
		// seconds more.
		Serving:   service.Serving{ShutdownGrace: w.DrainTimeout + 10*time.Second},
		WaitRedis: true,
		// Each consumer holds at most one connection at a time; leave room
		// for the reaper, heartbeats and /ready.
		Redis: func(o *redis.Options) { o.PoolSize = max(o.PoolSize, 2*w.Concurrency+4) },
	}, errors.Join(errs...)
}

func (c *component) Start(d service.Deps) (*service.Unit, error) {
	cfg := c.f.Worker
	cfg.Logger = d.Log
	w, err := New(d.Redis, d.Store, cfg)
	if err != nil {
		return nil, service.UsageError(err)
	}
	return &service.Unit{Handler: w.Handler(), Probes: w.probes, Work: w.Run}, nil
}

// ParseFlags parses args (without the program name) with defaults from
// getenv, as the binary does. Usage and errors go to out; flag.ErrHelp is
// returned for --help.
func ParseFlags(args []string, getenv func(string) string, out io.Writer) (Flags, error) {
	p, err := service.Parse(Command, args, getenv, out)
	f := p.Component.(*component).f
	f.Common = p.Common
	return f, err
}
