package calibrate

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/loadtest"
	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/sim"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

// A histogram of known observations, through a real client_golang registry,
// promhttp's exposition and the scraper's parser.
func TestHistogramFromScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: metricJobSeconds, Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"outcome"})
	reg.MustRegister(h)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	sc := HTTPScraper{URL: srv.URL}
	before, err := sc.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.WithLabelValues("retry").Observe(100) // another outcome: not counted
	// 100 jobs: 50 of 0.1 s, 50 of 0.3 s
	for i := 0; i < 50; i++ {
		h.WithLabelValues("done").Observe(0.1)
		h.WithLabelValues("done").Observe(0.3)
	}
	after, err := sc.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := before.histogram(metricJobSeconds, map[string]string{"outcome": "done"})
	ha, ok := after.histogram(metricJobSeconds, map[string]string{"outcome": "done"})
	if !ok {
		t.Fatal("no done histogram")
	}
	d := ha.Sub(hb)
	if d.Count != 100 || math.Abs(d.Mean()-0.2) > 1e-9 {
		t.Errorf("count %v mean %v, want 100 and 0.2", d.Count, d.Mean())
	}
	// 0.1 is in (0.08, 0.16], 0.3 in (0.16, 0.32]: the median is the top of the first
	if q := d.Quantile(0.5); math.Abs(q-0.16) > 1e-9 {
		t.Errorf("p50 %v, want 0.16", q)
	}
	if q := d.Quantile(0.95); q <= 0.16 || q > 0.32 {
		t.Errorf("p95 %v, want within (0.16, 0.32]", q)
	}
	// the buckets' geometric midpoints 0.113 and 0.226 around the exact
	// mean 0.2 give 0.32: factor-2 buckets blur the true 0.5, and CV says
	// only what the buckets can
	if cv := d.CV(); math.Abs(cv-0.3208) > 0.001 {
		t.Errorf("CV %v, want 0.3208 (the midpoints' spread; true 0.5)", cv)
	}
	if _, ok := after.value("no_such_metric", nil); ok {
		t.Error("a missing metric was found")
	}
}

