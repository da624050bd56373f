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
	got, err := scrape.GatheredSeries(m.registry)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := scrape.Exports("voiceassist/voiceassist-server")
	if !ok || len(want) == 0 {
		t.Fatal("internal/scrape does not know the gateway's image")
	}
	for _, s := range want {
		if !got[s] {
			t.Errorf("internal/scrape lists %s for voiceassist-server, which it does not export", s)
		}
	}
}
