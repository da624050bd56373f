package kube

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func setOf(t *testing.T, docs ...string) *Set {
	t.Helper()
	s := &Set{}
	for _, d := range docs {
		obj, gvk, err := DecodeStrict([]byte(d))
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		s.Add(Object{Obj: obj, GVK: gvk, Ref: gvk.Kind})
	}
	return s
}

const (
	deploy = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a"},
	  "spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`
	cron = `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"nightly","namespace":"a"},
	  "spec":{"schedule":"@daily","jobTemplate":{"spec":{"template":{"metadata":{"labels":{"app":"nightly"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i"}]}}}}}}`
	pod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"debug","namespace":"b","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}`
	svc = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web-svc","namespace":"a"},"spec":{"ports":[{"port":80}]}}`
	cm  = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"a"}}`
	hpa = `{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"web","namespace":"a"},
	  "spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},"maxReplicas":3}}`
)

// TestSetIndex: one index for every pod-making kind, with the JSON path of
// its pod spec, and HPA targets resolved with the reason when they are not.
func TestSetIndex(t *testing.T) {
	s := setOf(t, deploy, cron, pod, svc, cm, hpa)
	ws := s.Workloads()
	if len(ws) != 3 || ws[0].Ref() != "Deployment a/web" || ws[1].Kind != "CronJob" || ws[2].Kind != "Pod" {
		t.Fatalf("workloads: %+v", ws)
	}
	if !ws[0].Scalable || ws[1].Scalable || ws[2].Scalable {
		t.Errorf("scalable: %v %v %v", ws[0].Scalable, ws[1].Scalable, ws[2].Scalable)
	}
	for w, want := range map[int]string{0: "spec.template.spec.containers[0]", 1: "spec.jobTemplate.spec.template.spec.containers[0]", 2: "spec.containers[0]"} {
		if got := ws[w].SpecPath("containers[0]"); got != want {
			t.Errorf("%s: SpecPath %q, want %q", ws[w].Ref(), got, want)
		}
	}
	if ws[0].Obj != s.Deployments[0] {
		t.Error("Workload.Obj is not the decoded Deployment")
	}
	if got := s.HPAsFor(ws[0]); len(got) != 1 || got[0] != s.HPAs[0] {
		t.Errorf("HPAsFor: %v", got)
	}
	if _, ok, _ := s.Target("a", autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}); !ok {
		t.Error("Target: the Deployment is not found")
	}
	_, ok, why := s.Target("a", autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "web"})
	if ok || !strings.Contains(why, `no StatefulSet "web" in namespace a, but a Deployment, a ConfigMap, a HorizontalPodAutoscaler of that name`) {
		t.Errorf("Target of another kind: %v %q", ok, why)
	}
	if n := s.Named("a", "web"); len(n) != 3 {
		t.Errorf("Named: %d objects, want 3", len(n))
	}
	if got := s.WorkloadsIn("b"); len(got) != 1 || got[0].Name != "debug" {
		t.Errorf("WorkloadsIn(b): %+v", got)
	}
	// Selectors match within the namespace only; a Service without a
	// selector has no pods.
	if got, err := s.PodsMatching("a", ws[0].Selector); err != nil || len(got) != 1 {
		t.Errorf("PodsMatching: %v %v", got, err)
	}
	if got := s.PodsMatchingMap("a", nil); len(got) != 0 {
		t.Errorf("empty selector matched %d workloads", len(got))
	}
	if _, err := s.PodsMatching("a", nil); err == nil {
		t.Error("PodsMatching(nil) gave no error")
	}
}

// TestSetUnstructured: kinds the scheme lacks are kept and named.
func TestSetUnstructured(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("keda.sh/v1alpha1")
	u.SetKind("ScaledObject")
	u.SetNamespace("a")
	u.SetName("web")
	s := &Set{}
	s.Add(Object{Obj: u, GVK: u.GroupVersionKind(), Ref: "ScaledObject a/web"})
	if len(s.Unstructured) != 1 || len(s.Named("a", "web")) != 1 || len(s.Workloads()) != 0 {
		t.Errorf("unstructured: %+v", s)
	}
}
