//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

// withAPIKey makes base send the load test's API key, as vactl loadtest
// does: "Authorization: Bearer <key>" from the Secret
// voiceassist-loadtest-key (dev renders it; setup --create-secrets makes
// it elsewhere). A request that sets its own Authorization keeps it.
func withAPIKey(base http.RoundTripper) http.RoundTripper {
	return &apiKeyTransport{base: base}
}

type apiKeyTransport struct {
	base http.RoundTripper

	mu    sync.Mutex
	key   string
	tried time.Time
}

func (t *apiKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		if k := t.apiKey(r.Context()); k != "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+k)
		}
	}
	return t.base.RoundTrip(r)
}

// apiKey returns the key once the Secret exists; until then it asks again
// at most every 2 s (a scenario may send before it deploys).
func (t *apiKeyTransport) apiKey(ctx context.Context) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key != "" || time.Since(t.tried) < 2*time.Second {
		return t.key
	}
	t.tried = time.Now()
	s, err := cs.CoreV1().Secrets(cluster.Namespace).Get(ctx, cluster.LoadtestKeySecret, metav1.GetOptions{})
	if err == nil {
		t.key = string(s.Data[cluster.LoadtestKeyKey])
	}
	return t.key
}
