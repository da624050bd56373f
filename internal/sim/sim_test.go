package sim

import (
	"reflect"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func TestSameSeedSameRun(t *testing.T) {
	for _, sc := range []string{"spike", "queue-burst"} {
		a := simulate(t, "prod", sc, 7, nil)
		b := simulate(t, "prod", sc, 7, nil)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two runs with seed 7 differ", sc)
		}
		c := simulate(t, "prod", sc, 8, nil)
		if reflect.DeepEqual(a.Deployments[0].Timeline, c.Deployments[0].Timeline) ||
			reflect.DeepEqual(a.Deployments[1].Timeline, c.Deployments[1].Timeline) {
			t.Errorf("%s: seeds 7 and 8 gave the same timeline", sc)
		}
	}
}

// The prod HPAs' policies hold in every scenario, for several seeds:
// gateway at most +2 pods in any 30 s and -1 pod in any 300 s; worker at most
// +50 % in any 60 s and -10 % in any 600 s; replicas within 3-15 and 2-8.
// A window is (t-period, t]: an event exactly one period before another is
// outside its window, as upstream counts (replicasChangePerPeriod).
func TestProdPoliciesHold(t *testing.T) {
	for _, sc := range ScenarioNames() {
		for seed := uint64(1); seed <= 3; seed++ {
			r := simulate(t, "prod", sc, seed, nil)
			gw, wk := &r.Deployments[0], &r.Deployments[1]
			var v []string
			v = append(v, violations(gw, gatewayUp, gatewayDown)...)
			v = append(v, violations(wk, workerUp, workerDown)...)
			v = append(v, boundViolations(gw, 3, 15)...)
			v = append(v, boundViolations(wk, 2, 8)...)
			for _, msg := range v {
				t.Errorf("%s seed %d: %s", sc, seed, msg)
			}
			if gw.Summary.ScaleEvents+wk.Summary.ScaleEvents == 0 && sc != "steady" {
				t.Errorf("%s seed %d: nothing scaled; the checks saw nothing", sc, seed)
			}
		}
	}
}

// The checks above fail when the manifests break the policies.
func TestPolicyChecksCatchBrokenHPAs(t *testing.T) {
	prod := envSet(t, "prod")
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	cases := []struct {
		name, hpa, scenario string
		edit                func(h *autoscalingv2.HorizontalPodAutoscaler)
		check               func(r *Result) []string
	}{
		{"selectPolicy Max on the gateway", "voiceassist-server-hpa", "spike",
			func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Behavior.ScaleUp.SelectPolicy = &maxPolicy },
			func(r *Result) []string { return violations(&r.Deployments[0], gatewayUp) }},
		{"gateway scale-down 3 pods per 300 s", "voiceassist-server-hpa", "spike",
			func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Behavior.ScaleDown.Policies[0].Value = 3 },
			func(r *Result) []string { return violations(&r.Deployments[0], gatewayDown) }},
		{"worker scale-up 200 %", "voiceassist-worker-hpa", "queue-burst",
			func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Behavior.ScaleUp.Policies[0].Value = 200 },
			func(r *Result) []string { return violations(&r.Deployments[1], workerUp) }},
		{"worker scale-down 50 %", "voiceassist-worker-hpa", "queue-burst",
			func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Behavior.ScaleDown.Policies[0].Value = 50 },
			func(r *Result) []string { return violations(&r.Deployments[1], workerDown) }},
		{"gateway maxReplicas 20", "voiceassist-server-hpa", "flash-crowd",
			func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 20 },
			func(r *Result) []string { return boundViolations(&r.Deployments[0], 3, 15) }},
	}
	for _, c := range cases {
		set := withHPA(prod, c.hpa, c.edit)
		r := simulate(t, "prod", c.scenario, 1, func(cfg *Config) { cfg.Set = set })
		if len(c.check(r)) == 0 {
			t.Errorf("%s: no violation found", c.name)
		}
	}
}

// Stated in docs/simulate.md: a 5x spike on prod (200 -> 1000 req/s within
// 30 s) is met within 240 s by the gateway with the measured profile (the
// offered load exceeds the ready pods' capacity for at most 240 s; 12 of
// its 15 pods at 80 req/s each), the measured workers never fall behind,
// and workers with heavy jobs (heavyJobs) catch up within 420 s.
const (
	spikeGatewayCatchUp = 240
	spikeWorkerCatchUp  = 420
)

