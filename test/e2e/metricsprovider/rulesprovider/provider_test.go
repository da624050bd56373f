package rulesprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// The tests run the provider against a real Prometheus (Debian's
// `prometheus`) scraping, every second, an in-test target that exposes
// fixed series with the labels the cluster's relabelling gives them
// (namespace, pod; honor_labels keeps them as exposed). Counters grow
// linearly from the moment the target starts, all at the same instants, so
// the rate of each series is proportional to its slope; gauges are fixed.

const ns = "voiceassist"

// counter is one http_requests_total series and its slope in requests/s.
type counter struct {
	namespace, pod, route, code string
	slope                       float64
}

var counters = []counter{
	{ns, "voiceassist-server-a", "/v1/jobs", "200", 30},
	{ns, "voiceassist-server-a", "/health", "200", 10},
	{ns, "voiceassist-server-a", "/v1/jobs", "500", 5}, // pod a: 45 in all, 40 with code=200
	{ns, "voiceassist-server-b", "/v1/jobs", "200", 20},
	{ns, "voiceassist-server-c", "/v1/jobs", "200", 80},          // the canary: not selected
	{"staging", "voiceassist-server-a", "/v1/jobs", "200", 1000}, // same pod name, other namespace
}

// gauge is one fixed series.
type gauge struct {
	name, namespace, queue, pod string
	value                       float64
}

var gauges = []gauge{
	// Two exporter replicas report the same queue: max(), not sum().
	{"voiceassist_queue_depth", ns, "voice-jobs", "queue-exporter-1", 7},
	{"voiceassist_queue_depth", ns, "voice-jobs", "queue-exporter-2", 7},
	{"voiceassist_queue_depth", ns, "transcribe", "queue-exporter-1", 12},
	{"voiceassist_queue_depth", ns, "archive", "queue-exporter-1", 30},
	{"voiceassist_queue_depth", "staging", "voice-jobs", "queue-exporter-1", 500},
	{"voiceassist_queue_oldest_job_age_seconds", ns, "voice-jobs", "queue-exporter-1", 42.5},
	{"voiceassist_queue_oldest_job_age_seconds", ns, "voice-jobs", "queue-exporter-2", 41.25},
}

// pods are what the Kubernetes API would list (namespace voiceassist).
// voiceassist-server-d has no series yet.
var pods = map[string]labels.Set{
	"voiceassist-server-a": {"app": "voiceassist-server"},
	"voiceassist-server-b": {"app": "voiceassist-server"},
	"voiceassist-server-c": {"app": "voiceassist-server", "track": "canary"},
	"voiceassist-server-d": {"app": "voiceassist-server"},
	"queue-exporter-1":     {"app": "queue-exporter"},
}

// staticPods lists pods of the voiceassist namespace from pods, applying
// the selector as the API server would.
type staticPods struct{}

