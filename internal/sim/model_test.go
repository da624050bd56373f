package sim

import (
	"reflect"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Changing the worker's HPA must not move the gateway's figures: each
// deployment draws from its own random streams.
func TestStreamsIndependentPerDeployment(t *testing.T) {
	for _, sc := range []string{"spike", "diurnal"} {
		a := simulate(t, "prod", sc, 4, heavyJobs)
		set := withHPA(envSet(t, "prod"), "voiceassist-worker-hpa", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MaxReplicas = 4
			h.Spec.Behavior.ScaleUp.Policies[0].Value = 100
		})
		b := simulate(t, "prod", sc, 4, withHeavyJobs(func(c *Config) { c.Set = set }))
		if reflect.DeepEqual(a.Deployments[1].Summary, b.Deployments[1].Summary) {
			t.Fatalf("%s: the worker HPA change moved nothing; the test proves nothing", sc)
		}
		if !reflect.DeepEqual(a.Deployments[0], b.Deployments[0]) {
			t.Errorf("%s: changing the worker HPA moved the gateway: %+v vs %+v", sc, a.Deployments[0].Summary, b.Deployments[0].Summary)
		}
	}
	// and the other way round, through a gateway model parameter
	a := simulate(t, "prod", "spike", 4, nil)
	b := simulate(t, "prod", "spike", 4, func(c *Config) { c.Params.Gateway.StartupSeconds = 40 })
	if !reflect.DeepEqual(a.Deployments[1], b.Deployments[1]) {
		t.Error("changing the gateway's start-up moved the worker")
	}
}

// withResources returns a copy of set whose Deployment name has its
// container's CPU request and limit scaled by f.
func withResources(set *kube.Set, name string, cpu, mem float64) *kube.Set {
	c := *set
	c.Deployments = nil
	scale := func(q resource.Quantity, f float64, milli bool) resource.Quantity {
		if milli {
			return *resource.NewMilliQuantity(int64(float64(q.MilliValue())*f), resource.DecimalSI)
		}
		return *resource.NewQuantity(int64(float64(q.Value())*f), resource.BinarySI)
	}
	for _, d := range set.Deployments {
		if d.Name == name {
			d = d.DeepCopy()
			r := &d.Spec.Template.Spec.Containers[0].Resources
			for _, l := range []corev1.ResourceList{r.Requests, r.Limits} {
				l[corev1.ResourceCPU] = scale(l[corev1.ResourceCPU], cpu, true)
				l[corev1.ResourceMemory] = scale(l[corev1.ResourceMemory], mem, false)
			}
		}
		c.Deployments = append(c.Deployments, d)
	}
	return &c
}

// Half the CPU, about half the capacity; the limit matters with run.cpuBurst.
func TestCapacityFollowsCPU(t *testing.T) {
	// the gateway with the measured profile: (request − idleCPU) / cpuPerRPS;
	// the workers with heavy jobs (2 slots of 400m: prod's 1000m runs both at
	// full speed, dev's 500m at 450/800); the measured worker's 4 slots want
	// 4 × cpuPerJob, within both
	g := DefaultParams().Gateway
	prod := simulate(t, "prod", "steady", 1, withHeavyJobs(func(c *Config) { c.Duration = 600 }))
	dev := simulate(t, "dev", "steady", 1, withHeavyJobs(func(c *Config) { c.Duration = 600 }))
	for i, want := range []struct{ prod, dev float64 }{{(500 - g.IdleCPU) / g.CPUPerRPS, (250 - g.IdleCPU) / g.CPUPerRPS}, {0.5, 0.5 * 450.0 / 800}} {
		p, d := prod.Deployments[i].CapacityPerPod, dev.Deployments[i].CapacityPerPod
		if !near(p, want.prod) || !near(d, want.dev) {
			t.Errorf("%s: capacity per pod prod %v dev %v, want %v and %v", prod.Deployments[i].Name, p, d, want.prod, want.dev)
		}
		if r := d / p; r < 0.4 || r > 0.6 {
			t.Errorf("%s: half the CPU gives %.2f of the capacity", prod.Deployments[i].Name, r)
		}
	}
	// the same prod HPAs with half-size gateway pods need about twice the
	// pods at the base load (a ramp to 5x would pin both at maxReplicas 15)
	half := withResources(envSet(t, "prod"), GatewayName, 0.5, 1)
	full := simulate(t, "prod", "steady", 1, nil).Deployments[0].Summary
	small := simulate(t, "prod", "steady", 1, func(c *Config) { c.Set = half }).Deployments[0].Summary
	if small.PeakReplicas < 2*full.PeakReplicas-1 || small.PodHours < 1.7*full.PodHours {
		t.Errorf("half-CPU gateway pods: peak %d, %.2f pod-hours; full: peak %d, %.2f pod-hours", small.PeakReplicas, small.PodHours, full.PeakReplicas, full.PodHours)
	}
	t.Logf("steady: full-CPU gateway peak %d, %.2f pod-hours; half-CPU peak %d, %.2f pod-hours", full.PeakReplicas, full.PodHours, small.PeakReplicas, small.PodHours)
	// cpuBurst 1: pods get up to their limit (4x the request)
	burst := simulate(t, "prod", "steady", 1, func(c *Config) { c.Duration = 600; c.Params.Run.CPUBurst = 1 })
	if got := burst.Deployments[0].CapacityPerPod; !near(got, (2000-g.IdleCPU)/g.CPUPerRPS) {
		t.Errorf("cpuBurst 1: %v req/s per pod", got)
	}
}

