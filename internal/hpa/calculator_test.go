package hpa

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Ported from k8s.io/kubernetes v1.34.4 pkg/controller/podautoscaler/replica_calculator_test.go.
// The upstream harness builds pods with two containers ("container1",
// "container2"), each requesting requests[i]; resource levels are per
// container; a pod whose level row is shorter than two containers has no
// pod-level sample. Upstream uses time.Now(); here a fixed instant.

const (
	testTolerance                     = 0.1             // defaultTestingTolerance
	testCPUInitializationPeriod       = 2 * time.Minute // defaultTestingCPUInitializationPeriod
	testDelayOfInitialReadinessStatus = 10 * time.Second
	numContainersPerPod               = 2
	podNamePrefix                     = "test-pod"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// hot/cool mirror hotCPUCreationTime / coolCPUCreationTime.
var (
	hot  = testNow
	cool = testNow.Add(-3 * time.Minute)
	// longAgo stands for upstream's non-nil zero start time: started long ago.
	longAgo = testNow.Add(-24 * time.Hour)
)

func testCalculator() Calculator {
	return Calculator{CPUInitializationPeriod: testCPUInitializationPeriod, DelayOfInitialReadinessStatus: testDelayOfInitialReadinessStatus}
}

type metricKind int

const (
	objectMetric metricKind = iota
	objectPerPodMetric
	externalMetric
	externalPerPodMetric
	podMetric
)

type resourceInfo struct {
	name                corev1.ResourceName
	requests            []int64 // per container, milli
	levels              [][]int64
	podNames            []string
	targetUtilization   int32
	expectedUtilization int32
	expectedValue       int64
}

type metricInfo struct {
	kind              metricKind
	levels            []int64
	targetUsage       int64
	perPodTargetUsage int64
	expectedUsage     int64
}

type replicaCalcCase struct {
	name             string
	currentReplicas  int32
	expectedReplicas int32
	expectedError    string
	tolerances       *Tolerances
	resource         *resourceInfo
	metric           *metricInfo
	container        string
	podReadiness     []corev1.ConditionStatus
	podStartTime     []time.Time
	podPhase         []corev1.PodPhase
	podDeletion      []bool
}

func levels(containerMetric ...int64) [][]int64 { // makePodMetricLevels
	out := make([][]int64, len(containerMetric))
	for i, v := range containerMetric {
		out[i] = []int64{v, v}
	}
	return out
}

func (tc *replicaCalcCase) pods() []Pod {
	n := int(tc.currentReplicas)
	if len(tc.podPhase) > n {
		n = len(tc.podPhase)
	}
	pods := make([]Pod, n)
	for i := range pods {
		p := Pod{Name: fmt.Sprintf("%s-%d", podNamePrefix, i), Phase: corev1.PodRunning, Ready: corev1.ConditionTrue, StartTime: longAgo}
		if i < len(tc.podReadiness) {
			p.Ready = tc.podReadiness[i]
		}
		if tc.podStartTime != nil {
			p.StartTime = tc.podStartTime[i]
		}
		if tc.podPhase != nil {
			p.Phase = tc.podPhase[i]
		}
		if tc.podDeletion != nil {
			p.Deleted = tc.podDeletion[i]
		}
		p.Containers = []Container{{Name: "container1"}, {Name: "container2"}}
		if tc.resource != nil && i < len(tc.resource.requests) {
			for c := range p.Containers {
				p.Containers[c].Requests = map[corev1.ResourceName]int64{tc.resource.name: tc.resource.requests[i]}
			}
		}
		pods[i] = p
	}
	return pods
}

func (tc *replicaCalcCase) resourceMetrics() PodMetrics {
	m := PodMetrics{}
	for i, row := range tc.resource.levels {
		name := fmt.Sprintf("%s-%d", podNamePrefix, i)
		if i < len(tc.resource.podNames) {
			name = tc.resource.podNames[i]
		}
		s := Sample{Timestamp: time.Time{}, Window: time.Minute}
		if tc.container != "" {
			idx := int(tc.container[len(tc.container)-1] - '1')
			if idx >= len(row) {
				continue // container not found: no sample
			}
			s.Value = row[idx]
		} else {
			if len(row) < numContainersPerPod {
				continue // a container without the resource: no sample
			}
			for _, v := range row {
				s.Value += v
			}
		}
		m[name] = s
	}
	return m
}

func (tc *replicaCalcCase) run(t *testing.T) {
	t.Helper()
	c := testCalculator()
	tol := Tolerances{testTolerance, testTolerance}
	if tc.tolerances != nil {
		tol = *tc.tolerances
	}
	pods := tc.pods()
	var (
		replicas int32
		usage    int64
		err      error
	)
	if tc.resource != nil {
		var util int32
		var raw int64
		replicas, util, raw, err = c.ResourceReplicas(testNow, tc.currentReplicas, tc.resource.targetUtilization, tc.resource.name, tc.container, tol, pods, tc.resourceMetrics())
		if tc.expectedError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.expectedError) {
				t.Fatalf("error = %v, want one containing %q", err, tc.expectedError)
			}
			return
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if replicas != tc.expectedReplicas || util != tc.resource.expectedUtilization || raw != tc.resource.expectedValue {
			t.Fatalf("got replicas=%d utilization=%d raw=%d, want %d %d %d", replicas, util, raw, tc.expectedReplicas, tc.resource.expectedUtilization, tc.resource.expectedValue)
		}
		return
	}
	m := tc.metric
	switch m.kind {
	case objectMetric:
		replicas, err = c.ObjectMetricReplicas(tc.currentReplicas, m.targetUsage, m.levels[0], tol, pods)
		usage = m.levels[0]
	case objectPerPodMetric:
		replicas, usage = c.ObjectPerPodMetricReplicas(tc.currentReplicas, m.perPodTargetUsage, m.levels[0], tol)
	case externalMetric:
		replicas, usage, err = c.ExternalMetricReplicas(tc.currentReplicas, m.targetUsage, m.levels, tol, pods)
	case externalPerPodMetric:
		replicas, usage, err = c.ExternalPerPodMetricReplicas(tc.currentReplicas, m.perPodTargetUsage, m.levels, tol)
	case podMetric:
		pm := PodMetrics{}
		for i, l := range m.levels {
			pm[fmt.Sprintf("%s-%d", podNamePrefix, i)] = Sample{Value: l, Window: time.Minute}
		}
		replicas, usage, err = c.PodsMetricReplicas(testNow, tc.currentReplicas, m.targetUsage, tol, pods, pm)
	}
	if tc.expectedError != "" {
		if err == nil || !strings.Contains(err.Error(), tc.expectedError) {
			t.Fatalf("error = %v, want one containing %q", err, tc.expectedError)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if replicas != tc.expectedReplicas || usage != m.expectedUsage {
		t.Fatalf("got replicas=%d usage=%d, want %d %d", replicas, usage, tc.expectedReplicas, m.expectedUsage)
	}
}

func ones(n int) []int64 {
	r := make([]int64, n)
	for i := range r {
		r[i] = 1000
	}
	return r
}

var (
	T = corev1.ConditionTrue
	F = corev1.ConditionFalse
	R = corev1.PodRunning
	P = corev1.PodPending
	X = corev1.PodFailed
)

func replicaCalcCases() []replicaCalcCase {
	cpu := corev1.ResourceCPU
	cases := []replicaCalcCase{
		{name: "TestReplicaCalcDisjointResourcesMetrics", currentReplicas: 1, expectedError: "no metrics returned matched known pods",
			resource: &resourceInfo{name: cpu, requests: ones(1), levels: levels(100), podNames: []string{"an-older-pod-name"}, targetUtilization: 100}},
		{name: "TestReplicaCalcScaleUp", currentReplicas: 3, expectedReplicas: 5,
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(300, 500, 700), targetUtilization: 30, expectedUtilization: 50, expectedValue: numContainersPerPod * 500}},
		{name: "TestReplicaCalcContainerScaleUp", currentReplicas: 3, expectedReplicas: 5, container: "container2",
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: [][]int64{{1000, 300}, {1000, 500}, {1000, 700}}, targetUtilization: 30, expectedUtilization: 50, expectedValue: 500}},
		{name: "TestReplicaCalcScaleUpUnreadyLessScale", currentReplicas: 3, expectedReplicas: 4, podReadiness: []corev1.ConditionStatus{F, T, T},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(300, 500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: numContainersPerPod * 600}},
		{name: "TestReplicaCalcScaleUpContainerHotCpuLessScale", currentReplicas: 3, expectedReplicas: 4, container: "container2", podStartTime: []time.Time{hot, cool, cool},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: [][]int64{{0, 300}, {0, 500}, {0, 700}}, targetUtilization: 30, expectedUtilization: 60, expectedValue: 600}},
		{name: "TestReplicaCalcScaleUpHotCpuLessScale", currentReplicas: 3, expectedReplicas: 4, podStartTime: []time.Time{hot, cool, cool},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(300, 500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: numContainersPerPod * 600}},
		{name: "TestReplicaCalcScaleUpUnreadyNoScale", currentReplicas: 3, expectedReplicas: 3, podReadiness: []corev1.ConditionStatus{T, F, F},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(400, 500, 700), targetUtilization: 30, expectedUtilization: 40, expectedValue: numContainersPerPod * 400}},
		{name: "TestExternalPerPodMetricReplicaOverflow", currentReplicas: 1, expectedReplicas: math.MaxInt32,
			metric: &metricInfo{kind: externalPerPodMetric, levels: []int64{math.MaxInt64}, perPodTargetUsage: 1, expectedUsage: math.MaxInt64}},
		{name: "TestExternalPerPodMetricUsageOverflow", currentReplicas: 1, expectedReplicas: 1,
			metric: &metricInfo{kind: externalPerPodMetric, levels: []int64{math.MaxInt64}, perPodTargetUsage: math.MaxInt64, expectedUsage: math.MaxInt64}},
		{name: "TestReplicaCalcScaleHotCpuNoScale", currentReplicas: 3, expectedReplicas: 3, podReadiness: []corev1.ConditionStatus{T, F, F}, podStartTime: []time.Time{cool, hot, hot},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(400, 500, 700), targetUtilization: 30, expectedUtilization: 40, expectedValue: numContainersPerPod * 400}},
		{name: "TestReplicaCalcScaleUpIgnoresFailedPods", currentReplicas: 2, expectedReplicas: 4, podReadiness: []corev1.ConditionStatus{T, T, F, F}, podPhase: []corev1.PodPhase{R, R, X, X},
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: levels(500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: numContainersPerPod * 600}},
		{name: "TestReplicaCalcMissingContainerMetricScaleUpIgnoresFailedPods", currentReplicas: 2, expectedReplicas: 4, container: "container2",
			podReadiness: []corev1.ConditionStatus{T, T, F, F}, podPhase: []corev1.PodPhase{R, R, X, X},
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: [][]int64{{1000, 500}, {9000, 700}, {1000}, {9000}}, targetUtilization: 30, expectedUtilization: 60, expectedValue: 600}},
		{name: "TestReplicaCalcScaleUpContainerIgnoresFailedPods", currentReplicas: 2, expectedReplicas: 4, container: "container2",
			podReadiness: []corev1.ConditionStatus{T, T, F, F}, podPhase: []corev1.PodPhase{R, R, X, X},
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: [][]int64{{1000, 500}, {9000, 700}}, targetUtilization: 30, expectedUtilization: 60, expectedValue: 600}},
		{name: "TestReplicaCalcScaleUpIgnoresDeletionPods", currentReplicas: 2, expectedReplicas: 4,
			podReadiness: []corev1.ConditionStatus{T, T, F, F}, podPhase: []corev1.PodPhase{R, R, R, R}, podDeletion: []bool{false, false, true, true},
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: levels(500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: numContainersPerPod * 600}},
		{name: "TestReplicaCalcScaleUpContainerIgnoresDeletionPods", currentReplicas: 2, expectedReplicas: 4, container: "container1",
			podReadiness: []corev1.ConditionStatus{T, T, F, F}, podPhase: []corev1.PodPhase{R, R, R, R}, podDeletion: []bool{false, false, true, true},
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: levels(500, 700), targetUtilization: 30, expectedUtilization: 60, expectedValue: 600}},
		{name: "TestReplicaCalcScaleUpCM", currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: podMetric, levels: []int64{20000, 10000, 30000}, targetUsage: 15000, expectedUsage: 20000}},
		{name: "TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", currentReplicas: 3, expectedReplicas: 6,
			podReadiness: []corev1.ConditionStatus{T, T, F}, podStartTime: []time.Time{cool, cool, hot},
			metric: &metricInfo{kind: podMetric, levels: []int64{50000, 10000, 30000}, targetUsage: 15000, expectedUsage: 30000}},
		{name: "TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", currentReplicas: 3, expectedReplicas: 7,
			podReadiness: []corev1.ConditionStatus{F, T, F}, podStartTime: []time.Time{hot, cool, hot},
			metric: &metricInfo{kind: podMetric, levels: []int64{50000, 15000, 30000}, targetUsage: 15000, expectedUsage: 31666}},
		{name: "TestReplicaCalcScaleUpCMObject", currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: objectMetric, levels: []int64{20000}, targetUsage: 15000, expectedUsage: 20000}},
		{name: "TestReplicaCalcScaleUpCMPerPodObject", currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: objectPerPodMetric, levels: []int64{20000}, perPodTargetUsage: 5000, expectedUsage: 6667}},
		{name: "TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods", currentReplicas: 3, expectedReplicas: 5, podReadiness: []corev1.ConditionStatus{F, T, F},
			metric: &metricInfo{kind: objectMetric, levels: []int64{50000}, targetUsage: 10000, expectedUsage: 50000}},
		// upstream declares this one as podMetric although named External
		{name: "TestReplicaCalcScaleUpCMExternal", currentReplicas: 1, expectedReplicas: 2,
			metric: &metricInfo{kind: podMetric, levels: []int64{8600}, targetUsage: 4400, expectedUsage: 8600}},
		{name: "TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods", currentReplicas: 3, expectedReplicas: 2, podReadiness: []corev1.ConditionStatus{F, T, F},
			metric: &metricInfo{kind: externalMetric, levels: []int64{8600}, targetUsage: 4400, expectedUsage: 8600}},
		{name: "TestReplicaCalcScaleUpCMExternalNoLabels", currentReplicas: 1, expectedReplicas: 2,
			metric: &metricInfo{kind: podMetric, levels: []int64{8600}, targetUsage: 4400, expectedUsage: 8600}},
		{name: "TestReplicaCalcScaleUpPerPodCMExternal", currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: externalPerPodMetric, levels: []int64{8600}, perPodTargetUsage: 2150, expectedUsage: 2867}},
		{name: "TestReplicaCalcScaleDown", currentReplicas: 5, expectedReplicas: 3,
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 28, expectedValue: numContainersPerPod * 280}},
		{name: "TestReplicaCalcContainerScaleDown", currentReplicas: 5, expectedReplicas: 3, container: "container2",
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: [][]int64{{1000, 100}, {1000, 300}, {1000, 500}, {1000, 250}, {1000, 250}}, targetUtilization: 50, expectedUtilization: 28, expectedValue: 280}},
		{name: "TestReplicaCalcScaleDownCM", currentReplicas: 5, expectedReplicas: 3,
			metric: &metricInfo{kind: podMetric, levels: []int64{12000, 12000, 12000, 12000, 12000}, targetUsage: 20000, expectedUsage: 12000}},
		{name: "TestReplicaCalcScaleDownPerPodCMObject", currentReplicas: 5, expectedReplicas: 3,
			metric: &metricInfo{kind: objectPerPodMetric, levels: []int64{6000}, perPodTargetUsage: 2000, expectedUsage: 1200}},
		{name: "TestReplicaCalcScaleDownCMObject", currentReplicas: 5, expectedReplicas: 3,
			metric: &metricInfo{kind: objectMetric, levels: []int64{12000}, targetUsage: 20000, expectedUsage: 12000}},
		{name: "TestReplicaCalcScaleDownCMExternal", currentReplicas: 5, expectedReplicas: 3,
			metric: &metricInfo{kind: externalMetric, levels: []int64{8600}, targetUsage: 14334, expectedUsage: 8600}},
		{name: "TestReplicaCalcScaleDownPerPodCMExternal", currentReplicas: 5, expectedReplicas: 3,
			metric: &metricInfo{kind: externalPerPodMetric, levels: []int64{8600}, perPodTargetUsage: 2867, expectedUsage: 1720}},
		{name: "TestReplicaCalcScaleDownExcludeUnreadyPods", currentReplicas: 5, expectedReplicas: 2, podReadiness: []corev1.ConditionStatus{T, T, T, F, F},
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 30, expectedValue: numContainersPerPod * 300}},
		{name: "TestReplicaCalcScaleDownContainerExcludeUnreadyPods", currentReplicas: 5, expectedReplicas: 2, container: "container2", podReadiness: []corev1.ConditionStatus{T, T, T, F, F},
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: [][]int64{{1000, 100}, {1000, 300}, {1000, 500}, {1000, 250}, {1000, 250}}, targetUtilization: 50, expectedUtilization: 30, expectedValue: 300}},
		{name: "TestReplicaCalcScaleDownExcludeUnscheduledPods", currentReplicas: 5, expectedReplicas: 1,
			podReadiness: []corev1.ConditionStatus{T, F, F, F, F}, podPhase: []corev1.PodPhase{R, P, P, P, P},
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: levels(100), targetUtilization: 50, expectedUtilization: 10, expectedValue: numContainersPerPod * 100}},
		{name: "TestReplicaCalcScaleDownContainerExcludeUnscheduledPods", currentReplicas: 5, expectedReplicas: 1, container: "container2",
			podReadiness: []corev1.ConditionStatus{T, F, F, F, F}, podPhase: []corev1.PodPhase{R, P, P, P, P},
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: [][]int64{{1000, 100}, {1000, 300}, {1000, 500}, {1000, 250}, {1000, 250}}, targetUtilization: 50, expectedUtilization: 10, expectedValue: 100}},
		{name: "TestReplicaCalcScaleDownIgnoreHotCpuPods", currentReplicas: 5, expectedReplicas: 2, podStartTime: []time.Time{cool, cool, cool, hot, hot},
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 30, expectedValue: numContainersPerPod * 300}},
		{name: "TestReplicaCalcScaleDownContainerIgnoreHotCpuPods", currentReplicas: 5, expectedReplicas: 2, container: "container2", podStartTime: []time.Time{cool, cool, cool, hot, hot},
			resource: &resourceInfo{name: cpu, requests: ones(5), levels: [][]int64{{1000, 100}, {1000, 300}, {1000, 500}, {1000, 1000}, {1000, 1000}}, targetUtilization: 50, expectedUtilization: 30, expectedValue: 300}},
		{name: "TestReplicaCalcScaleDownIgnoresFailedPods", currentReplicas: 5, expectedReplicas: 3,
			podReadiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, podPhase: []corev1.PodPhase{R, R, R, R, R, X, X},
			resource: &resourceInfo{name: cpu, requests: ones(7), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 28, expectedValue: numContainersPerPod * 280}},
		{name: "TestReplicaCalcScaleDownContainerIgnoresFailedPods", currentReplicas: 5, expectedReplicas: 3, container: "container2",
			podReadiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, podPhase: []corev1.PodPhase{R, R, R, R, R, X, X},
			resource: &resourceInfo{name: cpu, requests: ones(7), levels: [][]int64{{1000, 100}, {1000, 300}, {1000, 500}, {1000, 250}, {1000, 250}}, targetUtilization: 50, expectedUtilization: 28, expectedValue: 280}},
		{name: "TestReplicaCalcScaleDownIgnoresDeletionPods", currentReplicas: 5, expectedReplicas: 3,
			podReadiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, podPhase: []corev1.PodPhase{R, R, R, R, R, R, R}, podDeletion: []bool{false, false, false, false, false, true, true},
			resource: &resourceInfo{name: cpu, requests: ones(7), levels: levels(100, 300, 500, 250, 250), targetUtilization: 50, expectedUtilization: 28, expectedValue: numContainersPerPod * 280}},
		{name: "TestReplicaCalcScaleDownIgnoresDeletionPods_StillRunning", currentReplicas: 5, expectedReplicas: 3, container: "container2",
			podReadiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, podPhase: []corev1.PodPhase{R, R, R, R, R, R, R}, podDeletion: []bool{false, false, false, false, false, true, true},
			resource: &resourceInfo{name: cpu, requests: ones(7), levels: [][]int64{{1000, 100}, {1000, 300}, {1000, 500}, {1000, 250}, {1000, 250}}, targetUtilization: 50, expectedUtilization: 28, expectedValue: 280}},
		{name: "TestReplicaCalcTolerance", currentReplicas: 3, expectedReplicas: 3,
			resource: &resourceInfo{name: cpu, requests: []int64{900, 1000, 1100}, levels: levels(1010, 1030, 1020), targetUtilization: 100, expectedUtilization: 102, expectedValue: numContainersPerPod * 1020}},
		{name: "TestReplicaCalcToleranceCM", currentReplicas: 3, expectedReplicas: 3,
			metric: &metricInfo{kind: podMetric, levels: []int64{20000, 21000, 21000}, targetUsage: 20000, expectedUsage: 20666}},
		{name: "TestReplicaCalcToleranceCMObject", currentReplicas: 3, expectedReplicas: 3,
			metric: &metricInfo{kind: objectMetric, levels: []int64{20666}, targetUsage: 20000, expectedUsage: 20666}},
		{name: "TestReplicaCalcTolerancePerPodCMObject", currentReplicas: 4, expectedReplicas: 4,
			metric: &metricInfo{kind: objectPerPodMetric, levels: []int64{20166}, perPodTargetUsage: 5000, expectedUsage: 5042}},
		{name: "TestReplicaCalcToleranceCMExternal", currentReplicas: 3, expectedReplicas: 3,
			metric: &metricInfo{kind: externalMetric, levels: []int64{8600}, targetUsage: 8888, expectedUsage: 8600}},
		{name: "TestReplicaCalcTolerancePerPodCMExternal", currentReplicas: 3, expectedReplicas: 3,
			metric: &metricInfo{kind: externalPerPodMetric, levels: []int64{8600}, perPodTargetUsage: 2900, expectedUsage: 2867}},
		{name: "TestReplicaCalcConfigurableTolerance/Outside of a 0% tolerance", tolerances: &Tolerances{0, 0}, currentReplicas: 3, expectedReplicas: 4,
			resource: &resourceInfo{name: cpu, requests: []int64{900, 1000, 1100}, levels: levels(909, 1010, 1111), targetUtilization: 100, expectedUtilization: 101, expectedValue: numContainersPerPod * 1010}},
		{name: "TestReplicaCalcConfigurableTolerance/Within a 200% scale-up tolerance", tolerances: &Tolerances{testTolerance, 2}, currentReplicas: 3, expectedReplicas: 3,
			resource: &resourceInfo{name: cpu, requests: []int64{900, 1000, 1100}, levels: levels(1890, 1910, 1900), targetUtilization: 100, expectedUtilization: 190, expectedValue: numContainersPerPod * 1900}},
		{name: "TestReplicaCalcConfigurableTolerance/Outside 8% scale-up tolerance", tolerances: &Tolerances{2, .08}, currentReplicas: 3, expectedReplicas: 4,
			resource: &resourceInfo{name: cpu, requests: []int64{900, 1000, 1100}, levels: levels(1100, 1080, 1090), targetUtilization: 100, expectedUtilization: 109, expectedValue: numContainersPerPod * 1090}},
		{name: "TestReplicaCalcConfigurableTolerance/Within a 36% scale-down tolerance", tolerances: &Tolerances{.36, testTolerance}, currentReplicas: 3, expectedReplicas: 3,
			resource: &resourceInfo{name: cpu, requests: []int64{900, 1000, 1100}, levels: levels(660, 640, 650), targetUtilization: 100, expectedUtilization: 65, expectedValue: numContainersPerPod * 650}},
		{name: "TestReplicaCalcConfigurableTolerance/Outside a 34% scale-down tolerance", tolerances: &Tolerances{.34, testTolerance}, currentReplicas: 3, expectedReplicas: 2,
			resource: &resourceInfo{name: cpu, requests: []int64{900, 1000, 1100}, levels: levels(660, 640, 650), targetUtilization: 100, expectedUtilization: 65, expectedValue: numContainersPerPod * 650}},
		{name: "TestReplicaCalcConfigurableToleranceCM", tolerances: &Tolerances{testTolerance, .01}, currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: podMetric, levels: []int64{20000, 21000, 21000}, targetUsage: 20000, expectedUsage: 20666}},
		{name: "TestReplicaCalcConfigurableToleranceCMObject", tolerances: &Tolerances{testTolerance, .01}, currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: objectMetric, levels: []int64{20666}, targetUsage: 20000, expectedUsage: 20666}},
		{name: "TestReplicaCalcConfigurableTolerancePerPodCMObject", tolerances: &Tolerances{testTolerance, .01}, currentReplicas: 4, expectedReplicas: 5,
			metric: &metricInfo{kind: objectPerPodMetric, levels: []int64{20208}, perPodTargetUsage: 5000, expectedUsage: 5052}},
		{name: "TestReplicaCalcConfigurableToleranceCMExternal", tolerances: &Tolerances{testTolerance, .01}, currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: externalMetric, levels: []int64{8900}, targetUsage: 8800, expectedUsage: 8900}},
		{name: "TestReplicaCalcConfigurableTolerancePerPodCMExternal", tolerances: &Tolerances{testTolerance, .01}, currentReplicas: 3, expectedReplicas: 4,
			metric: &metricInfo{kind: externalPerPodMetric, levels: []int64{8600}, perPodTargetUsage: 2800, expectedUsage: 2867}},
		{name: "TestReplicaCalcSuperfluousMetrics", currentReplicas: 4, expectedReplicas: 24,
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: levels(4000, 9500, 3000, 7000, 3200, 2000), targetUtilization: 100, expectedUtilization: 587, expectedValue: numContainersPerPod * 5875}},
		{name: "TestReplicaCalcMissingMetrics", currentReplicas: 4, expectedReplicas: 3,
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: levels(400, 95), targetUtilization: 100, expectedUtilization: 24, expectedValue: 495}},
		{name: "TestReplicaCalcEmptyMetrics", currentReplicas: 4, expectedError: "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(), targetUtilization: 100}},
		{name: "TestReplicaCalcEmptyCPURequest", currentReplicas: 1, expectedError: "missing request for",
			resource: &resourceInfo{name: cpu, requests: nil, levels: levels(200), targetUtilization: 100}},
		{name: "TestPlainMetricReplicaCalcMissingMetricsNoChangeEq", currentReplicas: 5, expectedReplicas: 5,
			metric: &metricInfo{kind: podMetric, levels: []int64{20000, 19000, 21000}, targetUsage: 20000, expectedUsage: 20000}},
		{name: "TestReplicaCalcMissingMetricsNoChangeEq", currentReplicas: 2, expectedReplicas: 2,
			resource: &resourceInfo{name: cpu, requests: ones(2), levels: levels(1000), targetUtilization: 100, expectedUtilization: 100, expectedValue: numContainersPerPod * 1000}},
		{name: "TestReplicaCalcMissingMetricsNoChangeGt", currentReplicas: 2, expectedReplicas: 2,
			resource: &resourceInfo{name: cpu, requests: ones(2), levels: levels(1900), targetUtilization: 100, expectedUtilization: 190, expectedValue: numContainersPerPod * 1900}},
		{name: "TestReplicaCalcMissingMetricsNoChangeLt", currentReplicas: 2, expectedReplicas: 2,
			resource: &resourceInfo{name: cpu, requests: ones(2), levels: levels(600), targetUtilization: 100, expectedUtilization: 60, expectedValue: numContainersPerPod * 600}},
		{name: "TestReplicaCalcMissingMetricsUnreadyChange", currentReplicas: 3, expectedReplicas: 3, podReadiness: []corev1.ConditionStatus{F, T, T},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(100, 450), targetUtilization: 50, expectedUtilization: 45, expectedValue: numContainersPerPod * 450}},
		{name: "TestReplicaCalcMissingMetricsHotCpuNoChange", currentReplicas: 3, expectedReplicas: 3, podStartTime: []time.Time{hot, cool, cool},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(100, 450), targetUtilization: 50, expectedUtilization: 45, expectedValue: numContainersPerPod * 450}},
		{name: "TestReplicaCalcMissingMetricsUnreadyScaleUp", currentReplicas: 3, expectedReplicas: 4, podReadiness: []corev1.ConditionStatus{F, T, T},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(100, 2000), targetUtilization: 50, expectedUtilization: 200, expectedValue: numContainersPerPod * 2000}},
		{name: "TestReplicaCalcMissingMetricsHotCpuScaleUp", currentReplicas: 3, expectedReplicas: 4, podReadiness: []corev1.ConditionStatus{F, T, T}, podStartTime: []time.Time{hot, cool, cool},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(100, 2000), targetUtilization: 50, expectedUtilization: 200, expectedValue: numContainersPerPod * 2000}},
		{name: "TestReplicaCalcMissingMetricsUnreadyScaleDown", currentReplicas: 4, expectedReplicas: 3, podReadiness: []corev1.ConditionStatus{F, T, T, T},
			resource: &resourceInfo{name: cpu, requests: ones(4), levels: levels(100, 100, 100), targetUtilization: 50, expectedUtilization: 10, expectedValue: numContainersPerPod * 100}},
		{name: "TestReplicaCalcMissingMetricsScaleDownTargetOver100", currentReplicas: 4, expectedReplicas: 2, podReadiness: []corev1.ConditionStatus{F, T, T, T},
			resource: &resourceInfo{name: cpu, requests: []int64{1000, 1000, 2000, 2000}, levels: levels(200, 100, 100), targetUtilization: 300, expectedUtilization: 6, expectedValue: numContainersPerPod * 100}},
		{name: "TestReplicaCalcDuringRollingUpdateWithMaxSurge", currentReplicas: 2, expectedReplicas: 2, podPhase: []corev1.PodPhase{R, R, R},
			resource: &resourceInfo{name: cpu, requests: ones(3), levels: levels(100, 100), targetUtilization: 50, expectedUtilization: 10, expectedValue: numContainersPerPod * 100}},
		{name: "TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM", currentReplicas: 2, expectedReplicas: 2, podPhase: []corev1.PodPhase{R, R, R},
			metric: &metricInfo{kind: podMetric, levels: []int64{10000, 10000}, targetUsage: 17000, expectedUsage: 10000}},
	}
	return append(cases, computedToleranceCases()...)
}

