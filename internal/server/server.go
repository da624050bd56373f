// Package server is the VoiceAssist API gateway (voiceassist-server): the
// HTTP API that accepts voice jobs, the synchronous analysis endpoint, the
// probes the kubelet calls and the metrics the gateway HPA scales on.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/service"
	"github.com/voiceassist/autoscaling/internal/store"
)

// JobStore is what the gateway needs from the jobs table; *store.Store
// implements it. Reads and deletes name the client: a job is its owner's
// only.
type JobStore interface {
	Insert(ctx context.Context, j store.NewJob) (string, error)
	GetOwnedMeta(ctx context.Context, owner, id string) (*store.Job, error)
	DeleteOwned(ctx context.Context, owner, id string) error
	PurgeExpiredAudio(ctx context.Context, limit int) (int64, error)
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
	// Auth authenticates /v1 requests. Command always sets it from the
	// flags (and refuses to start without a method); nil, for tests and
	// benchmarks of New, makes every request the client auth.Anonymous.
	Auth *auth.Authenticator
}

// Server is the gateway. Create it with New; serve it with Serve, or mount
// Handler yourself (Command does, through internal/service).
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
	probes  *service.Probes // /health, /ready, /metrics; draining from SIGTERM on
	// budget bounds the memory of the audio of concurrent requests (bytes).
	budget  *audio.Budget
	work    *workSlots      // /v1 requests doing work
	clients *clientLimiters // per-client request rates
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
	cfg.derivedLimits(memoryLimit())
	if cfg.ClientBurst <= 0 {
		cfg.ClientBurst = cfg.ClientRate
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
	if deps.Auth == nil {
		deps.Auth = &auth.Authenticator{AllowUnauthenticated: true}
	}
	s := &Server{cfg: cfg, deps: deps, log: log, metrics: newMetrics(),
		budget:  audio.NewBudget(cfg.DecodeMemoryBytes),
		work:    &workSlots{max: int64(cfg.MaxInFlight)},
		clients: &clientLimiters{limit: rate.Limit(cfg.ClientRate), burst: cfg.ClientBurst}}
	s.metrics.watchLimits(s.budget, s.work)
	var jobs service.Pinger
	if deps.Jobs != nil {
		jobs = deps.Jobs
	}
	var rdb service.RedisPinger
	if deps.Redis != nil {
		rdb = deps.Redis
	}
	checks := []service.Check{service.PostgresCheck(jobs), service.RedisCheck(rdb)}
	if a := deps.Auth; a.OIDC != nil && a.Keys == nil && !a.AllowUnauthenticated {
		// Tokens are the only way in: until the issuer is discovered no
		// client can be served.
		checks = append(checks, service.Check{Name: "oidc", Fn: a.OIDC.Ready})
	}
	s.probes = &service.Probes{Timeout: cfg.ReadyTimeout, Registry: s.metrics.registry, Log: log, RequestID: RequestID,
		Checks: checks}
	s.handler = s.probeFastPath(withRequestLog(log, cfg.LogClientIP, s.routes()))
	return s
}

// route is one path of the API with the methods it serves.
type route struct {
	path    string // ServeMux path pattern, also the metrics "route" label
	quiet   bool   // log at debug: probes
	auth    bool   // the client must authenticate (every /v1 route)
	limited bool   // the client API: per-client rate limit (limits.go)
	work    bool   // decodes or analyses audio: also bounded by the in-flight slots
	methods map[string]http.HandlerFunc
}

func (s *Server) routes() http.Handler {
	// /metrics is not here: it is served on --metrics-listen (Metrics), a
	// port the clients' Service does not expose.
	table := []route{
		{path: "/v1/jobs", auth: true, limited: true, methods: map[string]http.HandlerFunc{"POST": s.createJob}},
		{path: "/v1/jobs/{id}", auth: true, limited: true, methods: map[string]http.HandlerFunc{"GET": s.getJob, "DELETE": s.deleteJob}},
		{path: "/v1/analyze", auth: true, limited: true, work: true, methods: map[string]http.HandlerFunc{"POST": s.analyze}},
		{path: "/health", quiet: true, methods: map[string]http.HandlerFunc{"GET": s.probes.Health}},
		{path: "/ready", quiet: true, methods: map[string]http.HandlerFunc{"GET": s.probes.Ready}},
	}
	mux := http.NewServeMux()
	for _, rt := range table {
		allow := ""
		for _, m := range slices.Sorted(maps.Keys(rt.methods)) {
			h := rt.methods[m]
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
		mux.Handle(rt.path, s.wrap(route{path: rt.path, quiet: rt.quiet}, func(w http.ResponseWriter, r *http.Request) {
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
	if rt.limited {
		h = s.admit(h, rt.work)
	}
	// Authentication runs outside the limits: the rate limit keys on the
	// authenticated client, and a request without credentials costs no slot.
	var next http.Handler = h
	if rt.auth {
		next = s.authenticate(h)
	}
	inner := s.metrics.instrument(rt.path, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		ri.route, ri.quiet = rt.path, rt.quiet
		inner.ServeHTTP(w, r)
	})
}

// Handler is the gateway's complete HTTP handler for clients: routes,
// authentication, request ids and access logs; no /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics serves GET /metrics (for --metrics-listen) and 404 elsewhere.
// Scrapes are not counted in http_requests_total: that is the request rate
// the gateway HPA scales on, and Prometheus is not a client.
func (s *Server) Metrics() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.probes.Metrics())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "this port serves only /metrics; the API is on --listen")
	})
	return mux
}

// Draining reports whether shutdown has begun (then /ready answers 503).
func (s *Server) Draining() bool { return s.probes.Draining() }

// Serve serves on ln until ctx is cancelled (SIGTERM), then drains
// with the sequence of service.HTTPServer.Drain: /ready fails at once, the
// server keeps serving for PreStopDelay, then in-flight requests get until
// ShutdownGrace (counted from the signal) to finish.
//
// It returns nil after a clean drain, or an error if the listener failed or
// in-flight requests had to be cut off.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("serving", "addr", ln.Addr().String(), "max_upload_bytes", s.cfg.MaxUploadBytes,
		"pre_stop_delay", s.cfg.PreStopDelay.String(), "shutdown_grace", s.cfg.ShutdownGrace.String())
	return service.Serve(ctx, ln, s.handler, s.probes, s.cfg.serving(), s.log, s.SweepAudio)
}

func writeError(w http.ResponseWriter, code int, errCode, detail string) {
	service.WriteError(w, code, errCode, detail)
}

func writeJSON(w http.ResponseWriter, code int, v any) { service.WriteJSON(w, code, v) }
