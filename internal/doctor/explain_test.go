package doctor

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/hpa"
)

const gw, gwHPA = "voiceassist-server", "voiceassist-server-hpa"

// gatewayUnderLoad: prod's gateway at 4 pods, CPU at 200 % of its request
// (cpu proposes ceil(4 × 200/70) = 12), memory at 30 %, 50 requests/s per pod.
func gatewayUnderLoad(t *testing.T) *Snapshot {
	s := envSnapshot(t, "prod")
	pods := s.addPods(t, gw, gwHPA, 4)
	cpu, mem := request(t, s, gw, corev1.ResourceCPU), request(t, s, gw, corev1.ResourceMemory)
	s.Reads[gwHPA] = []MetricRead{
		{PodValues: podValues(pods, 2*cpu)},
		{PodValues: podValues(pods, mem*3/10)},
		{PodValues: podValues(pods, 50_000)},
	}
	return s
}

// TestExplainScaleUpLimitedByPodsPolicy: no rescale in the last 30 s, so
// both policies start from 4: Percent 100 % allows 8, Pods 2 allows 6, and
// selectPolicy Min takes 6.
func TestExplainScaleUpLimitedByPodsPolicy(t *testing.T) {
	s := gatewayUnderLoad(t)
	h := s.hpa(t, gwHPA)
	h.Status.DesiredReplicas = 4
	e := Explain(s, h)
	if e.Proposed != 12 || !strings.HasPrefix(e.ProposedBy, "cpu resource utilization") {
		t.Fatalf("proposed %d by %q, want 12 by cpu: %+v", e.Proposed, e.ProposedBy, e.Metrics)
	}
	if e.Desired != 6 || !e.Rescale || e.Reason != hpa.ReasonScaleUpLimit {
		t.Fatalf("desired %d rescale %v reason %s, want 6 true ScaleUpLimit", e.Desired, e.Rescale, e.Reason)
	}
	l := e.Limit
	if l == nil || !l.Binding || l.Allowed != 6 || len(l.Policies) != 2 {
		t.Fatalf("limit %+v", l)
	}
	want := []PolicyLimit{{"+100 % per 30 s", 4, 8, false}, {"+2 pods per 30 s", 4, 6, true}}
	for i, p := range want {
		if l.Policies[i] != p {
			t.Errorf("policy %d: %+v, want %+v", i, l.Policies[i], p)
		}
	}
	if !strings.Contains(e.Summary, "+2 pods per 30 s allows 4 → 6") || !strings.Contains(e.Summary, "scales 4 → 6") {
		t.Errorf("summary %q", e.Summary)
	}
	if e.Metrics[0].Now != "200% (1 per pod)" {
		t.Errorf("cpu now %q", e.Metrics[0].Now)
	}
	if e.Disagreement == "" || !strings.Contains(e.Disagreement, "status.desiredReplicas is 4") {
		t.Errorf("replay 6 vs status 4: disagreement %q", e.Disagreement)
	}
}

// TestExplainScaleUpWaitsForPeriod: the HPA scaled 2 → 4 ten seconds ago
// (the Events say so), so both policies' periods start at 2: Pods allows
// 4 and Percent 4; the count stays at 4 until that change is 30 s old.
func TestExplainScaleUpWaitsForPeriod(t *testing.T) {
	s := gatewayUnderLoad(t)
	at := t0.Add(-10 * time.Second)
	s.Events = append(s.Events, rescaleEvent(gwHPA, at, 4), scaledEvent(gw, at.Add(time.Second), 2, 4))
	h := s.hpa(t, gwHPA)
	h.Status.LastScaleTime = &metav1.Time{Time: at}
	h.Status.DesiredReplicas = 4
	e := Explain(s, h)
	if len(e.History) != 1 || e.History[0].From != 2 || e.History[0].To != 4 {
		t.Fatalf("history %+v, want 2→4", e.History)
	}
	if e.Desired != 4 || e.Rescale || e.Reason != hpa.ReasonScaleUpLimit {
		t.Fatalf("desired %d rescale %v reason %s, want 4 false ScaleUpLimit", e.Desired, e.Rescale, e.Reason)
	}
	for _, p := range e.Limit.Policies {
		if p.PeriodStart != 2 || p.Allows != 4 || !p.Decides {
			t.Errorf("policy %+v: want period start 2, allows 4, deciding (a tie)", p)
		}
	}
	if !strings.Contains(e.Summary, "+2 pods per 30 s allows 2 → 4") || !strings.Contains(e.Summary, "the next step is allowed at 12:00:20") {
		t.Errorf("summary %q", e.Summary)
	}
	if e.NextStep == nil || !e.NextStep.Equal(at.Add(30*time.Second)) {
		t.Errorf("next step %v, want %v", e.NextStep, at.Add(30*time.Second))
	}
	if e.Disagreement != "" {
		t.Errorf("replay 4 = status 4, yet %q", e.Disagreement)
	}
	// A second rescale 4 → 6 five seconds ago: its from is the first one's to.
	s.Events = append(s.Events, rescaleEvent(gwHPA, t0.Add(-5*time.Second), 6))
	s.Targets[gwHPA].SpecReplicas = 6
	h.Status.LastScaleTime = &metav1.Time{Time: t0.Add(-5 * time.Second)}
	e = Explain(s, h)
	if len(e.History) != 2 || e.History[1].From != 4 || e.History[1].To != 6 {
		t.Fatalf("history %+v", e.History)
	}
	// Within 30 s: +2 and +2 from 2: Pods allows 2+2 = 4 < 6, held at 6.
	if e.Desired != 6 || e.Rescale {
		t.Errorf("desired %d rescale %v, want 6 false", e.Desired, e.Rescale)
	}
}