// computedToleranceCases mirrors TestReplicaCalcComputedToleranceAlgImplementation.
func computedToleranceCases() []replicaCalcCase {
	startPods := int32(10)
	totalUsedCPUOfAllPods := int64(startPods * 150)
	totalRequestedCPUOfAllPods := int32(2 * totalUsedCPUOfAllPods)
	requestedToUsed := float64(totalRequestedCPUOfAllPods / int32(totalUsedCPUOfAllPods))
	perPodRequested := int64(totalRequestedCPUOfAllPods / startPods)
	target := math.Abs(1/(requestedToUsed*(1-testTolerance))) + .01
	finalCPUPercentTarget := int32(target * 100)
	resourcesUsedRatio := float64(totalUsedCPUOfAllPods) / (float64(totalRequestedCPUOfAllPods) * target)
	finalPods := int32(math.Ceil(resourcesUsedRatio * float64(startPods)))
	lv := make([]int64, 10)
	for i := range lv {
		lv[i] = totalUsedCPUOfAllPods / 10
	}
	reqs := []int64{perPodRequested + 100, perPodRequested - 100, perPodRequested + 10, perPodRequested - 10, perPodRequested + 2,
		perPodRequested - 2, perPodRequested + 1, perPodRequested - 1, perPodRequested, perPodRequested}
	mk := func(name string, target int32, expected int32) replicaCalcCase {
		return replicaCalcCase{name: name, currentReplicas: startPods, expectedReplicas: expected,
			resource: &resourceInfo{name: corev1.ResourceCPU, levels: levels(lv...), requests: reqs, targetUtilization: target,
				expectedUtilization: int32(totalUsedCPUOfAllPods*100) / totalRequestedCPUOfAllPods, expectedValue: numContainersPerPod * totalUsedCPUOfAllPods / 10}}
	}
	target2 := math.Abs(1/(requestedToUsed*(1-testTolerance))) + .004
	return []replicaCalcCase{
		mk("TestReplicaCalcComputedToleranceAlgImplementation/scale", finalCPUPercentTarget, finalPods),
		mk("TestReplicaCalcComputedToleranceAlgImplementation/no-scale", int32(target2*100), startPods),
	}
}

