package exporter_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/exporter"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func setup(tb testing.TB) (*testenv.Redis, *redis.Client, *queue.Queue, *exporter.Collector) {
	tb.Helper()
	srv := testenv.StartRedis(tb)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	tb.Cleanup(func() { rdb.Close() })
	q, err := queue.New(rdb, queue.DefaultName, queue.Options{MaxAttempts: 3, BackoffBase: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	col, err := exporter.New(rdb, exporter.Options{Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, rdb, q, col
}

func gaugeValue(t *testing.T, col prometheus.Collector, name string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestMetricValues(t *testing.T) {
	_, rdb, q, col := setup(t)
	ctx := context.Background()
	// 6 jobs: 1 will be in flight, 1 dead, 1 delayed, 3 ready (one of them
	// pushed by hand); the oldest ready job was enqueued 120 s ago.
	if err := q.Enqueue(ctx, "inflight", "dead", "delayed", "old", "new"); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LPush(ctx, q.Keys().Ready, "by-hand").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TryClaim(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := q.TryClaim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Fail(ctx, l, "poison"); err != nil {
		t.Fatal(err)
	}
	if l, err = q.TryClaim(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Nack(ctx, l, "transient"); err != nil {
		t.Fatal(err)
	}
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, q.Keys().Enqueued, redis.Z{Score: float64(now.Add(-120 * time.Second).UnixMilli()), Member: "old"}).Err(); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP voiceassist_queue_dead_letter_jobs Jobs in the dead-letter list.
# TYPE voiceassist_queue_dead_letter_jobs gauge
voiceassist_queue_dead_letter_jobs{queue="voice-jobs"} 1
# HELP voiceassist_queue_delayed_jobs Jobs waiting for a retry after a transient failure.
# TYPE voiceassist_queue_delayed_jobs gauge
voiceassist_queue_delayed_jobs{queue="voice-jobs"} 1
# HELP voiceassist_queue_depth Jobs waiting in the queue's ready list (LLEN), hand-pushed items included.
# TYPE voiceassist_queue_depth gauge
voiceassist_queue_depth{queue="voice-jobs"} 3
# HELP voiceassist_queue_exporter_scrape_errors_total Scrapes that failed to read the queues from Redis.
# TYPE voiceassist_queue_exporter_scrape_errors_total counter
voiceassist_queue_exporter_scrape_errors_total 0
# HELP voiceassist_queue_exporter_up 1 if the last scrape read every queue from Redis, else 0 (the queue series are then absent, not 0, so the HPA does not scale down on an outage).
# TYPE voiceassist_queue_exporter_up gauge
voiceassist_queue_exporter_up 1
# HELP voiceassist_queue_inflight_jobs Jobs claimed by a worker and not yet finished.
# TYPE voiceassist_queue_inflight_jobs gauge
voiceassist_queue_inflight_jobs{queue="voice-jobs"} 1
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want),
		exporter.MetricDepth, exporter.MetricInflight, exporter.MetricDead, exporter.MetricDelayed,
		exporter.MetricUp, exporter.MetricScrapeErrors); err != nil {
		t.Fatal(err)
	}
	age, ok := gaugeValue(t, col, exporter.MetricOldestAge)
	if !ok || age < 120 || age > 122 {
		t.Fatalf("oldest age %v (present %v), want ~120", age, ok)
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Fatal(problems, err)
	}
}

func TestEmptyQueueAgeZero(t *testing.T) {
	_, _, _, col := setup(t)
	for _, m := range []string{exporter.MetricDepth, exporter.MetricOldestAge} {
		if v, ok := gaugeValue(t, col, m); !ok || v != 0 {
			t.Fatalf("%s = %v (present %v), want 0 for an empty queue", m, v, ok)
		}
	}
}

// A Redis outage shows as up 0 with no queue series (absent, not a depth of
// 0 that would tell the HPA to scale down), and up 1 when Redis is back.
func TestRedisDownUpZero(t *testing.T) {
	srv, _, q, col := setup(t)
	if err := q.Enqueue(context.Background(), "j"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if v, _ := gaugeValue(t, col, exporter.MetricUp); v != 0 {
		t.Fatalf("up %v with Redis stopped, want 0", v)
	}
	if _, ok := gaugeValue(t, col, exporter.MetricDepth); ok {
		t.Fatal("depth exported while Redis is down")
	}
	if n := testutil.ToFloat64(collectorCounter{col}); n < 1 {
		t.Fatalf("scrape errors %v, want >= 1", n)
	}
	srv.Start()
	// Poll for up, with a deadline generous for a loaded machine.
	var up float64
	for deadline := time.Now().Add(10 * time.Second); up != 1 && time.Now().Before(deadline); {
		up, _ = gaugeValue(t, col, exporter.MetricUp)
		if up != 1 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if d, _ := gaugeValue(t, col, exporter.MetricDepth); up != 1 || d != 1 {
		t.Fatalf("after restart: up %v depth %v, want 1 and 1", up, d)
	}
}

// collectorCounter exposes only the scrape-errors counter for ToFloat64.
type collectorCounter struct{ c *exporter.Collector }

func (c collectorCounter) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c collectorCounter) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 16)
	go func() { c.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), exporter.MetricScrapeErrors) {
			ch <- m
		}
	}
}

