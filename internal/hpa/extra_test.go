package hpa

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Cases that are not in upstream's tables but pin down behaviour the tables
// leave open (boundaries, multi-sync sequences). Each names the upstream
// function whose semantics it checks.

func readyPods(n int, reqMilli int64) []Pod {
	pods := make([]Pod, n)
	for i := range pods {
		pods[i] = Pod{Name: fmt.Sprintf("p-%d", i), Phase: corev1.PodRunning, Ready: corev1.ConditionTrue, StartTime: longAgo, ReadyTransitionTime: longAgo,
			Containers: []Container{{Name: "c", Requests: map[corev1.ResourceName]int64{corev1.ResourceCPU: reqMilli, corev1.ResourceMemory: reqMilli}}}}
	}
	return pods
}

func samples(pods []Pod, values ...int64) PodMetrics {
	m := PodMetrics{}
	for i, v := range values {
		m[pods[i].Name] = Sample{Value: v, Timestamp: testNow, Window: time.Minute}
	}
	return m
}

// TestToleranceBoundaries: 1-tol <= ratio <= 1+tol means no change, both ends
// included (Tolerances.isWithin).
func TestToleranceBoundaries(t *testing.T) {
	c := testCalculator()
	tol := DefaultTolerances()
	pods := readyPods(10, 1000)
	tests := []struct {
		name  string
		usage int64 // per pod, milli, against a 1000m request and 100% target
		want  int32
	}{
		{"ratio exactly 1.1 is within (isWithin, replica_calculator.go)", 1100, 10},
		{"ratio 1.11 scales up (isWithin, replica_calculator.go)", 1110, 12},
		{"ratio exactly 0.9 is within (isWithin, replica_calculator.go)", 900, 10},
		{"ratio 0.89 scales down (isWithin, replica_calculator.go)", 890, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := make([]int64, len(pods))
			for i := range vals {
				vals[i] = tc.usage
			}
			got, _, _, err := c.ResourceReplicas(testNow, 10, 100, corev1.ResourceMemory, "", tol, pods, samples(pods, vals...))
			if err != nil || got != tc.want {
				t.Fatalf("Utilization: got %d (%v), want %d", got, err, tc.want)
			}
			got, _, err = c.PodsMetricReplicas(testNow, 10, 1000, tol, pods, samples(pods, vals...))
			if err != nil || got != tc.want {
				t.Fatalf("Pods AverageValue: got %d (%v), want %d", got, err, tc.want)
			}
			got, _, err = c.ExternalMetricReplicas(10, 10000, []int64{10 * tc.usage}, tol, pods)
			if err != nil || got != tc.want {
				t.Fatalf("External Value: got %d (%v), want %d", got, err, tc.want)
			}
			got, _, err = c.ExternalPerPodMetricReplicas(10, 1000, []int64{10 * tc.usage}, tol)
			if err != nil || got != tc.want {
				t.Fatalf("External AverageValue: got %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}

// TestPlainMetricMissingPods checks calcPlainMetricReplicas' missing-pod
// rule: on a scale-down missing pods count as using the target, on a
// scale-up as 0.
func TestPlainMetricMissingPods(t *testing.T) {
	c := testCalculator()
	pods := readyPods(4, 1000)
	// scale-down: (5000+5000+20000+20000)/4 = 12500 -> ratio .625 -> ceil(2.5) = 3
	got, usage, err := c.PodsMetricReplicas(testNow, 4, 20000, DefaultTolerances(), pods, samples(pods, 5000, 5000))
	if err != nil || got != 3 || usage != 5000 {
		t.Errorf("scale-down: got %d usage %d (%v), want 3 usage 5000", got, usage, err)
	}
	// scale-up: (60000+60000+0+0)/4 = 30000 -> ratio 1.5 -> ceil(6) = 6
	got, _, err = c.PodsMetricReplicas(testNow, 4, 20000, DefaultTolerances(), pods, samples(pods, 60000, 60000))
	if err != nil || got != 6 {
		t.Errorf("scale-up: got %d (%v), want 6", got, err)
	}
	// no sample from any pod in the list
	if _, _, err := c.PodsMetricReplicas(testNow, 4, 20000, DefaultTolerances(), pods, PodMetrics{}); err == nil {
		t.Errorf("empty metrics: want an error")
	}
}

// TestPolicyPeriodBoundary: an event exactly periodSeconds old is outside the
// period (getReplicasChangePerPeriod uses timestamp.After(cutoff)).
func TestPolicyPeriodBoundary(t *testing.T) {
	events := []ScaleEvent{{Time: testNow.Add(-60 * time.Second), Change: 3}, {Time: testNow.Add(-59 * time.Second), Change: 2}}
	if got := replicasChangePerPeriod(60, events, testNow); got != 2 {
		t.Errorf("replicas change = %d, want 2", got)
	}
}

// TestNoBehaviorStabilizationOverTime runs several syncs of the no-behavior
// path (normalizeDesiredReplicas): a scale-down waits until the higher
// recommendations are older than the 5-minute window; scale-up is capped at
// max(2*current, 4) per sync.
func TestNoBehaviorStabilizationOverTime(t *testing.T) {
	c := DefaultController()
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: i32(1), MaxReplicas: 100}}
	st := &State{}
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	p := func(n int32) []MetricProposal { return []MetricProposal{{Metric: "m", Replicas: n}} }

	d := c.Decide(h, 2, p(30), at(0), st)
	if d.Desired != 4 || d.Reason != ReasonScaleUpLimit {
		t.Fatalf("t=0: %d %s, want 4 ScaleUpLimit", d.Desired, d.Reason)
	}
	d = c.Decide(h, 4, p(30), at(15), st)
	if d.Desired != 8 || d.Reason != ReasonScaleUpLimit {
		t.Fatalf("t=15: %d %s, want 8 ScaleUpLimit", d.Desired, d.Reason)
	}
	d = c.Decide(h, 8, p(10), at(30), st)
	if d.Desired != 16 || d.Stabilized != 30 {
		t.Fatalf("t=30: %d (stabilized %d), want 16 (30)", d.Desired, d.Stabilized)
	}
	// Load drops to 5, but the window's max is still 30: the stabilized
	// recommendation even scales up to it (upstream behaviour).
	d = c.Decide(h, 16, p(5), at(45), st)
	if d.Desired != 30 || d.Reason != ReasonScaleDownStabilized {
		t.Fatalf("t=45: %d %s, want 30 ScaleDownStabilized", d.Desired, d.Reason)
	}
	for s := 60; s <= 315; s += 15 {
		d = c.Decide(h, 30, p(5), at(s), st)
		if d.Desired != 30 || d.Rescale {
			t.Fatalf("t=%d: desired %d, want 30 held by the window", s, d.Desired)
		}
	}
	// t=330: the 30s (t=0, t=15) are older than 300 s; 10 (t=30) is exactly 300 s old and still counts
	d = c.Decide(h, 30, p(5), at(330), st)
	if d.Desired != 10 {
		t.Fatalf("t=330: %d, want 10", d.Desired)
	}
	d = c.Decide(h, 10, p(5), at(345), st)
	if d.Desired != 5 || d.Reason != ReasonDesiredWithinRange {
		t.Fatalf("t=345: %d %s, want 5 DesiredWithinRange", d.Desired, d.Reason)
	}
}

// TestDesignGatewayBehavior checks docs/design.md's gateway policy: Percent 100/30s
// and Pods 2/30s with selectPolicy Min give +2 per 30 s (3->5->7), where Max
// would double; scale-down: 300 s window, 1 pod per 300 s.
func TestDesignGatewayBehavior(t *testing.T) {
	minP := autoscalingv2.MinChangePolicySelect
	mk := func(sel autoscalingv2.ScalingPolicySelect) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: i32(3), MaxReplicas: 15,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{SelectPolicy: &sel, Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 30},
					{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 30}}},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(300), Policies: []autoscalingv2.HPAScalingPolicy{
					{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 300}}},
			}}}
	}
	run := func(h *autoscalingv2.HorizontalPodAutoscaler) []int32 {
		c := DefaultController()
		st := &State{}
		cur := int32(3)
		var seq []int32
		for s := 0; s <= 60; s += 15 {
			d := c.Decide(h, cur, []MetricProposal{{Metric: "cpu", Replicas: 15}}, testNow.Add(time.Duration(s)*time.Second), st)
			cur = d.Desired
			seq = append(seq, cur)
		}
		return seq
	}
	if got := fmt.Sprint(run(mk(minP))); got != "[5 5 7 7 9]" {
		t.Errorf("selectPolicy Min: %s, want [5 5 7 7 9]", got)
	}
	if got := fmt.Sprint(run(mk(autoscalingv2.MaxChangePolicySelect))); got != "[6 6 12 12 15]" {
		t.Errorf("selectPolicy Max: %s, want [6 6 12 12 15]", got)
	}
	// scale-down from 9 with the load gone: nothing until the window has no
	// higher recommendation, then one pod per 300 s (an event exactly 300 s
	// old no longer counts)
	c := DefaultController()
	h := mk(minP)
	st := &State{}
	cur := int32(9)
	var downs []int
	for s := 0; s <= 900; s += 15 {
		d := c.Decide(h, cur, []MetricProposal{{Metric: "cpu", Replicas: 3}}, testNow.Add(time.Duration(s)*time.Second), st)
		if d.Desired < cur {
			downs = append(downs, s)
		}
		cur = d.Desired
	}
	if got := fmt.Sprint(downs); got != "[300 600 900]" || cur != 6 {
		t.Errorf("scale-downs at %s ending at %d, want [300 600 900] ending at 6", got, cur)
	}
}