func TestProdMeetsSpike(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		r := simulate(t, "prod", "spike", seed, nil)
		if got := r.Deployments[0].Summary.CatchUpSeconds; got > spikeGatewayCatchUp || got == 0 {
			t.Errorf("seed %d: gateway caught up in %d s, want 1-%d", seed, got, spikeGatewayCatchUp)
		}
		// the measured workers (two at prod's minimum) serve the spike's
		// 2.5 jobs/s without falling behind
		if got := r.Deployments[1].Summary; got.CatchUpSeconds != 0 || got.SLOSeconds != 0 {
			t.Errorf("seed %d: measured workers fell behind for %d s (%d s over the SLO), want 0", seed, got.CatchUpSeconds, got.SLOSeconds)
		}
		// heavy jobs (4 s, 2 at a time) need the worker HPA
		h := simulate(t, "prod", "spike", seed, heavyJobs)
		if got := h.Deployments[1].Summary.CatchUpSeconds; got > spikeWorkerCatchUp || got == 0 {
			t.Errorf("seed %d: workers with heavy jobs caught up in %d s, want 1-%d", seed, got, spikeWorkerCatchUp)
		}
	}
	// The bound is tight enough to fail: pods that take 2 minutes to start miss it.
	r := simulate(t, "prod", "spike", 1, func(c *Config) { c.Params.Gateway.StartupSeconds = 120 })
	if got := r.Deployments[0].Summary.CatchUpSeconds; got <= spikeGatewayCatchUp {
		t.Errorf("with 120 s start-up the gateway still caught up in %d s", got)
	}
}

// Stated in docs/simulate.md: 10,000 jobs at once on prod drain (queue depth
// back to 0) within 55 min of the burst; the workers then hold their peak for
// the 600 s scale-down window and scale down 590-660 s after the drain, by
// 10 % per 600 s.
const burstDrainSeconds = 55 * 60

func TestProdDrainsQueueBurst(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		r := simulate(t, "prod", "queue-burst", seed, heavyJobs)
		wk := &r.Deployments[1]
		drained := int64(-1)
		for _, p := range wk.Timeline {
			if p.T > eventStart && p.Depth == 0 {
				drained = p.T
				break
			}
		}
		if drained < 0 || drained-eventStart > burstDrainSeconds {
			t.Fatalf("seed %d: queue drained at t=%d, want within %d s of the burst at %d", seed, drained, burstDrainSeconds, eventStart)
		}
		if wk.Summary.PeakReplicas != 8 {
			t.Errorf("seed %d: peak %d workers, want the prod maximum 8", seed, wk.Summary.PeakReplicas)
		}
		var firstDown int64 = -1
		for _, e := range wk.Events {
			if e.T > eventStart && e.To < e.From {
				firstDown = e.T
				break
			}
		}
		if after := firstDown - drained; firstDown < 0 || after < 590 || after > 660 {
			t.Errorf("seed %d: first scale-down at t=%d, %d s after the drain at %d; want 590-660 s", seed, firstDown, after, drained)
		}
		if end := wk.Timeline[len(wk.Timeline)-1].Replicas; end >= 8 {
			t.Errorf("seed %d: still %d workers at the end", seed, end)
		}
		if v := violations(wk, workerDown); len(v) > 0 {
			t.Error(strings.Join(v, "\n"))
		}
	}
	// Slower jobs do not drain in time: the bound can fail.
	r := simulate(t, "prod", "queue-burst", 1, withHeavyJobs(func(c *Config) { c.Params.Worker.JobMeanSeconds = 6 }))
	for _, p := range r.Deployments[1].Timeline {
		if p.T > eventStart && p.Depth == 0 && p.T-eventStart <= burstDrainSeconds {
			t.Errorf("6 s jobs drained by t=%d", p.T)
			break
		}
	}
}

func TestEveryEnvironmentRuns(t *testing.T) {
	for _, env := range []string{"base", "dev", "staging", "prod"} {
		r := simulate(t, env, "ramp", 1, nil)
		for _, d := range r.Deployments {
			if len(d.Metrics) != map[string]int{GatewayName: 3, WorkerName: 4}[d.Name] {
				t.Errorf("%s %s: %d metrics", env, d.Name, len(d.Metrics))
			}
			if v := boundViolations(&d, d.MinReplicas, d.MaxReplicas); len(v) > 0 {
				t.Errorf("%s: %v", env, v)
			}
		}
	}
}

func TestUnknownTargetsAndMetrics(t *testing.T) {
	prod := envSet(t, "prod")
	cases := []struct {
		edit func(h *autoscalingv2.HorizontalPodAutoscaler)
		want string
	}{
		{func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "nope" }, "targets Deployment nope"},
		{func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[2].Pods.Metric.Name = "foo" }, "spec.metrics[2] (Pods/foo)"},
	}
	for _, c := range cases {
		set := withHPA(prod, "voiceassist-server-hpa", c.edit)
		sc, _ := LookupScenario("steady")
		_, err := Simulate(Config{Set: set, Params: DefaultParams(), Scenario: sc})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}
