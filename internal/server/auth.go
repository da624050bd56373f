package server

import (
	"net/http"
)

// authenticate runs before a /v1 handler reads a byte of the body: an
// unauthenticated upload costs the gateway only its headers. On success
// the client id is in the request's context (ClientID).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, f := s.deps.Auth.Authenticate(r)
		if f != nil {
			if f.Challenge != "" {
				w.Header().Set("WWW-Authenticate", f.Challenge)
			}
			if f.Code == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "5")
				writeError(w, f.Code, "auth_unavailable", f.Detail)
				return
			}
			writeError(w, f.Code, "unauthorized", f.Detail)
			return
		}
		setClientID(r.Context(), client)
		next.ServeHTTP(w, r)
	})
}
