package status

// Unit tests with client-go's fake clientsets, for the edge cases a live
// cluster in test/e2e does not show at will: metrics APIs missing or
// unavailable, no VPA CRD, a VPA with a recommendation, empty external
// series, and the decision rules. What status reads from a real cluster is
// checked field by field in test/e2e/status_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	externalv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"
	externalfake "k8s.io/metrics/pkg/client/external_metrics/fake"
	"k8s.io/utils/ptr"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

const ns = "voiceassist"

var now = time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)

func q(s string) *resource.Quantity { v := resource.MustParse(s); return &v }

// workerHPA is the worker HPA of the manifests with a status the
// controller could have written: 2 replicas, CPU 40 %, memory 50 %, 60 jobs
// per pod (120 in all), the oldest 10 s old.
func workerHPA() *autoscalingv2.HorizontalPodAutoscaler {
	ext := func(name string, t autoscalingv2.MetricTarget) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: name, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "voice-jobs"}}}, Target: t}}
	}
	res := func(name corev1.ResourceName, u int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: name, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(u)}}}
	}
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker-hpa", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "voiceassist-worker"},
			MinReplicas:    ptr.To(int32(1)), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{
				res(corev1.ResourceCPU, 80), res(corev1.ResourceMemory, 85),
				ext("voiceassist_queue_depth", autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: q("50")}),
				ext("voiceassist_queue_oldest_job_age_seconds", autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: q("60")}),
			},
		},
	}
	cur := func(m autoscalingv2.MetricSpec, v autoscalingv2.MetricValueStatus) autoscalingv2.MetricStatus {
		s := autoscalingv2.MetricStatus{Type: m.Type}
		if m.Resource != nil {
			s.Resource = &autoscalingv2.ResourceMetricStatus{Name: m.Resource.Name, Current: v}
		} else {
			s.External = &autoscalingv2.ExternalMetricStatus{Metric: m.External.Metric, Current: v}
		}
		return s
	}
	m := h.Spec.Metrics
	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		CurrentReplicas: 2, DesiredReplicas: 3,
		CurrentMetrics: []autoscalingv2.MetricStatus{
			cur(m[0], autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(int32(40))}),
			cur(m[1], autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To(int32(50))}),
			cur(m[2], autoscalingv2.MetricValueStatus{AverageValue: q("60")}),
			cur(m[3], autoscalingv2.MetricValueStatus{Value: q("10")}),
		},
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound", Message: "the HPA was able to successfully calculate a replica count from external metric voiceassist_queue_depth"},
		},
	}
	return h
}

func workerPods(n int) []runtime.Object {
	var out []runtime.Object
	for i := range n {
		out = append(out, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker-" + string(rune('a'+i)), Namespace: ns, Labels: map[string]string{"app": "voiceassist-worker"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("4Gi")},
			}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "worker", Ready: true, RestartCount: int32(i),
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(now.Add(-time.Minute))}}}}},
		})
	}
	return out
}

func workerDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "voiceassist-worker"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}},
	}
}

type fakes struct {
	kube     *fake.Clientset
	dynamic  *fakedynamic.FakeDynamicClient
	metrics  *metricsfake.Clientset
	external *externalfake.FakeExternalMetricsClient
}

func newFakes(served []string, dynObjs []runtime.Object, objs ...runtime.Object) *fakes {
	objs = append(objs, workerHPA(), workerDeployment(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker-pdb", Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("50%"))},
		Status:     policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 2, DesiredHealthy: 1, DisruptionsAllowed: 1, ExpectedPods: 2},
	})
	objs = append(objs, workerPods(2)...)
	f := &fakes{kube: fake.NewClientset(objs...), metrics: &metricsfake.Clientset{}, external: &externalfake.FakeExternalMetricsClient{}}
	for _, gv := range served {
		f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = append(f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources,
			&metav1.APIResourceList{GroupVersion: gv})
	}
	sch := runtime.NewScheme()
	f.dynamic = fakedynamic.NewSimpleDynamicClientWithCustomListKinds(sch, map[schema.GroupVersionResource]string{
		vpaGVR: "VerticalPodAutoscalerList", cluster.APIServiceGVR: "APIServiceList"}, dynObjs...)
	return f
}

