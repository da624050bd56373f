//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// TestApplyDev server-side-applies the dev overlay, rendered by
// internal/render, to the cluster, object by object, as vactl does, then
// checks that the API server kept every field and number we sent (its
// validation, defaulting and admission included), that a second apply is a
// no-op, and that the cluster acts on the objects: the controllers create
// the workloads' pods (so Pod Security "restricted", the LimitRange and the
// ResourceQuota admit them), the scheduler binds them to the node, the node
// agent runs them until every pod is Running and Ready from its own probes
// (metrics-server, installed first from k8s/performance/metrics-server, has
// its own pod too), and the HPA
// controller reads the metrics of both HPAs through metrics-server
// (ScalingActive=True).
func TestApplyDev(t *testing.T) {
	ctx := scenario(t, 5*time.Minute)
	r := renderEnv(t, "dev")
	// metrics-server is in no environment: installed first, as the README's step 1.
	ensureMetricsServer(ctx, t)

	got := applyAll(ctx, t, r.objs, false)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("applied %d objects of the dev overlay", len(got))

	// 1. Every field we sent is in the stored object, with our value.
	for _, u := range r.objs {
		s := got[ref(u)]
		for _, d := range subsetDiff(asStored(t, u), s.Object) {
			t.Errorf("%s: %s", ref(u), d)
		}
		if !slices.ContainsFunc(s.GetManagedFields(), func(f metav1.ManagedFieldsEntry) bool {
			return f.Manager == fieldManager && f.Operation == metav1.ManagedFieldsOperationApply
		}) {
			t.Errorf("%s: no managedFields entry for manager %q (Apply)", ref(u), fieldManager)
		}
	}

	// 2. The HPAs and PDBs as the typed API reads them back.
	for _, want := range r.set.HPAs {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("HPA %s: %v", want.Name, err)
			continue
		}
		if !apiequality.Semantic.DeepEqual(want.Spec, h.Spec) {
			t.Errorf("HPA %s: the API server stored a different spec:\n sent %s\n  got %s", want.Name, describeHPA(want), describeHPA(h))
		}
		t.Logf("HPA %s as stored: %s", h.Name, describeHPA(h))
	}
	for _, want := range r.set.PDBs {
		p, err := cs.PolicyV1().PodDisruptionBudgets(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("PDB %s: %v", want.Name, err)
			continue
		}
		if !apiequality.Semantic.DeepEqual(want.Spec, p.Spec) {
			t.Errorf("PDB %s: the API server stored a different spec:\n sent %+v\n  got %+v", want.Name, want.Spec, p.Spec)
		}
		t.Logf("PDB %s as stored: minAvailable=%v maxUnavailable=%v unhealthyPodEvictionPolicy=%v selector=%v",
			p.Name, p.Spec.MinAvailable, p.Spec.MaxUnavailable, deref(p.Spec.UnhealthyPodEvictionPolicy), metav1.FormatLabelSelector(p.Spec.Selector))
	}

	// 3. Applying the same objects again changes no spec: no conflict, and
	// no object's metadata.generation moves.
	again := applyAll(ctx, t, r.objs, false)
	for k, first := range got {
		if second, ok := again[k]; ok && first.GetGeneration() != 0 && second.GetGeneration() != first.GetGeneration() {
			t.Errorf("%s: re-apply changed generation %d -> %d", k, first.GetGeneration(), second.GetGeneration())
		}
	}

	// 4. The control plane and the node act on what we applied.
	t.Run("pods Running and Ready", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		errs := waitWorkloadsReady(ctx, r.set.Workloads())
		for _, w := range r.set.Workloads() {
			if err := errs[w.Ref()]; err != nil {
				t.Errorf("%s: %v", w.Ref(), err)
				continue
			}
			t.Logf("%s: every pod scheduled on %s, Running and Ready", w.Ref(), agent.NodeName)
		}
	})
	t.Run("HPA controller reads the metrics", func(t *testing.T) {
		// metrics-server's pod is Ready after its 20 s initial delay and
		// needs two scrapes (15 s resolution) of a pod before PodMetrics
		// exist; the HPA controller syncs every 15 s.
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		for _, want := range r.set.HPAs {
			var h *autoscalingv2.HorizontalPodAutoscaler
			err := eventually(ctx, func(ctx context.Context) error {
				var err error
				h, err = cs.AutoscalingV2().HorizontalPodAutoscalers(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				able := hpaCondition(h, autoscalingv2.AbleToScale)
				active := hpaCondition(h, autoscalingv2.ScalingActive)
				if able == nil || able.Status != corev1.ConditionTrue || active == nil || active.Status != corev1.ConditionTrue {
					return fmt.Errorf("want AbleToScale=True and ScalingActive=True; conditions: %s", describeConditions(h))
				}
				return nil
			})
			if err != nil {
				t.Errorf("HPA %s: %v", want.Name, err)
				continue
			}
			t.Logf("HPA %s: %s; current metrics: %s", h.Name, describeConditions(h), describeCurrentMetrics(h))
		}
	})
}

func describeHPA(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var ms []string
	for _, m := range h.Spec.Metrics {
		ms = append(ms, kube.MetricKey(m)+" "+kube.MetricTarget(m))
	}
	s := fmt.Sprintf("%v-%d [%s]", deref(h.Spec.MinReplicas), h.Spec.MaxReplicas, strings.Join(ms, "; "))
	if b := h.Spec.Behavior; b != nil {
		s += fmt.Sprintf(" up(%s) down(%s)", kube.DescribeRules(b.ScaleUp), kube.DescribeRules(b.ScaleDown))
	}
	return s
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// events summarizes the recent warnings in namespace that mention name.
func events(ctx context.Context, namespace, name string) string {
	evs, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range evs.Items {
		if e.Type == corev1.EventTypeWarning && strings.HasPrefix(e.InvolvedObject.Name, name) {
			out = append(out, fmt.Sprintf("%s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message))
		}
	}
	if len(out) > 3 {
		out = out[len(out)-3:]
	}
	return strings.Join(out, " | ")
}

func deref[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}
