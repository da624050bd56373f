package server

import (
	"log/slog"
	"net/http"
	"time"
)

// The kubelet calls GET /health every few seconds on every replica and must
// get an answer under overload, so it is served in front of everything
// else: no request-id generation, no access log (it would be at debug),
// no mux, no limits, and the response bytes and the metric series are
// prepared once. It is still counted in http_requests_total and
// http_request_duration_seconds under route /health, as before; with
// --log-level debug the request takes the full chain instead, so it is
// logged as every other one. /ready bypasses the limits too (it is not a
// /v1 route) but keeps the full chain: it runs the dependency checks anyway.
var (
	healthBody      = []byte(`{"status":"ok"}` + "\n") // what service.Probes.Health writes
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

func (s *Server) probeFastPath(next http.Handler) http.Handler {
	count := s.metrics.requests.WithLabelValues("get", "/health", "200")
	observe := s.metrics.duration.WithLabelValues("get", "/health")
	inFlight := s.metrics.inFlight
	logHandler := s.log.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/health" || logHandler.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		inFlight.Inc()
		h := w.Header()
		// The slices are shared and never modified: net/http only reads them.
		h["Content-Type"] = jsonContentType
		h["Cache-Control"] = noStore
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(healthBody)
		inFlight.Dec()
		count.Inc()
		observe.Observe(time.Since(start).Seconds())
	})
}