// countHook counts the commands the client sends, pipelines included.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

// serverCalls sums INFO commandstats calls, INFO's own excluded: the
// commands Redis ran, those inside scripts included.
func serverCalls(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_") || strings.HasPrefix(line, "cmdstat_info:") {
			continue
		}
		_, rest, ok := strings.Cut(line, "calls=")
		if !ok {
			t.Fatalf("INFO commandstats line without calls=: %q", line)
		}
		n, err := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("INFO commandstats line %q: %v", line, err)
		}
		total += n
	}
	return total
}

// A scrape does the same Redis work with 100,000 queued jobs as with 10:
// same client commands (go-redis hook) and same server-side calls (INFO
// commandstats, which counts the commands run inside the script too).
func TestScrapeConstantRedisCommands(t *testing.T) {
	srv := testenv.StartRedis(t)
	hook := &countHook{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	q, err := queue.New(rdb, queue.DefaultName, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	col, err := exporter.New(rdb, exporter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rdb.AddHook(hook)

	measure := func() (client, server int64) {
		gaugeValue(t, col, exporter.MetricDepth) // warm: script loaded, head marked
		c0, s0 := hook.n.Load(), serverCalls(t, rdb)
		gaugeValue(t, col, exporter.MetricDepth)
		c1, s1 := hook.n.Load(), serverCalls(t, rdb)
		return c1 - c0 - 1, s1 - s0 // minus the INFO command itself on the client side
	}
	fill := func(n int) {
		ids := make([]string, 0, 1000)
		for i := 0; i < n; i++ {
			ids = append(ids, fmt.Sprint("j", i))
			if len(ids) == cap(ids) || i == n-1 {
				if err := q.Enqueue(ctx, ids...); err != nil {
					t.Fatal(err)
				}
				ids = ids[:0]
			}
		}
	}
	fill(10)
	c10, s10 := measure()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fill(100_000)
	if d, _ := gaugeValue(t, col, exporter.MetricDepth); d != 100_000 {
		t.Fatalf("depth %v, want 100000", d)
	}
	c100k, s100k := measure()
	t.Logf("per scrape: client commands %d vs %d, server calls %d vs %d", c10, c100k, s10, s100k)
	if c10 != c100k || s10 != s100k {
		t.Fatalf("Redis work per scrape depends on queue length: client %d vs %d, server %d vs %d", c10, c100k, s10, s100k)
	}
	if c100k != 1 {
		t.Fatalf("client commands per scrape %d, want 1 (one EVALSHA)", c100k)
	}
}

func TestHandlerHealthAndMetrics(t *testing.T) {
	_, _, q, col := setup(t)
	if err := q.Enqueue(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	ts := httptest.NewServer(exporter.Handler(reg))
	defer ts.Close()
	for path, want := range map[string]string{
		"/health":  "ok",
		"/metrics": `voiceassist_queue_depth{queue="voice-jobs"} 2`,
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: reading the body: %v", path, err)
		}
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d\n%s\nwant %q", path, resp.StatusCode, b, want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"REDIS_ADDR": "redis:6380", "QUEUES": "a, b", "SCRAPE_TIMEOUT": "2s"}
	c, err := exporter.ParseConfig([]string{"--listen", ":9999"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisAddr != "redis:6380" || len(c.Queues) != 2 || c.Queues[1] != "b" || c.Listen != ":9999" || c.ScrapeTimeout != 2*time.Second {
		t.Fatalf("config %+v", c)
	}
	if c, err = exporter.ParseConfig([]string{"--redis-addr", "x:1"}, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.RedisAddr != "x:1" {
		t.Fatalf("flag did not win over env: %+v", c)
	}
	if c, err = exporter.ParseConfig(nil, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9121" || c.Queues[0] != "voice-jobs" {
		t.Fatalf("defaults %+v", c)
	}
	var help bytes.Buffer
	if _, err := exporter.ParseConfig([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, s := range []string{"--redis-addr", "$REDIS_ADDR", "$QUEUES", "$LISTEN_ADDR", ":9121"} {
		if !strings.Contains(strings.ReplaceAll(help.String(), "\n", " "), strings.TrimPrefix(s, "-")) {
			t.Errorf("--help lacks %q:\n%s", s, help.String())
		}
	}
	if _, err := exporter.ParseConfig(nil, func(k string) string {
		return map[string]string{"SCRAPE_TIMEOUT": "soon"}[k]
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "SCRAPE_TIMEOUT") {
		t.Fatalf("bad env var: %v", err)
	}
	if _, err := exporter.ParseConfig([]string{"--queues", "a{b}"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("queue name with braces accepted")
	}
}
