package doctor

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// TestMetricsServerScaledToZero: v1beta1.metrics.k8s.io unavailable, its
// Deployment at 0 replicas: doctor names the API, the Deployment and the fix,
// and every Resource metric of the HPAs fails.
func TestMetricsServerScaledToZero(t *testing.T) {
	s := gatewayUnderLoad(t)
	st := s.APIServices[ResourceMetricsAPI]
	st.APIService.Spec.Service = &apiregistrationv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server"}
	st.APIService.Status.Conditions[0] = apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionFalse,
		Reason: "MissingEndpoints", Message: "endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\""}
	st.Service = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"k8s-app": "metrics-server"}}}
	zero := int32(0)
	st.Deployments = []appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"}, Spec: appsv1.DeploymentSpec{Replicas: &zero}}}
	apiErr := errors.New(`the server is currently unable to handle the request (get pods.metrics.k8s.io)`)
	s.Reads[gwHPA][0] = MetricRead{Err: apiErr}
	s.Reads[gwHPA][1] = MetricRead{Err: apiErr}
	r := Diagnose(s)
	f := mustFind(t, r, CheckMetricsAPI, Error, "metrics.k8s.io is unavailable", "MissingEndpoints", "Deployment kube-system/metrics-server: 0 replicas wanted, 0 ready (scaled to 0)")
	if !strings.Contains(f.Fix, "kubectl scale deployment metrics-server -n kube-system --replicas=1") {
		t.Errorf("fix %q", f.Fix)
	}
	mustFind(t, r, CheckHPA, Error, "Resource/cpu is <unknown>: metrics.k8s.io is unavailable")
	mustFind(t, r, CheckHPA, Error, "will not scale down while 2 of its 3 metrics are invalid")
	e := r.Explanations[0]
	// The Pods metric alone (50/s against 100) would scale down; it may not.
	if e.Proposed != -1 || e.Desired != 4 || e.Rescale {
		t.Errorf("replay: proposed %d desired %d, want -1 and 4 (no scale-down)", e.Proposed, e.Desired)
	}
}

func TestMetricsAPINotRegistered(t *testing.T) {
	s := gatewayUnderLoad(t)
	delete(s.APIServices, CustomMetricsAPI)
	delete(s.APIServices, ExternalMetricsAPI)
	r := Diagnose(s)
	mustFind(t, r, CheckMetricsAPI, Error, "v1beta1.custom.metrics.k8s.io is not registered", "voiceassist-server-hpa Pods/http_requests_per_second", "prometheus-adapter-values.yaml")
	mustFind(t, r, CheckMetricsAPI, Error, "v1beta1.external.metrics.k8s.io is not registered", "voiceassist-worker-hpa External/voiceassist_queue_depth")
}

// TestPodWithoutCPURequest: one pod of the gateway lost its CPU request
// (a hand patch): doctor names the pod and the Deployment, and the
// replay's cpu metric fails with the controller's message.
func TestPodWithoutCPURequest(t *testing.T) {
	s := gatewayUnderLoad(t)
	delete(s.Pods[2].Spec.Containers[0].Resources.Requests, corev1.ResourceCPU)
	r := Diagnose(s)
	f := mustFind(t, r, CheckHPA, Error, "have no cpu request", "Deployment voiceassist-server", s.Pods[2].Name, "missing request for cpu in container server")
	for _, p := range s.Pods[:2] {
		if strings.Contains(strings.Join(f.Evidence, "\n"), p.Name) {
			t.Errorf("pod %s has a request, but is named", p.Name)
		}
	}
	if m := r.Explanations[0].Metrics[0]; !strings.Contains(m.Error, "missing request for cpu") || m.Reason != "FailedGetResourceMetric" {
		t.Errorf("cpu metric: %q %s", m.Error, m.Reason)
	}
}

func TestFailedGetScale(t *testing.T) {
	s := gatewayUnderLoad(t)
	s.Targets[gwHPA].Err = errors.New(`deployments.apps "voiceassist-server" not found`)
	r := Diagnose(s)
	mustFind(t, r, CheckHPA, Error, "FailedGetScale", `deployments.apps "voiceassist-server" not found`)
	if e := r.Explanations[0]; e.Err == "" {
		t.Error("replay without a scale")
	}
}