func (f *fakes) gather(t *testing.T) *Snapshot {
	t.Helper()
	s, err := Gather(context.Background(), Sources{Cluster: &cluster.Client{Kube: f.kube, Dynamic: f.dynamic}, Metrics: f.metrics, External: f.external},
		Options{Namespace: ns, Events: 10, Now: now, Env: "dev", Expected: []string{"HorizontalPodAutoscaler/voiceassist-worker-hpa", "VerticalPodAutoscaler/voiceassist-worker-vpa"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func toUnstructured(t *testing.T, gvk schema.GroupVersionKind, obj any) *unstructured.Unstructured {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			t.Fatal(err)
		}
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

// Without the VPA CRD, metrics.k8s.io and external.metrics.k8s.io the
// snapshot still has everything else, and says why each part is missing.
func TestGatherWithoutOptionalAPIs(t *testing.T) {
	// metrics.k8s.io registered but not available, as when metrics-server's
	// pod is not ready; external.metrics.k8s.io not registered at all.
	svc := toUnstructured(t, schema.GroupVersionKind{Group: "apiregistration.k8s.io", Version: "v1", Kind: "APIService"}, map[string]any{
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": "False", "reason": "MissingEndpoints",
			"message": "endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\""}}},
	})
	f := newFakes(nil, []runtime.Object{svc})
	s := f.gather(t)

	if !strings.Contains(s.VPAs.Unavailable, "VerticalPodAutoscaler CRD (autoscaling.k8s.io/v1) is not installed") || len(s.VPAs.Items) != 0 {
		t.Errorf("VPAs without the CRD: %+v", s.VPAs)
	}
	if want := "APIService v1beta1.metrics.k8s.io Available=False MissingEndpoints"; !strings.Contains(s.Pods.MetricsUnavailable, want) {
		t.Errorf("metricsUnavailable %q, want it to contain %q", s.Pods.MetricsUnavailable, want)
	}
	if want := "external.metrics.k8s.io is not served (no APIService v1beta1.external.metrics.k8s.io is registered)"; s.Queue.Unavailable != want {
		t.Errorf("queue unavailable %q, want %q", s.Queue.Unavailable, want)
	}
	if len(s.Pods.Items) != 2 || s.Pods.Items[0].CPU.Usage != nil || s.Pods.Items[0].CPU.Request.String() != "1" || s.Pods.Items[0].Memory.Limit.String() != "4Gi" {
		t.Errorf("pods without metrics: %+v", s.Pods.Items)
	}
	if p := s.Pods.Items[1]; p.Restarts != 1 || p.LastTermination == nil || p.LastTermination.Reason != "OOMKilled" || p.ReadyContainers != 1 || !p.Ready {
		t.Errorf("pod b: %+v", p)
	}
	if len(s.Missing) != 1 || s.Missing[0] != "VerticalPodAutoscaler/voiceassist-worker-vpa (no VPA API)" {
		t.Errorf("missing %v", s.Missing)
	}
	if len(s.PDBs.Items) != 1 || s.PDBs.Items[0].DisruptionsAllowed != 1 || s.PDBs.Items[0].MaxUnavailable.String() != "50%" {
		t.Errorf("PDBs %+v", s.PDBs.Items)
	}

	var text bytes.Buffer
	if err := WriteText(&text, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"VPA: <unavailable> the VerticalPodAutoscaler CRD",
		"<unavailable>/1000m/4000m",
		"CPU/memory use <unavailable>: metrics.k8s.io is not available",
		"Queue: <unavailable> external.metrics.k8s.io is not served",
		"OOMKilled (exit 137, worker, 60s ago)",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

// The worker HPA's proposals from its status: 120 queued jobs / 50 per pod
// propose 3, more than CPU (1), memory (2) and age (1): the queue depth
// decides.
func TestHPAProposalsAndDecision(t *testing.T) {
	s := newFakes(nil, nil).gather(t)
	h := s.HPAs.Items[0]
	want := map[string]int32{"Resource/cpu": 1, "Resource/memory": 2, "External/voiceassist_queue_depth{queue=voice-jobs}": 3, "External/voiceassist_queue_oldest_job_age_seconds{queue=voice-jobs}": 1}
	for _, m := range h.Metrics {
		if m.Proposal == nil || *m.Proposal != want[m.Name] {
			t.Errorf("%s proposes %v (%s), want %d", m.Name, m.Proposal, m.ProposalError, want[m.Name])
		}
		if m.Decides != strings.HasPrefix(m.Name, "External/voiceassist_queue_depth") {
			t.Errorf("%s decides=%v", m.Name, m.Decides)
		}
	}
	if h.ReadyPods != 2 || h.Decision.Proposed != 3 || h.Decision.Bounded != 3 || h.Decision.Metric != "External/voiceassist_queue_depth{queue=voice-jobs}" {
		t.Errorf("decision %+v, ready pods %d", h.Decision, h.ReadyPods)
	}
	if !strings.Contains(h.Decision.Explanation, "the controller's desired count is 3") {
		t.Errorf("explanation %q", h.Decision.Explanation)
	}
	if !h.Decision.AgreesWithController || h.Decision.ControllerMetric != "external metric voiceassist_queue_depth" {
		t.Errorf("the controller named %q: agrees=%v", h.Decision.ControllerMetric, h.Decision.AgreesWithController)
	}

	// A controller that last computed from another metric is reported.
	hp := workerHPA()
	hp.Status.Conditions[0].Message = validMetricPrefix + "memory resource utilization (percentage of request)"
	w := workload{found: true, replicas: 2, template: &workerDeployment().Spec.Template}
	sel, err := metav1.LabelSelectorAsSelector(workerDeployment().Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	w.selector = sel
	var pods []corev1.Pod
	for _, p := range workerPods(2) {
		pods = append(pods, *p.(*corev1.Pod))
	}
	got := hpaStatus(hp, w, pods, now)
	if got.Decision.AgreesWithController || !strings.Contains(got.Decision.Explanation, "the controller's last sync computed from memory resource utilization") {
		t.Errorf("disagreement not reported: %+v", got.Decision)
	}
}

// Upstream does not scale down while a metric is invalid: with the queue
// depth unknown and the rest proposing fewer replicas than the 2 running,
// there is no decision. A proposal over maxReplicas is bounded.
func TestDecisionRules(t *testing.T) {
	h := workerHPA()
	h.Status.CurrentMetrics[2].External.Current = autoscalingv2.MetricValueStatus{}
	h.Status.CurrentMetrics[1].Resource.Current.AverageUtilization = ptr.To(int32(30)) // proposes 1
	pods := workerPods(2)
	var list []corev1.Pod
	for _, p := range pods {
		list = append(list, *p.(*corev1.Pod))
	}
	w := workload{found: true, replicas: 2, template: &workerDeployment().Spec.Template}
	sel, err := metav1.LabelSelectorAsSelector(workerDeployment().Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	w.selector = sel

	got := hpaStatus(h, w, list, now)
	if got.Decision.Proposed != -1 || !strings.Contains(got.Decision.Explanation, "does not scale down while a metric is invalid, so it keeps 2") {
		t.Errorf("partial metrics: %+v", got.Decision)
	}
	if got.Metrics[2].Current != nil || got.Metrics[2].Proposal != nil || got.Metrics[2].ProposalError == "" {
		t.Errorf("unknown metric: %+v", got.Metrics[2])
	}

	h = workerHPA()
	h.Status.CurrentMetrics[2].External.Current = autoscalingv2.MetricValueStatus{AverageValue: q("200")} // 400 jobs: 8 pods
	got = hpaStatus(h, w, list, now)
	if got.Decision.Proposed != 8 || got.Decision.Bounded != 5 || !strings.Contains(got.Decision.Explanation, "bounded to 5 by [1, 5]") {
		t.Errorf("over max: %+v", got.Decision)
	}
	if !strings.Contains(got.Decision.Explanation, "the controller's desired count is 3:") {
		t.Errorf("desired 3 differs from bounded 5, want the reason: %q", got.Decision.Explanation)
	}
}

// With every API served: pod use from metrics.k8s.io, queue values from
// external.metrics.k8s.io (an empty series list is an error, as for the
// HPA), a VPA's recommendation against the Deployment's requests.
func TestGatherWithMetricsAndVPA(t *testing.T) {
	vpa := &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker-vpa", Namespace: ns},
		Spec: vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1CrossRef,
			UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: ptr.To(vpav1.UpdateModeOff)}},
		Status: vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{{
			ContainerName: "worker",
			LowerBound:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("600Mi")},
			Target:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("800m"), corev1.ResourceMemory: resource.MustParse("900Mi")},
			UpperBound:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		}}}},
	}
	f := newFakes([]string{"metrics.k8s.io/v1beta1", "external.metrics.k8s.io/v1beta1", "autoscaling.k8s.io/v1"},
		[]runtime.Object{toUnstructured(t, vpaGV.WithKind("VerticalPodAutoscaler"), vpa), toUnstructured(t, vpaGV.WithKind("VerticalPodAutoscaler"), &vpav1.VerticalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "zz-new-vpa", Namespace: ns}, Spec: vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1CrossRef}})})
	f.metrics.AddReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{{
			ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-worker-a", Namespace: ns},
			Containers: []metricsv1beta1.ContainerMetrics{{Name: "worker", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("300Mi")}}},
		}}}, nil
	})
	f.external.AddReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetResource().Resource == "voiceassist_queue_oldest_job_age_seconds" {
			return true, &externalv1beta1.ExternalMetricValueList{}, nil
		}
		return true, &externalv1beta1.ExternalMetricValueList{Items: []externalv1beta1.ExternalMetricValue{
			{MetricName: "voiceassist_queue_depth", Value: resource.MustParse("70"), Timestamp: metav1.NewTime(now.Add(-5 * time.Second))},
			{MetricName: "voiceassist_queue_depth", Value: resource.MustParse("50"), Timestamp: metav1.NewTime(now.Add(-10 * time.Second))},
		}}, nil
	})
	s := f.gather(t)

	a := s.Pods.Items[0]
	if a.CPU.Usage == nil || a.CPU.Usage.String() != "250m" || a.Memory.Usage.String() != "300Mi" || s.Pods.MetricsUnavailable != "" {
		t.Errorf("pod use: %+v %+v (%s)", a.CPU, a.Memory, s.Pods.MetricsUnavailable)
	}
	if b := s.Pods.Items[1]; b.CPU.Usage != nil {
		t.Errorf("pod without a sample has use %v", b.CPU.Usage)
	}
	if len(s.Queue.Metrics) != 2 || s.Queue.Unavailable != "" {
		t.Fatalf("queue: %+v", s.Queue)
	}
	depth, age := s.Queue.Metrics[0], s.Queue.Metrics[1]
	if depth.Value.String() != "120" || depth.Series != 2 || depth.Selector != "queue=voice-jobs" || !depth.Timestamp.Equal(now.Add(-5*time.Second)) {
		t.Errorf("depth %+v", depth)
	}
	if age.Value != nil || !strings.Contains(age.Error, "no series for this selector") {
		t.Errorf("age with no series: %+v", age)
	}
	if s.VPAs.Unavailable != "" || len(s.VPAs.Items) != 2 {
		t.Fatalf("VPAs %+v", s.VPAs)
	}
	// A VPA the recommender has not written to yet: the requests, and why
	// there is nothing to compare them with.
	if nv := s.VPAs.Items[1]; len(nv.Containers) != 1 || nv.Containers[0].Target != nil || nv.Containers[0].Requests.Memory().String() != "1Gi" ||
		!strings.Contains(nv.NoRecommendation, "no recommendation yet") || nv.UpdateMode != "Auto" {
		t.Errorf("VPA without a recommendation: %+v", nv)
	}
	v := s.VPAs.Items[0]
	c := v.Containers[0]
	if v.UpdateMode != "Off" || v.Target != "Deployment/voiceassist-worker" || c.Name != "worker" || c.Target.Cpu().String() != "800m" ||
		c.UpperBound.Memory().String() != "2Gi" || c.Requests.Cpu().String() != "1" || v.NoRecommendation != "" {
		t.Errorf("VPA %+v", v)
	}
	if len(s.Missing) != 0 {
		t.Errorf("missing %v", s.Missing)
	}

	// JSON is the data contract: the Kubernetes field names.
	var js bytes.Buffer
	if err := Write(&js, s, "json"); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	hpa := back["hpas"].(map[string]any)["items"].([]any)[0].(map[string]any)
	m0 := hpa["metrics"].([]any)[0].(map[string]any)
	var y bytes.Buffer
	if err := Write(&y, s, "yaml"); err != nil || !strings.Contains(y.String(), "averageUtilization: 40") || !strings.Contains(y.String(), "disruptionsAllowed: 1") {
		t.Errorf("yaml (%v):\n%s", err, y.String())
	}
	if hpa["currentReplicas"] != 2.0 || m0["current"].(map[string]any)["averageUtilization"] != 40.0 || m0["target"].(map[string]any)["averageUtilization"] != 80.0 {
		t.Errorf("json hpa: %v", hpa)
	}
}