func (staticPods) PodNames(_ context.Context, namespace string, sel labels.Selector) ([]string, error) {
	var out []string
	if namespace != ns {
		return nil, nil
	}
	for name, l := range pods {
		if sel.Matches(l) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

var (
	prom     *Prometheus
	promDir  string
	rulesVal *adapter.Values
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		fmt.Fprintln(os.Stderr, "prometheus not on PATH: install Debian's prometheus package (scripts/setup-debian.sh); these tests need a real Prometheus")
		return 1
	}
	rulesFile, err := findRules()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if rulesVal, err = adapter.Parse(rulesFile, b); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	target := httptest.NewServer(exposition(time.Now()))
	defer target.Close()

	dir, err := os.MkdirTemp("", "metricsprovider-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	promDir = dir
	addr, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fixed
    honor_labels: true
    static_configs:
      - targets: [%q]
`, strings.TrimPrefix(target.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := supervise.Start(supervise.Spec{Name: "prometheus", Log: filepath.Join(dir, "prometheus.log"),
		Cmd: exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Stop(5 * time.Second)
	prom = &Prometheus{URL: "http://" + addr}

	// Every counter needs at least three samples for rate() to be
	// meaningful; every gauge one.
	var why string
	err = wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		var ok bool
		ok, why = ready()
		return ok, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Prometheus not ready after 60s: %s\n%s\n", why, p.Tail(50))
		return 1
	}
	return m.Run()
}

func ready() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := prom.Query(ctx, `min(count_over_time(http_requests_total[1m])) >= 3 and count(http_requests_total) == `+fmt.Sprint(len(counters)))
	if err != nil || len(s) != 1 {
		return false, fmt.Sprintf("counters: %v %v", s, err)
	}
	s, err = prom.Query(ctx, `count({__name__=~"voiceassist_queue_.*"})`)
	if err != nil || len(s) != 1 || s[0].Value != float64(len(gauges)) {
		return false, fmt.Sprintf("gauges: %v %v", s, err)
	}
	return true, ""
}

// exposition serves the fixed series in the text format. All counters are
// computed from one elapsed time per scrape, so they keep exact
// proportions in every sample Prometheus stores.
func exposition(start time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elapsed := time.Since(start).Seconds()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# TYPE http_requests_total counter")
		for _, c := range counters {
			fmt.Fprintf(w, "http_requests_total{namespace=%q,pod=%q,route=%q,code=%q} %g\n", c.namespace, c.pod, c.route, c.code, c.slope*elapsed)
		}
		seen := map[string]bool{}
		for _, g := range gauges {
			if !seen[g.name] {
				fmt.Fprintf(w, "# TYPE %s gauge\n", g.name)
				seen[g.name] = true
			}
			fmt.Fprintf(w, "%s{namespace=%q,queue=%q,pod=%q} %g\n", g.name, g.namespace, g.queue, g.pod, g.value)
		}
	})
}

// findRules is the repository's Prometheus Adapter values file: this
// package's tests run in test/e2e/metricsprovider/rulesprovider.
func findRules() (string, error) {
	return filepath.Abs(filepath.Join("..", "..", "..", "..", "k8s", "performance", "prometheus-adapter-values.yaml"))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// newProvider builds the provider from the real rules file and records the
// queries it sends.
func newProvider(t *testing.T) (*Provider, func() []string) {
	t.Helper()
	p, err := New("prometheus-adapter-values.yaml", rulesVal, prom, staticPods{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var qs []string
	p.OnQuery = func(q string) { mu.Lock(); qs = append(qs, q); mu.Unlock() }
	return p, func() []string { mu.Lock(); defer mu.Unlock(); r := qs; qs = nil; return r }
}

// queryAt evaluates query at a given instant (the reference values).
func queryAt(t *testing.T, query string, at time.Time) []Sample {
	t.Helper()
	u := prom.URL + "/api/v1/query?" + url.Values{"query": {query}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("%s: %v %+v", query, err, r)
	}
	var out []Sample
	for _, e := range r.Data.Result {
		s, err := parsePoint(e.Value)
		if err != nil {
			t.Fatal(err)
		}
		s.Labels = e.Metric
		out = append(out, s)
	}
	return out
}

var podsInfo = provider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "pods"}, Namespaced: true, Metric: "http_requests_per_second"}

func TestList(t *testing.T) {
	p, _ := newProvider(t)
	if got, want := p.ListAllMetrics(), []provider.CustomMetricInfo{podsInfo}; !slices.Equal(got, want) {
		t.Errorf("ListAllMetrics = %v, want %v", got, want)
	}
	want := []provider.ExternalMetricInfo{{Metric: "voiceassist_queue_depth"}, {Metric: "voiceassist_queue_oldest_job_age_seconds"}}
	if got := p.ListAllExternalMetrics(); !slices.Equal(got, want) {
		t.Errorf("ListAllExternalMetrics = %v, want %v", got, want)
	}
}

// TestPodsMetricBySelector is the HPA's request for voiceassist-server-hpa:
// every pod of the Deployment's selector, one value per pod that has series.
func TestPodsMetricBySelector(t *testing.T) {
	ctx := context.Background()
	p, queries := newProvider(t)
	for _, tc := range []struct {
		selector, metricSelector string
		wantQuery                string
		wantPods                 []string
		slope                    map[string]float64 // expected per-pod slope, for the proportions
	}{
		{
			selector:  "app=voiceassist-server",
			wantQuery: `sum(rate(http_requests_total{namespace="voiceassist",pod=~"voiceassist-server-a|voiceassist-server-b|voiceassist-server-c|voiceassist-server-d"}[2m])) by (pod)`,
			wantPods:  []string{"voiceassist-server-a", "voiceassist-server-b", "voiceassist-server-c"},
			slope:     map[string]float64{"voiceassist-server-a": 45, "voiceassist-server-b": 20, "voiceassist-server-c": 80},
		},
		{
			selector:  "app in (voiceassist-server),track notin (canary)",
			wantQuery: `sum(rate(http_requests_total{namespace="voiceassist",pod=~"voiceassist-server-a|voiceassist-server-b|voiceassist-server-d"}[2m])) by (pod)`,
			wantPods:  []string{"voiceassist-server-a", "voiceassist-server-b"},
			slope:     map[string]float64{"voiceassist-server-a": 45, "voiceassist-server-b": 20},
		},
		{
			selector: "app=voiceassist-server,track!=canary", metricSelector: "code=200",
			wantQuery: `sum(rate(http_requests_total{code="200",namespace="voiceassist",pod=~"voiceassist-server-a|voiceassist-server-b|voiceassist-server-d"}[2m])) by (pod)`,
			wantPods:  []string{"voiceassist-server-a", "voiceassist-server-b"},
			slope:     map[string]float64{"voiceassist-server-a": 40, "voiceassist-server-b": 20},
		},
	} {
		t.Run(tc.selector+"/"+tc.metricSelector, func(t *testing.T) {
			sel := mustParse(tc.selector)
			msel := labels.Everything()
			if tc.metricSelector != "" {
				msel = mustParse(tc.metricSelector)
			}
			list, err := p.GetMetricBySelector(ctx, ns, sel, podsInfo, msel)
			if err != nil {
				t.Fatal(err)
			}
			if q := queries(); len(q) != 1 || q[0] != tc.wantQuery {
				t.Errorf("queries %q\nwant     %q", q, tc.wantQuery)
			}
			var got []string
			for _, v := range list.Items {
				got = append(got, v.DescribedObject.Name)
				if v.DescribedObject.Kind != "Pod" || v.DescribedObject.APIVersion != "v1" || v.DescribedObject.Namespace != ns {
					t.Errorf("described object %+v, want a v1 Pod in %s", v.DescribedObject, ns)
				}
				if v.Metric.Name != podsInfo.Metric {
					t.Errorf("metric %+v, want %s", v.Metric, podsInfo.Metric)
				}
				if (tc.metricSelector != "") != (v.Metric.Selector != nil) {
					t.Errorf("metric selector %v for request selector %q", v.Metric.Selector, tc.metricSelector)
				}
			}
			if !slices.Equal(got, tc.wantPods) {
				t.Fatalf("pods %v, want %v", got, tc.wantPods)
			}
			// Each value is the same pod's rate computed independently, at the
			// same instant (no regexp, no sum over other pods or namespaces).
			exact := map[string]float64{}
			for _, v := range list.Items {
				pod, value := v.DescribedObject.Name, v.Value.AsApproximateFloat64()
				q := fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,pod=%q}[2m]))`, ns, pod)
				if tc.metricSelector != "" {
					q = fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,pod=%q,code="200"}[2m]))`, ns, pod)
				}
				want := queryAt(t, q, v.Timestamp.Time)
				if len(want) != 1 {
					t.Fatalf("%s at %s: %v", q, v.Timestamp.Time, want)
				}
				exact[pod] = want[0].Value
				// Prometheus Adapter truncates to milli-units.
				if d := want[0].Value - value; d < 0 || d >= 0.001 {
					t.Errorf("%s = %v, want %v (%s at the same instant)", pod, value, want[0].Value, q)
				}
				t.Logf("%s: %s (%.6f req/s)", pod, v.Value.String(), want[0].Value)
			}
			// All counters share their sample times and their start, so the
			// rates are in the exact proportion of the slopes: values were not
			// swapped between pods.
			ref := tc.wantPods[0]
			for pod, v := range exact {
				if r, want := v/exact[ref], tc.slope[pod]/tc.slope[ref]; math.Abs(r/want-1) > 1e-9 {
					t.Errorf("rate %s/%s = %.6f, want %.6f (slopes %v)", pod, ref, r, want, tc.slope)
				}
			}
		})
	}
}

func TestPodsMetricByName(t *testing.T) {
	ctx := context.Background()
	p, queries := newProvider(t)
	v, err := p.GetMetricByName(ctx, types.NamespacedName{Namespace: ns, Name: "voiceassist-server-b"}, podsInfo, labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(rate(http_requests_total{namespace="voiceassist",pod="voiceassist-server-b"}[2m])) by (pod)`
	if q := queries(); len(q) != 1 || q[0] != want {
		t.Errorf("queries %q, want %q", q, want)
	}
	if v.DescribedObject.Name != "voiceassist-server-b" || v.Value.Sign() <= 0 {
		t.Errorf("got %+v", v)
	}

	// A pod without series, an unknown metric, a resource other than pods,
	// a selector no pod matches: NotFound, as Prometheus Adapter answers.
	_, err = p.GetMetricByName(ctx, types.NamespacedName{Namespace: ns, Name: "voiceassist-server-d"}, podsInfo, labels.Everything())
	wantNotFound(t, "pod without series", err)
	other := podsInfo
	other.Metric = "http_requests_per_minute"
	_, err = p.GetMetricBySelector(ctx, ns, labels.Everything(), other, labels.Everything())
	wantNotFound(t, "unknown custom metric", err)
	svc := podsInfo
	svc.GroupResource = schema.GroupResource{Resource: "services"}
	_, err = p.GetMetricByName(ctx, types.NamespacedName{Namespace: ns, Name: "voiceassist-server"}, svc, labels.Everything())
	wantNotFound(t, "services", err)
	_, err = p.GetMetricBySelector(ctx, ns, mustParse("app=nothing"), podsInfo, labels.Everything())
	wantNotFound(t, "selector matching no pod", err)
	if q := queries(); len(q) != 1 {
		t.Errorf("queries sent %q, want only the one for the pod without series", q)
	}
}

