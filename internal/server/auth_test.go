package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/auth/authtest"
	"github.com/voiceassist/autoscaling/internal/store"
)

// authed sends a request with a credential header (hdr "" = none).
func authed(t *testing.T, method, url, hdr, value string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "audio/wav")
	}
	if hdr != "" {
		req.Header.Set(hdr, value)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b.Bytes()}
}

// TestAuthAndOwnership: every /v1 route refuses requests without valid
// credentials (401 with WWW-Authenticate, nothing stored) and the probes do
// not; API keys (both headers) and OIDC tokens of a local issuer
// (authtest, a labelled fake identity provider) name the client; a job is
// visible and deletable by its owner only, others get 404.
func TestAuthAndOwnership(t *testing.T) {
	e := newEnv(t)
	keyA, lineA, err := auth.NewKey("clinic-a")
	if err != nil {
		t.Fatal(err)
	}
	keyB, lineB, err := auth.NewKey("clinic-b")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "api-keys")
	if err := os.WriteFile(path, []byte(lineA+"\n"+lineB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kf, err := auth.LoadKeyFile(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	is := authtest.NewIssuer(t)
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: is.URL, Audience: "voiceassist"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	g := e.gatewayWith(Deps{Auth: &auth.Authenticator{Keys: kf, OIDC: o}}, nil)
	clip := wav(t, 0.5)
	before := e.rows(t, "")

	// Refused: no credentials, a wrong key, a key in the wrong scheme, a
	// token for another audience. Nothing is stored.
	tokOther := is.Token(t, authtest.Claims{Subject: "u9", Audience: []string{"billing"}})
	refused := []struct{ hdr, val string }{
		{"", ""},
		{"Authorization", "Bearer vak_wrong"},
		{"Authorization", "Basic " + keyA},
		{"X-API-Key", keyA + "x"},
		{"Authorization", "Bearer " + tokOther},
	}
	for _, rq := range refused {
		for _, c := range []struct{ method, path string }{
			{"POST", "/v1/jobs"}, {"POST", "/v1/analyze"}, {"GET", "/v1/jobs/0123456789abcdef0123456789abcdef"},
			{"DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef"},
		} {
			var body []byte
			if c.method == "POST" {
				body = clip
			}
			r := authed(t, c.method, g.ts.URL+c.path, rq.hdr, rq.val, body)
			if r.code != 401 || !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Bearer") || r.json(t)["error"] != "unauthorized" {
				t.Errorf("%s %s with %s %.12q: %d %q %s; want 401 with a Bearer challenge", c.method, c.path, rq.hdr, rq.val, r.code, r.hdr.Get("WWW-Authenticate"), r.body)
			}
		}
	}
	if n := e.rows(t, ""); n != before {
		t.Fatalf("refused requests stored %d rows", n-before)
	}
	for _, p := range []string{"/health", "/ready"} {
		if r := g.get(t, p); r.code != 200 {
			t.Errorf("%s without credentials = %d, want 200", p, r.code)
		}
	}

	// Accepted: each method, each client.
	submit := func(hdr, val string) string {
		t.Helper()
		r := authed(t, "POST", g.ts.URL+"/v1/jobs", hdr, val, clip)
		if r.code != 202 {
			t.Fatalf("upload with %s: %d %s", hdr, r.code, r.body)
		}
		return r.json(t)["id"].(string)
	}
	tokU1 := is.Token(t, authtest.Claims{Subject: "user-1", Audience: []string{"voiceassist"}})
	idA := submit("Authorization", "Bearer "+keyA)
	idA2 := submit("X-API-Key", keyA)
	idU := submit("Authorization", "Bearer "+tokU1)
	for id, owner := range map[string]string{idA: "clinic-a", idA2: "clinic-a", idU: "user-1"} {
		j, err := e.store.Get(context.Background(), id)
		if err != nil || j.Owner != owner {
			t.Fatalf("job %s: owner %q (%v), want %q", id, j.Owner, err, owner)
		}
	}
	if r := authed(t, "POST", g.ts.URL+"/v1/analyze", "Authorization", "Bearer "+keyB, clip); r.code != 200 {
		t.Fatalf("analyze with a key: %d %s", r.code, r.body)
	}

	// Visible to the owner only; 404 (not 403) for everyone else.
	get := func(id, hdr, val string) int { return authed(t, "GET", g.ts.URL+"/v1/jobs/"+id, hdr, val, nil).code }
	if c := get(idA, "Authorization", "Bearer "+keyA); c != 200 {
		t.Errorf("owner GET = %d", c)
	}
	if c := get(idA, "X-API-Key", keyA); c != 200 {
		t.Errorf("owner GET with X-API-Key = %d", c)
	}
	for _, other := range []struct{ hdr, val string }{{"Authorization", "Bearer " + keyB}, {"Authorization", "Bearer " + tokU1}} {
		r := authed(t, "GET", g.ts.URL+"/v1/jobs/"+idA, other.hdr, other.val, nil)
		if r.code != 404 || r.json(t)["error"] != "not_found" {
			t.Errorf("another client's GET = %d %s, want 404", r.code, r.body)
		}
		if r := authed(t, "DELETE", g.ts.URL+"/v1/jobs/"+idA, other.hdr, other.val, nil); r.code != 404 {
			t.Errorf("another client's DELETE = %d %s, want 404", r.code, r.body)
		}
	}
	if c := get(idU, "Authorization", "Bearer "+keyA); c != 404 {
		t.Errorf("a key client reads a token client's job: %d", c)
	}

	// DELETE by the owner: 204, the row (audio, result) gone, then 404.
	if err := e.store.MarkProcessing(context.Background(), idA, 1, "L"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Complete(context.Background(), idA, "L", json.RawMessage(`{"voiced_seconds":0.4}`)); err != nil {
		t.Fatal(err)
	}
	if r := authed(t, "DELETE", g.ts.URL+"/v1/jobs/"+idA, "Authorization", "Bearer "+keyA, nil); r.code != 204 || len(r.body) != 0 {
		t.Fatalf("owner DELETE = %d %s, want 204", r.code, r.body)
	}
	if _, err := e.store.Get(context.Background(), idA); err != store.ErrNotFound {
		t.Fatalf("row after DELETE: %v", err)
	}
	if c := get(idA, "Authorization", "Bearer "+keyA); c != 404 {
		t.Errorf("GET after DELETE = %d", c)
	}
	if r := authed(t, "DELETE", g.ts.URL+"/v1/jobs/"+idA, "Authorization", "Bearer "+keyA, nil); r.code != 404 {
		t.Errorf("second DELETE = %d", r.code)
	}
	// A queued job can be deleted too (the worker then finds no row).
	if r := authed(t, "DELETE", g.ts.URL+"/v1/jobs/"+idA2, "X-API-Key", keyA, nil); r.code != 204 {
		t.Errorf("DELETE of a queued job = %d %s", r.code, r.body)
	}
	if r := authed(t, "PUT", g.ts.URL+"/v1/jobs/"+idU, "Authorization", "Bearer "+tokU1, nil); r.code != 405 || r.hdr.Get("Allow") != "DELETE, GET, HEAD" {
		t.Errorf("PUT = %d Allow %q", r.code, r.hdr.Get("Allow"))
	}
}

// TestClientID: ClientID is the authenticated client inside /v1
// handlers and the remote IP before authentication.
func TestClientID(t *testing.T) {
	ri := &reqInfo{remote: "192.0.2.7:5555"}
	ctx := context.WithValue(context.Background(), ctxKey{}, ri)
	if got := ClientID(ctx); got != "192.0.2.7" {
		t.Fatalf("before auth: %q", got)
	}
	ri.client = "clinic-a"
	if got := ClientID(ctx); got != "clinic-a" {
		t.Fatalf("after auth: %q", got)
	}
}

// TestAudioRetentionSweep: with --retain-audio the audio outlives the job
// by that long and the gateway's sweep then deletes it; the result stays.
func TestAudioRetentionSweep(t *testing.T) {
	e := newEnv(t)
	g := e.gateway(func(c *Config) { c.RetainAudio = 300 * time.Millisecond; c.AudioSweepInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.srv.SweepAudio(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	r := g.post(t, "/v1/jobs", wav(t, 0.2))
	if r.code != 202 {
		t.Fatalf("upload %d %s", r.code, r.body)
	}
	id := r.json(t)["id"].(string)
	if err := e.store.MarkProcessing(ctx, id, 1, "L"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Complete(ctx, id, "L", json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	j, err := e.store.Get(ctx, id)
	if err != nil || len(j.Audio) == 0 || j.AudioRetention != 300*time.Millisecond {
		t.Fatalf("right after completion: audio %d bytes, retention %s (%v); want it kept", len(j.Audio), j.AudioRetention, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := e.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Audio) == 0 {
			if j.Status != store.StatusDone || string(j.Result) != `{"ok": true}` {
				t.Fatalf("the sweep changed more than the audio: %+v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("audio still there 10 s after its 300 ms retention")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLogClientIP: the access log carries the client's address only with
// --log-client-ip, and the authenticated client always.
func TestLogClientIP(t *testing.T) {
	for _, on := range []bool{false, true} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		srv := New(Config{LogClientIP: on}, Deps{Logger: log})
		req := httptest.NewRequest("POST", "/v1/analyze", bytes.NewReader(wav(t, 0.1)))
		req.RemoteAddr = "198.51.100.23:40000"
		srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
		line := buf.String()
		if got := strings.Contains(line, "198.51.100.23"); got != on {
			t.Errorf("--log-client-ip=%v: address in the log = %v:\n%s", on, got, line)
		}
		if !strings.Contains(line, `"client":"anonymous"`) {
			t.Errorf("access log lacks the client: %s", line)
		}
	}
}
