package recommend

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/client-go/dynamic"
)

// VPAGVR is the resource of VerticalPodAutoscalers.
var VPAGVR = schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}

// LiveVPAs reads the recommendations the cluster's VPA recommender already
// made: status.recommendation.containerRecommendations of every
// VerticalPodAutoscaler in the scope's namespaces. Its target (capped by the
// VPA's resourcePolicy, as the updater would apply it) becomes the
// container's target; the bounds are kept for the report. The result still
// goes through the limit band, the LimitRange and the ResourceQuota.
type LiveVPAs struct {
	Client dynamic.Interface
	// Where names the cluster in messages, e.g. "context kind-voiceassist".
	Where string
}

// Name says which cluster the VPAs are read from.
func (l LiveVPAs) Name() string {
	if l.Where == "" {
		return "live VPAs"
	}
	return "live VPAs (" + l.Where + ")"
}

// Read lists the VPAs. It fails when the CRD is not installed or no VPA has
// a recommendation yet (the recommender needs its first samples), saying
// which; a VPA without one, or a container without CPU or memory in it, is
// left out and named in the error only when nothing is left.
func (l LiveVPAs) Read(ctx context.Context, scope Scope) (*Observations, error) {
	obs := &Observations{}
	var pending []string
	total := 0
	for _, ns := range scope.Namespaces {
		list, err := l.Client.Resource(VPAGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		switch {
		case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
			return nil, fmt.Errorf("%s: the VerticalPodAutoscaler CRD (verticalpodautoscalers.autoscaling.k8s.io) is not installed, so no VPA recommends anything there", l.Name())
		case err != nil:
			return nil, fmt.Errorf("%s: list VerticalPodAutoscalers in %s: %w", l.Name(), ns, err)
		}
		items := list.Items
		sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
		for _, u := range items {
			total++
			var v vpav1.VerticalPodAutoscaler
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
				return nil, &InputError{Err: fmt.Errorf("%s: VerticalPodAutoscaler %s/%s: %w", l.Name(), ns, u.GetName(), err)}
			}
			gs, why := givenFromVPA(&v)
			if why != "" {
				pending = append(pending, fmt.Sprintf("VerticalPodAutoscaler %s/%s %s", ns, v.Name, why))
			}
			obs.Recommendations = append(obs.Recommendations, gs...)
		}
	}
	if len(obs.Recommendations) == 0 {
		if total == 0 {
			return nil, fmt.Errorf("%s: no VerticalPodAutoscaler in namespace %s (the environment's overlay may leave the VPA component out)", l.Name(), strings.Join(scope.Namespaces, ", "))
		}
		return nil, fmt.Errorf("%s: no recommendation to read: %s", l.Name(), strings.Join(pending, "; "))
	}
	return obs, nil
}

// givenFromVPA turns one VPA's status into recommendations; why says what
// was missing (no target, no recommendation yet).
func givenFromVPA(v *vpav1.VerticalPodAutoscaler) ([]Given, string) {
	ref := v.Spec.TargetRef
	if ref == nil {
		return nil, "has no spec.targetRef"
	}
	if v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
		return nil, "has no status.recommendation yet"
	}
	var out []Given
	var skipped []string
	for i, cr := range v.Status.Recommendation.ContainerRecommendations {
		t := amountsOf(cr.Target)
		if t.CPUCores <= 0 || t.MemoryBytes <= 0 {
			skipped = append(skipped, fmt.Sprintf("status.recommendation.containerRecommendations[%d] (%s) has no cpu or memory target", i, cr.ContainerName))
			continue
		}
		out = append(out, Given{
			Kind: ref.Kind, Namespace: v.Namespace, Name: ref.Name, Container: cr.ContainerName,
			Target: t, LowerBound: amountsOf(cr.LowerBound), UpperBound: amountsOf(cr.UpperBound),
			From: "VerticalPodAutoscaler " + v.Namespace + "/" + v.Name + " status",
		})
	}
	return out, strings.Join(skipped, "; ")
}

func amountsOf(l corev1.ResourceList) Amounts {
	var a Amounts
	if q, ok := l[corev1.ResourceCPU]; ok {
		a.CPUCores = q.AsApproximateFloat64()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		a.MemoryBytes = q.AsApproximateFloat64()
	}
	return a
}
