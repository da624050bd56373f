package hpa

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Full-sync cases ported from k8s.io/kubernetes v1.34.4
// pkg/controller/podautoscaler/horizontal_test.go. Upstream drives the real
// controller against fake clients; here the same inputs go through
// Controller.ComputeReplicasForMetric and Controller.Decide. Like upstream's
// init(), the no-behavior scale-up limit factor is 8 in these tests.
//
// Upstream harness: pods test-pod-<i>, two containers each requesting half
// of reportedCPURequests[i] (default 1 CPU); the Ready condition's
// lastTransitionTime is the pod's start time; CPU samples are split in half
// per container (integer division), taken now with a 1-minute window; a Pods
// metric reports reportedLevels[i] per pod, an Object metric reportedLevels[0],
// an External metric all reportedLevels.

type cond struct {
	typ    autoscalingv2.HorizontalPodAutoscalerConditionType
	status corev1.ConditionStatus
	reason string
}

var statusOk = []cond{
	{autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale"},
	{autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound"},
	{autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange"},
}

// okWith mirrors statusOkWithOverrides.
func okWith(overrides ...cond) []cond {
	out := append([]cond(nil), statusOk...)
	for _, o := range overrides {
		for i := range out {
			if out[i].typ == o.typ {
				out[i] = o
			}
		}
	}
	return out
}

func ableToScale(reason string) cond {
	return cond{autoscalingv2.AbleToScale, corev1.ConditionTrue, reason}
}
func limited(status corev1.ConditionStatus, reason string) cond {
	return cond{autoscalingv2.ScalingLimited, status, reason}
}

type syncCase struct {
	name                               string
	minReplicas, maxReplicas           int32
	specReplicas, statusReplicas       int32
	scaleUpRules, scaleDownRules       *autoscalingv2.HPAScalingRules
	CPUTarget                          int32
	CPUCurrent                         int32 // checked when non-zero
	reportedLevels                     []uint64
	reportedCPURequests                []int64 // milli; nil = one CPU per pod for statusReplicas pods
	reportedPodReadiness               []corev1.ConditionStatus
	reportedPodStartTime               []time.Time
	reportedPodPhase                   []corev1.PodPhase
	reportedPodDeletionTimestamp       []bool
	metricsTarget                      []autoscalingv2.MetricSpec
	recommendations                    []timestampedRecommendation
	externalMetricsFail                bool // the external metrics API fails
	externalMetricsEmpty               bool // the external metrics API answers with no series
	allMetricsFail                     bool // every metrics API fails
	configurableTolerance              bool
	expectedDesiredReplicas            int32
	expectedConditions                 []cond // nil = statusOk
	expectPartialError, expectNoChange bool
}

func (tc *syncCase) hpa() *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		MinReplicas: i32(tc.minReplicas), MaxReplicas: tc.maxReplicas}}
	if tc.scaleUpRules != nil || tc.scaleDownRules != nil {
		h.Spec.Behavior = DefaultBehavior(&autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: tc.scaleUpRules, ScaleDown: tc.scaleDownRules})
	}
	if tc.CPUTarget > 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilization(tc.CPUTarget)}
	}
	h.Spec.Metrics = append(h.Spec.Metrics, tc.metricsTarget...)
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU}}}
	}
	return h
}

func cpuUtilization(target int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(target)}}}
}

func (tc *syncCase) pods() []Pod {
	n := int(tc.statusReplicas)
	if tc.reportedCPURequests != nil {
		n = len(tc.reportedCPURequests)
	}
	pods := make([]Pod, n)
	for i := range pods {
		start := longAgo
		if tc.reportedPodStartTime != nil {
			start = tc.reportedPodStartTime[i]
		}
		p := Pod{Name: fmt.Sprintf("%s-%d", podNamePrefix, i), Phase: corev1.PodRunning, Ready: corev1.ConditionTrue, StartTime: start, ReadyTransitionTime: start}
		if tc.reportedPodReadiness != nil {
			p.Ready = tc.reportedPodReadiness[i]
		}
		if tc.reportedPodPhase != nil {
			p.Phase = tc.reportedPodPhase[i]
		}
		if tc.reportedPodDeletionTimestamp != nil {
			p.Deleted = tc.reportedPodDeletionTimestamp[i]
		}
		req := int64(1000)
		if tc.reportedCPURequests != nil {
			req = tc.reportedCPURequests[i]
		}
		half := map[corev1.ResourceName]int64{corev1.ResourceCPU: req / 2}
		p.Containers = []Container{{Name: "container1", Requests: half}, {Name: "container2", Requests: half}}
		pods[i] = p
	}
	return pods
}

