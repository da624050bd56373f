package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// env is a real PostgreSQL and a real Redis with the gateway's dependencies
// connected to them.
type env struct {
	t     *testing.T
	pg    *testenv.Postgres
	redis *testenv.Redis
	store *store.Store
	rdb   *redis.Client
	conn  *pgx.Conn // for checking rows behind the store's back
	n     atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, pg: testenv.StartPostgres(t), redis: testenv.StartRedis(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, e.pg.DSN)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(st.Close)
	e.store = st
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { e.rdb.Close() })
	e.conn, err = pgx.Connect(ctx, e.pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close(context.Background()) })
	return e
}

// gateway is one Server (fresh metrics) over the env, on its own queue so
// tests sharing an env do not see each other's ids.
type gateway struct {
	*env
	srv *Server
	ts  *httptest.Server
	q   *queue.Queue
}

func (e *env) gateway(mut func(*Config)) *gateway { return e.gatewayWith(Deps{}, mut) }

// gatewayWith is gateway with extra dependencies (Auth); the store, queue,
// Redis and logger are the env's.
func (e *env) gatewayWith(extra Deps, mut func(*Config)) *gateway {
	t := e.t
	t.Helper()
	q, err := queue.New(e.rdb, fmt.Sprintf("test-%d", e.n.Add(1)), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DatabaseURL = e.pg.DSN
	cfg.RedisAddr = e.redis.Addr
	cfg.Queue = q.Name()
	cfg.ReadyTimeout = 500 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	srv := New(cfg, Deps{Jobs: e.store, Queue: q, Redis: e.rdb, Logger: testLogger(t), Auth: extra.Auth})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &gateway{env: e, srv: srv, ts: ts, q: q}
}

func testLogger(t *testing.T) *slog.Logger { return testenv.Logger(t) }

// wav synthesizes seconds of a 440 Hz tone at 16 kHz, 16-bit mono.
func wav(t testing.TB, seconds float64) []byte {
	t.Helper()
	const rate = 16000
	n := int(seconds * rate)
	s := make([]float64, n)
	for i := range s {
		s[i] = 0.5 * math.Sin(2*math.Pi*440*float64(i)/rate)
	}
	var b bytes.Buffer
	if err := audio.Encode(&b, &audio.Clip{SampleRate: rate, Channels: [][]float64{s}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, r.body)
	}
	return m
}

func do(t *testing.T, method, url, contentType string, body io.Reader) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func (g *gateway) post(t *testing.T, path string, body []byte) resp {
	return do(t, "POST", g.ts.URL+path, "audio/wav", bytes.NewReader(body))
}

func (g *gateway) get(t *testing.T, path string) resp {
	return do(t, "GET", g.ts.URL+path, "", nil)
}

func (e *env) rows(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := e.conn.QueryRow(context.Background(), "SELECT count(*) FROM jobs "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (g *gateway) queued(t *testing.T) []string {
	t.Helper()
	ids, err := g.rdb.LRange(context.Background(), g.q.Keys().Ready, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func multipartBody(t *testing.T, field string, content []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.WriteField("comment", "ignored field before the audio"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile(field, "clip.wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), b.Bytes()
}

func TestAPI(t *testing.T) {
	e := newEnv(t)
	clip := wav(t, 1)

	t.Run("upload queues job", func(t *testing.T) {
		g := e.gateway(nil)
		before := e.rows(t, "")
		r := g.post(t, "/v1/jobs", clip)
		if r.code != http.StatusAccepted {
			t.Fatalf("POST /v1/jobs = %d %s", r.code, r.body)
		}
		m := r.json(t)
		id, _ := m["id"].(string)
		if !store.ValidID(id) || m["status"] != "queued" {
			t.Fatalf("body %s", r.body)
		}
		if loc := r.hdr.Get("Location"); loc != "/v1/jobs/"+id {
			t.Fatalf("Location = %q", loc)
		}
		if r.hdr.Get("X-Request-ID") == "" {
			t.Error("no X-Request-ID in the response")
		}
		// The row is in PostgreSQL with the exact audio ...
		j, err := e.store.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("row: %v", err)
		}
		if j.Status != store.StatusQueued || !bytes.Equal(j.Audio, clip) {
			t.Fatalf("row status %q, audio %d bytes (want %d)", j.Status, len(j.Audio), len(clip))
		}
		if got := e.rows(t, ""); got != before+1 {
			t.Fatalf("rows %d -> %d, want +1", before, got)
		}
		// ... and its id in the Redis list the workers read.
		if ids := g.queued(t); len(ids) != 1 || ids[0] != id {
			t.Fatalf("queue holds %q, want [%s]", ids, id)
		}

		// GET reports it; then as a worker would, complete it and GET again.
		r = g.get(t, "/v1/jobs/"+id)
		if r.code != 200 {
			t.Fatalf("GET = %d %s", r.code, r.body)
		}
		m = r.json(t)
		if m["id"] != id || m["status"] != "queued" || m["attempts"] != 0.0 || m["result"] != nil {
			t.Fatalf("GET body %s", r.body)
		}
		if strings.Contains(string(r.body), "audio") {
			t.Fatalf("GET echoes audio: %s", r.body)
		}
		if err := e.store.MarkProcessing(context.Background(), id, 1, "lease"); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Complete(context.Background(), id, "lease", json.RawMessage(`{"voiced_seconds": 0.5}`)); err != nil {
			t.Fatal(err)
		}
		m = g.get(t, "/v1/jobs/"+id).json(t)
		res, _ := m["result"].(map[string]any)
		if m["status"] != "done" || m["attempts"] != 1.0 || res["voiced_seconds"] != 0.5 {
			t.Fatalf("GET after Complete: %v", m)
		}
		id2, err := store.NewID()
		if err != nil {
			t.Fatal(err)
		}
		// A failed job shows its error (a done one can no longer fail).
		failedID, err := e.store.Insert(context.Background(), store.NewJob{Owner: auth.Anonymous, Audio: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Fail(context.Background(), failedID, "x"); err != nil {
			t.Fatal(err)
		}
		m = g.get(t, "/v1/jobs/"+failedID).json(t)
		if m["status"] != "failed" || m["error"] != "x" {
			t.Fatalf("GET after Fail: %v", m)
		}
		for _, p := range []string{"/v1/jobs/" + id2, "/v1/jobs/not-an-id", "/v1/jobs/" + strings.ToUpper(id)} {
			r := g.get(t, p)
			if r.code != 404 || r.json(t)["error"] != "not_found" {
				t.Errorf("GET %s = %d %s, want 404 JSON", p, r.code, r.body)
			}
		}
	})

	t.Run("multipart upload", func(t *testing.T) {
		g := e.gateway(nil)
		ct, body := multipartBody(t, "audio", clip)
		r := do(t, "POST", g.ts.URL+"/v1/jobs", ct, bytes.NewReader(body))
		if r.code != http.StatusAccepted {
			t.Fatalf("= %d %s", r.code, r.body)
		}
		id := r.json(t)["id"].(string)
		j, err := e.store.Get(context.Background(), id)
		if err != nil || !bytes.Equal(j.Audio, clip) {
			t.Fatalf("stored audio differs from the multipart field (err %v)", err)
		}
		if ids := g.queued(t); len(ids) != 1 || ids[0] != id {
			t.Fatalf("queue holds %q", ids)
		}
	})

	t.Run("bad uploads write nothing", func(t *testing.T) {
		g := e.gateway(func(c *Config) { c.MaxUploadBytes = 64 << 10 })
		before := e.rows(t, "")
		big := wav(t, 3) // 96 KB > 64 KiB
		mpCT, mpNoAudio := multipartBody(t, "file", clip)
		mpBigCT, mpBig := multipartBody(t, "audio", big)
		cases := []struct {
			name, ct string
			body     io.Reader
			code     int
			errCode  string
		}{
			{"not a wav", "audio/wav", strings.NewReader("hello, this is definitely not RIFF data at all"), 400, "invalid_audio"},
			{"truncated", "audio/wav", bytes.NewReader(clip[:len(clip)/2]), 400, "invalid_audio"},
			{"header only", "audio/wav", bytes.NewReader(clip[:30]), 400, "invalid_audio"},
			{"empty", "audio/wav", bytes.NewReader(nil), 400, "empty_body"},
			{"too big", "audio/wav", bytes.NewReader(big), 413, "payload_too_large"},
			// No Content-Length: the limit must hold while streaming too.
			{"too big chunked", "audio/wav", io.MultiReader(bytes.NewReader(big)), 413, "payload_too_large"},
			{"too big multipart", mpBigCT, io.MultiReader(bytes.NewReader(mpBig)), 413, "payload_too_large"},
			{"wrong content type", "application/json", strings.NewReader(`{"audio":"x"}`), 415, "unsupported_media_type"},
			{"multipart without audio field", mpCT, bytes.NewReader(mpNoAudio), 400, "missing_audio"},
			{"broken multipart", "multipart/form-data; boundary=xyz", strings.NewReader("garbage"), 400, "bad_multipart"},
		}
		for _, c := range cases {
			r := do(t, "POST", g.ts.URL+"/v1/jobs", c.ct, c.body)
			if r.code != c.code {
				t.Errorf("%s: %d %s, want %d", c.name, r.code, r.body, c.code)
				continue
			}
			m := r.json(t)
			if m["error"] != c.errCode || m["detail"] == "" {
				t.Errorf("%s: body %s, want error %q with a detail", c.name, r.body, c.errCode)
			}
		}
		if got := e.rows(t, ""); got != before {
			t.Errorf("bad uploads wrote %d rows", got-before)
		}
		if ids := g.queued(t); len(ids) != 0 {
			t.Errorf("bad uploads queued %q", ids)
		}
	})

	t.Run("analyze", func(t *testing.T) {
		g := e.gateway(func(c *Config) { c.MaxAnalyzeDuration = 2 * time.Second })
		before := e.rows(t, "")
		r := g.post(t, "/v1/analyze", clip)
		if r.code != 200 {
			t.Fatalf("= %d %s", r.code, r.body)
		}
		c, err := audio.Decode(bytes.NewReader(clip))
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(audio.Analyze(c))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(r.body)) != string(want) {
			t.Fatalf("analyze body\n%s\nwant\n%s", r.body, want)
		}
		if r := g.post(t, "/v1/analyze", wav(t, 2.5)); r.code != 413 || r.json(t)["error"] != "audio_too_long" {
			t.Fatalf("2.5 s clip with 2 s limit: %d %s", r.code, r.body)
		}
		if r := g.post(t, "/v1/analyze", []byte("RIFF\x00\x00")); r.code != 400 {
			t.Fatalf("malformed: %d %s", r.code, r.body)
		}
		if got := e.rows(t, ""); got != before {
			t.Errorf("analyze wrote %d rows", got-before)
		}
	})

	t.Run("routing", func(t *testing.T) {
		g := e.gateway(nil)
		r := g.get(t, "/v1/jobs")
		if r.code != 405 || r.hdr.Get("Allow") != "POST" || r.json(t)["error"] != "method_not_allowed" {
			t.Errorf("GET /v1/jobs = %d Allow=%q %s", r.code, r.hdr.Get("Allow"), r.body)
		}
		if r := do(t, "DELETE", g.ts.URL+"/health", "", nil); r.code != 405 {
			t.Errorf("DELETE /health = %d", r.code)
		}
		if r := g.get(t, "/nope"); r.code != 404 || r.json(t)["error"] != "not_found" {
			t.Errorf("GET /nope = %d %s", r.code, r.body)
		}
		if r := g.get(t, "/health"); r.code != 200 || r.json(t)["status"] != "ok" {
			t.Errorf("/health = %d %s", r.code, r.body)
		}
		r = g.get(t, "/ready")
		if r.code != 200 {
			t.Errorf("/ready = %d %s", r.code, r.body)
		}
		// A sane client request id is propagated, a hostile one replaced.
		req, err := http.NewRequest("GET", g.ts.URL+"/health", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-ID", "abc-123")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Request-ID"); got != "abc-123" {
			t.Errorf("request id %q, want abc-123", got)
		}
		req.Header.Set("X-Request-ID", "bad id\"{}")
		if res, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Request-ID"); got == "" || strings.ContainsAny(got, " \"{}") {
			t.Errorf("hostile request id came back as %q", got)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		g := e.gateway(nil)
		const n = 7
		var ids []string
		for range n {
			r := g.post(t, "/v1/jobs", clip)
			if r.code != 202 {
				t.Fatalf("upload %d %s", r.code, r.body)
			}
			ids = append(ids, r.json(t)["id"].(string))
		}
		g.post(t, "/v1/jobs", []byte("junk")) // one 400
		for _, id := range ids {
			g.get(t, "/v1/jobs/"+id)
		}
		g.get(t, "/v1/jobs/0123")
		g.get(t, "/health")
		g.get(t, "/random/path/1")
		g.get(t, "/random/path/2")

		reqs := g.srv.metrics.requests
		if got := testutil.ToFloat64(reqs.WithLabelValues("post", "/v1/jobs", "202")); got != n {
			t.Errorf(`http_requests_total{route="/v1/jobs",code="202"} = %v, want %d`, got, n)
		}
		if got := testutil.ToFloat64(reqs.WithLabelValues("post", "/v1/jobs", "400")); got != 1 {
			t.Errorf(`code="400" = %v, want 1`, got)
		}
		if got := testutil.ToFloat64(reqs.WithLabelValues("get", "/v1/jobs/{id}", "200")); got != n {
			t.Errorf(`route="/v1/jobs/{id}",code="200" = %v, want %d`, got, n)
		}
		if got := testutil.ToFloat64(reqs.WithLabelValues("get", "unmatched", "404")); got != 2 {
			t.Errorf(`route="unmatched" = %v, want 2`, got)
		}
		if got := testutil.CollectAndCount(g.srv.metrics.duration); got != 4 {
			t.Errorf("duration series = %d, want 4 (post jobs, get job, health, unmatched)", got)
		}

		// /metrics is not on the clients' port ...
		if r := g.get(t, "/metrics"); r.code != 404 {
			t.Errorf("GET /metrics on the API port = %d, want 404", r.code)
		}
		// ... but on the metrics handler (--metrics-listen), where
		// routes are patterns, never raw paths or ids.
		mts := httptest.NewServer(g.srv.Metrics())
		defer mts.Close()
		text := string(do(t, "GET", mts.URL+"/metrics", "", nil).body)
		for _, want := range []string{
			`http_requests_total{code="202",method="post",route="/v1/jobs"} 7`,
			`http_request_duration_seconds_bucket{method="get",route="/v1/jobs/{id}",le="0.005"}`,
			"go_goroutines ", "process_resident_memory_bytes ",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		for _, id := range ids {
			if strings.Contains(text, id) {
				t.Fatalf("/metrics contains job id %s (cardinality leak)", id)
			}
		}
		if strings.Contains(text, "/random/path") {
			t.Fatal("/metrics contains a raw unmatched path")
		}
	})
}

// TestRedisOutage: /ready follows Redis, /health does not, and an upload
// during the outage is refused with 503 and its row deleted: not left queued
// with nobody to process it, and no audio kept of a refused request.
func TestRedisOutage(t *testing.T) {
	e := newEnv(t)
	g := e.gateway(nil)
	clip := wav(t, 0.5)

	if r := g.get(t, "/ready"); r.code != 200 {
		t.Fatalf("/ready before outage = %d %s", r.code, r.body)
	}
	e.redis.Stop()

	r := g.get(t, "/ready")
	if r.code != 503 {
		t.Fatalf("/ready with Redis down = %d %s", r.code, r.body)
	}
	checks, _ := r.json(t)["checks"].(map[string]any)
	if checks["postgres"] != "ok" || checks["redis"] == "ok" || checks["redis"] == nil {
		t.Fatalf("/ready checks = %v", checks)
	}
	if r := g.get(t, "/health"); r.code != 200 {
		t.Fatalf("/health with Redis down = %d", r.code)
	}

	r = g.post(t, "/v1/jobs", clip)
	if r.code != 503 || r.json(t)["error"] != "queue_unavailable" || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("upload with Redis down = %d %s", r.code, r.body)
	}
	// "Nothing was accepted": nothing is kept either, no row, no audio.
	if n := e.rows(t, ""); n != 0 {
		t.Fatalf("%d rows left after a refused upload, want none", n)
	}

	e.redis.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.get(t, "/ready")
		if r.code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready still %d 10 s after Redis restarted: %s", r.code, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := g.post(t, "/v1/jobs", clip); r.code != 202 {
		t.Fatalf("upload after restart = %d %s", r.code, r.body)
	}
	if ids := g.queued(t); len(ids) != 1 {
		t.Fatalf("queue after restart holds %q, want one id", ids)
	}
}

// TestPostgresOutage: /ready fails and uploads get 503 without touching
// the queue.
func TestPostgresOutage(t *testing.T) {
	e := newEnv(t)
	g := e.gateway(nil)
	e.pg.Stop()
	if r := g.get(t, "/ready"); r.code != 503 {
		t.Fatalf("/ready with PostgreSQL down = %d %s", r.code, r.body)
	}
	if r := g.post(t, "/v1/jobs", wav(t, 0.2)); r.code != 503 || r.json(t)["error"] != "database_unavailable" {
		t.Fatalf("upload with PostgreSQL down = %d %s", r.code, r.body)
	}
	if ids := g.queued(t); len(ids) != 0 {
		t.Fatalf("queued %q without a row", ids)
	}
	if r := g.get(t, "/health"); r.code != 200 {
		t.Fatalf("/health = %d", r.code)
	}
}

// TestGracefulShutdown drives Serve the way SIGTERM does in main: an upload
// is in flight (its body still arriving) when ctx is cancelled; /ready turns
// 503 at once while requests are still served during the pre-stop delay; the
// upload then completes with 202 after the listener has closed, and Serve
// returns nil.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t)
	q, err := queue.New(e.rdb, "shutdown", queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	// 3 s: room, on a loaded machine, for the checks that must fall inside
	// the delay; they are ordered by events, not timed.
	cfg.PreStopDelay = 3 * time.Second
	cfg.ShutdownGrace = 20 * time.Second
	srv := New(cfg, Deps{Jobs: e.store, Queue: q, Redis: e.rdb, Logger: testLogger(t)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	if err := testenv.WaitTCP(ln.Addr().String(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "GET", base+"/ready", "", nil); r.code != 200 {
		t.Fatalf("/ready = %d %s", r.code, r.body)
	}

	// The slow request: half the body now, the rest after shutdown began.
	clip := wav(t, 1)
	pr, pw := io.Pipe()
	type result struct {
		r   resp
		err error
	}
	slow := make(chan result, 1)
	go func() {
		req, err := http.NewRequest("POST", base+"/v1/jobs", pr)
		if err != nil {
			slow <- result{err: err}
			return
		}
		req.Header.Set("Content-Type", "audio/wav")
		req.ContentLength = int64(len(clip))
		// Its own transport: keep-alive state of the default client must
		// not matter.
		res, err := (&http.Transport{}).RoundTrip(req)
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			slow <- result{err: err}
			return
		}
		slow <- result{r: resp{res.StatusCode, res.Header, b}}
	}()
	if _, err := pw.Write(clip[:len(clip)/2]); err != nil {
		t.Fatal(err)
	}

	cancel() // SIGTERM
	start := time.Now()
	for !srv.Draining() {
		if time.Since(start) > cfg.PreStopDelay {
			t.Fatal("not draining after cancel")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// During the pre-stop delay: still serving, but not ready.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := noKeepAlive.Get(base + "/ready")
	if err != nil {
		t.Fatalf("/ready during pre-stop: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Fatalf("/ready during pre-stop = %d, want 503", res.StatusCode)
	}
	if res, err := noKeepAlive.Get(base + "/health"); err != nil || res.StatusCode != 200 {
		t.Fatalf("/health during pre-stop: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if time.Since(start) >= cfg.PreStopDelay {
		t.Fatal("test too slow: pre-stop delay already over")
	}

	// After the delay the listener closes: poll for it, and it must not
	// close before the delay is over (a lower bound, which load cannot
	// break).
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(start) > cfg.PreStopDelay+10*time.Second {
			t.Fatal("listener still accepting 10 s after the pre-stop delay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if el := time.Since(start); el < cfg.PreStopDelay {
		t.Fatalf("listener closed %s after SIGTERM, before the %s pre-stop delay", el, cfg.PreStopDelay)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	// ... and the in-flight upload still completes.
	if _, err := pw.Write(clip[len(clip)/2:]); err != nil {
		t.Fatalf("finishing the slow body: %v", err)
	}
	pw.Close()
	got := <-slow
	if got.err != nil {
		t.Fatalf("slow request failed: %v", got.err)
	}
	if got.r.code != 202 {
		t.Fatalf("slow request = %d %s", got.r.code, got.r.body)
	}
	id := got.r.json(t)["id"].(string)
	if _, err := e.store.Get(context.Background(), id); err != nil {
		t.Fatalf("slow upload's row: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after a clean drain", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request finished")
	}
}

// TestShutdownGraceCutsOff: a request that outlives the grace period is cut
// off so the process exits before the kubelet's SIGKILL, and Serve says so.
func TestShutdownGraceCutsOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PreStopDelay = 50 * time.Millisecond
	cfg.ShutdownGrace = 300 * time.Millisecond
	srv := New(cfg, Deps{Logger: testLogger(t)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	if err := testenv.WaitTCP(ln.Addr().String(), 5*time.Second); err != nil {
		t.Fatal(err)
	}

	pr, pw := io.Pipe() // a body that never finishes
	defer pw.Close()
	go func() {
		req, err := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/analyze", pr)
		if err != nil {
			t.Error(err)
			return
		}
		req.ContentLength = 1000
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte("RIFF")); err != nil {
		t.Fatal(err)
	}
	// The event, not a sleep: the handler is running (in flight).
	waitUntil := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(srv.metrics.inFlight) < 1 {
		if time.Now().After(waitUntil) {
			t.Fatal("the slow request never reached its handler")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	// The request never ends, so only the grace can end Serve; the bound
	// is generous for a loaded machine yet far below "never".
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("Serve = nil although a request was cut off")
		}
		if el := time.Since(start); el < cfg.ShutdownGrace {
			t.Fatalf("Serve returned %s after SIGTERM, before the %s grace", el, cfg.ShutdownGrace)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return: the grace period cut nothing off")
	}
}