// TestExternal is the worker HPA's requests: namespace + the metric's
// selector as matchers, no groupBy; max() over the exporters.
func TestExternal(t *testing.T) {
	ctx := context.Background()
	p, queries := newProvider(t)
	depth := provider.ExternalMetricInfo{Metric: "voiceassist_queue_depth"}
	age := provider.ExternalMetricInfo{Metric: "voiceassist_queue_oldest_job_age_seconds"}
	for _, tc := range []struct {
		namespace, selector string
		info                provider.ExternalMetricInfo
		wantMatchers        string
		want                []float64 // one per returned series
	}{
		{ns, "queue=voice-jobs", depth, `namespace="voiceassist",queue="voice-jobs"`, []float64{7}},
		{ns, "queue==voice-jobs", depth, `namespace="voiceassist",queue="voice-jobs"`, []float64{7}},
		{ns, "queue in (voice-jobs,transcribe)", depth, `namespace="voiceassist",queue=~"transcribe|voice-jobs"`, []float64{12}},
		{ns, "queue notin (transcribe)", depth, `namespace="voiceassist",queue!~"transcribe"`, []float64{30}},
		{ns, "queue!=archive", depth, `namespace="voiceassist",queue!="archive"`, []float64{12}},
		{ns, "queue", depth, `namespace="voiceassist",queue!=""`, []float64{30}},
		{ns, "!queue", depth, `namespace="voiceassist",queue=""`, nil},
		{ns, "", depth, `namespace="voiceassist"`, []float64{30}},
		{ns, "queue=unknown", depth, `namespace="voiceassist",queue="unknown"`, nil},
		{"staging", "queue=voice-jobs", depth, `namespace="staging",queue="voice-jobs"`, []float64{500}},
		{ns, "queue=voice-jobs", age, `namespace="voiceassist",queue="voice-jobs"`, []float64{42.5}},
	} {
		t.Run(tc.info.Metric+"/"+tc.namespace+"/"+tc.selector, func(t *testing.T) {
			sel := mustParse(tc.selector)
			list, err := p.GetExternalMetric(ctx, tc.namespace, sel, tc.info)
			if err != nil {
				t.Fatal(err)
			}
			wantQuery := fmt.Sprintf("max(%s{%s}) by ()", tc.info.Metric, tc.wantMatchers)
			if q := queries(); len(q) != 1 || q[0] != wantQuery {
				t.Errorf("queries %q\nwant     %q", q, wantQuery)
			}
			var got []float64
			for _, v := range list.Items {
				got = append(got, v.Value.AsApproximateFloat64())
				if v.MetricName != tc.info.Metric || len(v.MetricLabels) != 0 || v.Timestamp.IsZero() {
					t.Errorf("item %+v: want metric %s, no labels (max by ()), a timestamp", v, tc.info.Metric)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("values %v, want %v", got, tc.want)
			}
			if list.Items == nil {
				t.Errorf("Items is nil; an empty list must serialize as []")
			}
		})
	}

	_, err := p.GetExternalMetric(ctx, ns, labels.Everything(), provider.ExternalMetricInfo{Metric: "voiceassist_queue_length"})
	wantNotFound(t, "unknown external metric", err)
	_, err = p.GetExternalMetric(ctx, ns, mustParse("queue>3"), depth)
	if !apierrors.IsBadRequest(err) {
		t.Errorf("selector queue>3: err %v, want BadRequest", err)
	}
	if q := queries(); len(q) != 0 {
		t.Errorf("queries sent for rejected requests: %q", q)
	}
}

// TestPrometheusErrors: a query Prometheus cannot answer is an internal
// error that names the query.
func TestPrometheusErrors(t *testing.T) {
	p, _ := newProvider(t)
	p.prom = &Prometheus{URL: "http://" + mustFreeAddr(t)} // nothing listens
	_, err := p.GetExternalMetric(context.Background(), ns, labels.Everything(), provider.ExternalMetricInfo{Metric: "voiceassist_queue_depth"})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "voiceassist_queue_depth") {
		t.Errorf("err %v, want an internal error naming the query", err)
	}
	if _, err := prom.Query(context.Background(), "sum(("); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("bad PromQL: err %v, want Prometheus's bad_data error", err)
	}
}