func near(a, b float64) bool { return a > b*0.999 && a < b*1.001 }

// Memory likewise: a container over its memory limit is OOM-restarted.
func TestMemoryLimitOOMKills(t *testing.T) {
	if r := simulate(t, "prod", "spike", 1, nil); r.Deployments[0].Summary.OOMKills+r.Deployments[1].Summary.OOMKills != 0 {
		t.Fatalf("OOM kills with the defaults: %+v", r.Deployments[1].Summary)
	}
	small := withResources(envSet(t, "prod"), WorkerName, 1, 0.25) // 1Gi limit: 300 + 200 x 2 slots fits, + spikes do not
	r := simulate(t, "prod", "spike", 1, withHeavyJobs(func(c *Config) { c.Set = small; c.Params.Worker.MemoryMiPerJob = 400 }))
	if r.Deployments[1].Summary.OOMKills == 0 {
		t.Error("a 1Gi worker running 2 jobs of 400Mi over 300Mi was never OOM-killed")
	}
}

// Editing the adapter's rate() window, the ServiceMonitor interval or the
// metrics-server resolution in the manifests changes the result.
func TestPipelineFromManifests(t *testing.T) {
	values := func(window string) *adapter.Values {
		v, err := adapter.Parse("v.yaml", []byte(`rules:
  custom:
    - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
      name: {matches: "^http_requests_total$", as: "http_requests_per_second"}
      metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[`+window+`])) by (<<.GroupBy>>)'
`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// heavy jobs: the measured workers would not scale in a spike, so no
	// pipeline could change their events
	base := simulate(t, "prod", "spike", 1, withHeavyJobs(func(c *Config) { c.Adapter, c.AdapterFile = values("2m"), "v.yaml" }))
	if s := base.Pipeline.RateWindow; s.Seconds != 120 || !strings.Contains(s.From, "v.yaml rules.custom[0].metricsQuery [2m]") {
		t.Errorf("rate window %+v", s)
	}
	if s := base.Pipeline.GatewayScrape; s.Seconds != 15 || !strings.Contains(s.From, "ServiceMonitor voiceassist/voiceassist-server") {
		t.Errorf("scrape %+v", s)
	}
	if s := base.Pipeline.MetricResolution; s.Seconds != 15 || !strings.Contains(s.From, "metrics-server --metric-resolution") {
		t.Errorf("resolution %+v", s)
	}
	long := simulate(t, "prod", "spike", 1, func(c *Config) { c.Adapter = values("10m") })
	if long.Pipeline.RateWindow.Seconds != 600 || reflect.DeepEqual(long.Deployments[0].Events, base.Deployments[0].Events) {
		t.Errorf("a 10m rate window changed nothing")
	}

	prod := envSet(t, "prod")
	slow := *prod
	slow.ServiceMonitors = nil
	for _, sm := range prod.ServiceMonitors {
		sm = sm.DeepCopy()
		sm.Spec.Endpoints[0].Interval = "1m"
		slow.ServiceMonitors = append(slow.ServiceMonitors, sm)
	}
	r := simulate(t, "prod", "spike", 1, withHeavyJobs(func(c *Config) { c.Set = &slow; c.Adapter = values("5m") }))
	if r.Pipeline.GatewayScrape.Seconds != 60 || r.Pipeline.ExporterScrape.Seconds != 60 ||
		reflect.DeepEqual(r.Deployments[1].Events, base.Deployments[1].Events) {
		t.Errorf("1m scrapes: %+v, worker events unchanged: %v", r.Pipeline, reflect.DeepEqual(r.Deployments[1].Events, base.Deployments[1].Events))
	}

	msSlow := withArgs(prod, "metrics-server", "--metric-resolution=15s", "--metric-resolution=60s")
	r = simulate(t, "prod", "spike", 1, func(c *Config) { c.Set = msSlow; c.Adapter = values("2m") })
	if r.Pipeline.MetricResolution.Seconds != 60 || reflect.DeepEqual(r.Deployments[0].Events, base.Deployments[0].Events) {
		t.Errorf("a 60s metric resolution changed nothing: %+v", r.Pipeline.MetricResolution)
	}
	// metrics-server moved out of the environment's render: the documented default
	none := *prod
	none.Deployments = nil
	for _, d := range prod.Deployments {
		if d.Name != "metrics-server" {
			none.Deployments = append(none.Deployments, d)
		}
	}
	r = simulate(t, "prod", "steady", 1, func(c *Config) { c.Set = &none; c.Duration = 60 })
	if s := r.Pipeline.MetricResolution; s.Seconds != DefaultMetricResolution || !strings.Contains(s.From, "default: no metrics-server") {
		t.Errorf("without metrics-server: %+v", s)
	}
	if s := r.Pipeline.RateWindow; s.Seconds != DefaultRateWindow || !strings.Contains(s.From, "default") {
		t.Errorf("without adapter values: %+v", s)
	}
	// a parameter overrides the manifests and says so
	r = simulate(t, "prod", "steady", 1, func(c *Config) { c.Duration = 60; c.Params.Metrics.ScrapeIntervalSeconds = 30 })
	if s := r.Pipeline.GatewayScrape; s.Seconds != 30 || s.From != "metrics.scrapeIntervalSeconds" {
		t.Errorf("override: %+v", s)
	}
	// a bad window is an error naming the file and rule
	_, err := Simulate(Config{Set: prod, Params: DefaultParams(), Scenario: mustScenario(t, "steady"), Adapter: values("2x"), AdapterFile: "v.yaml"})
	if err == nil || !strings.Contains(err.Error(), "v.yaml rules.custom[0].metricsQuery") || !strings.Contains(err.Error(), "[2x]") {
		t.Errorf("bad window: %v", err)
	}
}

func mustScenario(t *testing.T, name string) Scenario {
	sc, err := LookupScenario(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// withArgs replaces one argument of Deployment name's first container.
func withArgs(set *kube.Set, name, old, repl string) *kube.Set {
	c := *set
	c.Deployments = nil
	for _, d := range set.Deployments {
		if d.Name == name {
			d = d.DeepCopy()
			args := d.Spec.Template.Spec.Containers[0].Args
			for i := range args {
				if args[i] == old {
					args[i] = repl
				}
			}
		}
		c.Deployments = append(c.Deployments, d)
	}
	return &c
}

// withQuota returns a copy of set whose ResourceQuota allows only pods pods.
func withQuota(set *kube.Set, pods string) *kube.Set {
	c := *set
	c.ResourceQuotas = nil
	for _, q := range set.ResourceQuotas {
		q = q.DeepCopy()
		q.Spec.Hard[corev1.ResourcePods] = resource.MustParse(pods)
		c.ResourceQuotas = append(c.ResourceQuotas, q)
	}
	return &c
}

// A ResourceQuota caps pods, and the summary and the scale event say so.
func TestQuotaCapsPods(t *testing.T) {
	if r := simulate(t, "prod", "flash-crowd", 1, nil); r.Deployments[0].Summary.QuotaHeldSeconds != 0 {
		t.Fatalf("prod's quota held pods: %+v", r.Deployments[0].Summary)
	}
	// 40 pods minus postgres, redis, the exporter: 37 for gateway + worker; 12 leaves 9
	tight := withQuota(envSet(t, "prod"), "12")
	r := simulate(t, "prod", "spike", 1, func(c *Config) { c.Set = tight })
	gw, wk := r.Deployments[0], r.Deployments[1]
	for _, d := range []DeploymentResult{gw, wk} {
		for _, p := range d.Timeline {
			if p.Ready+0 > 9 {
				t.Fatalf("%s: %d ready pods at t=%d under a 12-pod quota", d.Name, p.Ready, p.T)
			}
		}
	}
	held := gw.Summary
	if wk.Summary.QuotaHeldSeconds > held.QuotaHeldSeconds {
		held = wk.Summary
	}
	if held.QuotaHeldSeconds == 0 || held.QuotaFirstHeldAt < eventStart || !strings.Contains(held.QuotaLimit, "ResourceQuota voiceassist/voiceassist-quota pods: 12 of 12 used") {
		t.Errorf("summary: %+v", held)
	}
	found := false
	for _, e := range append(gw.Events, wk.Events...) {
		found = found || strings.Contains(e.Quota, "voiceassist-quota pods")
	}
	if !found {
		t.Error("no scale event names the quota that held it")
	}
	// a minimum that does not fit is an error
	_, err := Simulate(Config{Set: withQuota(envSet(t, "prod"), "5"), Params: DefaultParams(), Scenario: mustScenario(t, "steady")})
	if err == nil || !strings.Contains(err.Error(), "does not fit the quota") {
		t.Errorf("got %v", err)
	}
}

// Each scale event names the metric that drove it and the limit that held it.
func TestScaleEventsNameMetricAndLimit(t *testing.T) {
	r := simulate(t, "prod", "spike", 1, nil)
	limited := 0
	for _, d := range r.Deployments {
		for _, e := range d.Events {
			if e.Metric == "" || !strings.Contains(e.Metric, "(target ") {
				t.Errorf("%s at %d: metric %q", d.Name, e.T, e.Metric)
			}
			if e.Limit != "" {
				limited++
				if e.Proposed == e.To {
					t.Errorf("%s at %d: limit %q but the proposal %d was applied", d.Name, e.T, e.Limit, e.Proposed)
				}
			}
		}
	}
	if limited == 0 {
		t.Error("no event was held by a policy during a 5x spike on prod")
	}
}

// Jobs still queued at the end are reported, and the oracle pays for a
// backlog it cannot clear: load beyond every worker's capacity.
func TestQueuedAtEndAndOracleBacklog(t *testing.T) {
	r := simulate(t, "prod", "queue-burst", 1, withHeavyJobs(func(c *Config) { c.Duration = 1800 }))
	wk := r.Deployments[1].Summary
	if wk.QueuedAtEnd == 0 || wk.OldestAtEndSeconds < 1000 {
		t.Errorf("30 min after a 10,000-job burst: %d queued, oldest %d s", wk.QueuedAtEnd, wk.OldestAtEndSeconds)
	}
	// 8 workers serve 4 jobs/s; at 6 jobs/s the oracle too runs all 8, all the time
	tr, err := ParseTrace(strings.NewReader("0,200,6\n1800,200,6\n"), "over.csv")
	if err != nil {
		t.Fatal(err)
	}
	r = simulate(t, "prod", "steady", 1, withHeavyJobs(func(c *Config) { c.Scenario = TraceScenario(tr) }))
	if got := r.Deployments[1].Summary.OraclePodHours; !near(got, 8*0.5) {
		t.Errorf("oracle pod-hours at 6 jobs/s for 30 min: %v, want 4 (8 workers)", got)
	}
}

func TestSeedStatsAndSLOs(t *testing.T) {
	var runs []*Result
	for seed := uint64(1); seed <= 5; seed++ {
		runs = append(runs, simulate(t, "prod", "spike", seed, heavyJobs))
	}
	st := Stats(runs)
	c := st.Deployments[0].Figures["catchUpSeconds"]
	if c.N != 5 || !(c.Lo <= c.Mean && c.Mean <= c.Hi) || c.Min > c.Mean || c.Max < c.Mean || c.Lo == c.Hi {
		t.Errorf("catch-up stats %+v", c)
	}
	// 1, 2, 3: sd 1, the mean's half-width t(2) x 1/sqrt(3)
	if d := describe([]float64{1, 2, 3}); !near(d.Mean, 2) || !near(d.Hi-d.Mean, 4.303/1.7320508) || d.Min != 1 || d.Max != 3 {
		t.Errorf("describe %+v", d)
	}
	ok, err := ParseSLO("gateway.catchUpSeconds<=240")
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := ParseSLO("worker.catchUpSeconds=10")
	res := CheckSLOs([]SLO{ok, bad}, [][]*Result{runs})
	if !res[0].Pass || res[1].Pass || res[1].Failed != 5 || res[1].Worst < 300 {
		t.Errorf("slo results %+v", res)
	}
	for _, c := range []struct{ in, want string }{
		{"gateway.catchUp<=1", `unknown figure "catchUp"`},
		{"db.catchUpSeconds<=1", `deployment "db"`},
		{"gateway.catchUpSeconds<=soon", `max "soon"`},
		{"gateway.catchUpSeconds<=NaN", `max "NaN"`},
		{"catchUpSeconds", "want deployment.figure<=max"},
	} {
		if _, err := ParseSLO(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.in, err, c.want)
		}
	}
}