func (tc *syncCase) observation(spec *autoscalingv2.MetricSpec, pods []Pod) *Observation {
	obs := &Observation{Pods: pods, PodMetrics: PodMetrics{}}
	for i, l := range tc.reportedLevels {
		name := fmt.Sprintf("%s-%d", podNamePrefix, i)
		switch spec.Type {
		case autoscalingv2.ResourceMetricSourceType:
			obs.PodMetrics[name] = Sample{Value: 2 * int64(l/2), Timestamp: testNow, Window: time.Minute}
		case autoscalingv2.ContainerResourceMetricSourceType:
			obs.PodMetrics[name] = Sample{Value: int64(l / 2), Timestamp: testNow, Window: time.Minute}
		default:
			obs.PodMetrics[name] = Sample{Value: int64(l), Timestamp: testNow, Window: time.Minute}
		}
		obs.ExternalValues = append(obs.ExternalValues, int64(l))
	}
	if len(tc.reportedLevels) > 0 {
		obs.ObjectValue = int64(tc.reportedLevels[0])
	}
	if spec.Type == autoscalingv2.ExternalMetricSourceType && tc.externalMetricsEmpty {
		obs.ExternalValues = nil
	}
	if tc.allMetricsFail || (spec.Type == autoscalingv2.ExternalMetricSourceType && tc.externalMetricsFail) {
		obs.Err = errors.New("something went wrong")
	}
	return obs
}

func testController(configurableTolerance bool) *Controller {
	return &Controller{Calculator: testCalculator(), Tolerance: testTolerance, DownscaleStabilizationWindow: 5 * time.Minute,
		ConfigurableTolerance: configurableTolerance, scaleUpLimitFactor: 8}
}

func (tc *syncCase) run(t *testing.T) {
	t.Helper()
	c := testController(tc.configurableTolerance)
	h := tc.hpa()
	pods := tc.pods()
	st := &State{Recommendations: toRecommendations(tc.recommendations)}
	proposals := make([]MetricProposal, len(h.Spec.Metrics))
	for i := range h.Spec.Metrics {
		proposals[i] = c.ComputeReplicasForMetric(h, &h.Spec.Metrics[i], tc.specReplicas, tc.statusReplicas, tc.observation(&h.Spec.Metrics[i], pods), testNow)
	}
	d := c.Decide(h, tc.specReplicas, proposals, testNow, st)
	if d.Desired != tc.expectedDesiredReplicas {
		t.Errorf("desired = %d, want %d (decision %+v)", d.Desired, tc.expectedDesiredReplicas, d)
	}
	if d.Rescale != (tc.specReplicas != tc.expectedDesiredReplicas) {
		t.Errorf("rescale = %v, want %v", d.Rescale, tc.specReplicas != tc.expectedDesiredReplicas)
	}
	want := tc.expectedConditions
	if want == nil {
		want = statusOk
	}
	var got []cond
	for _, x := range []struct {
		typ autoscalingv2.HorizontalPodAutoscalerConditionType
		c   Condition
	}{{autoscalingv2.AbleToScale, d.AbleToScale}, {autoscalingv2.ScalingActive, d.ScalingActive}, {autoscalingv2.ScalingLimited, d.ScalingLimited}} {
		if x.c.Set {
			got = append(got, cond{x.typ, x.c.Status, x.c.Reason})
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("conditions = %v, want %v", got, want)
	}
	if tc.CPUCurrent != 0 {
		_, util, _, err := c.ResourceReplicas(testNow, tc.specReplicas, tc.CPUTarget, corev1.ResourceCPU, "", c.Tolerances(h), pods, tc.observation(&h.Spec.Metrics[0], pods).PodMetrics)
		if err != nil || util != tc.CPUCurrent {
			t.Errorf("cpu utilization = %d (%v), want %d", util, err, tc.CPUCurrent)
		}
	}
	if tc.expectPartialError && (d.Err == nil || d.Proposed == -1) {
		t.Errorf("expected a partial metric error with a valid proposal, got err=%v proposed=%d", d.Err, d.Proposed)
	}
}

func milli(v int64) *resource.Quantity { return resource.NewMilliQuantity(v, resource.DecimalSI) }

func podsMetric(averageValue *resource.Quantity) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: averageValue}}}
}