// TestDisabledSelectPolicy: selectPolicy Disabled forbids that direction
// (calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors).
func TestDisabledSelectPolicy(t *testing.T) {
	dis := autoscalingv2.DisabledPolicySelect
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: i32(1), MaxReplicas: 10,
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{SelectPolicy: &dis, StabilizationWindowSeconds: i32(0)}}}}
	c := DefaultController()
	d := c.Decide(h, 5, []MetricProposal{{Replicas: 2}}, testNow, &State{})
	if d.Desired != 5 || d.Reason != ReasonScaleDownLimit {
		t.Errorf("down disabled: %d %s, want 5 ScaleDownLimit", d.Desired, d.Reason)
	}
	d = c.Decide(h, 5, []MetricProposal{{Replicas: 8}}, testNow, &State{})
	if d.Desired != 8 || !d.Rescale {
		t.Errorf("up allowed: %d, want 8", d.Desired)
	}
}

// TestPartialFailure covers computeReplicasForMetrics' rule with three metrics.
func TestPartialFailure(t *testing.T) {
	c := DefaultController()
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: i32(1), MaxReplicas: 20}}
	bad := MetricProposal{Err: fmt.Errorf("boom"), Reason: ReasonFailedGetExternalMetric}
	tests := []struct {
		name      string
		proposals []MetricProposal
		want      int32
		proposed  int32
	}{
		{"max over metrics", []MetricProposal{{Replicas: 3}, {Replicas: 7}, {Replicas: 5}}, 7, 7},
		{"one failed, rest scale up: scale", []MetricProposal{{Replicas: 3}, bad, {Replicas: 7}}, 7, 7},
		{"one failed, rest scale down: no scale", []MetricProposal{{Replicas: 3}, bad, {Replicas: 4}}, 5, -1},
		{"one failed, rest equal current: keep", []MetricProposal{{Replicas: 5}, bad}, 5, 5},
		{"all failed: no scale", []MetricProposal{bad, bad}, 5, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name+" (computeReplicasForMetrics, horizontal.go)", func(t *testing.T) {
			st := &State{Recommendations: []Recommendation{}}
			d := c.Decide(h, 5, tc.proposals, testNow, st)
			if d.Desired != tc.want || d.Proposed != tc.proposed {
				t.Errorf("desired %d proposed %d, want %d %d", d.Desired, d.Proposed, tc.want, tc.proposed)
			}
			if tc.proposed == -1 && (d.ScalingActive.Status != corev1.ConditionFalse || d.ScalingActive.Reason != ReasonFailedGetExternalMetric || d.Err == nil) {
				t.Errorf("ScalingActive = %+v, err %v", d.ScalingActive, d.Err)
			}
		})
	}
}

