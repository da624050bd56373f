// Package server is the VoiceAssist API gateway (voiceassist-server): the
// HTTP API that accepts voice jobs, the synchronous analysis endpoint, the
// probes the kubelet calls and the metrics the gateway HPA scales on.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/semaphore"

	"github.com/voiceassist/autoscaling/internal/store"
)

// JobStore is what the gateway needs from the jobs table; *store.Store
// implements it.
type JobStore interface {
	Create(ctx context.Context, audio []byte) (string, error)
	GetMeta(ctx context.Context, id string) (*store.Job, error)
	Fail(ctx context.Context, id string, reason string) error
	Ping(ctx context.Context) error
}

// Enqueuer hands job ids to the workers; *queue.Queue implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, ids ...string) error
}

// Deps are the gateway's connections. Jobs, Queue and Redis are needed by
// the job endpoints and /ready; /health, /v1/analyze and /metrics work
// without them (benchmarks use that).
type Deps struct {
	Jobs   JobStore
	Queue  Enqueuer
	Redis  redis.UniversalClient // pinged by /ready
	Logger *slog.Logger
}

// Server is the gateway. Create it with New; serve it with Run or Serve, or
// mount Handler yourself.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	metrics  *metrics
	handler  http.Handler
	draining atomic.Bool
	// decodeBudget bounds the memory of concurrent WAV decodes (bytes).
	decodeBudget *semaphore.Weighted
}

// New builds the gateway and its routes. cfg is used as given (callers get
// it from ParseConfig, which validates); zero limits fall back to defaults.
func New(cfg Config, deps Deps) *Server {
	def := DefaultConfig()
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = def.MaxUploadBytes
	}
	if cfg.MaxAnalyzeDuration <= 0 {
		cfg.MaxAnalyzeDuration = def.MaxAnalyzeDuration
	}
	if cfg.DecodeMemoryBytes <= 0 {
		cfg.DecodeMemoryBytes = def.DecodeMemoryBytes
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = def.ReadyTimeout
	}
	if cfg.ShutdownGrace <= cfg.PreStopDelay {
		cfg.ShutdownGrace = cfg.PreStopDelay + def.ShutdownGrace
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, deps: deps, log: log, metrics: newMetrics(),
		decodeBudget: semaphore.NewWeighted(cfg.DecodeMemoryBytes)}
	s.handler = withRequestLog(log, s.routes())
	return s
}

// route is one path of the API with the methods it serves.
type route struct {
	path    string // ServeMux path pattern, also the metrics "route" label
	quiet   bool   // log at debug: probes and scrapes
	methods map[string]http.HandlerFunc
}

func (s *Server) routes() http.Handler {
	metricsHandler := promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{
		Registry:          s.metrics.registry, // counts its own scrape errors
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		EnableOpenMetrics: false,
	})
	table := []route{
		{path: "/v1/jobs", methods: map[string]http.HandlerFunc{"POST": s.createJob}},
		{path: "/v1/jobs/{id}", methods: map[string]http.HandlerFunc{"GET": s.getJob}},
		{path: "/v1/analyze", methods: map[string]http.HandlerFunc{"POST": s.analyze}},
		{path: "/health", quiet: true, methods: map[string]http.HandlerFunc{"GET": s.health}},
		{path: "/ready", quiet: true, methods: map[string]http.HandlerFunc{"GET": s.ready}},
		{path: "/metrics", quiet: true, methods: map[string]http.HandlerFunc{"GET": metricsHandler.ServeHTTP}},
	}
	mux := http.NewServeMux()
	for _, rt := range table {
		allow := ""
		for m, h := range rt.methods {
			// "GET /x" also matches HEAD, as ServeMux documents.
			mux.Handle(m+" "+rt.path, s.wrap(rt, h))
			if allow != "" {
				allow += ", "
			}
			allow += m
		}
		// The method-less pattern catches every other method on the same
		// path, so it answers 405 in our JSON format (and is counted under
		// the route) instead of falling through to the 404 catch-all.
		if _, ok := rt.methods["GET"]; ok {
			allow += ", HEAD"
		}
		mux.Handle(rt.path, s.wrap(rt, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, rt.path, allow))
		}))
	}
	// Everything else is one series, "unmatched", whatever the path: scanners
	// probing random URLs must not create series.
	mux.Handle("/", s.wrap(route{path: "unmatched"}, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
	}))
	return mux
}

