package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

const (
	namespace = "voiceassist"
	// scrapeInterval is Prometheus's scrape interval here (15 s in the
	// ServiceMonitors; 1 s so the test is short).
	scrapeInterval = time.Second
	// loadDuration is how long each gateway gets its steady request rate.
	loadDuration = 20 * time.Second
	// queuedJobs are submitted while no worker runs: the queue depth must
	// be exactly this.
	queuedJobs = 7
	// rateTolerance bounds |adapter value / expected - 1| for the request
	// rate; see the derivation in TestPrometheusServesAdapterMetrics.
	rateTolerance = 0.10
)

// gatewayPod is one gateway replica and the request rate it is driven at.
type gatewayPod struct {
	pod  string
	rate int // requests per second
}

// pod names as a Deployment's ReplicaSet would give them. The gateways get
// different rates so that swapped or merged pod labels cannot pass.
var (
	gatewayPods = []gatewayPod{
		{"voiceassist-server-7f9c6d5b8-k2x4q", 40},
		{"voiceassist-server-7f9c6d5b8-p9w7z", 20},
	}
	exporterPods = []string{"queue-exporter-6b7d8c9f5-q4r8t", "queue-exporter-6b7d8c9f5-z2n6v"}
	workerPod    = "voiceassist-worker-5c8d7f6b9-h3j5m"
)

// gateway is one running voiceassist-server with a client that counts every
// response it gets from it (each one is a request the server counted in
// http_requests_total).
type gateway struct {
	pod, base string
	metrics   string // --metrics-listen address, what Prometheus scrapes
	key       string // API key sent with every request
	rate      int
	hc        *http.Client
	served    atomic.Int64
}

func (g *gateway) do(req *http.Request) (int, []byte, error) {
	if g.key != "" {
		req.Header.Set("Authorization", "Bearer "+g.key)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	g.served.Add(1)
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (g *gateway) get(path string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, g.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	return g.do(req)
}

// drive sends n GETs of path at a steady rate (request i is due at
// start + i/rate), at most 16 in flight; every response must be 200. It
// returns when all n have been answered. The count is what the assertions
// use, so a slow machine that stretches the schedule changes nothing.
func (g *gateway) drive(path string, n int) error {
	interval := time.Second / time.Duration(g.rate)
	sem := make(chan struct{}, 16)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failures int
	)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			code, body, err := g.get(path)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("GET %s: HTTP %d: %s", path, code, bytes.TrimSpace(body))
			}
			if err != nil {
				mu.Lock()
				failures++
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failures > 0 {
		return fmt.Errorf("%s: %d of %d requests failed; first: %w", g.pod, failures, n, firstErr)
	}
	return nil
}

// TestPrometheusServesAdapterMetrics runs the three services as processes
// (two gateways, two queue-exporters, later one worker) against real Redis
// and PostgreSQL, scraped every second by a real Prometheus with the labels
// Kubernetes service discovery gives, and evaluates the exact PromQL that
// Prometheus Adapter renders from k8s/performance/prometheus-adapter-values.yaml
// for the metrics the HPAs in k8s/performance/base read:
//
//   - the Pods metric http_requests_per_second of voiceassist-server-hpa,
//     with matchers namespace + pod=~"<pods>" and groupBy pod, against a
//     known request count per gateway;
//   - the External metrics voiceassist_queue_depth and
//     voiceassist_queue_oldest_job_age_seconds of voiceassist-worker-hpa,
//     with matchers namespace + the HPA's selector and no groupBy, against
//     a known number of queued jobs of a known age, and then against a
//     worker draining the queue.
func TestPrometheusServesAdapterMetrics(t *testing.T) {
	began := time.Now()
	root := moduleRoot(t)
	promBin := mustLookPath(t, "prometheus")

	// The adapter's queries, from the real values file and HPAs.
	q := renderAdapterQueries(t, root)
	t.Logf("adapter queries:\n  %s\n  %s\n  %s", q.requestRate, q.depth, q.age)

	// Build while Redis and PostgreSQL start.
	binDir := t.TempDir()
	type built struct {
		b   binaries
		err error
	}
	buildc := make(chan built, 1)
	go func() { b, err := buildBinaries(root, binDir); buildc <- built{b, err} }()
	rds := testenv.StartRedis(t)
	pg := testenv.StartPostgres(t)
	res := <-buildc
	if res.err != nil {
		t.Fatal(res.err)
	}
	bin := res.b
	t.Logf("built and databases up after %s", time.Since(began).Round(time.Millisecond))

	ps := newProcs(t)
	dbEnv := []string{"DATABASE_URL=" + pg.DSN}
	// One API key, as the clients of a deployment have (the keys file is
	// what the Secret voiceassist-api-keys mounts).
	key, keyLine, err := auth.NewKey("integration")
	if err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(t.TempDir(), "api-keys")
	if err := os.WriteFile(keysFile, []byte(keyLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var gws []*gateway
	for _, g := range gatewayPods {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		maddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		ps.start(g.pod, bin.server, dbEnv, "--listen", addr, "--metrics-listen", maddr, "--api-keys-file", keysFile,
			"--redis-addr", rds.Addr, "--queue", q.queue, "--pre-stop-delay", "0s", "--shutdown-grace", "3s")
		gws = append(gws, &gateway{pod: g.pod, rate: g.rate, base: "http://" + addr, metrics: maddr, key: key,
			hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}})
	}
	var exporterAddrs []string
	for _, pod := range exporterPods {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		ps.start(pod, bin.exporter, nil, "--listen", addr, "--redis-addr", rds.Addr, "--queues", q.queue,
			"--scrape-timeout", "800ms")
		exporterAddrs = append(exporterAddrs, addr)
	}
	workerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) // scraped from the start; up only later

	// Prometheus, with one job per Deployment like the ServiceMonitors.
	promAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	promDir := t.TempDir()
	var targets []promJob
	for _, g := range gws {
		targets = append(targets, promJob{"voiceassist-server", g.metrics, g.pod, "server"})
	}
	for i, pod := range exporterPods {
		targets = append(targets, promJob{"queue-exporter", exporterAddrs[i], pod, "exporter"})
	}
	targets = append(targets, promJob{"voiceassist-worker", workerAddr, workerPod, "worker"})
	cfgPath := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(prometheusConfig(targets)), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := ps.start("prometheus", promBin, nil, "--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(promDir, "data"), "--web.listen-address="+promAddr,
		"--storage.tsdb.retention.time=1h", "--log.level=warn")
	api := newPromAPI(t, promAddr)

	alive := ps.alive
	// Every gateway and exporter scraped successfully, with its pod label.
	err = poll(30*time.Second, func() error {
		if err := alive(); err != nil {
			return err
		}
		up, err := api.query(`up{namespace="`+namespace+`"}`, time.Now())
		if err != nil {
			return err
		}
		byPod := map[string]float64{}
		for _, s := range up {
			byPod[s.Metric["pod"]] = s.Value
		}
		for _, tg := range targets {
			if tg.pod != workerPod && byPod[tg.pod] != 1 {
				return fmt.Errorf("up by pod %v: %s not up yet", byPod, tg.pod)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Prometheus never scraped every target: %v\n%s", err, prom.Tail(10))
	}
	promUp := time.Now()
	t.Logf("all targets up after %s", time.Since(began).Round(time.Millisecond))

	// Queue known jobs through the API while no worker runs: depth is
	// exactly queuedJobs, and the oldest was enqueued during the first POST.
	wav := toneWAV(t)
	var ids []string
	var firstSent, firstDone time.Time
	for i := range queuedJobs {
		req, err := http.NewRequest(http.MethodPost, gws[0].base+"/v1/jobs", bytes.NewReader(wav))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "audio/wav")
		if i == 0 {
			firstSent = time.Now()
		}
		code, body, err := gws[0].do(req)
		if i == 0 {
			firstDone = time.Now()
		}
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("POST /v1/jobs: HTTP %d %v: %s", code, err, body)
		}
		var job struct{ ID, Status string }
		if err := json.Unmarshal(body, &job); err != nil || job.ID == "" || job.Status != "queued" {
			t.Fatalf("POST /v1/jobs answered %s (%v)", body, err)
		}
		ids = append(ids, job.ID)
	}
	loadPath := "/v1/jobs/" + ids[0]
	const loadRoute = "/v1/jobs/{id}"

	// One warm-up request per gateway creates the load route's series;
	// waiting until Prometheus has it means the load's whole increase lies
	// between two samples of that series (rate() never sees the part of a
	// counter before its first sample).
	for _, g := range gws {
		if code, body, err := g.get(loadPath); err != nil || code != http.StatusOK {
			t.Fatalf("%s GET %s: HTTP %d %v: %s", g.pod, loadPath, code, err, body)
		}
	}
	routeCount := func() (map[string]float64, error) {
		r, err := api.query(fmt.Sprintf(`sum by (pod, code) (http_requests_total{namespace=%q,route=%q})`, namespace, loadRoute), time.Now())
		if err != nil {
			return nil, err
		}
		got := map[string]float64{}
		for _, s := range r {
			if s.Metric["code"] != "200" {
				return nil, fmt.Errorf("%s answered %s on %s", s.Metric["pod"], s.Metric["code"], loadRoute)
			}
			got[s.Metric["pod"]] = s.Value
		}
		return got, nil
	}
	if err := poll(5*time.Second, func() error {
		got, err := routeCount()
		if err != nil {
			return err
		}
		for _, g := range gws {
			if got[g.pod] != 1 {
				return fmt.Errorf("warm-up counts %v, want 1 per gateway", got)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The load: a steady rate per gateway, both at once.
	loadStart := time.Now()
	sent := map[string]int{}
	errc := make(chan error, len(gws))
	for _, g := range gws {
		n := g.rate * int(loadDuration/time.Second)
		sent[g.pod] = n
		go func() { errc <- g.drive(loadPath, n) }()
	}
	for range gws {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("load of %v requests took %s", sent, time.Since(loadStart).Round(time.Millisecond))

	// Exact count first: Prometheus holds every request the gateways served.
	if err := poll(5*time.Second, func() error {
		got, err := routeCount()
		if err != nil {
			return err
		}
		for _, g := range gws {
			if want := float64(1 + sent[g.pod]); got[g.pod] != want {
				return fmt.Errorf("Prometheus's %s counters %v, want %v for %s", loadRoute, got, want, g.pod)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Evaluate the adapter's queries, all at the same instant.
	at := time.Now()
	if at.Sub(promUp) > q.window-5*time.Second {
		t.Fatalf("the run took %s since the first scrape: longer than the %s rate window, so the expectation below does not hold", at.Sub(promUp), q.window)
	}

	// Request rate. Derivation of the expected value and the tolerance:
	// rate(c[W]) = extrapolated increase of c within the window / W. Every
	// gateway series began less than W ago (the process is younger than the
	// window), so the increase is everything the gateway counted after the
	// series' first sample: the load (n requests, all after the warm-up
	// sample). Prometheus's scrapes are not in it: /metrics is served on
	// --metrics-listen, which does not count its requests. Extrapolation adds at most 1.1 scrape intervals' worth at the end and
	// half an interval (bounded by the counter's zero) at the start: about
	// 1.6 s of the average slope, i.e. +5 % for a 20 s load within ~30 s of
	// samples; the POSTs and warm-up request are ≤ 1 % either way. So the
	// value is n/W within ±10 %: that holds on a loaded 2-core
	// machine (only counts matter, not timing), while a doubled count, two
	// pods summed, or swapped pod labels (the rates differ 2x) are off by
	// 50 % or more. W = 2m and the load is 20 s, so the HPA sees
	// rate×20/120 here: the adapter's rate ramps up over a full window
	// before it reaches the real per-pod rate N.
	rates, err := api.query(q.requestRate, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != len(gws) {
		t.Fatalf("%s\nreturned %d series %v, want one per gateway pod (%d)", q.requestRate, len(rates), rates, len(gws))
	}
	for _, g := range gws {
		i := slices.IndexFunc(rates, func(s sample) bool { return s.Metric["pod"] == g.pod })
		if i < 0 {
			t.Fatalf("no request rate for pod %s in %v", g.pod, rates)
		}
		s := rates[i]
		if len(s.Metric) != 1 {
			t.Errorf("pod %s: labels %v, want only pod (groupBy pod)", g.pod, s.Metric)
		}
		want := float64(sent[g.pod]) / q.window.Seconds()
		implied := s.Value * q.window.Seconds() / loadDuration.Seconds()
		t.Logf("%s: adapter http_requests_per_second %.3f, expected %d requests/%s = %.3f (%+.1f %%); implied load rate %.1f req/s, driven %d req/s",
			g.pod, s.Value, sent[g.pod], q.windowText, want, 100*(s.Value/want-1), implied, g.rate)
		if math.Abs(s.Value/want-1) > rateTolerance {
			t.Errorf("%s: http_requests_per_second = %.3f, want %.3f ± %.0f %% (implied %.1f req/s, driven %d req/s)",
				g.pod, s.Value, want, 100*rateTolerance, implied, g.rate)
		}
	}

	// Queue depth: exact, with two exporters scraping the same queue.
	depth, err := api.one(q.depth, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(depth.Metric) != 0 || depth.Value != queuedJobs {
		t.Errorf("%s = %v, want exactly %d with no labels", q.depth, depth, queuedJobs)
	}
	n, err := api.one(fmt.Sprintf(`count(voiceassist_queue_depth{namespace=%q,queue=%q})`, namespace, q.queue), at)
	if err != nil || n.Value != float64(len(exporterPods)) {
		t.Errorf("want %d exporter series of the depth (so that max() not sum() is what keeps it exact), got %v %v", len(exporterPods), n, err)
	}

	// Oldest job's age: the value of the last scrape at or before `at`, so
	// between (at - first POST answered) - one scrape interval - 1 s of
	// slack for scrape and scheduling delay, and (at - first POST sent).
	age, err := api.one(q.age, at)
	if err != nil {
		t.Fatal(err)
	}
	lo := at.Sub(firstDone) - scrapeInterval - time.Second
	hi := at.Sub(firstSent) + 100*time.Millisecond
	t.Logf("queue depth %.0f; oldest job age %.2f s, expected %.2f..%.2f s", depth.Value, age.Value, lo.Seconds(), hi.Seconds())
	if age.Value < lo.Seconds() || age.Value > hi.Seconds() {
		t.Errorf("%s = %.2f s, want %.2f..%.2f s (the first job was queued %.2f s before the query)",
			q.age, age.Value, lo.Seconds(), hi.Seconds(), at.Sub(firstSent).Seconds())
	}

	// Discovery: the adapter lists series with each rule's seriesQuery and
	// maps namespace and pod labels to resources.
	checkDiscovery(t, api, q, began, at)
	if t.Failed() {
		return
	}

	// Now a worker: the depth and age the HPA reads must fall to 0.
	workerStart := time.Now()
	ps.start(workerPod, bin.worker, dbEnv, "--listen", workerAddr, "--redis-addr", rds.Addr, "--queue", q.queue,
		"--concurrency", "2", "--drain-timeout", "2s")
	var last string
	if err := poll(20*time.Second, func() error {
		if err := alive(); err != nil {
			return err
		}
		now := time.Now()
		d, err := api.one(q.depth, now)
		if err != nil {
			return err
		}
		a, err := api.one(q.age, now)
		if err != nil {
			return err
		}
		last = fmt.Sprintf("depth %v, age %v", d.Value, a.Value)
		if d.Value != 0 || a.Value != 0 {
			return fmt.Errorf("%s: %w", last, errNotYet)
		}
		return nil
	}); err != nil {
		t.Fatalf("the queue never drained in Prometheus: %v", err)
	}
	t.Logf("depth and age 0 in Prometheus %s after the worker started", time.Since(workerStart).Round(time.Millisecond))
	if err := poll(5*time.Second, func() error {
		p, err := api.one(fmt.Sprintf(`voiceassist_worker_jobs_processed_total{namespace=%q,pod=%q}`, namespace, workerPod), time.Now())
		if err != nil {
			return err
		}
		if p.Value != queuedJobs {
			return fmt.Errorf("jobs processed %v, want %d", p.Value, queuedJobs)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	for _, id := range ids {
		code, body, err := gws[1].get("/v1/jobs/" + id)
		var job struct{ Status string }
		if err != nil || code != http.StatusOK || json.Unmarshal(body, &job) != nil || job.Status != "done" {
			t.Errorf("GET /v1/jobs/%s: HTTP %d %v: %s; want status done", id, code, err, body)
		}
	}
	checkProtected(t, gws[0], pg.DSN, ids)
	t.Logf("whole test: %s", time.Since(began).Round(time.Millisecond))
}

// checkProtected: the API refuses a request without the key, the client
// port has no /metrics, and the processed jobs' audio is gone from
// PostgreSQL (--retain-audio 0, the default) while their rows remain.
func checkProtected(t *testing.T, g *gateway, dsn string, ids []string) {
	t.Helper()
	anon := &gateway{pod: g.pod, base: g.base, hc: g.hc}
	if code, body, err := anon.get("/v1/jobs/" + ids[0]); err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET without the API key: HTTP %d %v: %s; want 401", code, err, body)
	}
	if code, _, err := anon.get("/metrics"); err != nil || code != http.StatusNotFound {
		t.Errorf("/metrics on the client port: HTTP %d %v; want 404", code, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, withAudio int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE octet_length(audio) > 0)
	    FROM jobs WHERE id = ANY($1) AND owner = 'integration'`, ids).Scan(&rows, &withAudio); err != nil {
		t.Fatal(err)
	}
	if rows != len(ids) || withAudio != 0 {
		t.Errorf("%d of the %d jobs' rows owned by the client, %d still holding audio; want all rows, no audio", rows, len(ids), withAudio)
	}
}

// adapterQueries are the PromQL queries Prometheus Adapter sends for the
// HPAs' metrics, and what they depend on.
type adapterQueries struct {
	requestRate, depth, age string
	customRule              adapter.Rule
	externalRules           []adapter.Rule
	queue                   string // the worker HPA's queue selector
	window                  time.Duration
	windowText              string
}

// renderAdapterQueries reads the values file and the base HPAs and renders
// each custom/external metric's query as the adapter does for the HPA's
// request: a Pods metric gets namespace + pod=~"<the HPA's pods>" and groupBy
// pod; an External metric gets namespace + the metric's selector and no
// groupBy.
func renderAdapterQueries(t *testing.T, root string) adapterQueries {
	t.Helper()
	perf := filepath.Join(root, "k8s", "performance")
	b, err := os.ReadFile(filepath.Join(perf, "prometheus-adapter-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := adapter.Parse("prometheus-adapter-values.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	var out adapterQueries

	server := readHPA(t, filepath.Join(perf, "base", "api-gateway-hpa.yaml"))
	var pods []string
	for _, g := range gatewayPods {
		pods = append(pods, g.pod)
	}
	for _, m := range server.Spec.Metrics {
		if m.Type != autoscalingv2.PodsMetricSourceType {
			continue
		}
		r, ok := adapter.Find(values.Rules.Custom, m.Pods.Metric.Name)
		if !ok {
			t.Fatalf("%s reads Pods metric %q, which no custom rule serves", server.Name, m.Pods.Metric.Name)
		}
		out.customRule = r
		out.requestRate, err = r.Query(r.SeriesName(), []adapter.Matcher{
			{Label: "namespace", Op: "=", Value: server.Namespace},
			{Label: "pod", Op: "=~", Value: strings.Join(pods, "|")},
		}, []string{"pod"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if out.requestRate == "" {
		t.Fatalf("%s has no Pods metric", server.Name)
	}
	m := regexp.MustCompile(`\[(\d+[smh])\]`).FindStringSubmatch(out.requestRate)
	if m == nil {
		t.Fatalf("no range [..] in %s", out.requestRate)
	}
	out.windowText = m[1]
	if out.window, err = time.ParseDuration(m[1]); err != nil {
		t.Fatal(err)
	}

	worker := readHPA(t, filepath.Join(perf, "base", "worker-hpa.yaml"))
	for _, m := range worker.Spec.Metrics {
		if m.Type != autoscalingv2.ExternalMetricSourceType {
			continue
		}
		r, ok := adapter.Find(values.Rules.External, m.External.Metric.Name)
		if !ok {
			t.Fatalf("%s reads External metric %q, which no external rule serves", worker.Name, m.External.Metric.Name)
		}
		out.externalRules = append(out.externalRules, r)
		matchers := []adapter.Matcher{{Label: "namespace", Op: "=", Value: worker.Namespace}}
		if sel := m.External.Metric.Selector; sel != nil {
			if len(sel.MatchExpressions) > 0 {
				t.Fatalf("%s: metric %s: matchExpressions are not rendered by this test", worker.Name, m.External.Metric.Name)
			}
			for k, v := range sel.MatchLabels {
				matchers = append(matchers, adapter.Matcher{Label: k, Op: "=", Value: v})
			}
			if v := sel.MatchLabels["queue"]; v != "" {
				if out.queue != "" && out.queue != v {
					t.Fatalf("%s selects two queues, %q and %q", worker.Name, out.queue, v)
				}
				out.queue = v
			}
		}
		query, err := r.Query(r.SeriesName(), matchers, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch m.External.Metric.Name {
		case "voiceassist_queue_depth":
			out.depth = query
		case "voiceassist_queue_oldest_job_age_seconds":
			out.age = query
		default:
			t.Fatalf("%s reads External metric %q, which this test does not know", worker.Name, m.External.Metric.Name)
		}
	}
	if out.depth == "" || out.age == "" || out.queue == "" {
		t.Fatalf("%s: want External metrics voiceassist_queue_depth and voiceassist_queue_oldest_job_age_seconds with a queue selector; got depth %q age %q queue %q",
			worker.Name, out.depth, out.age, out.queue)
	}
	if server.Namespace != namespace || worker.Namespace != namespace {
		t.Fatalf("HPAs in namespaces %q and %q, want %q", server.Namespace, worker.Namespace, namespace)
	}
	return out
}

func readHPA(t *testing.T, path string) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := yaml.UnmarshalStrict(b, &h); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if h.Kind != "HorizontalPodAutoscaler" {
		t.Fatalf("%s: kind %q, want HorizontalPodAutoscaler", path, h.Kind)
	}
	return &h
}

// checkDiscovery runs each rule's seriesQuery through /api/v1/series, as
// the adapter does to decide which metrics exist, and checks the labels it
// maps to resources.
func checkDiscovery(t *testing.T, api promAPI, q adapterQueries, start, end time.Time) {
	t.Helper()
	series, err := api.series(q.customRule.SeriesQuery, start, end)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range series {
		if s["namespace"] != namespace || !slices.ContainsFunc(gatewayPods, func(g gatewayPod) bool { return g.pod == s["pod"] }) {
			t.Errorf("seriesQuery %s found %v: not a gateway pod in %s", q.customRule.SeriesQuery, s, namespace)
		}
		seen[s["pod"]] = true
	}
	if len(seen) != len(gatewayPods) {
		t.Errorf("seriesQuery %s found pods %v, want the %d gateways", q.customRule.SeriesQuery, keys(seen), len(gatewayPods))
	}
	for _, r := range q.externalRules {
		series, err := api.series(r.SeriesQuery, start, end)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, s := range series {
			ok = ok || (s["namespace"] == namespace && s["queue"] == q.queue)
		}
		if !ok {
			t.Errorf("seriesQuery %s found no series with namespace %q and queue %q: %v", r.SeriesQuery, namespace, q.queue, series)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// promJob is one scrape target with the Kubernetes metadata service
// discovery would attach to it.
type promJob struct{ job, addr, pod, container string }

// prometheusConfig scrapes each target every second. The targets carry the
// __meta_kubernetes_* labels that kubernetes_sd_configs would set, and the
// relabelling is what Prometheus Operator generates for a ServiceMonitor
// (namespace, pod, container from that metadata), so the series get exactly
// the labels they get in the cluster.
func prometheusConfig(targets []promJob) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\nscrape_configs:\n",
		scrapeInterval, scrapeInterval, scrapeInterval)
	var jobs []string
	byJob := map[string][]promJob{}
	for _, tg := range targets {
		if _, ok := byJob[tg.job]; !ok {
			jobs = append(jobs, tg.job)
		}
		byJob[tg.job] = append(byJob[tg.job], tg)
	}
	for _, job := range jobs {
		fmt.Fprintf(&b, "  - job_name: %q\n    metrics_path: /metrics\n    static_configs:\n", job)
		for _, tg := range byJob[job] {
			fmt.Fprintf(&b, "      - targets: [%q]\n        labels:\n", tg.addr)
			fmt.Fprintf(&b, "          __meta_kubernetes_namespace: %q\n", namespace)
			fmt.Fprintf(&b, "          __meta_kubernetes_pod_name: %q\n", tg.pod)
			fmt.Fprintf(&b, "          __meta_kubernetes_pod_container_name: %q\n", tg.container)
		}
		b.WriteString(`    relabel_configs:
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_container_name]
        target_label: container
`)
	}
	return b.String()
}

// toneWAV is one second of a 440 Hz tone, 16 kHz mono 16-bit PCM.
func toneWAV(t *testing.T) []byte {
	t.Helper()
	const rate = 16000
	x := make([]float64, rate)
	for i := range x {
		x[i] = 0.5 * math.Sin(2*math.Pi*440*float64(i)/rate)
	}
	var buf bytes.Buffer
	if err := audio.Encode(&buf, &audio.Clip{SampleRate: rate, Channels: [][]float64{x}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