func TestReplicaCalculator(t *testing.T) {
	for _, tc := range replicaCalcCases() {
		t.Run(tc.name+" (replica_calculator_test.go)", func(t *testing.T) { tc.run(t) })
	}
}

// TestGroupPods is ported from TestGroupPods (replica_calculator_test.go).
func TestGroupPods(t *testing.T) {
	now := testNow
	type podDef struct {
		Pod
		class PodClass
	}
	tests := []struct {
		name     string
		pods     []podDef
		metrics  PodMetrics
		resource corev1.ResourceName
	}{
		{name: "void", pods: nil, metrics: PodMetrics{}, resource: corev1.ResourceCPU},
		{name: "count in a ready pod - memory",
			pods:     []podDef{{Pod{Name: "bentham", Phase: corev1.PodSucceeded}, PodReady}},
			metrics:  PodMetrics{"bentham": {Value: 1, Timestamp: now, Window: time.Minute}},
			resource: corev1.ResourceMemory},
		{name: "unready a pod without ready condition - CPU",
			pods:     []podDef{{Pod{Name: "lucretius", Phase: corev1.PodSucceeded, StartTime: now}, PodUnready}},
			metrics:  PodMetrics{"lucretius": {Value: 1}},
			resource: corev1.ResourceCPU},
		{name: "count in a ready pod with fresh metrics during initialization period - CPU",
			pods: []podDef{{Pod{Name: "bentham", Phase: corev1.PodSucceeded, StartTime: now.Add(-time.Minute),
				Ready: corev1.ConditionTrue, ReadyTransitionTime: now.Add(-30 * time.Second)}, PodReady}},
			metrics:  PodMetrics{"bentham": {Value: 1, Timestamp: now, Window: 30 * time.Second}},
			resource: corev1.ResourceCPU},
		{name: "unready a ready pod without fresh metrics during initialization period - CPU",
			pods: []podDef{{Pod{Name: "bentham", Phase: corev1.PodSucceeded, StartTime: now.Add(-time.Minute),
				Ready: corev1.ConditionTrue, ReadyTransitionTime: now.Add(-30 * time.Second)}, PodUnready}},
			metrics:  PodMetrics{"bentham": {Value: 1, Timestamp: now, Window: 60 * time.Second}},
			resource: corev1.ResourceCPU},
		{name: "unready an unready pod during initialization period - CPU",
			pods: []podDef{{Pod{Name: "lucretius", Phase: corev1.PodSucceeded, StartTime: now.Add(-10 * time.Minute),
				Ready: corev1.ConditionFalse, ReadyTransitionTime: now.Add(-9*time.Minute - 54*time.Second)}, PodUnready}},
			metrics:  PodMetrics{"lucretius": {Value: 1}},
			resource: corev1.ResourceCPU},
		{name: "count in a ready pod without fresh metrics after initialization period - CPU",
			pods: []podDef{{Pod{Name: "bentham", Phase: corev1.PodSucceeded, StartTime: now.Add(-3 * time.Minute),
				Ready: corev1.ConditionTrue, ReadyTransitionTime: now.Add(-3 * time.Minute)}, PodReady}},
			metrics:  PodMetrics{"bentham": {Value: 1, Timestamp: now.Add(-2 * time.Minute), Window: time.Minute}},
			resource: corev1.ResourceCPU},
		{name: "count in an unready pod that was ready after initialization period - CPU",
			pods: []podDef{{Pod{Name: "lucretius", Phase: corev1.PodSucceeded, StartTime: now.Add(-10 * time.Minute),
				Ready: corev1.ConditionFalse, ReadyTransitionTime: now.Add(-9 * time.Minute)}, PodReady}},
			metrics:  PodMetrics{"lucretius": {Value: 1}},
			resource: corev1.ResourceCPU},
		{name: "unready pod that has never been ready after initialization period - CPU",
			pods: []podDef{{Pod{Name: "lucretius", Phase: corev1.PodSucceeded, StartTime: now.Add(-10 * time.Minute),
				Ready: corev1.ConditionFalse, ReadyTransitionTime: now.Add(-9*time.Minute - 50*time.Second)}, PodReady}},
			metrics:  PodMetrics{"lucretius": {Value: 1}},
			resource: corev1.ResourceCPU},
		{name: "a missing pod",
			pods:     []podDef{{Pod{Name: "epicurus", Phase: corev1.PodSucceeded, StartTime: now.Add(-3 * time.Minute)}, PodMissing}},
			metrics:  PodMetrics{},
			resource: corev1.ResourceCPU},
		{name: "several pods",
			pods: []podDef{
				{Pod{Name: "lucretius", Phase: corev1.PodSucceeded, StartTime: now}, PodUnready},
				{Pod{Name: "niccolo", Phase: corev1.PodSucceeded, StartTime: now.Add(-3 * time.Minute),
					Ready: corev1.ConditionTrue, ReadyTransitionTime: now.Add(-3 * time.Minute)}, PodReady},
				{Pod{Name: "epicurus", Phase: corev1.PodSucceeded, StartTime: now.Add(-3 * time.Minute)}, PodMissing},
			},
			metrics:  PodMetrics{"lucretius": {Value: 1}, "niccolo": {Value: 1}},
			resource: corev1.ResourceCPU},
		{name: "pending pods are unreadied",
			pods:     []podDef{{Pod{Name: "unscheduled", Phase: corev1.PodPending}, PodUnready}},
			metrics:  PodMetrics{},
			resource: corev1.ResourceCPU},
		{name: "ignore pods with deletion timestamps",
			pods:     []podDef{{Pod{Name: "deleted", Phase: corev1.PodPending, Deleted: true}, PodIgnored}},
			metrics:  PodMetrics{"deleted": {Value: 1}},
			resource: corev1.ResourceCPU},
		{name: "ignore pods in a failed state",
			pods:     []podDef{{Pod{Name: "failed", Phase: corev1.PodFailed}, PodIgnored}},
			metrics:  PodMetrics{"failed": {Value: 1}},
			resource: corev1.ResourceCPU},
	}
	c := testCalculator()
	for _, tc := range tests {
		t.Run(tc.name+" (TestGroupPods, replica_calculator_test.go)", func(t *testing.T) {
			pods := make([]Pod, len(tc.pods))
			wantReady := 0
			for i := range tc.pods {
				pods[i] = tc.pods[i].Pod
				if tc.pods[i].class == PodReady {
					wantReady++
				}
			}
			classes, ready := c.GroupPods(pods, tc.metrics, tc.resource, now)
			if ready != wantReady {
				t.Errorf("readyPodCount = %d, want %d", ready, wantReady)
			}
			for i := range classes {
				if classes[i] != tc.pods[i].class {
					t.Errorf("pod %s: %v, want %v", pods[i].Name, classes[i], tc.pods[i].class)
				}
			}
		})
	}
}

