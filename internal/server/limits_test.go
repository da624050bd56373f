package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// limitedGateway is the gateway without PostgreSQL or Redis (/v1/analyze
// and the probes do not need them), with cfg changed by mut.
func limitedGateway(t *testing.T, mut func(*Config)) (*Server, *httptest.Server) {
	t.Helper()
	cfg := DefaultConfig()
	mut(&cfg)
	srv := New(cfg, Deps{Logger: testLogger(t)})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, ts
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not a stand-in for the event
	}
}

// startUpload opens a connection, sends the headers of a POST /v1/analyze
// declaring declared bytes and then sent bytes of body, and leaves it open.
// declared < 0 declares no length: the body is sent chunked (sent bytes in
// one chunk, the last chunk not yet).
func startUpload(t *testing.T, addr string, declared, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	framing := fmt.Sprintf("Content-Length: %d", declared)
	if declared < 0 {
		framing = "Transfer-Encoding: chunked"
	}
	if _, err := fmt.Fprintf(c, "POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n%s\r\n\r\n", framing); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, sent)
	if declared < 0 {
		body = append(fmt.Appendf(nil, "%x\r\n", sent), append(body, "\r\n"...)...)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatal(err)
	}
	return c
}

func readResponse(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res
}

// TestSlowUploadsHoldOnlyWhatTheySent: slow clients declaring 1 MiB each
// (8 MiB together, twice the budget) hold memory for what they sent (in
// 64 KiB steps), not for what they declared, all of it inside the budget;
// a client whose bytes no longer fit gets 503 + Retry-After instead of
// growing the heap. (Before, each reserved the declared length on arrival.)
func TestSlowUploadsHoldOnlyWhatTheySent(t *testing.T) {
	const (
		budget   = 4 << 20
		clients  = 8
		sent     = 4 * uploadChunk    // each: exactly 4 chunks ...
		reserved = sent + uploadChunk // ... and the 5th it waits in
	)
	srv, ts := limitedGateway(t, func(c *Config) { c.DecodeMemoryBytes = budget })
	addr := ts.Listener.Addr().String()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	for range clients {
		startUpload(t, addr, 1<<20, sent)
	}
	waitFor(t, "the slow uploads' chunks to be reserved", func() bool { return srv.budget.Reserved() == clients*reserved })
	var during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&during)
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 2*budget {
		t.Errorf("heap grew by %d MiB with %d slow uploads holding %d KiB each; the budget is %d MiB",
			grew>>20, clients, reserved>>10, budget>>20)
	}

	// 2.5 MiB of 4 are held: a client sending 2 MiB more runs out. It
	// declares no length, so only its bytes can tell.
	c := startUpload(t, addr, -1, 2<<20)
	res := readResponse(t, c)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("upload beyond the budget: %s, Retry-After %q; want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	if got := srv.budget.Reserved(); got > budget {
		t.Errorf("Reserved = %d, over the %d budget", got, budget)
	}
	// Its chunks return once the collector has freed them; the slow ones stay.
	waitFor(t, "the refused upload's chunks to return", func() bool {
		runtime.GC()
		return srv.budget.Reserved() == clients*reserved
	})
}

// TestDeclaredLengthOverFreeBudgetRefusedAtOnce: an upload declaring more
// than the budget has free is refused (503 + Retry-After) before its body
// is sent, one declaring more than the whole budget gets 413, and neither
// reserves anything.
func TestDeclaredLengthOverFreeBudgetRefusedAtOnce(t *testing.T) {
	srv, ts := limitedGateway(t, func(c *Config) { c.DecodeMemoryBytes = 4 << 20 })
	other := srv.budget.Reserve()
	if err := other.Grow(context.Background(), 3<<20); err != nil {
		t.Fatal(err)
	}
	defer other.Done()
	addr := ts.Listener.Addr().String()

	// Headers only: an answer proves the refusal came before the body.
	res := readResponse(t, startUpload(t, addr, 2<<20, 0))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("2 MiB declared, 1 MiB free: %s, Retry-After %q; want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	res = readResponse(t, startUpload(t, addr, 5<<20, 0))
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("5 MiB declared, budget 4 MiB: %s; want 413", res.Status)
	}
	if got := srv.budget.Reserved(); got != 3<<20 {
		t.Errorf("Reserved = %d after two refusals, want only the other request's %d", got, 3<<20)
	}
	if got := testutilCounter(t, srv, "memory"); got != 1 {
		t.Errorf("gateway_requests_shed_total{reason=memory} = %v, want 1", got)
	}
}

// TestOverCapacityRefusedAtOnce: with every in-flight slot taken by work
// that does not end during the test, a request gets 503 + Retry-After
// (it would hang if it queued), before its body is even sent; and a
// request that has a slot free at arrival but none once its body is in is
// refused the same way.
func TestOverCapacityRefusedAtOnce(t *testing.T) {
	srv, ts := limitedGateway(t, func(c *Config) { c.MaxInFlight = 1 })
	if !srv.work.tryAcquire() { // a request doing work for the whole test
		t.Fatal("no free slot at start")
	}
	defer srv.work.release()

	// Headers only: the 1 MiB body is never sent, so an answer proves the
	// refusal came before reading it.
	c := startUpload(t, ts.Listener.Addr().String(), 1<<20, 0)
	start := time.Now()
	res := readResponse(t, c)
	t.Logf("refused in %s", time.Since(start))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("over capacity: %s, Retry-After %q; want 503 with Retry-After 1", res.Status, res.Header.Get("Retry-After"))
	}

	// The slot check after the body: call the handler directly, past admit.
	rec := httptest.NewRecorder()
	srv.analyze(rec, httptest.NewRequest("POST", "/v1/analyze", bytes.NewReader(wav(t, 0.1))))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("slot taken while the body was read: %d, Retry-After %q; want 503 with Retry-After 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Its upload chunk returns to the budget once collected.
	waitFor(t, "the refused request's reservation to return", func() bool {
		runtime.GC()
		return srv.budget.Reserved() == 0
	})

	// The probes bypass the limits.
	for _, p := range []string{"/health", "/ready"} {
		r := do(t, "GET", ts.URL+p, "", nil)
		if r.code == http.StatusServiceUnavailable && bytes.Contains(r.body, []byte("overloaded")) || r.code == http.StatusTooManyRequests {
			t.Errorf("%s under overload: %d %s", p, r.code, r.body)
		}
	}
	if got := testutilCounter(t, srv, "overloaded"); got != 2 {
		t.Errorf("gateway_requests_shed_total{reason=overloaded} = %v, want 2", got)
	}
}