func TestNewRejects(t *testing.T) {
	base := func() *adapter.Values {
		b, err := os.ReadFile(mustRules(t))
		if err != nil {
			t.Fatal(err)
		}
		v, err := adapter.Parse("x", b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, tc := range map[string]struct {
		edit func(v *adapter.Values)
		want string
	}{
		"template": {func(v *adapter.Values) { v.Rules.Custom[0].Resources.Template = "<<.Resource>>" }, "resources.template"},
		"no pod label": {func(v *adapter.Values) {
			delete(v.Rules.Custom[0].Resources.Overrides, "pod")
		}, "pods only"},
		"other resource": {func(v *adapter.Values) {
			o := v.Rules.External[0].Resources.Overrides["namespace"]
			o.Resource = "service"
			v.Rules.External[0].Resources.Overrides["namespace"] = o
		}, `resource "service"`},
		"duplicate":    {func(v *adapter.Values) { v.Rules.External = append(v.Rules.External, v.Rules.External[0]) }, "earlier rule"},
		"discovery":    {func(v *adapter.Values) { v.Rules.External[0].SeriesQuery = `{__name__=~"voiceassist_.*"}` }, "one series"},
		"bad template": {func(v *adapter.Values) { v.Rules.External[0].MetricsQuery = "max(<<.Nope>>)" }, "metricsQuery"},
	} {
		t.Run(name, func(t *testing.T) {
			v := base()
			tc.edit(v)
			_, err := New("values.yaml", v, prom, staticPods{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "values.yaml: rules.") {
				t.Errorf("err %v, want one naming the file and rule and containing %q", err, tc.want)
			}
		})
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsNotFound(err) {
		t.Errorf("%s: err %v, want NotFound", what, err)
	}
}

func mustRules(t *testing.T) string {
	f, err := findRules()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustFreeAddr(t *testing.T) string {
	a, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustParse(s string) labels.Selector {
	sel, err := labels.Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}