func (s *Server) wrap(rt route, h http.HandlerFunc) http.Handler {
	inner := s.metrics.instrument(rt.path, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		ri.route, ri.quiet = rt.path, rt.quiet
		inner.ServeHTTP(w, r)
	})
}

// Handler is the gateway's complete HTTP handler: routes, metrics, request
// ids and access logs.
func (s *Server) Handler() http.Handler { return s.handler }

// Draining reports whether shutdown has begun (then /ready answers 503).
func (s *Server) Draining() bool { return s.draining.Load() }

// Run listens on cfg.Listen and serves until ctx is cancelled, then drains;
// see Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled (SIGTERM in main), then shuts
// down the way a Kubernetes pod must:
//
//  1. /ready fails at once, so the endpoints controller takes the pod out of
//     the Service. That takes a few seconds to reach every kube-proxy and
//     ingress, and meanwhile they still send new requests here, so
//  2. the server keeps serving everything for PreStopDelay (keep-alives off,
//     so clients re-dial and land on other pods), then
//  3. http.Server.Shutdown closes the listener and waits for in-flight
//     requests, until ShutdownGrace (counted from the signal) runs out, when
//     the remaining connections are closed.
//
// It returns nil after a clean drain, or an error if the listener failed or
// in-flight requests had to be cut off.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second, // slowloris
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Request contexts must not derive from ctx: cancelling ctx means
		// "drain", and in-flight requests are supposed to finish.
		BaseContext: func(net.Listener) context.Context { return context.Background() },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "max_upload_bytes", s.cfg.MaxUploadBytes,
		"pre_stop_delay", s.cfg.PreStopDelay.String(), "shutdown_grace", s.cfg.ShutdownGrace.String())

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	signalled := time.Now()
	s.draining.Store(true)
	srv.SetKeepAlivesEnabled(false)
	s.log.Info("draining: /ready now fails; still serving during the pre-stop delay", "pre_stop_delay", s.cfg.PreStopDelay.String())

	select {
	case <-time.After(s.cfg.PreStopDelay):
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}

	sctx, cancel := context.WithDeadline(context.Background(), signalled.Add(s.cfg.ShutdownGrace))
	defer cancel()
	s.log.Info("shutting down: listener closed, waiting for in-flight requests")
	err := srv.Shutdown(sctx)
	if err != nil {
		// Grace period exhausted: cut the stragglers off so the process
		// exits before the kubelet's SIGKILL, and say so.
		_ = srv.Close()
		err = fmt.Errorf("shutdown after %s: in-flight requests cut off: %w", time.Since(signalled).Round(time.Millisecond), err)
		s.log.Error("shutdown incomplete", "err", err)
	} else {
		s.log.Info("shutdown complete", "after", time.Since(signalled).Round(time.Millisecond).String())
	}
	<-errc // http.ErrServerClosed
	return err
}

// health is liveness: the process serves HTTP. It checks no dependency (a
// database outage must not make the kubelet restart every gateway) and is
// never rate-limited.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// ready is readiness: PostgreSQL and Redis answer within ReadyTimeout and we
// are not draining.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	type check struct {
		name string
		fn   func(context.Context) error
	}
	checks := []check{
		{"postgres", func(ctx context.Context) error {
			if s.deps.Jobs == nil {
				return errors.New("not configured")
			}
			return s.deps.Jobs.Ping(ctx)
		}},
		{"redis", func(ctx context.Context) error {
			if s.deps.Redis == nil {
				return errors.New("not configured")
			}
			return s.deps.Redis.Ping(ctx).Err()
		}},
	}
	results := make(map[string]string, len(checks))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		ok = true
	)
	for _, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
			defer cancel()
			err := c.fn(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				results[c.name] = err.Error()
			} else {
				results[c.name] = "ok"
			}
		})
	}
	wg.Wait()
	code, status := http.StatusOK, "ready"
	if !ok {
		code, status = http.StatusServiceUnavailable, "not ready"
		s.log.Warn("not ready", "request_id", RequestID(r.Context()), "checks", results)
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": results})
}

// errorBody is every error response: a stable machine-readable code and a
// human-readable detail.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

func writeError(w http.ResponseWriter, code int, errCode, detail string) {
	writeJSON(w, code, errorBody{Error: errCode, Detail: detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal","detail":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
