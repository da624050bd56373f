package recommend

import (
	"strconv"
	"testing"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// TestMaxReplicas: the most of every HPA on the workload, not the first
// one listed; an HPA in another namespace or on another kind does not count.
func TestMaxReplicas(t *testing.T) {
	hpa := func(ns, name, kind string, max int) string {
		return `{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"` + name + `","namespace":"` + ns + `"},
		  "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"` + kind + `","name":"web"},"maxReplicas":` + strconv.Itoa(max) + `}}`
	}
	deploy := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a"},
	  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`
	for _, tc := range []struct {
		name string
		docs []string
		want int64
	}{
		{"no HPA: spec.replicas", []string{deploy, hpa("b", "web", "Deployment", 9), hpa("a", "web", "StatefulSet", 9)}, 2},
		{"one HPA", []string{deploy, hpa("a", "web", "Deployment", 5)}, 5},
		{"three HPAs: the largest", []string{deploy, hpa("a", "web-1", "Deployment", 4), hpa("a", "web-2", "Deployment", 12), hpa("a", "web-3", "Deployment", 6)}, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := &kube.Set{}
			for _, d := range tc.docs {
				obj, gvk, err := kube.DecodeStrict([]byte(d))
				if err != nil {
					t.Fatal(err)
				}
				set.Add(kube.Object{Obj: obj, GVK: gvk, Ref: gvk.Kind})
			}
			w, ok := set.Workload("Deployment", "a", "web")
			if !ok {
				t.Fatal("no Deployment a/web")
			}
			if got := maxReplicas(set, w); got != tc.want {
				t.Errorf("maxReplicas %d, want %d", got, tc.want)
			}
		})
	}
}
