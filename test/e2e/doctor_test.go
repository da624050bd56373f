//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/voiceassist/autoscaling/internal/doctor"
)

// The doctor scenarios make each symptom of the original README's
// Troubleshooting section real on the local cluster and check that
// `vactl doctor` (the binary, as an operator runs it) names its cause:
//
//   - TestDoctorMetricsServerStopped: metrics-server's Deployment scaled to
//     0 → the APIService v1beta1.metrics.k8s.io and the Deployment at 0;
//   - TestDoctorMetricsProviderStopped: the custom/external metrics provider
//     stopped (SIGSTOP: it hangs, as a wedged adapter does) →
//     external.metrics.k8s.io, and the worker HPA will not scale down;
//   - TestDoctorPodWithoutCPURequest: the gateway's CPU request removed (with
//     the LimitRange and quota that would fill it in or refuse the pod) →
//     the pods named;
//   - TestDoctorPDBBlocksDrain: the node cordoned, the gateway at 1 pod under
//     minAvailable 1 → the PDB and its pod named, the fix never "delete the PDB";
//   - TestDoctorExplainScaleUpLimit: real load on the gateway (as
//     TestScaleGateway) → the replay says the +2 pods per 30 s policy holds
//     the scale-up back.

// runDoctor runs vactl doctor -o json inside the cluster's network
// namespace and decodes its report.
func runDoctor(t *testing.T, args ...string) (*doctor.Report, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, took := newVactlRunner(t).exec(t, &out, &errOut, cl.AdminKubeconfig, append([]string{"doctor", "-o", "json"}, args...)...)
	var r doctor.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("vactl doctor %v: exit %d, output is not a report (%v):\n%s\n%s", args, code, err, out.String(), errOut.String())
	}
	t.Logf("vactl doctor %s: exit %d in %.1fs; stderr: %s", strings.Join(args, " "), code, took.Seconds(), strings.TrimSpace(errOut.String()))
	for _, e := range r.Explanations {
		t.Logf("  explain %s: %s", e.HPA, e.Summary)
	}
	for _, f := range r.Findings {
		t.Logf("  %s [%s] %s: %s", f.Severity, f.Check, f.Object, f.Message)
	}
	return &r, code
}

// finding returns the first finding of check on object whose text has
// every string of want.
func finding(r *doctor.Report, check, object string, want ...string) (doctor.Finding, bool) {
	for _, f := range r.Findings {
		if f.Check != check || (object != "" && f.Object != object) {
			continue
		}
		all := strings.Join(append(append([]string{f.Message, f.Fix}, f.Evidence...), f.Confirm...), "\n")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(all, w)
		}
		if ok {
			return f, true
		}
	}
	return doctor.Finding{}, false
}

func explanation(r *doctor.Report, hpa string) *doctor.Explanation {
	for i := range r.Explanations {
		if r.Explanations[i].HPA == hpa {
			return &r.Explanations[i]
		}
	}
	return nil
}

