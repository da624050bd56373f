package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voiceassist/autoscaling/internal/audio"
)

// metrics are the gateway's Prometheus series. They live in the server's own
// registry (not the global default) so tests can build many servers and
// count exactly, and so nothing a library registers globally leaks out.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // http_requests_total{method,route,code}
	duration *prometheus.HistogramVec // http_request_duration_seconds{method,route}
	inFlight prometheus.Gauge
	shed     *prometheus.CounterVec // gateway_requests_shed_total{reason}
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		// Prometheus Adapter turns this into the Pods metric
		// http_requests_per_second that the gateway HPA scales on.
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds",
			Help: "Time to serve an HTTP request, by method and route pattern.",
			// Finer than DefBuckets at the bottom (probes take well under
			// 5 ms) and longer at the top (uploads and 30 s analyses).
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests currently being served.",
		}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_shed_total",
			Help: "Requests refused for lack of capacity, by reason: rate_limited (429), overloaded (503, no in-flight slot), memory (503, audio memory budget full).",
		}, []string{"reason"}),
	}
	for _, r := range []string{"rate_limited", "overloaded", "memory"} {
		m.shed.WithLabelValues(r) // present at 0 from the start, so rate() works
	}
	m.registry.MustRegister(
		m.requests, m.duration, m.inFlight, m.shed,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// instrument wraps the handler of one route. The route label is the
// registered pattern, fixed here, never r.URL.Path: /v1/jobs/{id} must be one
// series, not one per job id (unbounded cardinality would sink Prometheus).
// promhttp lower-cases the method label ("get", "post").
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	h = promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l), h)
	h = promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h)
	return promhttp.InstrumentHandlerInFlight(m.inFlight, h)
}

// watchLimits exports the state of the memory budget and the in-flight
// slots, read at scrape time.
func (m *metrics) watchLimits(b *audio.Budget, w *workSlots) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(
		gauge("gateway_audio_memory_budget_bytes", "Size of the memory budget for the audio of concurrent requests (--decode-memory-bytes).",
			func() float64 { return float64(b.Size()) }),
		gauge("gateway_audio_memory_reserved_bytes", "Bytes of the audio memory budget reserved, including finished requests' memory the GC has not freed yet.",
			func() float64 { return float64(b.Reserved()) }),
		gauge("gateway_audio_memory_awaiting_gc_bytes", "Bytes of the audio memory budget held by finished requests until the GC frees their memory.",
			func() float64 { return float64(b.AwaitingGC()) }),
		gauge("gateway_work_in_flight", "/v1 requests doing work now (limit --max-in-flight).",
			func() float64 { return float64(w.inUse.Load()) }),
		gauge("gateway_work_in_flight_limit", "--max-in-flight as configured or derived.",
			func() float64 { return float64(w.max) }),
	)
}

// reqInfo is per-request state shared between the outer logging middleware
// and the route wrapper, which knows the route.
type reqInfo struct {
	id     string
	route  string
	quiet  bool   // probes: logged at debug, they arrive every few seconds
	remote string // r.RemoteAddr
	client string // authenticated client id (ClientID); "" before auth
}

type ctxKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// RequestID returns the request id the gateway assigned (or accepted from
// the X-Request-ID header) for the request carrying ctx.
func RequestID(ctx context.Context) string { return infoFrom(ctx).id }

// statusWriter remembers the status code and body size for the access log.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validRequestID accepts ids a proxy or client may send: short and free of
// characters that would corrupt a log line or a header.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withRequestLog assigns a request id, recovers panics into a JSON 500 and
// writes one structured access-log line per request. The line names the
// authenticated client; the client's IP address only with logClientIP
// (--log-client-ip): an address can identify a patient.
func withRequestLog(log *slog.Logger, logClientIP bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		ri := &reqInfo{id: id, remote: r.RemoteAddr}
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p) // the documented way to abort a response; let net/http handle it
				}
				log.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"panic", p, "stack", string(debug.Stack()))
				if sw.code == 0 {
					writeError(sw, http.StatusInternalServerError, "internal", "internal server error")
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			level := slog.LevelInfo
			switch {
			case code >= 500:
				level = slog.LevelError
			case ri.quiet:
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("route", ri.route),
				slog.String("path", r.URL.Path),
				slog.Int("status", code),
				slog.Int64("bytes", sw.bytes),
				slog.Int64("request_bytes", r.ContentLength),
				slog.Float64("duration_seconds", time.Since(start).Seconds()),
			}
			if ri.client != "" {
				attrs = append(attrs, slog.String("client", ri.client))
			}
			if logClientIP {
				attrs = append(attrs, slog.String("remote", r.RemoteAddr))
			}
			log.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}