// TestCalculateRequests is ported from TestCalculateRequests
// (replica_calculator_test.go), with PodLevelResources enabled (its v1.34
// default).
func TestCalculateRequests(t *testing.T) {
	cpu := corev1.ResourceCPU
	two := func(a, b map[corev1.ResourceName]int64) []Container {
		return []Container{{Name: "container1", Requests: a}, {Name: "container2", Requests: b}}
	}
	req := func(v int64) map[corev1.ResourceName]int64 { return map[corev1.ResourceName]int64{cpu: v} }
	tests := []struct {
		name      string
		pod       Pod
		container string
		want      int64
		wantErr   string
	}{
		{name: "Sum container requests", pod: Pod{Name: "test-pod", Containers: two(req(100), req(50))}, want: 150},
		{name: "Pod-level resources are enabled, but not set: fallback to sum container requests", pod: Pod{Name: "test-pod", Containers: two(req(100), req(50))}, want: 150},
		{name: "Pod-level resources override container requests when feature enabled and pod resources specified",
			pod: Pod{Name: "test-pod", PodRequests: req(800), Containers: two(req(100), req(50))}, want: 800},
		{name: "Fail if at least one of the containers is missing requests and pod-level feature/requests are not set",
			pod: Pod{Name: "test-pod", Containers: two(nil, req(50))}, wantErr: "missing request for cpu in container container1 of Pod test-pod"},
		{name: "Pod-level resources override missing container requests when feature enabled and pod resources specified",
			pod: Pod{Name: "test-pod", PodRequests: req(800), Containers: two(nil, req(50))}, want: 800},
		{name: "Container: if a container name is specified, calculate requests only for that container",
			pod: Pod{Name: "test-pod", Containers: two(req(100), req(50))}, container: "container1", want: 100},
		{name: "Container: if a container name is specified, calculate requests only for that container and ignore pod-level requests",
			pod: Pod{Name: "test-pod", PodRequests: req(800), Containers: two(req(100), req(50))}, container: "container1", want: 100},
		{name: "pod with restartable init containers",
			pod: Pod{Name: "test-pod", Containers: []Container{{Name: "container1", Requests: req(100)},
				{Name: "init-container1", Requests: req(20), Init: true}, {Name: "restartable-container1", Requests: req(50)}}}, want: 150},
	}
	for _, tc := range tests {
		t.Run(tc.name+" (TestCalculateRequests, replica_calculator_test.go)", func(t *testing.T) {
			got, err := PodRequest(&tc.pod, tc.container, cpu)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
