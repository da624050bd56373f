// Command queue-exporter serves the VoiceAssist queue metrics that the worker
// HPA scales on (voiceassist_queue_depth, voiceassist_queue_oldest_job_age_seconds)
// at :9121/metrics. Run with --help for its flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/exporter"
	"github.com/voiceassist/autoscaling/internal/queue"
)

func main() {
	cfg, err := exporter.ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Stderr.WriteString("queue-exporter: " + err.Error() + "\n")
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	redis.SetLogger(queue.RedisLogger(log))

	ropt, err := queue.RedisOptions(cfg.RedisAddr, cfg.RedisPassword, cfg.RedisDB)
	if err != nil {
		log.Error("bad Redis address", "err", err)
		os.Exit(2)
	}
	// Scrapes are serial and small: a couple of connections are plenty.
	ropt.PoolSize = 4
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	col, err := exporter.New(rdb, exporter.Options{Queues: cfg.Queues, Timeout: cfg.ScrapeTimeout, Logger: log})
	if err != nil {
		log.Error("bad configuration", "err", err)
		os.Exit(2)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	srv := &http.Server{Addr: cfg.Listen, Handler: exporter.Handler(reg), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("queue-exporter listening", "listen", cfg.Listen, "redis", ropt.Addr, "queues", cfg.Queues)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
