package service

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Check is one dependency /ready tests.
type Check struct {
	Name string
	Fn   func(context.Context) error
}

// RedisPinger is the part of a go-redis client RedisCheck uses.
type RedisPinger interface {
	Ping(context.Context) *redis.StatusCmd
}

// RedisCheck pings Redis.
func RedisCheck(rdb RedisPinger) Check {
	return Check{"redis", func(ctx context.Context) error {
		if rdb == nil {
			return errors.New("not configured")
		}
		return rdb.Ping(ctx).Err()
	}}
}

// Pinger is anything with a Ping, such as *store.Store.
type Pinger interface{ Ping(context.Context) error }

// PostgresCheck pings the job store.
func PostgresCheck(p Pinger) Check {
	return Check{"postgres", func(ctx context.Context) error {
		if p == nil {
			return errors.New("not configured")
		}
		return p.Ping(ctx)
	}}
}

// Probes answers /health, /ready and /metrics the same way in every
// service. The bodies are JSON:
//
//	/health  200 {"status":"ok"}
//	/ready   200 {"status":"ready","checks":{"postgres":"ok","redis":"ok"}}
//	         503 {"status":"not ready","checks":{"postgres":"ok","redis":"dial tcp …: connection refused"}}
//	         503 {"status":"draining"}
//
// /health is liveness and checks nothing outside the process: a database
// outage must not make the kubelet restart every replica. /ready runs every
// check in parallel, each bounded by Timeout, and fails while draining.
type Probes struct {
	Timeout  time.Duration
	Checks   []Check
	Registry *prometheus.Registry // served on /metrics; nil: 503
	Log      *slog.Logger
	// RequestID, if set, names the request in the "not ready" log line.
	RequestID func(context.Context) string

	draining atomic.Bool
}

// SetDraining makes /ready fail from now on (shutdown has begun).
func (p *Probes) SetDraining() { p.draining.Store(true) }

// Draining reports whether shutdown has begun.
func (p *Probes) Draining() bool { return p.draining.Load() }

// Health is the liveness handler.
func (p *Probes) Health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready is the readiness handler.
func (p *Probes) Ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if p.Draining() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	results := make(map[string]string, len(p.Checks))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		ok = true
	)
	for _, c := range p.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			err := c.Fn(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				results[c.Name] = err.Error()
			} else {
				results[c.Name] = "ok"
			}
		})
	}
	wg.Wait()
	code, status := http.StatusOK, "ready"
	if !ok {
		code, status = http.StatusServiceUnavailable, "not ready"
		if p.Log != nil {
			var attrs []any
			if p.RequestID != nil {
				attrs = append(attrs, KeyRequestID, p.RequestID(r.Context()))
			}
			p.Log.Warn("not ready", append(attrs, "checks", results)...)
		}
	}
	WriteJSON(w, code, map[string]any{"status": status, "checks": results})
}

// Metrics serves Registry in the Prometheus text format.
func (p *Probes) Metrics() http.Handler {
	if p.Registry == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			WriteError(w, http.StatusServiceUnavailable, "unavailable", "no metrics yet")
		})
	}
	opts := promhttp.HandlerOpts{Registry: p.Registry} // counts its own scrape errors
	if p.Log != nil {
		opts.ErrorLog = slog.NewLogLogger(p.Log.Handler(), slog.LevelError)
	}
	return promhttp.HandlerFor(p.Registry, opts)
}

// Handler serves /health, /ready and /metrics (GET and HEAD), for services
// whose only HTTP endpoints are these; the gateway mounts Health, Ready and
// Metrics in its own routes instead, so they are counted and logged like
// its API.
func (p *Probes) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", p.Health)
	mux.HandleFunc("GET /ready", p.Ready)
	mux.Handle("GET /metrics", p.Metrics())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path+"; this service serves /health, /ready and /metrics")
	})
	return mux
}

// ErrorBody is every error response: a stable machine-readable code and a
// human-readable detail.
type ErrorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// WriteError writes an ErrorBody.
func WriteError(w http.ResponseWriter, code int, errCode, detail string) {
	WriteJSON(w, code, ErrorBody{Error: errCode, Detail: detail})
}

// WriteJSON writes v as the JSON response body with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal","detail":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
