package check

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/utils/ptr"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/voiceassist/autoscaling/docs"
	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/lint"
	"github.com/voiceassist/autoscaling/internal/render"
)

// healthy is a prod-like cluster on which every item that can pass does.
func healthy(t *testing.T) *Inputs {
	t.Helper()
	hpa := func(name string) autoscalingv2.HorizontalPodAutoscaler {
		return autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](3), MaxReplicas: 15,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU}}}},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{
				Conditions:     []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound"}},
				CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](40)}}}},
			},
		}
	}
	pdb := func(name string, allowed int32, ann map[string]string) policyv1.PodDisruptionBudget {
		return policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace, Generation: 1, Annotations: ann},
			Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, ExpectedPods: 3, CurrentHealthy: 3, DesiredHealthy: 3 - allowed, DisruptionsAllowed: allowed}}
	}
	vpa := func(name string) vpav1.VerticalPodAutoscaler {
		off := vpav1.UpdateModeOff
		return vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace},
			Spec: vpav1.VerticalPodAutoscalerSpec{UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: &off}},
			Status: vpav1.VerticalPodAutoscalerStatus{Recommendation: &vpav1.RecommendedPodResources{ContainerRecommendations: []vpav1.RecommendedContainerResources{{
				ContainerName: "server", Target: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("600m"), corev1.ResourceMemory: resource.MustParse("700Mi")}}}}}}
	}
	rule := monitoringv1.PrometheusRule{ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-autoscaling", Namespace: cluster.Namespace},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{Name: "g", Rules: []monitoringv1.Rule{
			{Alert: "VoiceAssistHPAUnableToScale", Annotations: map[string]string{"runbook_url": "docs/runbook.md#voiceassisthpaunabletoscale"}},
			{Alert: "VoiceAssistHPAAtMaxReplicas", Annotations: map[string]string{"runbook_url": "https://git.example/acme/voiceassist/blob/main/docs/runbook.md#voiceassisthpaatmaxreplicas"}},
			{Record: "voiceassist:requests:rate5m"},
		}}}}}
	return &Inputs{
		Env:                 "prod",
		MetricsAPIAvailable: true, MetricsAPIWhy: "APIService v1beta1.metrics.k8s.io Available",
		RunningPods:  []string{"a", "b"},
		PodMetrics:   map[string]bool{"a": true, "b": true},
		Lint:         liveLint(t, "prod", nil),
		RenderedHPAs: []string{"HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa"},
		LiveHPAs:     []autoscalingv2.HorizontalPodAutoscaler{hpa("voiceassist-server-hpa")},
		RenderedPDBs: []string{"voiceassist-server-pdb", "voiceassist-postgres-pdb"},
		LivePDBs: []policyv1.PodDisruptionBudget{pdb("voiceassist-server-pdb", 1, nil),
			pdb("voiceassist-postgres-pdb", 0, map[string]string{lint.BlocksEvictionAnnotation: "intended: one primary; drain as docs/runbook.md says"})},
		RenderedVPAs: []string{"voiceassist-server-vpa"}, VPAsServed: true,
		LiveVPAs:      []vpav1.VerticalPodAutoscaler{vpa("voiceassist-server-vpa")},
		RenderedRules: []string{"voiceassist-autoscaling"}, RulesServed: true,
		LiveRules:      []monitoringv1.PrometheusRule{rule},
		Loadtest:       &cluster.LoadtestRecord{Time: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), Env: "prod", Target: "all", Profile: "ramp", Verdict: "pass", Summary: "p95 180ms, queue age max 41s"},
		RunbookAnchors: docs.Anchors(docs.Runbook),
		Revisions:      []cluster.Revision{{Number: 4, Env: "prod", Objects: 30}, {Number: 5, Env: "prod", Objects: 30}},
	}
}

// liveLint lints an environment's rendered objects as lint --live lints
// live ones (edit changes them first).
func liveLint(t *testing.T, env string, edit func([]*unstructured.Unstructured)) *LiveLint {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Env(env)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.Objects(m)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(objs)
	}
	in, err := lint.Live("live "+env, objs)
	if err != nil {
		t.Fatal(err)
	}
	return &LiveLint{Report: lint.Lint([]*lint.Input{in}, lint.DefaultConfig()), Objects: objs, input: in}
}

func byID(items []Item) map[string]Item {
	out := map[string]Item{}
	for _, it := range items {
		out[it.ID] = it
	}
	return out
}

func expect(t *testing.T, in *Inputs, id string, s Status, evidence string) Item {
	t.Helper()
	it := byID(Evaluate(in))[id]
	if it.Status != s {
		t.Errorf("%s: %s, want %s; evidence %q", id, it.Status, s, it.Evidence)
	}
	if ev := strings.Join(it.Evidence, "\n"); !strings.Contains(ev, evidence) {
		t.Errorf("%s: evidence %q lacks %q", id, it.Evidence, evidence)
	}
	if s != Pass && it.Fix == "" {
		t.Errorf("%s: %s without a fix", id, s)
	}
	return it
}

func TestHealthyClusterPasses(t *testing.T) {
	items := Evaluate(healthy(t))
	if len(items) != len(Items) {
		t.Fatalf("%d items, want %d", len(items), len(Items))
	}
	for i, it := range items {
		if it.ID != Items[i].ID || it.Title != Items[i].Title {
			t.Errorf("item %d: %s %q, want %s %q (the checklist's order and wording)", i, it.ID, it.Title, Items[i].ID, Items[i].Title)
		}
		want := Pass
		if it.ID == IDTeamTrained {
			want = Unknown
		}
		if it.Status != want {
			t.Errorf("%s: %s, want %s; evidence %q", it.ID, it.Status, want, it.Evidence)
		}
		if len(it.Evidence) == 0 {
			t.Errorf("%s: no evidence", it.ID)
		}
	}
	rep := &Report{Items: items}
	if rep.Failed() {
		t.Error("a healthy cluster failed")
	}
}

func TestMetricsServer(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDMetricsServer, Pass, "PodMetrics for all 2 running pods")
	in.PodMetrics = map[string]bool{"a": true}
	expect(t, in, IDMetricsServer, Fail, "no PodMetrics for 1 of 2 running pods: b")
	in.RunningPods = nil
	expect(t, in, IDMetricsServer, Unknown, "no running pod")
	in.MetricsAPIAvailable, in.MetricsAPIWhy = false, "no APIService v1beta1.metrics.k8s.io"
	expect(t, in, IDMetricsServer, Fail, "no APIService v1beta1.metrics.k8s.io: the HPAs cannot read CPU or memory")
	in.MetricsAPIErr = errors.New("forbidden")
	expect(t, in, IDMetricsServer, Unknown, "forbidden")
}