var autoscalingv1CrossRef = autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "voiceassist-worker"}

// Streaming: one JSON object per line, until the context ends.
func TestWatchStreamsJSONLines(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	gather := func(context.Context) (*Snapshot, error) {
		n++
		if n == 3 {
			cancel()
		}
		return &Snapshot{Time: now.Add(time.Duration(n) * time.Second), Namespace: ns}, nil
	}
	var out, errs bytes.Buffer
	if err := Watch(ctx, gather, &out, WatchOptions{Interval: time.Millisecond, Format: "json", Errors: &errs}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		var s Snapshot
		if err := json.Unmarshal([]byte(l), &s); err != nil || !s.Time.Equal(now.Add(time.Duration(i+1)*time.Second)) {
			t.Errorf("line %d: %v %v", i, err, s.Time)
		}
	}
	if strings.Contains(out.String(), clearScreen) {
		t.Error("streamed JSON holds a terminal escape")
	}
}

// On a terminal, text is redrawn: each snapshot starts with the ANSI clear;
// an error after the first snapshot is shown and the watch goes on.
func TestWatchRedraws(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	gather := func(context.Context) (*Snapshot, error) {
		n++
		switch n {
		case 2:
			return nil, context.DeadlineExceeded
		case 3:
			cancel()
		}
		return &Snapshot{Time: now, Namespace: ns}, nil
	}
	var out, errs bytes.Buffer
	if err := Watch(ctx, gather, &out, WatchOptions{Interval: time.Millisecond, Format: "text", Redraw: true, Errors: &errs}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), clearScreen); got != 3 {
		t.Errorf("%d clears, want 3 (two snapshots, one error)", got)
	}
	if strings.Count(out.String(), "namespace voiceassist") != 2 || !strings.Contains(errs.String(), "deadline exceeded") {
		t.Errorf("out %q errs %q", out.String(), errs.String())
	}
	// The first gathering failing ends the watch with its error.
	err := Watch(context.Background(), func(context.Context) (*Snapshot, error) { return nil, context.DeadlineExceeded }, &out, WatchOptions{Interval: time.Millisecond, Format: "text", Errors: &errs})
	if err != context.DeadlineExceeded {
		t.Errorf("first failure: %v", err)
	}
}
