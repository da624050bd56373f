package loadtest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ResolveAPIKey: the file first, then the variable, then the Secret.
func TestResolveAPIKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == APIKeyEnv {
				return v
			}
			return ""
		}
	}
	secret := func(key string, found bool, err error) SecretKey {
		return func(context.Context) (string, bool, error) { return key, found, err }
	}
	for _, c := range []struct {
		name, file, env  string
		secret           SecretKey
		wantKey, wantErr string
		wantFrom         string
	}{
		{name: "file wins", file: file, env: "from-env", secret: secret("from-secret", true, nil), wantKey: "from-file", wantFrom: "--api-key-file " + file},
		{name: "env next", env: " from-env ", secret: secret("from-secret", true, nil), wantKey: "from-env", wantFrom: "$VOICEASSIST_API_KEY"},
		{name: "secret last", secret: secret("from-secret", true, nil), wantKey: "from-secret", wantFrom: "Secret voiceassist/voiceassist-loadtest-key"},
		{name: "no secret", secret: secret("", false, nil)},
		{name: "no cluster"},
		{name: "secret error", secret: secret("", false, errors.New("forbidden")), wantErr: "forbidden"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "--api-key-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, from, err := ResolveAPIKey(ctx, c.file, env(c.env), c.secret, "Secret voiceassist/voiceassist-loadtest-key")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil || key != c.wantKey || from != c.wantFrom {
				t.Errorf("got %q from %q (err %v), want %q from %q", key, from, err, c.wantKey, c.wantFrom)
			}
		})
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ResolveAPIKey(ctx, empty, env(""), nil, ""); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("an empty key file: err %v, want one naming the file", err)
	}
}

// Every request of a run (POST /v1/analyze, POST /v1/jobs and the
// GET /v1/jobs/{id} that follow them) carries the key, through a proxy in
// front of the real gateway and worker that records what it sees.
func TestRunSendsAPIKey(t *testing.T) {
	s := startStack(t, true)
	gw, err := url.Parse(s.gateway.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(gw)
	var mu sync.Mutex
	seen := map[string]map[string]int{} // "METHOD /v1/x" -> Authorization -> count
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.Method + " " + r.URL.Path
		if strings.HasPrefix(r.URL.Path, "/v1/jobs/") {
			route = r.Method + " /v1/jobs/{id}"
		}
		mu.Lock()
		if seen[route] == nil {
			seen[route] = map[string]int{}
		}
		seen[route][r.Header.Get("Authorization")]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	sh := DefaultShape(ProfileConstant)
	sh.Duration = time.Second
	rep, err := Run(context.Background(), Config{Target: TargetAll, Shape: sh, APIRate: 3, Burst: 3, Clips: clips(t, "500ms"),
		Gateway: URLGateway(front.URL), APIKey: s.key, Cooldown: 0, Poll: 100 * time.Millisecond, FollowTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Jobs.Done != 3 || rep.API.OK == 0 {
		t.Fatalf("jobs done %d, analyses ok %d", rep.Jobs.Done, rep.API.OK)
	}
	for _, route := range []string{"POST /v1/analyze", "POST /v1/jobs", "GET /v1/jobs/{id}"} {
		if got := seen[route]; len(got) != 1 || got["Bearer "+s.key] == 0 {
			t.Errorf("%s: Authorization headers %v, want only the run's key", route, got)
		}
	}
}