// waitAPIServiceUnavailable waits until kube-apiserver marks name not Available.
func waitAPIServiceUnavailable(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := eventually(wctx, func(ctx context.Context) error {
		if apiServiceAvailable(ctx, name) == nil {
			return fmt.Errorf("APIService %s still Available", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDoctorMetricsServerStopped(t *testing.T) {
	ctx := scenario(t, 8*time.Minute)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)
	waitHPASteady(ctx, t, "voiceassist-server-hpa", 1)

	scale := func(ctx context.Context, n int32) error {
		sc, err := cs.AppsV1().Deployments("kube-system").GetScale(ctx, "metrics-server", metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = n
		_, err = cs.AppsV1().Deployments("kube-system").UpdateScale(ctx, "metrics-server", sc, metav1.UpdateOptions{})
		return err
	}
	if err := scale(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := scale(ctx, 1); err != nil {
			t.Errorf("scale metrics-server back to 1: %v", err)
		}
		ensureMetricsServer(ctx, t)
	})
	waitAPIServiceUnavailable(ctx, t, "v1beta1.metrics.k8s.io")

	rep, code := runDoctor(t, "--env", "dev")
	if code != 1 {
		t.Errorf("exit %d, want 1 (error-level findings)", code)
	}
	f, ok := finding(rep, doctor.CheckMetricsAPI, "APIService v1beta1.metrics.k8s.io", "metrics.k8s.io is unavailable", "Deployment kube-system/metrics-server: 0 replicas wanted, 0 ready (scaled to 0)")
	if !ok || f.Severity != doctor.Error {
		t.Errorf("no error naming v1beta1.metrics.k8s.io and its Deployment at 0 (%+v)", f)
	} else if !strings.Contains(f.Fix, "kubectl scale deployment metrics-server -n kube-system --replicas=1") {
		t.Errorf("fix %q", f.Fix)
	}
	for _, h := range []string{"voiceassist-server-hpa", "voiceassist-worker-hpa"} {
		if _, ok := finding(rep, doctor.CheckHPA, "HorizontalPodAutoscaler voiceassist/"+h, "Resource/cpu is <unknown>: metrics.k8s.io is unavailable"); !ok {
			t.Errorf("%s: no finding that its cpu metric is <unknown> for metrics.k8s.io", h)
		}
	}
}

func TestDoctorMetricsProviderStopped(t *testing.T) {
	ctx := scenario(t, 8*time.Minute)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)
	waitHPASteady(ctx, t, "voiceassist-worker-hpa", 1)

	// SIGSTOP, not a kill: the provider hangs as a wedged adapter does, and
	// the harness's process stays alive (a dead one fails every scenario).
	pid := metrics.provider.Pid()
	if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Kill(-pid, syscall.SIGCONT); err != nil {
			t.Errorf("SIGCONT the metrics provider: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, gv := range metricsAPIServices {
			if err := eventually(ctx, func(ctx context.Context) error { return apiServiceAvailable(ctx, gv[1]+"."+gv[0]) }); err != nil {
				t.Errorf("after SIGCONT: %v", err)
			}
		}
	})
	waitAPIServiceUnavailable(ctx, t, "v1beta1.external.metrics.k8s.io")

	rep, code := runDoctor(t)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if f, ok := finding(rep, doctor.CheckMetricsAPI, "APIService v1beta1.external.metrics.k8s.io", "external.metrics.k8s.io is unavailable", "voiceassist-worker-hpa External/voiceassist_queue_depth"); !ok || f.Severity != doctor.Error {
		t.Errorf("no error naming v1beta1.external.metrics.k8s.io and the worker's queue metrics (%+v)", f)
	}
	if _, ok := finding(rep, doctor.CheckHPA, "HorizontalPodAutoscaler voiceassist/voiceassist-worker-hpa", "will not scale down while 2 of its 4 metrics are invalid"); !ok {
		t.Errorf("doctor does not say the worker HPA will not scale down")
	}
	if e := explanation(rep, "voiceassist-worker-hpa"); e == nil {
		t.Error("no explanation of the worker HPA")
	} else {
		for _, m := range e.Metrics[2:] {
			if m.Error == "" || m.Reason != "FailedGetExternalMetric" {
				t.Errorf("worker %s: replay error %q reason %s, want FailedGetExternalMetric", m.Metric, m.Error, m.Reason)
			}
		}
		if e.Desired < e.SpecReplicas {
			t.Errorf("replay scales the worker down (%d → %d) with its queue metrics invalid", e.SpecReplicas, e.Desired)
		}
	}
}

func TestDoctorPodWithoutCPURequest(t *testing.T) {
	ctx := scenario(t, 10*time.Minute)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		deploy(ctx, t, r.objs, r.set) // the LimitRange, the quota and the request back
	})
	// The LimitRange's defaultRequest would give the container 125m, and
	// the quota would refuse a pod without requests.cpu: a namespace where
	// a pod really lacks a CPU request has neither.
	for _, o := range r.objs {
		var err error
		switch o.GetKind() {
		case "LimitRange":
			err = cs.CoreV1().LimitRanges("voiceassist").Delete(ctx, o.GetName(), metav1.DeleteOptions{})
		case "ResourceQuota":
			err = cs.CoreV1().ResourceQuotas("voiceassist").Delete(ctx, o.GetName(), metav1.DeleteOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	d := findObj(t, r.objs, "Deployment", "voiceassist", "voiceassist-server").DeepCopy()
	cts, found, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if err != nil || !found || len(cts) == 0 {
		t.Fatalf("the gateway Deployment's containers: found %v, %d, %v", found, len(cts), err)
	}
	res := cts[0].(map[string]any)["resources"].(map[string]any)
	delete(res["requests"].(map[string]any), "cpu")
	delete(res["limits"].(map[string]any), "cpu")
	must(t, unstructured.SetNestedSlice(d.Object, cts, "spec", "template", "spec", "containers"))
	if _, err := apply(ctx, d, false); err != nil {
		t.Fatalf("apply the gateway without a CPU request: %v", err)
	}
	// Wait for the rollout: every gateway pod without a CPU request, and
	// the HPA controller itself failing on it.
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	var names []string
	err = eventually(wctx, func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "app=voiceassist-server"})
		if err != nil {
			return err
		}
		names = names[:0]
		for _, p := range pods.Items {
			if _, has := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; has || p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s still has a CPU request or is terminating", p.Name)
			}
			if podCondition(&p, corev1.PodReady) == nil || podCondition(&p, corev1.PodReady).Status != corev1.ConditionTrue {
				return fmt.Errorf("pod %s not ready", p.Name)
			}
			names = append(names, p.Name)
		}
		if len(names) == 0 {
			return errors.New("no gateway pod")
		}
		ev, err := cs.CoreV1().Events("voiceassist").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=voiceassist-server-hpa,reason=FailedGetResourceMetric"})
		if err != nil {
			return err
		}
		for _, e := range ev.Items {
			if strings.Contains(e.Message, "missing request for cpu") && e.LastTimestamp.After(time.Now().Add(-time.Minute)) {
				return nil
			}
		}
		return errors.New("the HPA controller has not reported the missing request yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, code := runDoctor(t)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := append([]string{"have no cpu request", "Deployment voiceassist-server"}, names...)
	if _, ok := finding(rep, doctor.CheckHPA, "HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa", want...); !ok {
		t.Errorf("no finding naming the pods %v without a CPU request", names)
	}
}

func TestDoctorPDBBlocksDrain(t *testing.T) {
	ctx := scenario(t, 8*time.Minute)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-server", 1)
	// prod's gateway budget (minAvailable 1) over dev's: with one pod, no
	// disruption is allowed.
	pdb := findObj(t, renderEnv(t, "prod").objs, "PodDisruptionBudget", "voiceassist", "voiceassist-server-pdb")
	if _, err := apply(ctx, pdb, false); err != nil {
		t.Fatal(err)
	}
	node := agent.NodeName
	cordon := func(ctx context.Context, on bool) error {
		_, err := cs.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)), metav1.PatchOptions{})
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := cordon(ctx, false); err != nil {
			t.Errorf("uncordon %s: %v", node, err)
		}
		deploy(ctx, t, r.objs, r.set) // dev's PDB back
	})
	if err := cordon(ctx, true); err != nil {
		t.Fatal(err)
	}
	// One gateway pod, none terminating (an earlier scenario's rollout may
	// still be ending): the PDB counts exactly it.
	var pod string
	err := eventually(ctx, func(ctx context.Context) error {
		pods, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: "app=voiceassist-server"})
		if err != nil {
			return err
		}
		var names []string
		for _, p := range pods.Items {
			names = append(names, fmt.Sprintf("%s (terminating: %v)", p.Name, p.DeletionTimestamp != nil))
		}
		if len(pods.Items) != 1 || pods.Items[0].DeletionTimestamp != nil {
			return fmt.Errorf("gateway pods %v, want one", names)
		}
		pod = pods.Items[0].Name
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitPDB(ctx, t, "voiceassist-server-pdb", func(p *policyv1.PodDisruptionBudget) error {
		if p.Spec.MinAvailable == nil || p.Status.CurrentHealthy != 1 || p.Status.DisruptionsAllowed != 0 {
			return fmt.Errorf("minAvailable %v currentHealthy %d disruptionsAllowed %d, want 1, 1, 0", p.Spec.MinAvailable, p.Status.CurrentHealthy, p.Status.DisruptionsAllowed)
		}
		return nil
	})
	// What kubectl drain does, and why it hangs: the eviction is refused.
	if err := evict(ctx, pod); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evict %s: want 429 from the PDB, got %v", pod, err)
	}

	rep, code := runDoctor(t)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a drain is blocked now)", code)
	}
	f, ok := finding(rep, doctor.CheckPDB, "PodDisruptionBudget voiceassist/voiceassist-server-pdb", "allows 0 disruptions", pod, "cordoned node "+node)
	switch {
	case !ok:
		t.Errorf("no finding naming voiceassist-server-pdb and pod %s on cordoned node %s", pod, node)
	case f.Severity != doctor.Error:
		t.Errorf("severity %s, want error", f.Severity)
	case strings.Contains(f.Fix, "kubectl delete pdb") || !strings.Contains(f.Fix, "do not delete the PDB"):
		t.Errorf("fix %q advises deleting the PDB, or does not warn against it", f.Fix)
	}
	if f, ok := finding(rep, doctor.CheckPDB, "PodDisruptionBudget voiceassist/voiceassist-redis-pdb", "voiceassist-redis-0", "deleting is not evicting"); !ok {
		t.Errorf("no finding with the database procedure for voiceassist-redis-pdb (%+v)", f)
	}
}