// TestPDBBlocksDrain: the gateway's PDB at its minimum with a node
// cordoned: an error naming the pods, and a fix that never starts by
// deleting the PDB. The database's PDB is intended and gets the
// procedure of k8s/performance/README.md.
func TestPDBBlocksDrain(t *testing.T) {
	s := envSnapshot(t, "prod")
	pods := s.addPods(t, gw, gwHPA, 1)
	s.addPods(t, "voiceassist-redis", "", 1)
	s.Nodes = []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Spec: corev1.NodeSpec{Unschedulable: true}}}
	var pdbs []policyv1.PodDisruptionBudget
	for _, p := range s.PDBs {
		p.Generation, p.Status.ObservedGeneration = 1, 1
		p.Status.CurrentHealthy, p.Status.DesiredHealthy, p.Status.ExpectedPods = 1, 1, 1
		pdbs = append(pdbs, p)
	}
	s.PDBs = pdbs
	r := Diagnose(s)
	f := mustFind(t, r, CheckPDB, Error, "voiceassist-server-pdb allows 0 disruptions", pods[0], "cordoned node node-1")
	if strings.Contains(f.Fix, "kubectl delete pdb") || !strings.Contains(f.Fix, "do not delete the PDB") {
		t.Errorf("fix %q", f.Fix)
	}
	db := mustFind(t, r, CheckPDB, "", "voiceassist-redis-pdb", "deleting is not evicting")
	if db.Severity != Error { // a cordoned node holds it: the drain is blocked now
		t.Errorf("redis PDB severity %s", db.Severity)
	}
	s.Nodes[0].Spec.Unschedulable = false
	r = Diagnose(s)
	mustFind(t, r, CheckPDB, Info, "voiceassist-redis-pdb", "single-replica queue store")
	mustFind(t, r, CheckPDB, Warning, "voiceassist-server-pdb")
}

// TestOOMKilledGateway: the spec's own fix, a 3Gi limit for the gateway,
// breaks the LimitRange (6× the 512Mi request, over 4×) and prod's quota.
func TestOOMKilledGateway(t *testing.T) {
	s := envSnapshot(t, "prod")
	s.addPods(t, gw, gwHPA, 3)
	p := &s.Pods[0]
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "server", RestartCount: 3,
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(t0.Add(-time.Minute))}}}}
	s.PodUsage = map[string]map[string]corev1.ResourceList{p.Name: {"server": {corev1.ResourceMemory: qty("1900Mi")}}}
	r := Diagnose(s)
	f := mustFind(t, r, CheckPods, Warning, p.Name, "OOMKilled", "memory use now 1900Mi (93 % of the limit)",
		"a 3Gi limit (the original README's kubectl patch example) breaks",
		"3Gi is 6.0× the 512Mi request, over LimitRange voiceassist-limits's maxLimitRequestRatio 4",
		"ResourceQuota voiceassist-quota's limits.memory 80Gi does not hold")
	if !strings.Contains(strings.Join(f.Confirm, "\n"), "lastState.terminated.reason") || !strings.Contains(strings.Join(f.Confirm, "\n"), "reason=OOMKilled (the kubelet records no such Event") {
		t.Errorf("confirm %v", f.Confirm)
	}
	// A VPA upper bound within the rules passes.
	for i := range s.VPAs {
		if s.VPAs[i].Name == "voiceassist-server-vpa" {
			s.VPAs[i].Status.Recommendation = &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{
				{ContainerName: "server", UpperBound: corev1.ResourceList{corev1.ResourceMemory: qty("2Gi")}}}}
		}
	}
	s.Pods[0].Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = qty("1536Mi")
	r = Diagnose(s)
	mustFind(t, r, CheckPods, Warning, "VPA voiceassist-server-vpa upper bound for server: memory 2Gi", "a 2Gi limit passes the LimitRange and the ResourceQuota")
	// Rules that could not be read pass nothing: "not checked".
	s.LimitRanges, s.Quotas = nil, nil
	s.LimitRangesErr = errors.New(`list LimitRanges in voiceassist: limitranges is forbidden`)
	s.QuotasErr = errors.New(`list ResourceQuotas in voiceassist: resourcequotas is forbidden`)
	r = Diagnose(s)
	f = mustFind(t, r, CheckPods, Warning, "a 2Gi limit: not checked: list LimitRanges in voiceassist: limitranges is forbidden; list ResourceQuotas in voiceassist: resourcequotas is forbidden")
	if ev := strings.Join(f.Evidence, "\n"); strings.Contains(ev, "passes") {
		t.Errorf("unread LimitRange and quota, yet: %s", ev)
	}
}

func TestEvicted(t *testing.T) {
	s := envSnapshot(t, "prod")
	s.addPods(t, gw, gwHPA, 2)
	s.Pods[1].Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}
	r := Diagnose(s)
	mustFind(t, r, CheckPods, Warning, s.Pods[1].Name, "low on resource: memory")
}

