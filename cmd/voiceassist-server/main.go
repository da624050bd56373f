// Command voiceassist-server is the VoiceAssist API gateway. It parses its
// configuration, connects PostgreSQL and Redis and runs internal/server; run
// it with --help for the flags and environment variables.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/store"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := server.ParseConfig("voiceassist-server", os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, server.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "voiceassist-server: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)

	// SIGTERM (kubelet) or SIGINT starts the drain. After the first signal
	// the default handling is restored, so a second Ctrl-C exits at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); stop() }()

	st, err := openStore(ctx, log, cfg)
	if err != nil {
		log.Error("cannot open the job store", "err", err)
		return 1
	}
	defer st.Close()

	// The same address parsing as the worker and the exporter: host:port
	// or a redis:// URL.
	ropt, err := queue.RedisOptions(cfg.RedisAddr, cfg.RedisPassword, cfg.RedisDB)
	if err != nil {
		log.Error("bad Redis address", "err", err)
		return 2
	}
	// Fail fast: an upload waits for Redis at most this long before the
	// client gets 503, instead of hanging on a dead connection.
	ropt.DialTimeout, ropt.ReadTimeout, ropt.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	q, err := queue.New(rdb, cfg.Queue, queue.Options{Logger: log})
	if err != nil {
		log.Error("invalid queue", "err", err)
		return 2
	}

	srv := server.New(cfg, server.Deps{Jobs: st, Queue: q, Redis: rdb, Logger: log})
	if err := srv.Run(ctx); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	return 0
}

// openStore retries while PostgreSQL is not up yet (the gateway often starts
// before its database in a fresh namespace), up to --startup-timeout or a
// signal.
func openStore(ctx context.Context, log *slog.Logger, cfg server.Config) (*store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StartupTimeout)
	defer cancel()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := store.Open(actx, cfg.DatabaseURL)
		acancel()
		if err == nil {
			return st, nil
		}
		log.Warn("PostgreSQL not ready, retrying", "attempt", attempt, "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("gave up after %d attempts: %w (last error: %v)", attempt, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