// The gateway measurement against the real handler (server.New, the
// production mux; /v1/analyze touches neither PostgreSQL nor Redis), with
// a short search: every step is recorded, capacity is the highest good
// rate, and the CPU of the requests is counted.
func TestMeasureGatewayRealHandler(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	// the gateway authenticates /v1 as in a pod: the load must carry the key
	key, keysFile := testenv.APIKey(t, "calibrate")
	keys, err := auth.LoadKeyFile(keysFile, log)
	if err != nil {
		t.Fatal(err)
	}
	gw := server.New(server.DefaultConfig(), server.Deps{Logger: log, Auth: &auth.Authenticator{Keys: keys}})
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	// /metrics is on a listener of its own (--metrics-listen), as in a pod.
	metrics := httptest.NewServer(gw.Metrics())
	defer metrics.Close()
	clips, err := loadtest.ParseMix("1s", 16000)
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	res, err := MeasureGateway(context.Background(), GatewayConfig{Gateway: loadtest.URLGateway(srv.URL), APIKey: key,
		Metrics: []Scraper{HTTPScraper{URL: metrics.URL + "/metrics"}}, CPUMillicores: 2000, Clips: clips,
		P95: 20 * time.Second, Start: 4, MaxRate: 8, Step: 2 * time.Second, Idle: 500 * time.Millisecond, Precision: 0.2,
		RequestTimeout: 30 * time.Second, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Log(progress.String())
	// on a loaded machine (or under -race) 8 req/s may fail: the search
	// then bisects; either way its bookkeeping must hold
	if len(res.Steps) < 2 || res.Steps[0].Rate != 4 {
		t.Fatalf("steps %+v: want 4 req/s first, then more", res.Steps)
	}
	for i, s := range res.Steps {
		if i > 0 && s.Rate < res.Steps[i-1].Rate {
			t.Errorf("steps not sorted by rate: %+v", res.Steps)
		}
		if s.Requests < int(s.Rate*2*0.9) || s.CPUMillicores <= 0 || s.Utilization <= 0 {
			t.Errorf("step %+v: want its requests sent, CPU and utilization measured", s)
		}
		if s.Good != (s.Why == "") || (s.Good && s.P95Ms > 20000) {
			t.Errorf("step %+v: good and why disagree, or a good step over the SLO", s)
		}
		if s.Good && s.Rate > res.CapacityRPS || !s.Good && s.Rate < res.FirstBadRPS {
			t.Errorf("step %+v: capacity %v and first bad %v are not the highest good and lowest bad rate", s, res.CapacityRPS, res.FirstBadRPS)
		}
	}
	if res.CapacityRPS < 4 || (res.FirstBadRPS == 0) != (res.CapacityRPS == 8) {
		t.Errorf("capacity %v, first bad %v: want at least 4, and no bad step only when 8 passed", res.CapacityRPS, res.FirstBadRPS)
	}
	if res.CPUPerRequest <= 0 || res.SaturationRPS <= 0 || res.BaseMemoryMi <= 0 {
		t.Errorf("cpu per request %v, saturation %v, base memory %v: want all above 0", res.CPUPerRequest, res.SaturationRPS, res.BaseMemoryMi)
	}
	p := (&Result{Gateway: res}).Apply(sim.DefaultParams(), Roles{}, "test")
	if err := p.Validate(); err != nil {
		t.Errorf("params: %v", err)
	}
	if p.Gateway.CPUPerRPS != round3(res.CPUPerRequest) || p.Profile.Source != "vactl calibrate" {
		t.Errorf("params gateway %+v profile %+v", p.Gateway, p.Profile)
	}
	// a first step that already fails is an error that says so: without
	// the key (every request 401), and over a 1 µs SLO
	_, err = MeasureGateway(context.Background(), GatewayConfig{Gateway: loadtest.URLGateway(srv.URL),
		Metrics: []Scraper{HTTPScraper{URL: metrics.URL + "/metrics"}}, Clips: clips, P95: 20 * time.Second, Start: 4, MaxRate: 8,
		Step: time.Second, Idle: 100 * time.Millisecond, Precision: 0.2, RequestTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "the first step") {
		t.Errorf("no API key: %v, want the first step's failure", err)
	}
	_, err = MeasureGateway(context.Background(), GatewayConfig{Gateway: loadtest.URLGateway(srv.URL), APIKey: key,
		Metrics: []Scraper{HTTPScraper{URL: metrics.URL + "/metrics"}}, Clips: clips, P95: time.Microsecond, Start: 5, MaxRate: 20,
		Step: time.Second, Idle: 100 * time.Millisecond, Precision: 0.1, RequestTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "the first step") {
		t.Errorf("1 µs SLO: %v, want the first step's failure", err)
	}
}

func TestPodTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: at(0)},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at(1)},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: at(2)},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: at(9)},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at(9)},
		}, ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(4)}}}}}}
	got := podTimes(p)
	want := PodTimes{Pod: "p", Scheduled: 1, Initialized: 2, Started: 4, ContainersReady: 9, Ready: 9}
	if got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	p.Status.Conditions[3].Status = corev1.ConditionFalse
	p.Status.ContainerStatuses[0].RestartCount = 1
	if got := podTimes(p); got.Ready != -1 || !got.Restarted {
		t.Errorf("not ready and restarted: %+v", got)
	}
	if m := median([]float64{5, 1, 3, 10}); m != 4 {
		t.Errorf("median %v", m)
	}
}

func TestRound3(t *testing.T) {
	for in, want := range map[float64]float64{7.2734: 7.27, 0.018345: 0.0183, 123456: 123000, 0: 0} {
		if got := round3(in); math.Abs(got-want) > 1e-12*math.Max(1, want) {
			t.Errorf("round3(%v) = %v, want %v", in, got, want)
		}
	}
}
