package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/queue"
)

// Flags is the voiceassist-worker command line. Each flag has an environment
// variable (shown in --help); a flag given on the command line wins. The
// names match voiceassist-server's where they mean the same thing.
type Flags struct {
	RedisAddr     string
	RedisPassword string // only from $REDIS_PASSWORD: flags show in ps
	RedisDB       int
	DatabaseURL   string
	Listen        string
	LogLevel      slog.Level
	Worker        Config
}

// ParseFlags parses args (without the program name) with defaults from
// getenv. Usage and errors go to out; flag.ErrHelp is returned for --help.
func ParseFlags(args []string, getenv func(string) string, out io.Writer) (Flags, error) {
	var f Flags
	w := &f.Worker
	fs := flag.NewFlagSet("voiceassist-worker", flag.ContinueOnError)
	fs.SetOutput(out)
	e := envflag.Set{FS: fs, Getenv: getenv}
	var level string
	e.String(&f.RedisAddr, "redis-addr", "REDIS_ADDR", "localhost:6379", "Redis holding the job queue: host:port or redis://[:password@]host:port/db")
	f.RedisPassword = getenv("REDIS_PASSWORD")
	e.Int(&f.RedisDB, "redis-db", "REDIS_DB", 0, "Redis database number (the password comes only from $REDIS_PASSWORD)")
	e.String(&f.DatabaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL holding the jobs table, e.g. postgres://user:pass@voiceassist-postgres:5432/voiceassist?sslmode=disable (required; prefer the env var, it keeps the password out of ps)")
	e.String(&w.Queue, "queue", "QUEUE_NAME", queue.DefaultName, "queue to consume (keys voiceassist:queue:{name}...)")
	e.String(&f.Listen, "listen", "LISTEN_ADDR", ":9090", "address serving /health, /ready and /metrics")
	e.Int(&w.Concurrency, "concurrency", "WORKER_CONCURRENCY", 4, "jobs processed at once (each uses up to one CPU)")
	e.Duration(&w.DrainTimeout, "drain-timeout", "DRAIN_TIMEOUT", 25*time.Second, "after SIGTERM, how long jobs in flight may run before they are released back to the queue; keep it a few seconds below terminationGracePeriodSeconds")
	e.Duration(&w.QueueOptions.Lease, "lease", "JOB_LEASE", 30*time.Second, "lease on a claimed job, renewed every third of it while the job runs; a crashed worker's job is redelivered after it")
	e.Int(&w.QueueOptions.MaxAttempts, "max-attempts", "MAX_ATTEMPTS", 5, "claims a job gets before a transient failure or expired lease dead-letters it")
	e.Duration(&w.QueueOptions.BackoffBase, "backoff-base", "BACKOFF_BASE", time.Second, "delay before the first retry; doubles per attempt")
	e.Duration(&w.QueueOptions.BackoffMax, "backoff-max", "BACKOFF_MAX", 5*time.Minute, "longest retry delay")
	e.Duration(&w.ReapInterval, "reap-interval", "REAP_INTERVAL", 5*time.Second, "how often this worker returns expired leases and promotes due retries (every worker does; it is safe)")
	e.Duration(&w.StoreTimeout, "store-timeout", "STORE_TIMEOUT", 10*time.Second, "timeout of each PostgreSQL call")
	e.Duration(&w.SimulateWork, "simulate-work", "SIMULATE_WORK", 0, "extra time per job to emulate a heavier model in autoscaling load tests; 0 in production")
	e.String(&level, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error (JSON logs on stderr)")
	fs.Usage = func() {
		fmt.Fprintf(out, `voiceassist-worker processes voice jobs: it claims job ids from the Redis queue,
analyzes each job's audio and stores the result in PostgreSQL. On SIGTERM it stops
claiming, lets jobs in flight finish for --drain-timeout, returns the rest to the
queue and exits 0.

Usage: voiceassist-worker [flags]

Flags (environment variable in brackets; a flag wins over its variable):
`)
		fs.PrintDefaults()
	}
	if e.Err != nil {
		return f, e.Err
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.DatabaseURL == "" {
		return f, errors.New("no PostgreSQL URL: set DATABASE_URL or --database-url")
	}
	if err := queue.ValidateName(w.Queue); err != nil {
		return f, fmt.Errorf("--queue: %w", err)
	}
	if err := f.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return f, fmt.Errorf("--log-level %q: %w", level, err)
	}
	for name, v := range map[string]int{"--concurrency": w.Concurrency, "--max-attempts": w.QueueOptions.MaxAttempts} {
		if v < 1 {
			return f, fmt.Errorf("%s %d: must be at least 1", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"--drain-timeout": w.DrainTimeout, "--lease": w.QueueOptions.Lease,
		"--backoff-base": w.QueueOptions.BackoffBase, "--backoff-max": w.QueueOptions.BackoffMax,
		"--reap-interval": w.ReapInterval, "--store-timeout": w.StoreTimeout} {
		if v <= 0 {
			return f, fmt.Errorf("%s %s: must be positive", name, v)
		}
	}
	if w.SimulateWork < 0 {
		return f, fmt.Errorf("--simulate-work %s: must not be negative", w.SimulateWork)
	}
	// Retries of jobs failed together by one outage should not return in
	// one burst.
	w.QueueOptions.BackoffJitter = 0.2
	return f, nil
}
