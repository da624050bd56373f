package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestPodAmount: app containers and sidecars add up, a plain init container
// counts only if it alone asks more, a LimitRange default fills what a
// container leaves out, and a container with nothing is named.
func TestPodAmount(t *testing.T) {
	set := setOf(t, `{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"d","namespace":"a"},
	  "spec":{"limits":[{"type":"Container","default":{"cpu":"300m"},"defaultRequest":{"cpu":"100m"}}]}}`)
	always := corev1.ContainerRestartPolicyAlways
	res := func(req, lim string) corev1.ResourceRequirements {
		var rr corev1.ResourceRequirements
		if req != "" {
			rr.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req)}
		}
		if lim != "" {
			rr.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim)}
		}
		return rr
	}
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "migrate", Resources: res("200m", "2")},
			{Name: "proxy", Resources: res("50m", "500m"), RestartPolicy: &always},
		},
		Containers: []corev1.Container{
			{Name: "app", Resources: res("250m", "1")},
			{Name: "limit-only", Resources: res("", "400m")},
			{Name: "defaulted", Resources: res("", "")},
		},
	}
	for _, c := range []struct {
		ns    string
		limit bool
		want  string
		miss  int
	}{
		// requests: 50m + 250m + 400m (from the limit) + 100m (default) = 800m > migrate's 200m.
		{"a", false, "800m", 0},
		// limits: 500m + 1 + 400m + 300m = 2200m, but migrate alone asks 2.
		{"a", true, "2200m", 0},
		// No LimitRange in b: "defaulted" has nothing.
		{"b", false, "700m", 1},
	} {
		got, missing := set.PodAmount(c.ns, spec, corev1.ResourceCPU, c.limit)
		if got.Cmp(resource.MustParse(c.want)) != 0 || len(missing) != c.miss {
			t.Errorf("namespace %s limit=%t: %s, missing %q; want %s and %d missing", c.ns, c.limit, got.String(), missing, c.want, c.miss)
		}
	}
	spec.InitContainers[0].Resources = res("200m", "3")
	if got, _ := set.PodAmount("a", spec, corev1.ResourceCPU, true); got.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("limits with a 3-core init container: %s, want 3", got.String())
	}
}