func TestVPAWithoutRecommendation(t *testing.T) {
	s := envSnapshot(t, "prod")
	s.VPARecommenders = []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "vpa-recommender-1", Namespace: "kube-system"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}}
	for i := range s.VPAs {
		s.VPAs[i].CreationTimestamp = metav1.NewTime(t0.Add(-3 * time.Hour))
	}
	s.VPAs[0].Spec.TargetRef.Name = "gone"
	r := Diagnose(s)
	mustFind(t, r, CheckVPA, Error, s.VPAs[0].Name, "targetRef Deployment gone does not resolve")
	mustFind(t, r, CheckVPA, Info, s.VPAs[1].Name, "3h0m0s old", "24 h")
	s.VPARecommenders[0].Status.Conditions[0].Status = corev1.ConditionFalse
	r = Diagnose(s)
	mustFind(t, r, CheckVPA, Error, "the vpa-recommender is not ready")
	s.VPACRD, s.VPAs = false, nil
	r = Diagnose(s)
	mustFind(t, r, CheckVPA, Info, "CRD is not installed")
}

// TestThrashing: 3 → 5 → 3 → 5 → 3 → 5 in an hour is 4 direction changes.
func TestThrashing(t *testing.T) {
	s := gatewayUnderLoad(t)
	s.Targets[gwHPA].SpecReplicas = 5
	sizes := []int{5, 3, 5, 3, 5}
	for i, n := range sizes {
		at := t0.Add(-time.Duration(50-10*i) * time.Minute)
		s.Events = append(s.Events, rescaleEvent(gwHPA, at.Add(time.Duration(i)*time.Second), n))
	}
	s.Events = append(s.Events, scaledEvent(gw, t0.Add(-50*time.Minute), 3, 5))
	r := Diagnose(s)
	mustFind(t, r, CheckThrashing, Warning, "thrashing", "5 rescale(s) in the last hour: 3 up, 2 down, 4 direction change(s)")
	s.Now = t0.Add(2 * time.Hour)
	if f := findings(Diagnose(s), CheckThrashing, ""); len(f) != 0 {
		t.Errorf("two hours later: %v", f)
	}
}

// TestHealthyDev: dev with its pods and every metric read has no error.
func TestHealthyDev(t *testing.T) {
	s := envSnapshot(t, "dev")
	s.VPACRD = false
	pods := s.addPods(t, gw, gwHPA, 1)
	cpu := request(t, s, gw, corev1.ResourceCPU)
	s.Reads[gwHPA] = []MetricRead{{PodValues: podValues(pods, cpu/2)}, {PodValues: podValues(pods, 1000)}, {PodValues: podValues(pods, 10_000)}}
	wpods := s.addPods(t, "voiceassist-worker", "voiceassist-worker-hpa", 1)
	wcpu, wmem := request(t, s, "voiceassist-worker", corev1.ResourceCPU), request(t, s, "voiceassist-worker", corev1.ResourceMemory)
	s.Reads["voiceassist-worker-hpa"] = []MetricRead{{PodValues: podValues(wpods, wcpu/2)}, {PodValues: podValues(wpods, wmem/2)}, {ExternalValues: []int64{0}}, {ExternalValues: []int64{0}}}
	r := Diagnose(s)
	for _, e := range r.Explanations {
		if e.Rescale || e.Err != "" {
			t.Errorf("%s: %s", e.HPA, e.Summary)
		}
	}
	if r.HasErrors() {
		t.Errorf("a healthy dev without pods: %+v", r.Findings)
	}
}

// TestMetricNotServed: the adapter answers 404 for the gateway's request
// rate (no rule for it): doctor names the metric, not the API.
func TestMetricNotServed(t *testing.T) {
	s := gatewayUnderLoad(t)
	s.Reads[gwHPA][2] = MetricRead{Query: "/apis/custom.metrics.k8s.io/v1beta2/namespaces/voiceassist/pods/*/http_requests_per_second?labelSelector=app%3Dvoiceassist-server",
		Err: apierrors.NewNotFound(schema.GroupResource{Group: "custom.metrics.k8s.io", Resource: "pods/http_requests_per_second"}, "*")}
	r := Diagnose(s)
	mustFind(t, r, CheckHPA, Error, "the custom.metrics.k8s.io API does not serve http_requests_per_second", "kubectl get --raw")
	// cpu still asks for more: the HPA scales up on it.
	if e := r.Explanations[0]; !e.Rescale || e.Desired != 6 {
		t.Errorf("desired %d, want 6", e.Desired)
	}
}
