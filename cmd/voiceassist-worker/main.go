// Command voiceassist-worker consumes voice-processing jobs from the Redis
// queue and stores results in PostgreSQL, serving /health, /ready and
// /metrics on :9090. Run with --help for its flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/worker"
)

func main() { os.Exit(run()) }

func run() int {
	f, err := worker.ParseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		os.Stderr.WriteString("voiceassist-worker: " + err.Error() + "\n")
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: f.LogLevel}))
	slog.SetDefault(log)
	redis.SetLogger(queue.RedisLogger(log))
	f.Worker.Logger = log

	// SIGTERM cancels ctx: the worker stops claiming and drains.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ropt, err := queue.RedisOptions(f.RedisAddr, f.RedisPassword, f.RedisDB)
	if err != nil {
		log.Error("bad Redis address", "err", err)
		return 2
	}
	// Each consumer holds at most one connection at a time; leave room for
	// the reaper, heartbeats and /ready.
	ropt.PoolSize = max(ropt.PoolSize, 2*f.Worker.Concurrency+4)
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	// PostgreSQL may come up after us (a fresh cluster): keep trying until
	// it answers or we are told to stop, rather than crash-looping.
	var st *store.Store
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err = store.Open(octx, f.DatabaseURL)
		cancel()
		if err == nil {
			break
		}
		log.Warn("PostgreSQL not ready; retrying", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(wait):
		}
	}
	defer st.Close()

	w, err := worker.New(rdb, st, f.Worker)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return 2
	}
	srv := &http.Server{Addr: f.Listen, Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.ListenAndServe() }()
	log.Info("voiceassist-worker listening", "listen", f.Listen, "redis", ropt.Addr)

	// The HTTP server keeps running through the drain, so /ready reports
	// false and /metrics stays scrapable until the end.
	runCtx, cancelRun := context.WithCancel(ctx)
	var serveFailed atomic.Bool
	go func() {
		if err := <-srvErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
			serveFailed.Store(true)
			cancelRun()
		}
	}()
	_ = w.Run(runCtx)
	cancelRun()

	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	log.Info("voiceassist-worker stopped")
	if serveFailed.Load() {
		return 1
	}
	return 0
}