// TestExplainScaleDownStabilized: load gone (cpu 10 %), but the HPA scaled
// up to 6 two minutes ago: the 300 s scale-down window holds 6 until that
// recommendation is 300 s old.
func TestExplainScaleDownStabilized(t *testing.T) {
	s := envSnapshot(t, "prod")
	pods := s.addPods(t, gw, gwHPA, 6)
	cpu, mem := request(t, s, gw, corev1.ResourceCPU), request(t, s, gw, corev1.ResourceMemory)
	s.Reads[gwHPA] = []MetricRead{{PodValues: podValues(pods, cpu/10)}, {PodValues: podValues(pods, mem/10)}, {PodValues: podValues(pods, 1000)}}
	at := t0.Add(-2 * time.Minute)
	s.Events = append(s.Events, rescaleEvent(gwHPA, at, 6), scaledEvent(gw, at, 4, 6))
	h := s.hpa(t, gwHPA)
	h.Status.LastScaleTime = &metav1.Time{Time: at}
	h.Status.DesiredReplicas = 6
	e := Explain(s, h)
	if e.Proposed != 3 { // minReplicas bounds nothing yet: cpu ceil(6×10/70)=1, the max over metrics
		t.Logf("proposed %d by %s", e.Proposed, e.ProposedBy)
	}
	if e.Desired != 6 || e.Rescale || e.Window == nil || e.Window.Direction != "down" || e.Window.Seconds != 300 {
		t.Fatalf("desired %d rescale %v window %+v reason %s", e.Desired, e.Rescale, e.Window, e.Reason)
	}
	if e.NextStep == nil || !e.NextStep.Equal(at.Add(300*time.Second)) {
		t.Errorf("next step %v, want %v", e.NextStep, at.Add(300*time.Second))
	}
	if !strings.Contains(e.Summary, "300 s scale-down stabilization window holds it at 6") {
		t.Errorf("summary %q", e.Summary)
	}
	// Six minutes later the window is past: -1 pod per 300 s allows 6 → 5.
	s.Now = t0.Add(4 * time.Minute)
	e = Explain(s, h)
	if e.Desired != 5 || e.Reason != hpa.ReasonScaleDownLimit || !strings.Contains(e.Summary, "-1 pod per 300 s allows 6 → 5") {
		t.Errorf("after the window: desired %d reason %s summary %q", e.Desired, e.Reason, e.Summary)
	}
}

// TestExplainExternalMissingNoScaleDown: the worker's queue metrics have no
// series (the exporter or the provider is gone), CPU and memory are low:
// upstream fails both External metrics and, since the valid ones would
// scale down, keeps the count.
func TestExplainExternalMissingNoScaleDown(t *testing.T) {
	s := envSnapshot(t, "prod")
	const wk, wkHPA = "voiceassist-worker", "voiceassist-worker-hpa"
	pods := s.addPods(t, wk, wkHPA, 4)
	cpu, mem := request(t, s, wk, corev1.ResourceCPU), request(t, s, wk, corev1.ResourceMemory)
	s.Reads[wkHPA] = []MetricRead{{PodValues: podValues(pods, cpu/10)}, {PodValues: podValues(pods, mem/10)}, {}, {}}
	h := s.hpa(t, wkHPA)
	e := Explain(s, h)
	if e.Proposed != -1 || e.Desired != 4 || e.Rescale || e.Reason != hpa.ReasonFailedGetExternalMetric {
		t.Fatalf("proposed %d desired %d reason %s, want -1 4 FailedGetExternalMetric", e.Proposed, e.Desired, e.Reason)
	}
	for _, m := range e.Metrics[2:] {
		if !strings.Contains(m.Error, hpa.ErrNoExternalMetrics.Error()) {
			t.Errorf("%s: error %q", m.Metric, m.Error)
		}
	}
	r := Diagnose(s)
	mustFind(t, r, CheckHPA, Error, "will not scale down while 2 of its 4 metrics are invalid")
	mustFind(t, r, CheckHPA, Error, "serves no series of voiceassist_queue_depth", "queue=voice-jobs")
	if !r.HasErrors() {
		t.Error("no error-level finding")
	}
	// Under load, the valid metrics still scale up.
	s.Reads[wkHPA][0] = MetricRead{PodValues: podValues(pods, 2*cpu)}
	e = Explain(s, h)
	if !e.Rescale || e.Desired != 6 {
		t.Errorf("with cpu at 200 %%: desired %d rescale %v, want 6 (+50 %% per 60 s)", e.Desired, e.Rescale)
	}
}
