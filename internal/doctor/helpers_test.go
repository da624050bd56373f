package doctor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"github.com/voiceassist/autoscaling/internal/render"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const ns = "voiceassist"

// envSnapshot is a healthy snapshot of an environment's rendered objects:
// the APIServices Available, every Deployment at replicas, no pods yet.
func envSnapshot(t *testing.T, env string) *Snapshot {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	set, err := src.EnvSet(env)
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Now: t0, Namespace: ns, APIServices: map[string]*APIServiceState{}, Targets: map[string]*Target{}, Reads: map[string][]MetricRead{}, VPACRD: true}
	for _, name := range MetricsAPIs {
		s.APIServices[name] = &APIServiceState{APIService: apiregistrationv1.APIService{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: apiregistrationv1.APIServiceStatus{Conditions: []apiregistrationv1.APIServiceCondition{
				{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionTrue, Reason: "Passed"}}},
		}}
	}
	for _, d := range set.Deployments {
		s.Deployments = append(s.Deployments, *d.DeepCopy())
	}
	for _, st := range set.StatefulSets {
		s.StatefulSets = append(s.StatefulSets, *st.DeepCopy())
	}
	for _, h := range set.HPAs {
		s.HPAs = append(s.HPAs, *h.DeepCopy())
	}
	for _, x := range set.LimitRanges {
		s.LimitRanges = append(s.LimitRanges, *x.DeepCopy())
	}
	for _, x := range set.ResourceQuotas {
		s.Quotas = append(s.Quotas, *x.DeepCopy())
	}
	for _, x := range set.PDBs {
		s.PDBs = append(s.PDBs, *x.DeepCopy())
	}
	for _, x := range set.VPAs {
		s.VPAs = append(s.VPAs, *x.DeepCopy())
	}
	return s
}

func (s *Snapshot) hpa(t *testing.T, name string) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	for i := range s.HPAs {
		if s.HPAs[i].Name == name {
			return &s.HPAs[i]
		}
	}
	t.Fatalf("no HPA %s", name)
	return nil
}

// addPods adds n ready pods of a Deployment, started an hour ago, from its
// template, and sets the HPA's target scale to n.
func (s *Snapshot) addPods(t *testing.T, workload, hpaName string, n int) []string {
	t.Helper()
	var tmpl *corev1.PodTemplateSpec
	var sel *metav1.LabelSelector
	for i := range s.Deployments {
		if d := &s.Deployments[i]; d.Name == workload {
			tmpl, sel = &d.Spec.Template, d.Spec.Selector
		}
	}
	for i := range s.StatefulSets {
		if d := &s.StatefulSets[i]; d.Name == workload {
			tmpl, sel = &d.Spec.Template, d.Spec.Selector
		}
	}
	if tmpl == nil {
		t.Fatalf("no Deployment or StatefulSet %s", workload)
	}
	var names []string
	for j := 0; j < n; j++ {
		name := fmt.Sprintf("%s-6d8f9c7b5-%cbcde", workload, 'a'+j)
		start := metav1.NewTime(t0.Add(-time.Hour))
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tmpl.Labels,
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: workload + "-6d8f9c7b5"}}},
			Spec: *tmpl.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &start,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-59 * time.Minute))}}},
		}
		p.Spec.NodeName = "node-1"
		s.Pods = append(s.Pods, p)
		names = append(names, name)
	}
	if hpaName != "" {
		s.Targets[hpaName] = &Target{Kind: "Deployment", Name: workload, SpecReplicas: int32(n), StatusReplicas: int32(n),
			Selector: metav1.FormatLabelSelector(sel)}
	}
	return names
}

// podValues gives every pod the same sample.
func podValues(pods []string, milli int64) map[string]Sample {
	m := map[string]Sample{}
	for _, p := range pods {
		m[p] = Sample{Value: milli, Timestamp: t0.Add(-10 * time.Second), Window: 30 * time.Second}
	}
	return m
}

func request(t *testing.T, s *Snapshot, deployment string, r corev1.ResourceName) int64 {
	t.Helper()
	for _, d := range s.Deployments {
		if d.Name == deployment {
			q := d.Spec.Template.Spec.Containers[0].Resources.Requests[r]
			return q.MilliValue()
		}
	}
	t.Fatalf("no Deployment %s", deployment)
	return 0
}

func rescaleEvent(hpaName string, at time.Time, size int) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", hpaName, at.Unix()), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: hpaName, Namespace: ns},
		Reason:         "SuccessfulRescale", Type: corev1.EventTypeNormal, Count: 1,
		Message:       fmt.Sprintf("New size: %d; reason: cpu resource utilization (percentage of request) above target", size),
		LastTimestamp: metav1.NewTime(at), FirstTimestamp: metav1.NewTime(at),
	}
}

func scaledEvent(deployment string, at time.Time, from, to int) corev1.Event {
	dir := "up"
	if to < from {
		dir = "down"
	}
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", deployment, at.Unix()), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: deployment, Namespace: ns},
		Reason:         "ScalingReplicaSet", Type: corev1.EventTypeNormal, Count: 1,
		Message:       fmt.Sprintf("Scaled %s replica set %s-6d8f9c7b5 from %d to %d", dir, deployment, from, to),
		LastTimestamp: metav1.NewTime(at), FirstTimestamp: metav1.NewTime(at),
	}
}

func findings(r *Report, check string, sev Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == check && (sev == "" || f.Severity == sev) {
			out = append(out, f)
		}
	}
	return out
}

func mustFind(t *testing.T, r *Report, check string, sev Severity, contains ...string) Finding {
	t.Helper()
	for _, f := range findings(r, check, sev) {
		all := strings.Join(append(append([]string{f.Object, f.Message, f.Fix}, f.Evidence...), f.Confirm...), "\n")
		ok := true
		for _, c := range contains {
			if !strings.Contains(all, c) {
				ok = false
			}
		}
		if ok {
			return f
		}
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, fmt.Sprintf("%s [%s] %s: %s | %v", f.Severity, f.Check, f.Object, f.Message, f.Evidence))
	}
	t.Fatalf("no %s finding of %s with %q; findings:\n%s", sev, check, contains, strings.Join(got, "\n"))
	return Finding{}
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }
