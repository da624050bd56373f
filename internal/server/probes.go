package server

import (
	"log/slog"
	"net/http"
)

// The kubelet calls GET /health every few seconds on every replica and must
// get an answer under overload, so it is served in front of everything
// else: no request-id generation, no access log (it would be at debug),
// no mux, no limits, and the response bytes and the counter are prepared
// once. It is still counted in http_requests_total under route /health; its
// duration (constant, microseconds) is not observed. With --log-level debug,
// or when the caller sends an X-Request-ID to be echoed, the request takes
// the full chain instead, so it is logged and answered as every other one. /ready bypasses the limits too (it is not a
// /v1 route) but keeps the full chain: it runs the dependency checks anyway.
var (
	healthBody      = []byte(`{"status":"ok"}` + "\n") // what service.Probes.Health writes
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

func (s *Server) probeFastPath(next http.Handler) http.Handler {
	count := s.metrics.requests.WithLabelValues("get", "/health", "200")
	logHandler := s.log.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/health" || r.Header["X-Request-Id"] != nil ||
			logHandler.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		// The slices are shared and never modified: net/http only reads them.
		h["Content-Type"] = jsonContentType
		h["Cache-Control"] = noStore
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(healthBody)
		count.Inc()
	})
}
