package hpa

import (
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// workerHPA is docs/design.md's worker HPA (prod bounds): CPU 80 %, memory 85 %,
// queue depth External AverageValue 50, queue age External Value 60 s;
// scale up 50 % per 60 s, scale down 10 % per 600 s.
func workerHPA() *autoscalingv2.HorizontalPodAutoscaler {
	util := func(name corev1.ResourceName, v int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: name, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(v)}}}
	}
	depth := externalMetricSpec(nil, resource.NewQuantity(50, resource.DecimalSI))
	depth.External.Metric.Name = "voiceassist_queue_depth"
	age := externalMetricSpec(resource.NewQuantity(60, resource.DecimalSI), nil)
	age.External.Metric.Name = "voiceassist_queue_oldest_job_age_seconds"
	return &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		MinReplicas: i32(2), MaxReplicas: 8,
		Metrics: []autoscalingv2.MetricSpec{util(corev1.ResourceCPU, 80), util(corev1.ResourceMemory, 85), depth, age},
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60}}},
			ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(600), Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 600}}},
		}}}
}

type benchWorld struct {
	c        *Controller
	h        *autoscalingv2.HorizontalPodAutoscaler
	pods     []Pod
	obs      []Observation
	props    []MetricProposal
	st       State
	replicas int32
}

func newBenchWorld(nPods int) *benchWorld {
	w := &benchWorld{c: DefaultController(), h: workerHPA(), replicas: int32(nPods)}
	for i := 0; i < nPods; i++ {
		w.pods = append(w.pods, Pod{Name: fmt.Sprintf("voiceassist-worker-%d", i), Phase: corev1.PodRunning, Ready: corev1.ConditionTrue,
			StartTime: testNow.Add(-time.Hour), ReadyTransitionTime: testNow.Add(-time.Hour),
			Containers: []Container{{Name: "worker", Requests: map[corev1.ResourceName]int64{corev1.ResourceCPU: 1000, corev1.ResourceMemory: 1 << 40}}}})
	}
	cpu, mem := PodMetrics{}, PodMetrics{}
	for i, p := range w.pods {
		cpu[p.Name] = Sample{Value: int64(600 + 50*i), Timestamp: testNow, Window: 30 * time.Second}
		mem[p.Name] = Sample{Value: int64(1<<39) + int64(i)<<30, Timestamp: testNow, Window: 30 * time.Second}
	}
	w.obs = []Observation{{Pods: w.pods, PodMetrics: cpu}, {Pods: w.pods, PodMetrics: mem},
		{ExternalValues: []int64{180_000}}, {Pods: w.pods, ExternalValues: []int64{45_000}}}
	w.props = make([]MetricProposal, len(w.h.Spec.Metrics))
	return w
}

// sync runs one full HPA sync: every metric's proposal, then the decision.
func (w *benchWorld) sync(now time.Time) Decision {
	for i := range w.h.Spec.Metrics {
		w.props[i] = w.c.ComputeReplicasForMetric(w.h, &w.h.Spec.Metrics[i], w.replicas, w.replicas, &w.obs[i], now)
	}
	d := w.c.Decide(w.h, w.replicas, w.props, now, &w.st)
	return d
}

// BenchmarkDecide measures one full sync decision of the worker HPA (4
// metrics over 4 pods: two resource utilizations, two external metrics, with
// behavior), advancing the clock by the 15 s sync period each time.
func BenchmarkDecide(b *testing.B) {
	w := newBenchWorld(4)
	now := testNow
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(DefaultSyncPeriod)
		_ = w.sync(now)
	}
}

// BenchmarkDecideOnly measures Controller.Decide alone (proposals given).
func BenchmarkDecideOnly(b *testing.B) {
	c := DefaultController()
	h := workerHPA()
	st := &State{}
	props := []MetricProposal{{Metric: "cpu", Replicas: 5}, {Metric: "memory", Replicas: 4}, {Metric: "depth", Replicas: 4}, {Metric: "age", Replicas: 3}}
	now := testNow
	cur := int32(4)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(DefaultSyncPeriod)
		props[0].Replicas = 3 + int32(now.Unix()/600%4)
		cur = c.Decide(h, cur, props, now, st).Desired
	}
}

// TestSimulationBudget runs the simulator's load: 30 days of two HPAs at the
// 15 s sync period (345,600 full syncs) and checks it stays far below 2 s.
func TestSimulationBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	worlds := []*benchWorld{newBenchWorld(4), newBenchWorld(6)}
	start := time.Now()
	now := testNow
	n := 0
	for step := 0; step < 30*24*3600/15; step++ {
		now = now.Add(DefaultSyncPeriod)
		for _, w := range worlds {
			d := w.sync(now)
			if d.Rescale {
				w.replicas = d.Desired
			}
			n++
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d full syncs in %v (%v per sync)", n, elapsed, elapsed/time.Duration(n))
	if len(worlds[0].st.Recommendations) > 100 {
		t.Errorf("recommendation log grew to %d entries", len(worlds[0].st.Recommendations))
	}
	if !raceEnabled && elapsed > 2*time.Second {
		t.Errorf("30 simulated days took %v, want under 2 s", elapsed)
	}
}