func TestLimits(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDLimits, Pass, "5 containers in 5 workloads: cpu and memory requests and limits set")
	// A hand edit: the gateway's CPU limit above the LimitRange's max.
	in.Lint = liveLint(t, "prod", func(objs []*unstructured.Unstructured) {
		for _, u := range objs {
			if u.GetKind() == "Deployment" && u.GetName() == "voiceassist-server" {
				cs, found, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				if err != nil || !found || len(cs) == 0 {
					t.Fatalf("the gateway's containers: found %v, %d, %v", found, len(cs), err)
				}
				c := cs[0].(map[string]any)
				if err := unstructured.SetNestedField(c, "8", "resources", "limits", "cpu"); err != nil {
					t.Fatal(err)
				}
				if err := unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers"); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	expect(t, in, IDLimits, Fail, "limitrange-max-below-limits Deployment voiceassist/voiceassist-server")
	in.Lint.Missing = []string{"ConfigMap voiceassist/voiceassist-redis-config"}
	expect(t, in, IDLimits, Fail, "1 object(s) vactl applied are not in the cluster: ConfigMap voiceassist/voiceassist-redis-config (vactl diff)")
	in.LintErr = errors.New("none of the objects is in the cluster")
	expect(t, in, IDLimits, Unknown, "none of the objects")
}

func TestHPAs(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDHPAs, Pass, "HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa: as rendered, min 3 max 15, 1 metrics read")
	in.HPAChanges = []cluster.Change{{Ref: "HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa", Action: "update", Diff: "-  maxReplicas: 12\n+  maxReplicas: 15"}}
	expect(t, in, IDHPAs, Fail, "differs from environment prod (vactl diff shows how)")
	in.LiveHPAs[0].ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "vactl", Operation: metav1.ManagedFieldsOperationApply},
		{Manager: "kubectl-patch", Operation: metav1.ManagedFieldsOperationUpdate},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"}}
	expect(t, in, IDHPAs, Fail, "fields of it are owned by kubectl-patch (a hand edit): vactl setup --force-conflicts takes them back")
	in.HPAChanges = []cluster.Change{{Ref: "HorizontalPodAutoscaler voiceassist/voiceassist-server-hpa", Action: "create"}}
	expect(t, in, IDHPAs, Fail, "not in the cluster")

	in = healthy(t)
	in.LiveHPAs[0].Status.CurrentMetrics = nil
	expect(t, in, IDHPAs, Fail, "metrics <unknown>: Resource/cpu")
	in.LiveHPAs[0].Status.Conditions[0] = autoscalingv2.HorizontalPodAutoscalerCondition{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", Message: "no metrics returned"}
	expect(t, in, IDHPAs, Fail, "ScalingActive=False FailedGetResourceMetric: no metrics returned")
	in.RenderedHPAs = nil
	expect(t, in, IDHPAs, Fail, "renders no HorizontalPodAutoscaler")

	in = healthy(t)
	in.DiffErr = errors.New("server-side dry run: forbidden")
	expect(t, in, IDHPAs, Unknown, "forbidden")
}

func TestPDBs(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDPDBs, Pass, "voiceassist-postgres-pdb: blocks eviction on purpose")
	expect(t, in, IDPDBs, Pass, "voiceassist-server-pdb: 3 of 3 pods healthy, 1 disruption(s) allowed")
	// The annotation without a reason does not count.
	in.LivePDBs[1].Annotations[lint.BlocksEvictionAnnotation] = "intended:"
	expect(t, in, IDPDBs, Fail, "voiceassist-postgres-pdb: 0 disruptions allowed")
	in = healthy(t)
	in.LivePDBs[0].Status.DisruptionsAllowed = 0
	expect(t, in, IDPDBs, Fail, "voiceassist-server-pdb: 0 disruptions allowed (3 of 3 pods healthy, 2 desired): a node drain blocks")
	in.LivePDBs[0].Status.ExpectedPods = 0
	expect(t, in, IDPDBs, Fail, "its selector matches no pod")
	in.LivePDBs = in.LivePDBs[1:]
	expect(t, in, IDPDBs, Fail, "PodDisruptionBudget voiceassist/voiceassist-server-pdb: not in the cluster")
}

func TestVPAs(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDVPAs, Pass, "updateMode Off, target server cpu 600m memory 700Mi")
	in.LiveVPAs[0].Status.Recommendation = nil
	expect(t, in, IDVPAs, Fail, "no recommendation yet")
	auto := vpav1.UpdateModeAuto
	in.LiveVPAs[0].Spec.UpdatePolicy.UpdateMode = &auto
	expect(t, in, IDVPAs, Fail, "updateMode Auto, not Off")
	in.LiveVPAs[0].Spec.UpdatePolicy = nil
	expect(t, in, IDVPAs, Fail, "updateMode Auto (the default), not Off")
	in.VPAsServed = false
	expect(t, in, IDVPAs, Fail, "does not serve autoscaling.k8s.io VerticalPodAutoscaler")
	in.RenderedVPAs = nil
	expect(t, in, IDVPAs, Fail, "environment prod renders no VerticalPodAutoscaler")
}

func TestMonitoring(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDMonitoring, Pass, "Prometheus not asked whether it loaded them: give --prometheus-url")
	in.Prometheus = &PrometheusRules{URL: "http://prom:9090", Alerts: map[string]string{"VoiceAssistHPAUnableToScale": "ok", "VoiceAssistHPAAtMaxReplicas": "ok"}}
	expect(t, in, IDMonitoring, Pass, "Prometheus http://prom:9090 has loaded all 2 alerts")
	in.Prometheus.Alerts["VoiceAssistHPAAtMaxReplicas"] = "err: vector contains metrics with the same labelset"
	expect(t, in, IDMonitoring, Fail, "fails to evaluate: VoiceAssistHPAAtMaxReplicas (err: vector")
	delete(in.Prometheus.Alerts, "VoiceAssistHPAAtMaxReplicas")
	expect(t, in, IDMonitoring, Fail, "has not loaded 1 of our 2 alerts: VoiceAssistHPAAtMaxReplicas")
	in.Prometheus = &PrometheusRules{URL: "http://prom:9090", Err: errors.New("connection refused")}
	expect(t, in, IDMonitoring, Unknown, "connection refused")
	in.LiveRules = nil
	expect(t, in, IDMonitoring, Fail, "PrometheusRule voiceassist/voiceassist-autoscaling: not in the cluster")
	in.RulesServed = false
	expect(t, in, IDMonitoring, Fail, "does not serve monitoring.coreos.com PrometheusRule")
}