// TestExternalEmptyList: the external metrics API answers, but with no series
// for the metric's selector (the adapter serves the metric name, but the
// exporter is down or the selector matches nothing). Upstream's metrics
// client turns the empty list into an error ("no metrics returned from
// external metrics API", metrics/client.go GetExternalMetric, checked by its
// TestRESTClientExternalEmptyMetrics), so the metric fails with
// FailedGetExternalMetric exactly as in TestNoScaleDownOneMetricEmpty and
// TestScaleUpOneMetricEmpty: the HPA may scale up on the other metrics but
// never down. Reading the empty list as zero would propose a scale-down.
func TestExternalEmptyList(t *testing.T) {
	calc := []replicaCalcCase{
		{name: "TestRESTClientExternalEmptyMetrics/Value", currentReplicas: 3, expectedError: "no metrics returned from external metrics API",
			metric: &metricInfo{kind: externalMetric, levels: []int64{}, targetUsage: 4400}},
		{name: "TestRESTClientExternalEmptyMetrics/AverageValue", currentReplicas: 3, expectedError: "no metrics returned from external metrics API",
			metric: &metricInfo{kind: externalPerPodMetric, levels: nil, perPodTargetUsage: 2150}},
	}
	for _, tc := range calc {
		t.Run(tc.name+" (metrics/client_test.go)", func(t *testing.T) { tc.run(t) })
	}
	one3 := []int64{1000, 1000, 1000}
	one5 := []int64{1000, 1000, 1000, 1000, 1000}
	empty := []timestampedRecommendation{}
	syncs := []syncCase{
		{name: "EmptyExternalListNoScaleDown/Value", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(1000), nil)}, reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5,
			recommendations: empty, externalMetricsEmpty: true,
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "FailedGetExternalMetric"}}},
		{name: "EmptyExternalListNoScaleDown/AverageValue", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(50000))}, reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5,
			recommendations: empty, externalMetricsEmpty: true,
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "FailedGetExternalMetric"}}},
		{name: "EmptyExternalListScaleUp/Value", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 40,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(100), nil)}, reportedLevels: []uint64{300, 400, 500}, reportedCPURequests: one3,
			externalMetricsEmpty: true, expectPartialError: true},
		{name: "EmptyExternalListScaleUp/AverageValue", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 40,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(100))}, reportedLevels: []uint64{300, 400, 500}, reportedCPURequests: one3,
			externalMetricsEmpty: true, expectPartialError: true},
		// The only metric has no series: nothing to decide on, no change.
		{name: "EmptyExternalListOnlyMetric", minReplicas: 1, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(50000))}, reportedLevels: []uint64{10, 10, 10, 10}, reportedCPURequests: []int64{1000, 1000, 1000, 1000},
			externalMetricsEmpty: true,
			expectedConditions:   []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "FailedGetExternalMetric"}}},
	}
	for _, tc := range syncs {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}

	// The condition message says why, as upstream's does.
	c := testController(false)
	h := (&syncCase{minReplicas: 1, maxReplicas: 6, metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(50000))}}).hpa()
	p := c.ComputeReplicasForMetric(h, &h.Spec.Metrics[0], 4, 4, &Observation{Pods: readyPods(4, 1000)}, testNow)
	if p.Reason != ReasonFailedGetExternalMetric || p.Err == nil || !strings.Contains(p.Err.Error(), ErrNoExternalMetrics.Error()) {
		t.Fatalf("proposal = %+v, want reason %s and an error saying %q", p, ReasonFailedGetExternalMetric, ErrNoExternalMetrics)
	}
	if !strings.Contains(p.Err.Error(), "failed to get qps external metric value") {
		t.Errorf("error %q does not name the metric", p.Err)
	}
}