func objectMetricSpec(value, averageValue *resource.Quantity) autoscalingv2.MetricSpec {
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: value}
	if averageValue != nil {
		t = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: averageValue}
	}
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
		DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "some-deployment"},
		Metric:          autoscalingv2.MetricIdentifier{Name: "qps"}, Target: t}}
}

func externalMetricSpec(value, averageValue *resource.Quantity) autoscalingv2.MetricSpec {
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: value}
	if averageValue != nil {
		t = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: averageValue}
	}
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: t}}
}

func mustQ(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

var cheddar = autoscalingv2.MetricSpec{Type: "CheddarCheese"}

func syncCases() []syncCase {
	one3 := []int64{1000, 1000, 1000}
	one5 := []int64{1000, 1000, 1000, 1000, 1000}
	one7 := []int64{1000, 1000, 1000, 1000, 1000, 1000, 1000}
	var1 := []int64{900, 1000, 1100}
	empty := []timestampedRecommendation{}
	sc := []syncCase{
		{name: "TestScaleUp", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5, CPUTarget: 30, CPUCurrent: 50,
			reportedLevels: []uint64{300, 500, 700}, reportedCPURequests: one3},
		{name: "TestScaleUpContainer", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5,
			metricsTarget: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
				Name: corev1.ResourceCPU, Container: "container1", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(30)}}}},
			reportedLevels: []uint64{300, 500, 700}, reportedCPURequests: one3},
		{name: "TestScaleUpUnreadyLessScale", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60,
			reportedLevels: []uint64{300, 500, 700}, reportedCPURequests: one3, reportedPodReadiness: []corev1.ConditionStatus{F, T, T}},
		{name: "TestScaleUpHotCpuLessScale", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60,
			reportedLevels: []uint64{300, 500, 700}, reportedCPURequests: one3, reportedPodStartTime: []time.Time{hot, cool, cool}},
		{name: "TestScaleUpUnreadyNoScale", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: 30, CPUCurrent: 40,
			reportedLevels: []uint64{400, 500, 700}, reportedCPURequests: one3, reportedPodReadiness: []corev1.ConditionStatus{T, F, F},
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestScaleUpHotCpuNoScale", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: 30, CPUCurrent: 40,
			reportedLevels: []uint64{400, 500, 700}, reportedCPURequests: one3, reportedPodReadiness: []corev1.ConditionStatus{T, F, F},
			reportedPodStartTime: []time.Time{cool, hot, hot}, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestScaleUpIgnoresFailedPods", minReplicas: 2, maxReplicas: 6, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60,
			reportedLevels: []uint64{500, 700}, reportedCPURequests: []int64{1000, 1000, 1000, 1000},
			reportedPodReadiness: []corev1.ConditionStatus{T, T, F, F}, reportedPodPhase: []corev1.PodPhase{R, R, X, X}},
		{name: "TestScaleUpIgnoresDeletionPods", minReplicas: 2, maxReplicas: 6, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 60,
			reportedLevels: []uint64{500, 700}, reportedCPURequests: []int64{1000, 1000, 1000, 1000},
			reportedPodReadiness: []corev1.ConditionStatus{T, T, F, F}, reportedPodPhase: []corev1.PodPhase{R, R, R, R}, reportedPodDeletionTimestamp: []bool{false, false, true, true}},
		{name: "TestScaleUpCM", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("15.0"))}, reportedLevels: []uint64{20000, 10000, 30000}, reportedCPURequests: one3},
		{name: "TestScaleUpCMUnreadyAndHotCpuNoLessScale", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 6,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("15.0"))}, reportedLevels: []uint64{50000, 10000, 30000},
			reportedPodReadiness: []corev1.ConditionStatus{T, T, F}, reportedPodStartTime: []time.Time{cool, cool, hot}, reportedCPURequests: one3},
		{name: "TestScaleUpCMUnreadyandCpuHot", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 6,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("15.0"))}, reportedLevels: []uint64{50000, 15000, 30000},
			reportedPodReadiness: []corev1.ConditionStatus{F, T, F}, reportedPodStartTime: []time.Time{hot, cool, hot}, reportedCPURequests: one3,
			expectedConditions: okWith(ableToScale("SucceededRescale"), limited(T, "TooManyReplicas"))},
		{name: "TestScaleUpHotCpuNoScaleWouldScaleDown", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 6,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("15.0"))}, reportedLevels: []uint64{50000, 15000, 30000},
			reportedPodStartTime: []time.Time{hot, cool, hot}, reportedCPURequests: one3,
			expectedConditions: okWith(ableToScale("SucceededRescale"), limited(T, "TooManyReplicas"))},
		{name: "TestScaleUpCMObject", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(mustQ("15.0"), nil)}, reportedLevels: []uint64{20000}},
		{name: "TestScaleUpFromZeroCMObject", minReplicas: 0, maxReplicas: 6, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 2,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(mustQ("15.0"), nil)}, reportedLevels: []uint64{20000}},
		{name: "TestScaleUpFromZeroIgnoresToleranceCMObject", minReplicas: 0, maxReplicas: 6, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 1,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(mustQ("1.0"), nil)}, reportedLevels: []uint64{1000}},
		{name: "TestScaleUpPerPodCMObject", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(nil, mustQ("10.0"))}, reportedLevels: []uint64{40000}},
		{name: "TestScaleUpCMExternal", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(6666), nil)}, reportedLevels: []uint64{8600}},
		{name: "TestScaleUpPerPodCMExternal", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(2222))}, reportedLevels: []uint64{8600}},
		{name: "TestScaleDown", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, CPUCurrent: 28,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleDownContainerResource", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
				Name: corev1.ResourceCPU, Container: "container2", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(50)}}}},
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleDownWithScalingRules", minReplicas: 2, maxReplicas: 6, scaleUpRules: generateScalingRules(0, 0, 100, 15, 30),
			specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, CPUCurrent: 28,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleUpOneMetricInvalid", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 40,
			metricsTarget: []autoscalingv2.MetricSpec{cheddar}, reportedLevels: []uint64{300, 400, 500}, reportedCPURequests: one3, expectPartialError: true},
		{name: "TestScaleUpFromZeroOneMetricInvalid", minReplicas: 0, maxReplicas: 6, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 40,
			metricsTarget: []autoscalingv2.MetricSpec{cheddar}, reportedLevels: []uint64{300, 400, 500}, reportedCPURequests: one3, recommendations: empty, expectPartialError: true},
		{name: "TestScaleUpBothMetricsEmpty", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{cheddar}, reportedLevels: []uint64{}, reportedCPURequests: one3,
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "InvalidMetricSourceType"}}},
		{name: "TestScaleDownStabilizeInitialSize", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50, CPUCurrent: 28,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, recommendations: nil,
			expectedConditions: okWith(ableToScale("ScaleDownStabilized"))},
		{name: "TestScaleDownCM", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("20.0"))}, reportedLevels: []uint64{12000, 12000, 12000, 12000, 12000}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleDownCMObject", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(mustQ("20.0"), nil)}, reportedLevels: []uint64{12000}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleDownToZeroCMObject", minReplicas: 0, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 0,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(mustQ("20.0"), nil)}, reportedLevels: []uint64{0}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleDownPerPodCMObject", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(nil, mustQ("20.0"))}, reportedLevels: []uint64{60000}, reportedCPURequests: one5, recommendations: empty},
		{name: "TestScaleDownCMExternal", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(14400), nil)}, reportedLevels: []uint64{8600}, recommendations: empty},
		{name: "TestScaleDownToZeroCMExternal", minReplicas: 0, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 0,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(14400), nil)}, reportedLevels: []uint64{0}, recommendations: empty},
		{name: "TestScaleDownPerPodCMExternal", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(3000))}, reportedLevels: []uint64{8600}, recommendations: empty},
		{name: "TestScaleDownIncludeUnreadyPods", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 2, CPUTarget: 50, CPUCurrent: 30,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, reportedPodReadiness: []corev1.ConditionStatus{T, T, T, F, F}, recommendations: empty},
		{name: "TestScaleDownIgnoreHotCpuPods", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 2, CPUTarget: 50, CPUCurrent: 30,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, reportedPodStartTime: []time.Time{cool, cool, cool, hot, hot}, recommendations: empty},
		{name: "TestScaleDownIgnoresFailedPods", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, CPUCurrent: 28,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one7,
			reportedPodReadiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, reportedPodPhase: []corev1.PodPhase{R, R, R, R, R, X, X}, recommendations: empty},
		{name: "TestScaleDownIgnoresDeletionPods", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 3, CPUTarget: 50, CPUCurrent: 28,
			reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one7,
			reportedPodReadiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, reportedPodPhase: []corev1.PodPhase{R, R, R, R, R, R, R},
			reportedPodDeletionTimestamp: []bool{false, false, false, false, false, true, true}, recommendations: empty},
		{name: "TestTolerance", minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3, CPUTarget: 100,
			reportedLevels: []uint64{1010, 1030, 1020}, reportedCPURequests: var1, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestConfigurableTolerance/Scaling up because of a 1% configurable tolerance", configurableTolerance: true,
			minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, CPUTarget: 100, scaleUpRules: &autoscalingv2.HPAScalingRules{Tolerance: mustQ("0.01")},
			reportedLevels: []uint64{1010, 1030, 1020}, reportedCPURequests: var1, expectedDesiredReplicas: 4, expectedConditions: okWith(ableToScale("SucceededRescale"))},
		{name: "TestConfigurableTolerance/No scale-down because of a 90% configurable tolerance", configurableTolerance: true,
			minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, CPUTarget: 100, scaleDownRules: &autoscalingv2.HPAScalingRules{Tolerance: mustQ("0.9")},
			reportedLevels: []uint64{300, 300, 300}, reportedCPURequests: one3, expectedDesiredReplicas: 3, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestConfigurableTolerance/No scaling because of the large default tolerance", configurableTolerance: true,
			minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, CPUTarget: 100,
			reportedLevels: []uint64{1010, 1030, 1020}, reportedCPURequests: var1, expectedDesiredReplicas: 3, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestConfigurableTolerance/No scaling because the configurable tolerance is ignored as the feature gate is disabled", configurableTolerance: false,
			minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, CPUTarget: 100, scaleUpRules: &autoscalingv2.HPAScalingRules{Tolerance: mustQ("0.01")},
			reportedLevels: []uint64{1010, 1030, 1020}, reportedCPURequests: var1, expectedDesiredReplicas: 3, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestToleranceCM", minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("20.0"))}, reportedLevels: []uint64{20000, 20001, 21000}, reportedCPURequests: var1,
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestToleranceCMObject", minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 3,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(mustQ("20.0"), nil)}, reportedLevels: []uint64{20050}, reportedCPURequests: var1,
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestToleranceCMExternal", minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(8666), nil)}, reportedLevels: []uint64{8600},
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestTolerancePerPodCMObject", minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{objectMetricSpec(nil, milli(2200))}, reportedLevels: []uint64{8600},
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestTolerancePerPodCMExternal", minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(nil, milli(2200))}, reportedLevels: []uint64{8600},
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestMinReplicas", minReplicas: 2, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 2, CPUTarget: 90,
			reportedLevels: []uint64{10, 95, 10}, reportedCPURequests: var1, recommendations: empty, expectedConditions: okWith(limited(T, "TooFewReplicas"))},
		{name: "TestZeroMinReplicasDesiredZero", minReplicas: 0, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 0, CPUTarget: 90,
			reportedLevels: []uint64{0, 0, 0}, reportedCPURequests: var1, recommendations: empty, expectedConditions: okWith(limited(F, "DesiredWithinRange"))},
		{name: "TestMinReplicasDesiredZero", minReplicas: 2, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 2, CPUTarget: 90,
			reportedLevels: []uint64{0, 0, 0}, reportedCPURequests: var1, recommendations: empty, expectedConditions: okWith(limited(T, "TooFewReplicas"))},
		{name: "TestZeroReplicas", minReplicas: 3, maxReplicas: 5, specReplicas: 0, statusReplicas: 0, expectedDesiredReplicas: 0, CPUTarget: 90,
			reportedLevels: []uint64{}, reportedCPURequests: []int64{},
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "ScalingDisabled"}}},
		{name: "TestTooFewReplicas", minReplicas: 3, maxReplicas: 5, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 3, CPUTarget: 90,
			reportedLevels: []uint64{}, reportedCPURequests: []int64{}, expectedConditions: []cond{ableToScale("SucceededRescale")}},
		{name: "TestTooManyReplicas", minReplicas: 3, maxReplicas: 5, specReplicas: 10, statusReplicas: 10, expectedDesiredReplicas: 5, CPUTarget: 90,
			reportedLevels: []uint64{}, reportedCPURequests: []int64{}, expectedConditions: []cond{ableToScale("SucceededRescale")}},
		{name: "TestMaxReplicas", minReplicas: 2, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5, CPUTarget: 90,
			reportedLevels: []uint64{8000, 9500, 1000}, reportedCPURequests: var1, expectedConditions: okWith(limited(T, "TooManyReplicas"))},
		{name: "TestSuperfluousMetrics", minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 6, CPUTarget: 100,
			reportedLevels: []uint64{4000, 9500, 3000, 7000, 3200, 2000}, reportedCPURequests: []int64{1000, 1000, 1000, 1000},
			expectedConditions: okWith(limited(T, "TooManyReplicas"))},
		{name: "TestMissingMetrics", minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 3, CPUTarget: 100,
			reportedLevels: []uint64{400, 95}, reportedCPURequests: []int64{1000, 1000, 1000, 1000}, recommendations: empty},
		{name: "TestEmptyMetrics", minReplicas: 2, maxReplicas: 6, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4, CPUTarget: 100,
			reportedLevels: []uint64{}, reportedCPURequests: []int64{1000, 1000, 1000, 1000},
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "FailedGetResourceMetric"}}},
		{name: "TestEmptyCPURequest", minReplicas: 1, maxReplicas: 5, specReplicas: 1, statusReplicas: 1, expectedDesiredReplicas: 1, CPUTarget: 100,
			reportedLevels: []uint64{200}, reportedCPURequests: []int64{},
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "FailedGetResourceMetric"}}},
		{name: "TestEventCreated", minReplicas: 1, maxReplicas: 5, specReplicas: 1, statusReplicas: 1, expectedDesiredReplicas: 2, CPUTarget: 50,
			reportedLevels: []uint64{200}, reportedCPURequests: []int64{200}},
		{name: "TestEventNotCreated", minReplicas: 1, maxReplicas: 5, specReplicas: 2, statusReplicas: 2, expectedDesiredReplicas: 2, CPUTarget: 50,
			reportedLevels: []uint64{200, 200}, reportedCPURequests: []int64{400, 400}, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestMissingReports", minReplicas: 1, maxReplicas: 5, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 2, CPUTarget: 50,
			reportedLevels: []uint64{200}, reportedCPURequests: []int64{200}, recommendations: empty},
		{name: "TestUpscaleCap", minReplicas: 1, maxReplicas: 100, specReplicas: 3, statusReplicas: 3, scaleUpRules: generateScalingRules(0, 0, 700, 60, 0),
			expectedDesiredReplicas: 24, CPUTarget: 10, reportedLevels: []uint64{100, 200, 300}, reportedCPURequests: []int64{100, 100, 100},
			expectedConditions: okWith(limited(T, "ScaleUpLimit"))},
		{name: "TestUpscaleCapGreaterThanMaxReplicas", minReplicas: 1, maxReplicas: 20, specReplicas: 3, statusReplicas: 3, scaleUpRules: generateScalingRules(0, 0, 700, 60, 0),
			expectedDesiredReplicas: 20, CPUTarget: 10, reportedLevels: []uint64{100, 200, 300}, reportedCPURequests: []int64{100, 100, 100},
			expectedConditions: okWith(limited(T, "TooManyReplicas"))},
		{name: "TestMoreReplicasThanSpecNoScale", minReplicas: 1, maxReplicas: 8, specReplicas: 4, statusReplicas: 5, expectedDesiredReplicas: 4, CPUTarget: 50,
			reportedLevels: []uint64{500, 500, 500, 500, 500}, reportedCPURequests: one5, expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
		{name: "TestNoBackoffUpscaleCM", minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("15.0"))}, reportedLevels: []uint64{20000, 10000, 30000}, reportedCPURequests: one3,
			expectedConditions: okWith(ableToScale("SucceededRescale"), limited(F, "DesiredWithinRange"))},
		{name: "TestNoBackoffUpscaleCMNoBackoffCpu", minReplicas: 1, maxReplicas: 5, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 5, CPUTarget: 10,
			metricsTarget: []autoscalingv2.MetricSpec{podsMetric(mustQ("15.0"))}, reportedLevels: []uint64{20000, 10000, 30000}, reportedCPURequests: one3,
			expectedConditions: okWith(ableToScale("SucceededRescale"), limited(T, "TooManyReplicas"))},
		{name: "TestStabilizeDownscale", minReplicas: 1, maxReplicas: 5, specReplicas: 4, statusReplicas: 4, expectedDesiredReplicas: 4, CPUTarget: 100,
			reportedLevels: []uint64{50, 50, 50}, reportedCPURequests: []int64{100, 100, 100},
			recommendations:    []timestampedRecommendation{{10, testNow.Add(-10 * time.Minute)}, {4, testNow.Add(-1 * time.Minute)}},
			expectedConditions: okWith(ableToScale("ScaleDownStabilized"))},
		{name: "TestScaleUpRCImmediately", minReplicas: 2, maxReplicas: 6, specReplicas: 1, statusReplicas: 1, expectedDesiredReplicas: 2,
			reportedLevels: []uint64{0, 0, 0, 0}, reportedCPURequests: []int64{1000, 1000, 1000, 1000}, expectedConditions: []cond{ableToScale("SucceededRescale")}},
		{name: "TestScaleDownRCImmediately", minReplicas: 2, maxReplicas: 5, specReplicas: 6, statusReplicas: 6, expectedDesiredReplicas: 5, CPUTarget: 50,
			reportedLevels: []uint64{8000, 9500, 1000}, reportedCPURequests: var1, expectedConditions: []cond{ableToScale("SucceededRescale")}},
		{name: "TestScaleUpOneMetricEmpty", minReplicas: 2, maxReplicas: 6, specReplicas: 3, statusReplicas: 3, expectedDesiredReplicas: 4, CPUTarget: 30, CPUCurrent: 40,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(100), nil)}, reportedLevels: []uint64{300, 400, 500}, reportedCPURequests: one3,
			externalMetricsFail: true, expectPartialError: true},
		{name: "TestNoScaleDownOneMetricInvalid", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50,
			metricsTarget: []autoscalingv2.MetricSpec{cheddar}, reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5, recommendations: empty,
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "InvalidMetricSourceType"}}},
		{name: "TestNoScaleDownOneMetricEmpty", minReplicas: 2, maxReplicas: 6, specReplicas: 5, statusReplicas: 5, expectedDesiredReplicas: 5, CPUTarget: 50,
			metricsTarget: []autoscalingv2.MetricSpec{externalMetricSpec(milli(1000), nil)}, reportedLevels: []uint64{100, 300, 500, 250, 250}, reportedCPURequests: one5,
			recommendations: empty, externalMetricsFail: true,
			expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, "FailedGetExternalMetric"}}},
	}
	// TestConditionFailedGetMetrics: every metrics API fails.
	failed := func(reason string, specs ...autoscalingv2.MetricSpec) syncCase {
		c := syncCase{name: "TestConditionFailedGetMetrics/" + reason, minReplicas: 1, maxReplicas: 100, specReplicas: 3, statusReplicas: 3,
			expectedDesiredReplicas: 3, reportedLevels: []uint64{100, 200, 300}, reportedCPURequests: []int64{100, 100, 100}, allMetricsFail: true,
			metricsTarget: specs, expectedConditions: []cond{ableToScale("SucceededGetScale"), {autoscalingv2.ScalingActive, F, reason}}}
		if specs == nil {
			c.CPUTarget = 10
		}
		return c
	}
	sc = append(sc,
		failed("FailedGetResourceMetric"),
		failed("FailedGetPodsMetric", podsMetric(mustQ("15.0"))),
		failed("FailedGetObjectMetric", objectMetricSpec(mustQ("15.0"), nil)),
		failed("FailedGetExternalMetric", externalMetricSpec(milli(300), nil)),
	)
	return append(sc, computedToleranceSyncCases()...)
}