func TestDoctorExplainScaleUpLimit(t *testing.T) {
	ctx := scenario(t, 12*time.Minute)
	r := scalingOverlay(t)
	// Room above 7, so that every step up to it is the policy's (at the
	// maximum, TooManyReplicas decides instead).
	const gwCap = 10
	hpaObj := findObj(t, r.objs, "HorizontalPodAutoscaler", "voiceassist", "voiceassist-server-hpa")
	must(t, unstructured.SetNestedField(hpaObj.Object, int64(gwCap), "spec", "maxReplicas"))
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-server", gwMin)
	waitHPASteady(ctx, t, "voiceassist-server-hpa", gwMin)
	vactlBinary(t) // built before the load, not on its time
	b, err := newBalancer(ctx, "voiceassist", "voiceassist-server", "http")
	if err != nil {
		t.Fatal(err)
	}
	rps := envRate(t, "VA_E2E_GATEWAY_RPS", 40)
	load := startHTTPLoad(ctx, b, "/v1/analyze", testWAV(4, 44100, 1), rps, 8*time.Minute)
	defer func() { t.Logf("load: %s", load.stop()) }()

	// Replay continuously while the gateway scales: the inputs move between
	// the controller's syncs (new pods are unready and, in their first 5
	// minutes, their CPU does not count; pods under load fail readiness
	// probes), so a replay shows the cap whenever it runs on inputs where
	// the metrics ask for more than the policy allows. The controller must
	// report the same cap during the scenario, and a replay must show it,
	// with the +2 pods per 30 s policy deciding and its arithmetic right.
	wctx, cancel := context.WithTimeout(ctx, 7*time.Minute)
	defer cancel()
	var last string
	controllerLimited := false
	err = eventually(wctx, func(ctx context.Context) error {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("voiceassist").Get(ctx, "voiceassist-server-hpa", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c := hpaCondition(h, autoscalingv2.ScalingLimited); c != nil && c.Status == corev1.ConditionTrue && c.Reason == "ScaleUpLimit" {
			controllerLimited = true
		}
		if h.Status.CurrentReplicas >= gwCap {
			cancel()
			return fmt.Errorf("the gateway reached %d replicas", gwCap)
		}
		rep, _ := runDoctor(t)
		e := explanation(rep, "voiceassist-server-hpa")
		if e == nil {
			return errors.New("no explanation of the gateway HPA")
		}
		last = fmt.Sprintf("%s (reason %s, limit %+v)", e.Summary, e.Reason, e.Limit)
		if e.Reason != "ScaleUpLimit" || e.Limit == nil || !e.Limit.Binding || e.Limit.Direction != "up" {
			return fmt.Errorf("replay not limited by a scale-up policy: %s", last)
		}
		if !controllerLimited {
			return fmt.Errorf("the controller has not reported ScaleUpLimit yet (%s); replay: %s", describeConditions(h), last)
		}
		var decides *doctor.PolicyLimit
		for i := range e.Limit.Policies {
			if e.Limit.Policies[i].Decides && e.Limit.Policies[i].Policy == "+2 pods per 30 s" {
				decides = &e.Limit.Policies[i]
			}
		}
		if decides == nil {
			t.Errorf("replay limited, but not by +2 pods per 30 s (selectPolicy Min; Percent 100 %% allows more from %d up): %s", gwMin, last)
			return nil
		}
		if decides.Allows != decides.PeriodStart+2 || e.Limit.Allowed != decides.Allows || e.Proposed <= e.Limit.Allowed {
			t.Errorf("replay arithmetic: %+v, allowed %d, proposed %d at %d replicas", decides, e.Limit.Allowed, e.Proposed, e.SpecReplicas)
		}
		want := fmt.Sprintf("+2 pods per 30 s allows %d → %d", decides.PeriodStart, decides.Allows)
		if !strings.Contains(e.Summary, want) {
			t.Errorf("summary %q lacks %q", e.Summary, want)
		}
		t.Logf("replay: %s; the HPA's status: desired %d, %s", e.Summary, h.Status.DesiredReplicas, describeConditions(h))
		// The same report as the text an operator reads (README.md's
		// example comes from here).
		var text strings.Builder
		if err := doctor.WriteText(&text, rep); err != nil {
			t.Error(err)
		}
		t.Logf("vactl doctor:\n%s", text.String())
		return nil
	})
	if err != nil {
		t.Fatalf("no replay limited by +2 pods per 30 s: %v; last: %s", err, last)
	}
}