// TestPolicyLimits: the per-policy step of calculateScaleUpLimitWithScalingRules
// and calculateScaleDownLimitWithBehaviors, which linters call directly:
// up ceil(base·(1+v/100)), down int32(base·(1−v/100)).
func TestPolicyLimits(t *testing.T) {
	pol := func(typ autoscalingv2.HPAScalingPolicyType, v, period int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: typ, Value: v, PeriodSeconds: period}
	}
	pct, pods := autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy
	for _, c := range []struct {
		up   bool
		p    autoscalingv2.HPAScalingPolicy
		base int32
		want int32
	}{
		{true, pol(pct, 100, 30), 3, 6},
		{true, pol(pct, 50, 60), 3, 5}, // ceil(4.5)
		{true, pol(pct, 10, 60), 1, 2}, // ceil(1.1)
		{true, pol(pods, 2, 30), 3, 5},
		{false, pol(pct, 10, 600), 5, 4},   // int32(4.5)
		{false, pol(pct, 10, 600), 15, 13}, // int32(13.5)
		{false, pol(pct, 50, 60), 3, 1},    // int32(1.5)
		{false, pol(pct, 100, 15), 7, 0},
		{false, pol(pods, 1, 300), 3, 2},
	} {
		f := ScaleDownPolicyLimit
		if c.up {
			f = ScaleUpPolicyLimit
		}
		if got := f(c.p, c.base); got != c.want {
			t.Errorf("up=%v %s %d/%ds from %d: %d, want %d", c.up, c.p.Type, c.p.Value, c.p.PeriodSeconds, c.base, got, c.want)
		}
		// The whole-direction limit with one policy and no events is the same.
		r := ScalingRules{SelectPolicy: autoscalingv2.MaxChangePolicySelect, Policies: []autoscalingv2.HPAScalingPolicy{c.p}}
		whole := calculateScaleDownLimitWithBehaviors(c.base, nil, nil, &r, testNow)
		if c.up {
			whole = calculateScaleUpLimitWithScalingRules(c.base, nil, nil, &r, testNow)
		}
		if whole != c.want {
			t.Errorf("up=%v %s from %d: direction limit %d, want %d", c.up, c.p.Type, c.base, whole, c.want)
		}
	}
}