// computedToleranceSyncCases mirrors TestComputedToleranceAlgImplementation.
func computedToleranceSyncCases() []syncCase {
	startPods := int32(10)
	totalUsed := uint64(startPods * 150)
	totalRequested := int32(2 * totalUsed)
	requestedToUsed := float64(totalRequested / int32(totalUsed))
	perPod := int64(totalRequested / startPods)
	target := math.Abs(1/(requestedToUsed*(1-testTolerance))) + .01
	resourcesUsedRatio := float64(totalUsed) / (float64(totalRequested) * target)
	finalPods := int32(math.Ceil(resourcesUsedRatio * float64(startPods)))
	lv := make([]uint64, 10)
	for i := range lv {
		lv[i] = totalUsed / 10
	}
	reqs := []int64{perPod + 100, perPod - 100, perPod + 10, perPod - 10, perPod + 2, perPod - 2, perPod + 1, perPod - 1, perPod, perPod}
	target2 := math.Abs(1/(requestedToUsed*(1-testTolerance))) + .004
	return []syncCase{
		{name: "TestComputedToleranceAlgImplementation/tc1", minReplicas: 0, maxReplicas: 1000, specReplicas: startPods, statusReplicas: startPods,
			expectedDesiredReplicas: finalPods, CPUTarget: int32(target * 100), reportedLevels: lv, reportedCPURequests: reqs, recommendations: []timestampedRecommendation{}},
		{name: "TestComputedToleranceAlgImplementation/tc2", minReplicas: 0, maxReplicas: 1000, specReplicas: startPods, statusReplicas: startPods,
			expectedDesiredReplicas: startPods, CPUTarget: int32(target2 * 100), reportedLevels: lv, reportedCPURequests: reqs, recommendations: []timestampedRecommendation{},
			expectedConditions: okWith(ableToScale("ReadyForNewScale"))},
	}
}