// TestAnalysisMemoryRefusedWhenBudgetFull: with the budget held by another
// request's live samples, an analysis gets 503 + Retry-After, not a wait.
func TestAnalysisMemoryRefusedWhenBudgetFull(t *testing.T) {
	srv, ts := limitedGateway(t, func(c *Config) { c.DecodeMemoryBytes = 8 << 20 })
	other := srv.budget.Reserve()
	if err := other.Grow(context.Background(), 8<<20-64<<10); err != nil {
		t.Fatal(err)
	}
	defer other.Done()
	r := do(t, "POST", ts.URL+"/v1/analyze", "audio/wav", bytes.NewReader(wav(t, 1)))
	if r.code != http.StatusServiceUnavailable || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("analysis with the budget full: %d %s, Retry-After %q; want 503 with Retry-After", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	other.Shrink(other.Bytes())
	if r := do(t, "POST", ts.URL+"/v1/analyze", "audio/wav", bytes.NewReader(wav(t, 1))); r.code != http.StatusOK {
		t.Fatalf("analysis with the budget free: %d %s", r.code, r.body)
	}
}

// TestClientRateLimit: a client over its rate gets 429 with a Retry-After
// in seconds; another client (another source IP) is not affected, nor are
// the probes.
func TestClientRateLimit(t *testing.T) {
	srv, ts := limitedGateway(t, func(c *Config) { c.ClientRate, c.ClientBurst = 1, 3 })
	get := func(cl *http.Client, path string) *http.Response {
		t.Helper()
		res, err := cl.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	const path = "/v1/jobs/not-a-job-id" // 404 without touching PostgreSQL
	for i := range 3 {
		if res := get(http.DefaultClient, path); res.StatusCode != http.StatusNotFound {
			t.Fatalf("request %d within the burst: %s", i+1, res.Status)
		}
	}
	res := get(http.DefaultClient, path)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request at once with burst 3: %s, want 429", res.Status)
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want whole seconds ≥ 1", res.Header.Get("Retry-After"))
	}
	for _, p := range []string{"/health", "/ready"} {
		if res := get(http.DefaultClient, p); res.StatusCode == http.StatusTooManyRequests {
			t.Errorf("%s rate limited", p)
		}
	}

	// Another client: same host, source address 127.0.0.2.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	if res := get(other, path); res.StatusCode != http.StatusNotFound {
		t.Errorf("another client: %s, want 404 (its own bucket)", res.Status)
	}
	if got := testutilCounter(t, srv, "rate_limited"); got != 1 {
		t.Errorf("gateway_requests_shed_total{reason=rate_limited} = %v, want 1", got)
	}
}

// TestClientIDIsAuthenticatedIDElseIP: the limits' client is the one
// authentication recorded, else the remote IP without its port.
func TestClientIDIsAuthenticatedIDElseIP(t *testing.T) {
	var got []string
	h := withRequestLog(testLogger(t), false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, ClientID(r.Context()))
		setClientID(r.Context(), "client-a")
		got = append(got, ClientID(r.Context()))
	}))
	r := httptest.NewRequest("GET", "/v1/x", nil)
	r.RemoteAddr = "10.1.2.3:45678"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if len(got) != 2 || got[0] != "10.1.2.3" || got[1] != "client-a" {
		t.Errorf("ClientID = %q, want [10.1.2.3 client-a]", got)
	}
}

func testutilCounter(t *testing.T, srv *Server, reason string) float64 {
	t.Helper()
	return testutil.ToFloat64(srv.metrics.shed.WithLabelValues(reason))
}

func TestDerivedLimits(t *testing.T) {
	var c Config
	c.derivedLimits(2 << 30)
	if c.DecodeMemoryBytes != 512<<20 || c.MaxConnections != 2048 || c.MaxInFlight != max(4, 2*runtime.GOMAXPROCS(0)) {
		t.Errorf("from 2 GiB: budget %d, connections %d, in flight %d", c.DecodeMemoryBytes, c.MaxConnections, c.MaxInFlight)
	}
	c = Config{DecodeMemoryBytes: 1 << 20, MaxConnections: 7, MaxInFlight: 3}
	c.derivedLimits(2 << 30)
	if c.DecodeMemoryBytes != 1<<20 || c.MaxConnections != 7 || c.MaxInFlight != 3 {
		t.Errorf("set values must be kept: %+v", c)
	}
	c = Config{}
	c.derivedLimits(0) // unknown: the production limit
	if c.DecodeMemoryBytes != fallbackMemoryLimit/4 {
		t.Errorf("unknown limit: budget %d", c.DecodeMemoryBytes)
	}
}
