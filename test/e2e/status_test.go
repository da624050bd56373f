//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/status"
)

// TestStatus deploys dev with `vactl setup` (as TestVactlLifecycle does) and
// checks `vactl status -o json` field by field against the objects read
// with client-go at the very resourceVersion each section reports (a list
// with resourceVersionMatch=Exact returns that state again, so a status
// the HPA controller rewrites every sync cannot race the comparison):
// HPA replicas, bounds, conditions and every metric's current value and
// target; PDB numbers; pod readiness, restarts and requests; CPU/memory use
// present; the queue metrics as the external metrics API serves them; the
// Warning events; a VPA's recommendation against its target's requests.
// Then the text output once (logged: the README's example is this run's),
// --watch streaming JSON lines until SIGINT, no VPA CRD, metrics-server
// gone, and an unreachable server.
func TestStatus(t *testing.T) {
	ctx := scenario(t, 20*time.Minute)
	bin := newVactlRunner(t)
	kc := cl.AdminKubeconfig
	const ns = "voiceassist"

	// dev set up by vactl from nothing. Not taken over from an earlier
	// scenario (as TestCheck does): after the scaling overlay, setup's
	// rollout leaves the HPAs' status from the old pods for a while (CPU
	// <unknown> for the new ones, the gateway held at 3 by dev's 300 s
	// window), which the snapshot's field-by-field checks would see.
	deleteRendered(ctx, t)
	cleanVactlState(ctx, t)
	deleteCRDs(ctx, t, "verticalpodautoscalers.autoscaling.k8s.io", "verticalpodautoscalercheckpoints.autoscaling.k8s.io")
	if _, _, code := statusVactl(t, bin, kc, "setup", "--env", "dev", "--metrics-server-variant", "local", "--timeout", "5m"); code != 0 {
		t.Fatalf("setup --env dev: exit %d", code)
	}
	t.Cleanup(func() { statusVactl(t, bin, kc, "teardown", "--env", "dev") })

	t.Run("no VPA CRD", func(t *testing.T) {
		s := statusJSON(t, bin, kc)
		if !strings.Contains(s.VPAs.Unavailable, "VerticalPodAutoscaler CRD (autoscaling.k8s.io/v1) is not installed") || len(s.VPAs.Items) != 0 {
			t.Errorf("vpas without the CRD: %+v", s.VPAs)
		}
	})

	// A VPA as prod renders it, with the recommendation the VPA recommender
	// would write (no recommender runs on this cluster; the API server
	// stores and serves the status like any other).
	installCRDs(ctx, t, renderEnv(t, "prod").objs)
	vpa := findObj(t, renderEnv(t, "prod").objs, "VerticalPodAutoscaler", ns, "voiceassist-server-vpa")
	rec := map[string]any{"containerRecommendations": []any{map[string]any{
		"containerName": "server",
		"lowerBound":    map[string]any{"cpu": "250m", "memory": "300Mi"},
		"target":        map[string]any{"cpu": "400m", "memory": "450Mi"},
		"upperBound":    map[string]any{"cpu": "1500m", "memory": "1Gi"},
	}}}
	got, err := apply(ctx, vpa, false)
	if err != nil {
		t.Fatal(err)
	}
	unstructured.SetNestedField(got.Object, rec, "status", "recommendation")
	vpaGVR := schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}
	if _, err := dyn.Resource(vpaGVR).Namespace(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("VPA status: %v", err)
	}
	t.Cleanup(func() {
		dyn.Resource(vpaGVR).Namespace(ns).Delete(context.Background(), vpa.GetName(), metav1.DeleteOptions{})
	})

	var snap *status.Snapshot
	t.Run("json field by field", func(t *testing.T) {
		snap = statusJSON(t, bin, kc)
		exact := func(rv string) metav1.ListOptions {
			if rv == "" {
				t.Fatal("a section has no resourceVersion")
			}
			return metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact}
		}
		if snap.Namespace != ns || snap.Env != "dev" || len(snap.Missing) != 0 {
			t.Errorf("namespace %q env %q missing %v", snap.Namespace, snap.Env, snap.Missing)
		}
		if r := snap.Revision; r == nil || r.Number != 1 || r.Env != "dev" {
			t.Errorf("revision %+v, want 1 (dev)", r)
		}

		hpas, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, exact(snap.HPAs.ResourceVersion))
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.HPAs.Items) != len(hpas.Items) || len(hpas.Items) != 2 {
			t.Fatalf("%d HPAs in status, %d in the cluster, want 2", len(snap.HPAs.Items), len(hpas.Items))
		}
		values := 0
		for i := range hpas.Items {
			h := &hpas.Items[i]
			g := findHPA(t, snap, h.Name)
			checkHPA(t, g, h)
			for _, m := range g.Metrics {
				if m.Current != nil {
					values++
				}
			}
		}
		if values == 0 {
			t.Error("no HPA metric has a current value")
		}

		pdbs, err := cs.PolicyV1().PodDisruptionBudgets(ns).List(ctx, exact(snap.PDBs.ResourceVersion))
		if err != nil {
			t.Fatal(err)
		}
		if len(pdbs.Items) != len(snap.PDBs.Items) || len(pdbs.Items) != 4 {
			t.Errorf("%d PDBs in status, %d in the cluster, want dev's 4", len(snap.PDBs.Items), len(pdbs.Items))
		}
		for _, p := range pdbs.Items {
			var g *status.PDB
			for i := range snap.PDBs.Items {
				if snap.PDBs.Items[i].Name == p.Name {
					g = &snap.PDBs.Items[i]
				}
			}
			switch {
			case g == nil:
				t.Errorf("PDB %s not in status", p.Name)
			case g.CurrentHealthy != p.Status.CurrentHealthy || g.DesiredHealthy != p.Status.DesiredHealthy ||
				g.DisruptionsAllowed != p.Status.DisruptionsAllowed || g.ExpectedPods != p.Status.ExpectedPods:
				t.Errorf("PDB %s: status %+v, object %+v", p.Name, *g, p.Status)
			case fmt.Sprint(g.MinAvailable) != fmt.Sprint(p.Spec.MinAvailable) || fmt.Sprint(g.MaxUnavailable) != fmt.Sprint(p.Spec.MaxUnavailable):
				t.Errorf("PDB %s: minAvailable/maxUnavailable %v/%v, object %v/%v", p.Name, g.MinAvailable, g.MaxUnavailable, p.Spec.MinAvailable, p.Spec.MaxUnavailable)
			}
		}

		pods, err := cs.CoreV1().Pods(ns).List(ctx, exact(snap.Pods.ResourceVersion))
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != len(snap.Pods.Items) || len(pods.Items) == 0 {
			t.Errorf("%d pods in status, %d in the cluster", len(snap.Pods.Items), len(pods.Items))
		}
		used := 0
		for i := range pods.Items {
			p := &pods.Items[i]
			var g *status.Pod
			for j := range snap.Pods.Items {
				if snap.Pods.Items[j].Name == p.Name {
					g = &snap.Pods.Items[j]
				}
			}
			if g == nil {
				t.Errorf("pod %s not in status", p.Name)
				continue
			}
			checkPod(t, g, p)
			if g.Memory.Usage != nil && g.Memory.Usage.Sign() > 0 && g.CPU.Usage != nil {
				used++
			}
		}
		if snap.Pods.MetricsUnavailable != "" || used == 0 {
			t.Errorf("metrics.k8s.io: %d pods with CPU and memory use (%q)", used, snap.Pods.MetricsUnavailable)
		}

		checkQueue(ctx, t, snap)

		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning", ResourceVersion: snap.Events.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(len(evs.Items), 10); len(snap.Events.Items) != want {
			t.Errorf("%d warning events in status, want %d (of %d)", len(snap.Events.Items), want, len(evs.Items))
		}
		for _, g := range snap.Events.Items {
			found := false
			for _, e := range evs.Items {
				if e.Name == g.Name {
					found = true
					if g.Reason != e.Reason || g.Object != e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name || g.Message != strings.TrimSpace(e.Message) {
						t.Errorf("event %s: status %+v, object %s %s/%s %q", e.Name, g, e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
					}
				}
			}
			if !found {
				t.Errorf("event %s not a Warning event of %s", g.Name, ns)
			}
		}

		if snap.VPAs.Unavailable != "" || len(snap.VPAs.Items) != 1 {
			t.Fatalf("vpas: %+v", snap.VPAs)
		}
		v := snap.VPAs.Items[0]
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "voiceassist-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Name != "voiceassist-server-vpa" || v.Target != "Deployment/voiceassist-server" || v.UpdateMode != "Off" || len(v.Containers) != 1 {
			t.Fatalf("VPA %+v", v)
		}
		c := v.Containers[0]
		for _, x := range []struct {
			name      string
			got, want *resource.Quantity
		}{
			{"lowerBound cpu", c.LowerBound.Cpu(), resource.NewMilliQuantity(250, resource.DecimalSI)},
			{"target memory", c.Target.Memory(), ptrQ("450Mi")},
			{"upperBound cpu", c.UpperBound.Cpu(), ptrQ("1500m")},
			{"upperBound memory", c.UpperBound.Memory(), ptrQ("1Gi")},
			{"requests cpu", c.Requests.Cpu(), d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu()},
			{"requests memory", c.Requests.Memory(), d.Spec.Template.Spec.Containers[0].Resources.Requests.Memory()},
		} {
			if x.got.Cmp(*x.want) != 0 {
				t.Errorf("VPA container %s %s: %s, want %s", c.Name, x.name, x.got, x.want)
			}
		}
	})

	t.Run("text", func(t *testing.T) {
		out, _, code := statusVactl(t, bin, kc, "status", "--env", "dev")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{"namespace voiceassist, env dev, revision 1", "HPA  ", "voiceassist-server-hpa", "voiceassist-worker-hpa",
			"<- decides", "decision: max(", "VPA  ", "voiceassist-server-vpa", "PDB  ", "voiceassist-postgres-pdb", "POD  ",
			"EXTERNAL METRIC", "voiceassist_queue_depth", "voiceassist_queue_oldest_job_age_seconds"} {
			if !strings.Contains(out, want) {
				t.Errorf("text lacks %q", want)
			}
		}
		if strings.Contains(out, "\x1b[") {
			t.Error("text to a pipe holds terminal escapes")
		}
	})

	t.Run("watch streams JSON lines", func(t *testing.T) {
		cmd := cl.Netns.Command(bin.bin, "status", "--watch", "-o", "json", "--interval", "1s", "--kubeconfig", kc)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		var times []time.Time
		for len(times) < 2 && sc.Scan() {
			var s status.Snapshot
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Errorf("line %d is not one snapshot: %v", len(times)+1, err)
				break
			}
			times = append(times, s.Time)
		}
		cmd.Process.Signal(os.Interrupt)
		err = cmd.Wait()
		if len(times) != 2 || !times[1].After(times[0]) {
			t.Errorf("snapshots at %v, want two, in order", times)
		}
		if err != nil {
			t.Errorf("after SIGINT: %v (want exit 0)\n%s", err, stderr.String())
		}
	})

	t.Run("metrics-server gone", func(t *testing.T) {
		removeMetricsServer(ctx, t)
		defer ensureMetricsServer(ctx, t)
		s := statusJSON(t, bin, kc)
		if !strings.Contains(s.Pods.MetricsUnavailable, "metrics.k8s.io is not served") {
			t.Errorf("metricsUnavailable %q", s.Pods.MetricsUnavailable)
		}
		for _, p := range s.Pods.Items {
			if p.CPU.Usage != nil {
				t.Errorf("pod %s has CPU use %s without metrics.k8s.io", p.Name, p.CPU.Usage)
			}
		}
		out, _, code := statusVactl(t, bin, kc, "status")
		if code != 0 || !strings.Contains(out, "CPU/memory use <unavailable>: metrics.k8s.io is not served") {
			t.Errorf("text without metrics-server: exit %d", code)
		}
	})

	t.Run("unreachable server", func(t *testing.T) {
		_, stderr, code := statusVactl(t, bin, writeKubeconfig(t, "https://10.243.0.1:1", cl.RESTConfig().BearerToken), "status", "--timeout", "10s")
		if code != 1 || !strings.Contains(stderr, "cannot reach the API server https://10.243.0.1:1") {
			t.Errorf("exit %d, want 1 and 'cannot reach the API server'", code)
		}
	})
}

// statusVactl runs vactl (the harness's runner) with stdout and stderr
// apart.
func statusVactl(t *testing.T, v *vactlRunner, kubeconfig string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := v.split(t, kubeconfig, args...)
	return r.stdout, r.stderr, r.code
}

// statusJSON runs vactl status --env dev -o json and decodes it strictly
// into the data contract.
func statusJSON(t *testing.T, bin *vactlRunner, kc string) *status.Snapshot {
	t.Helper()
	out, _, code := statusVactl(t, bin, kc, "status", "--env", "dev", "-o", "json")
	if code != 0 {
		t.Fatalf("status -o json: exit %d", code)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var s status.Snapshot
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	return &s
}

func findHPA(t *testing.T, s *status.Snapshot, name string) *status.HPA {
	t.Helper()
	for i := range s.HPAs.Items {
		if s.HPAs.Items[i].Name == name {
			return &s.HPAs.Items[i]
		}
	}
	t.Fatalf("HPA %s not in status", name)
	return nil
}

func checkHPA(t *testing.T, g *status.HPA, h *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	if g.MinReplicas != *h.Spec.MinReplicas || g.MaxReplicas != h.Spec.MaxReplicas || g.CurrentReplicas != h.Status.CurrentReplicas || g.DesiredReplicas != h.Status.DesiredReplicas {
		t.Errorf("HPA %s: min/max/current/desired %d/%d/%d/%d, object %d/%d/%d/%d", h.Name, g.MinReplicas, g.MaxReplicas, g.CurrentReplicas, g.DesiredReplicas,
			*h.Spec.MinReplicas, h.Spec.MaxReplicas, h.Status.CurrentReplicas, h.Status.DesiredReplicas)
	}
	if g.Target != h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name {
		t.Errorf("HPA %s: target %s", h.Name, g.Target)
	}
	if (g.LastScaleTime == nil) != (h.Status.LastScaleTime == nil) || (g.LastScaleTime != nil && !g.LastScaleTime.Equal(h.Status.LastScaleTime.Time)) {
		t.Errorf("HPA %s: lastScaleTime %v, object %v", h.Name, g.LastScaleTime, h.Status.LastScaleTime)
	}
	if len(g.Conditions) != len(h.Status.Conditions) {
		t.Errorf("HPA %s: %d conditions, object %d", h.Name, len(g.Conditions), len(h.Status.Conditions))
	}
	for i, c := range h.Status.Conditions {
		if i < len(g.Conditions) {
			gc := g.Conditions[i]
			if gc.Type != string(c.Type) || gc.Status != c.Status || gc.Reason != c.Reason || gc.Message != c.Message ||
				(gc.LastTransitionTime == nil) != c.LastTransitionTime.IsZero() || (gc.LastTransitionTime != nil && !gc.LastTransitionTime.Equal(c.LastTransitionTime.Time)) {
				t.Errorf("HPA %s condition %d: %+v, object %+v", h.Name, i, gc, c)
			}
		}
	}
	if len(g.Metrics) != len(h.Spec.Metrics) {
		t.Fatalf("HPA %s: %d metrics, object %d", h.Name, len(g.Metrics), len(h.Spec.Metrics))
	}
	decides := 0
	var max int32 = -1
	for i, spec := range h.Spec.Metrics {
		m := g.Metrics[i]
		if m.Name != kube.MetricKey(spec) || m.Type != spec.Type {
			t.Errorf("HPA %s metric %d: %s %s, object %s", h.Name, i, m.Name, m.Type, kube.MetricKey(spec))
		}
		if a, b := jsonOf(t, m.Target), jsonOf(t, specTarget(spec)); a != b {
			t.Errorf("HPA %s %s: target %s, object %s", h.Name, m.Name, a, b)
		}
		var want *autoscalingv2.MetricValueStatus
		if i < len(h.Status.CurrentMetrics) {
			if _, ok := metricValue(h.Status.CurrentMetrics[i]); ok {
				want = currentOf(h.Status.CurrentMetrics[i])
			}
		}
		if a, b := jsonOf(t, m.Current), jsonOf(t, want); a != b {
			t.Errorf("HPA %s %s: current %s, object %s", h.Name, m.Name, a, b)
		}
		if (m.Current == nil) != (m.Proposal == nil) {
			t.Errorf("HPA %s %s: current %v but proposal %v (%s)", h.Name, m.Name, m.Current, m.Proposal, m.ProposalError)
		}
		if m.Proposal != nil && *m.Proposal > max {
			max = *m.Proposal
		}
		if m.Decides {
			decides++
			if *m.Proposal != g.Decision.Proposed || m.Name != g.Decision.Metric {
				t.Errorf("HPA %s: %s decides with %d, decision %+v", h.Name, m.Name, *m.Proposal, g.Decision)
			}
		}
	}
	if decides != 1 || g.Decision.Proposed != max {
		t.Errorf("HPA %s: %d deciding metrics, decision %+v, max proposal %d", h.Name, decides, g.Decision, max)
	}
	// The replay of the reported values picks the metric the controller
	// says it computed from (the ScalingActive message of the same sync).
	if !g.Decision.AgreesWithController {
		t.Errorf("HPA %s: %s decides here, the controller computed from %q", h.Name, g.Decision.Metric, g.Decision.ControllerMetric)
	}
	// Idle, at its minimum: the proposal, bounded, is what the controller wants.
	if g.Decision.Bounded != h.Status.DesiredReplicas {
		t.Errorf("HPA %s: bounded proposal %d, desiredReplicas %d: %s", h.Name, g.Decision.Bounded, h.Status.DesiredReplicas, g.Decision.Explanation)
	}
}

func specTarget(m autoscalingv2.MetricSpec) autoscalingv2.MetricTarget {
	switch {
	case m.Resource != nil:
		return m.Resource.Target
	case m.Pods != nil:
		return m.Pods.Target
	case m.External != nil:
		return m.External.Target
	case m.Object != nil:
		return m.Object.Target
	case m.ContainerResource != nil:
		return m.ContainerResource.Target
	}
	return autoscalingv2.MetricTarget{}
}

func currentOf(m autoscalingv2.MetricStatus) *autoscalingv2.MetricValueStatus {
	switch {
	case m.Resource != nil:
		return &m.Resource.Current
	case m.Pods != nil:
		return &m.Pods.Current
	case m.External != nil:
		return &m.External.Current
	case m.Object != nil:
		return &m.Object.Current
	case m.ContainerResource != nil:
		return &m.ContainerResource.Current
	}
	return nil
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

func ptrQ(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func checkPod(t *testing.T, g *status.Pod, p *corev1.Pod) {
	t.Helper()
	var restarts int32
	ready := 0
	var last string
	var lastAt time.Time
	for _, c := range p.Status.ContainerStatuses {
		restarts += c.RestartCount
		if c.Ready {
			ready++
		}
		if tm := c.LastTerminationState.Terminated; tm != nil && tm.FinishedAt.After(lastAt) {
			last, lastAt = tm.Reason, tm.FinishedAt.Time
		}
	}
	podReady := false
	if c := podCondition(p, corev1.PodReady); c != nil {
		podReady = c.Status == corev1.ConditionTrue
	}
	gotLast := ""
	if g.LastTermination != nil {
		gotLast = g.LastTermination.Reason
	}
	if g.Phase != p.Status.Phase || g.Ready != podReady || g.ReadyContainers != ready || g.Containers != len(p.Spec.Containers) || g.Restarts != restarts || gotLast != last {
		t.Errorf("pod %s: phase %s ready %v %d/%d restarts %d last %q; object %s %v %d/%d %d %q",
			p.Name, g.Phase, g.Ready, g.ReadyContainers, g.Containers, g.Restarts, gotLast, p.Status.Phase, podReady, ready, len(p.Spec.Containers), restarts, last)
	}
	var cpu, mem resource.Quantity
	for _, c := range p.Spec.Containers {
		cpu.Add(*c.Resources.Requests.Cpu())
		mem.Add(*c.Resources.Limits.Memory())
	}
	if g.CPU.Request == nil || g.CPU.Request.Cmp(cpu) != 0 || g.Memory.Limit == nil || g.Memory.Limit.Cmp(mem) != 0 {
		t.Errorf("pod %s: cpu request %v (want %s), memory limit %v (want %s)", p.Name, g.CPU.Request, cpu.String(), g.Memory.Limit, mem.String())
	}
}

// checkQueue compares the queue metrics with what the external metrics API
// serves for the worker HPA's selectors, read right after. Nothing submits
// jobs in this scenario, so the queue's values hold still.
func checkQueue(ctx context.Context, t *testing.T, s *status.Snapshot) {
	t.Helper()
	if s.Queue.Unavailable != "" || len(s.Queue.Metrics) != 2 {
		t.Fatalf("queue: %+v", s.Queue)
	}
	ec, err := external_metrics.NewForConfig(cl.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Queue.Metrics {
		if m.HPA != "voiceassist-worker-hpa" || m.Selector != "queue=voice-jobs" {
			t.Errorf("queue metric %+v", m)
		}
		sel, err := labels.Parse(m.Selector)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ec.NamespacedMetrics(s.Namespace).List(m.Name, sel)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		var sum resource.Quantity
		for _, it := range l.Items {
			sum.Add(it.Value)
		}
		if m.Value == nil || m.Value.Cmp(sum) != 0 || m.Series != len(l.Items) || m.Series == 0 {
			t.Errorf("%s: status %v over %d series, the API %s over %d", m.Name, m.Value, m.Series, sum.String(), len(l.Items))
		}
	}
	if !strings.HasPrefix(s.Queue.Metrics[0].Name, "voiceassist_queue_") {
		t.Errorf("queue metrics %v", s.Queue.Metrics)
	}
}