func TestSync(t *testing.T) {
	for _, tc := range syncCases() {
		t.Run(tc.name+" (horizontal_test.go)", func(t *testing.T) { tc.run(t) })
	}
}

func TestConvertDesiredReplicasWithRules(t *testing.T) {
	tests := []struct {
		current, desired, min, max, want int32
		condition, annotation            string
	}{
		{5, 7, 3, 8, 7, "DesiredWithinRange", "prenormalized desired replicas within range"},
		{3, 1, 2, 8, 2, "TooFewReplicas", "prenormalized desired replicas < minReplicas"},
		{1, 0, 0, 10, 0, "DesiredWithinRange", "prenormalized desired zeroed replicas within range"},
		{20, 1000, 1, 10, 10, "TooManyReplicas", "maxReplicas is the limit because maxReplicas < scaleUpLimit"},
		{3, 1000, 1, 2000, CalculateScaleUpLimit(3), "ScaleUpLimit", "scaleUpLimit is the limit because scaleUpLimit < maxReplicas"},
	}
	for _, tc := range tests {
		t.Run(tc.annotation+" (TestConvertDesiredReplicasWithRules, horizontal_test.go)", func(t *testing.T) {
			got, condition, _ := ConvertDesiredReplicasWithRules(tc.current, tc.desired, tc.min, tc.max)
			if got != tc.want || condition != tc.condition {
				t.Errorf("got %d %s, want %d %s", got, condition, tc.want, tc.condition)
			}
		})
	}
	// calculateScaleUpLimit itself: max(2*current, 4)
	for cur, want := range map[int32]int32{0: 4, 1: 4, 2: 4, 3: 6, 10: 20} {
		if got := CalculateScaleUpLimit(cur); got != want {
			t.Errorf("CalculateScaleUpLimit(%d) = %d, want %d", cur, got, want)
		}
	}
}

func TestCalculateScaleLimitsWithScalingRules(t *testing.T) {
	minPolicy := autoscalingv2.MinChangePolicySelect
	r := resolveRules(&autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(300), SelectPolicy: &minPolicy,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 60},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60},
		}}, 0, nil)
	t.Run("TestCalculateScaleUpLimitWithScalingRules (horizontal_test.go)", func(t *testing.T) {
		if got := calculateScaleUpLimitWithScalingRules(1, nil, nil, &r, testNow); got != 2 {
			t.Errorf("got %d, want 2", got)
		}
	})
	t.Run("TestCalculateScaleDownLimitWithBehaviors (horizontal_test.go)", func(t *testing.T) {
		if got := calculateScaleDownLimitWithBehaviors(5, nil, nil, &r, testNow); got != 3 {
			t.Errorf("got %d, want 3", got)
		}
	})
}