func TestLoadtest(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDLoadtest, Pass, "last load test 2026-12-01T09:30:00Z: pass, target all, profile ramp, env prod")
	in.Loadtest.Env = "staging"
	expect(t, in, IDLoadtest, Fail, "it ran against environment staging, not prod")
	in.Loadtest.Env = ""
	expect(t, in, IDLoadtest, Fail, "the last load test named no environment; run vactl loadtest --env prod")
	in.Loadtest.Env, in.Loadtest.Verdict = "prod", "fail"
	expect(t, in, IDLoadtest, Fail, "fail, target all")
	in.Loadtest = nil
	it := expect(t, in, IDLoadtest, Fail, "no load test recorded on namespace voiceassist")
	if !strings.Contains(it.Fix, "run vactl loadtest") {
		t.Errorf("fix %q: want 'run vactl loadtest'", it.Fix)
	}
	// a record that is there but does not parse: vactl read it, it fails
	in.LoadtestBad = errors.New("namespace voiceassist: annotation vactl.voiceassist.io/last-loadtest: field verdict: \"maybe\" is neither pass nor fail")
	expect(t, in, IDLoadtest, Fail, "neither pass nor fail")
	// no right to read the Namespace: vactl could not read it, unknown
	in.LoadtestErr = errors.New(`the API server https://x refused: namespaces "voiceassist" is forbidden`)
	expect(t, in, IDLoadtest, Unknown, "is forbidden")
}

func TestRunbook(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDRunbook, Pass, "all 2 alerts' runbook_url resolve to sections of docs/runbook.md")
	in.LiveRules[0].Spec.Groups[0].Rules[0].Annotations["runbook_url"] = "docs/runbook.md#no-such-section"
	expect(t, in, IDRunbook, Fail, "#no-such-section is not a section of docs/runbook.md")
	in.LiveRules[0].Spec.Groups[0].Rules[0].Annotations["runbook_url"] = "https://wiki.example/scaling#voiceassisthpaunabletoscale"
	expect(t, in, IDRunbook, Fail, "does not point into docs/runbook.md")
	in.LiveRules[0].Spec.Groups[0].Rules[0].Annotations["runbook_url"] = "docs/runbook.md"
	expect(t, in, IDRunbook, Fail, "names no section")
	delete(in.LiveRules[0].Spec.Groups[0].Rules[0].Annotations, "runbook_url")
	expect(t, in, IDRunbook, Fail, "no runbook_url annotation")
	in.RulesServed = false
	expect(t, in, IDRunbook, Unknown, "no PrometheusRule in the cluster")
}

func TestRollback(t *testing.T) {
	in := healthy(t)
	expect(t, in, IDRollback, Pass, "vactl rollback re-applies revision 4")
	in.Revisions = in.Revisions[1:]
	expect(t, in, IDRollback, Fail, "revision 5: env prod")
	in.Revisions = nil
	expect(t, in, IDRollback, Fail, "no revision recorded")
	in.RevisionsErr = errors.New("forbidden")
	expect(t, in, IDRollback, Unknown, "forbidden")
}

func TestTeamTrainedStaysUnknown(t *testing.T) {
	expect(t, healthy(t), IDTeamTrained, Unknown, "not something a cluster can show")
}

func TestMarkdown(t *testing.T) {
	in := healthy(t)
	in.Loadtest = nil
	in.LiveHPAs[0].Status.Conditions[0].Message = "a | b <c>"
	in.LiveHPAs[0].Status.Conditions[0].Status = corev1.ConditionFalse
	rep := &Report{Env: "prod", Context: "prod", Server: "https://10.0.0.1:6443", Time: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), Vactl: "v0.1.0", Items: Evaluate(in)}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| | Item | Status | Evidence |\n|---|---|---|---|\n",
		"| [x] | Metrics Server installed and verified | ✅ pass |",
		"| [ ] | Load testing completed successfully | ❌ **fail** |",
		"| [ ] | Team trained on troubleshooting procedures | ❔ unknown |",
		`a \| b &lt;c&gt;`, // a pipe would end the cell, <c> would be an HTML tag
		"**7 pass, 2 fail, 1 unknown: not ready for production**",
		"- **Load testing completed successfully**: run vactl loadtest --env prod",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has the header's four cells.
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| [") && strings.Count(strings.ReplaceAll(l, `\|`, ""), "|") != 5 {
			t.Errorf("row with a stray cell: %s", l)
		}
	}
}

func TestTextAndSummary(t *testing.T) {
	in := healthy(t)
	in.Revisions = in.Revisions[:1]
	rep := &Report{Env: "prod", Server: "https://10.0.0.1:6443", Items: Evaluate(in)}
	var b bytes.Buffer
	if err := WriteText(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAIL     Rollback plan documented\n", "         fix: nothing to roll back to", "8 pass, 1 fail, 1 unknown"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	if !rep.Failed() {
		t.Error("Failed() false with a failed item")
	}
}