// TestBehaviorRules: the defaults the controller applies per direction
// (GenerateHPAScale{Up,Down}Rules and maybeInitScaleDownStabilizationWindow).
func TestBehaviorRules(t *testing.T) {
	c := DefaultController()
	up, down := c.BehaviorRules(nil)
	if up.WindowSeconds != 0 || up.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(up.Policies) != 2 ||
		up.Policies[0] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}) ||
		up.Policies[1] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}) {
		t.Errorf("scale-up defaults: %+v", up)
	}
	if down.WindowSeconds != 300 || down.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(down.Policies) != 1 ||
		down.Policies[0] != (autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}) {
		t.Errorf("scale-down defaults: %+v", down)
	}
	minSel := autoscalingv2.MinChangePolicySelect
	c.DownscaleStabilizationWindow = 2 * time.Minute
	up, down = c.BehaviorRules(&autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   &autoscalingv2.HPAScalingRules{SelectPolicy: &minSel},
		ScaleDown: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}},
	})
	if up.SelectPolicy != minSel || len(up.Policies) != 2 || down.WindowSeconds != 120 || len(down.Policies) != 1 || down.Policies[0].Value != 1 {
		t.Errorf("partial behavior: up %+v, down %+v", up, down)
	}
	if got := MinReplicas(&autoscalingv2.HorizontalPodAutoscaler{}); got != 1 {
		t.Errorf("MinReplicas of an unset field: %d, want 1", got)
	}
}

// ResourceReplicas checks the ready metrics before the requests, as
// upstream does: with no ready pod's sample and a pod without a request
// the error is ErrNoReadyMetrics; with a ready sample it is the request's.
func TestResourceReplicasErrorOrder(t *testing.T) {
	now := time.Date(2025, 1, 1, 1, 0, 0, 0, time.UTC)
	long := now.Add(-time.Hour)
	pod := func(name string, ready corev1.ConditionStatus, request bool) Pod {
		c := Container{Name: "app", Requests: map[corev1.ResourceName]int64{}}
		if request {
			c.Requests[corev1.ResourceCPU] = 100
		}
		return Pod{Name: name, Phase: corev1.PodRunning, Ready: ready, StartTime: long, ReadyTransitionTime: long, Containers: []Container{c}}
	}
	c := DefaultCalculator()
	sample := Sample{Value: 50, Timestamp: now, Window: time.Minute}
	// a: unready, sampled; b: no request, no sample
	pods := []Pod{pod("a", corev1.ConditionFalse, true), pod("b", corev1.ConditionTrue, false)}
	_, _, _, err := c.ResourceReplicas(now, 2, 50, corev1.ResourceCPU, "", DefaultTolerances(), pods, PodMetrics{"a": sample})
	if !errors.Is(err, ErrNoReadyMetrics) {
		t.Errorf("no ready sample and a missing request: %v, want ErrNoReadyMetrics", err)
	}
	// a: ready, sampled; b: no request
	pods[0].Ready = corev1.ConditionTrue
	_, _, _, err = c.ResourceReplicas(now, 2, 50, corev1.ResourceCPU, "", DefaultTolerances(), pods, PodMetrics{"a": sample})
	if err == nil || !strings.Contains(err.Error(), "missing request for cpu in container app of Pod b") {
		t.Errorf("a ready sample and a missing request: %v, want the missing request", err)
	}
}
