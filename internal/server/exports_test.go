package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/voiceassist/autoscaling/internal/scrape"
)

// TestExportsTable: every series internal/scrape says the gateway's image
// exports (what `vactl lint` and the k8s tests trust to decide that the
// request-rate metric can be served) is one this code really registers.
func TestExportsTable(t *testing.T) {
	m := newMetrics()
	// A CounterVec has no series until its first request.
	m.instrument("/x", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if err := scrape.CheckExports("voiceassist/voiceassist-server", m.registry); err != nil {
		t.Error(err)
	}
}
