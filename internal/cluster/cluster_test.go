package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/voiceassist/autoscaling/internal/render"
)

func envObjects(t *testing.T, env string) []*unstructured.Unstructured {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Env(env)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(m)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// Revisions on a fake clientset (an edge case: more than KeepRevisions;
// the real path runs in test/e2e): numbered from 1, the oldest deleted,
// the objects read back as recorded.
func TestRevisionsKeepTheLastTen(t *testing.T) {
	ctx := context.Background()
	c := &Client{Kube: fake.NewSimpleClientset()}
	objs := envObjects(t, "dev")
	for i := 1; i <= KeepRevisions+3; i++ {
		n, err := c.RecordRevision(ctx, "dev", fmt.Sprintf("run %d", i), objs)
		if err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Fatalf("revision %d numbered %d", i, n)
		}
	}
	revs, err := c.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != KeepRevisions || revs[0].Number != 4 || revs[len(revs)-1].Number != KeepRevisions+3 {
		t.Fatalf("kept %d revisions, %d..%d; want %d, 4..%d", len(revs), revs[0].Number, revs[len(revs)-1].Number, KeepRevisions, KeepRevisions+3)
	}
	r := revs[len(revs)-1]
	if r.Env != "dev" || r.Objects != len(objs) || r.Note != "run 13" || r.Time.IsZero() || r.Version == "" {
		t.Errorf("revision metadata: %+v", r)
	}
	back, err := r.RevisionObjects()
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(objs) {
		t.Fatalf("read back %d objects, recorded %d", len(back), len(objs))
	}
	for i := range objs {
		if cleanYAML(back[i]) != cleanYAML(objs[i]) {
			t.Errorf("object %d differs after the round trip:\n%s", i, unified("x", objs[i], back[i]))
		}
	}
}

func TestSecretRefs(t *testing.T) {
	if refs := secretRefs(envObjects(t, "dev")); len(refs) != 0 {
		t.Errorf("dev renders its own Secret, got refs %+v", refs)
	}
	var got []string
	for _, r := range secretRefs(envObjects(t, "prod")) {
		got = append(got, r.Namespace+"/"+r.Name+" "+strings.Join(r.Keys, ","))
	}
	// The API keys are a volume without items: their key comes from
	// knownKeys; Redis' users.acl from its volume's items.
	want := []string{
		Namespace + "/voiceassist-api-keys api-keys",
		Namespace + "/voiceassist-postgres-credentials password",
		Namespace + "/voiceassist-redis password,users.acl",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("prod: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHPAStatus(t *testing.T) {
	base := func(conds, current string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		y := `{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h","generation":2},
"spec":{"scaleTargetRef":{"kind":"Deployment","name":"d","apiVersion":"apps/v1"},"maxReplicas":3,"metrics":[
 {"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":70}}},
 {"type":"Pods","pods":{"metric":{"name":"http_requests_per_second"},"target":{"type":"AverageValue","averageValue":"100"}}}]},
"status":{"observedGeneration":2,"conditions":[` + conds + `],"currentMetrics":[` + current + `]}}`
		if err := u.UnmarshalJSON([]byte(y)); err != nil {
			t.Fatal(err)
		}
		return u
	}
	active := `{"type":"ScalingActive","status":"True","reason":"ValidMetricFound"}`
	cpu := `{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":5}}}`
	rps := `{"type":"Pods","pods":{"metric":{"name":"http_requests_per_second"},"current":{"averageValue":"1"}}}`
	for _, c := range []struct {
		name   string
		u      *unstructured.Unstructured
		strict bool
		want   status.Status
		msg    string
	}{
		{"no conditions", base("", ""), true, status.InProgressStatus, "no ScalingActive"},
		{"no observedGeneration (kube-controller-manager v1.34)", noObserved(base(active, cpu+","+rps)), true, status.CurrentStatus, ""},
		{"inactive", base(`{"type":"ScalingActive","status":"False","reason":"FailedGetResourceMetric","message":"no metrics"}`, ""), true, status.InProgressStatus, "FailedGetResourceMetric"},
		{"one metric unknown, strict", base(active, cpu+`,{"type":""}`), true, status.InProgressStatus, "Pods/http_requests_per_second"},
		{"one metric unknown, lenient", base(active, cpu+`,{"type":""}`), false, status.CurrentStatus, ""},
		{"all known", base(active, cpu+","+rps), true, status.CurrentStatus, ""},
	} {
		r, err := hpaStatus(c.u, c.strict)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Status != c.want || !strings.Contains(r.Message, c.msg) {
			t.Errorf("%s: %s %q, want %s containing %q", c.name, r.Status, r.Message, c.want, c.msg)
		}
	}
}

func noObserved(u *unstructured.Unstructured) *unstructured.Unstructured {
	unstructured.RemoveNestedField(u.Object, "status", "observedGeneration")
	return u
}

func TestKeepNamespace(t *testing.T) {
	objs := envObjects(t, "dev")
	KeepNamespace(objs)
	for _, u := range objs {
		_, kept := u.GetAnnotations()["cli-utils.sigs.k8s.io/on-remove"]
		if kept != (u.GetKind() == "Namespace") {
			t.Errorf("%s %s: on-remove annotation %v", u.GetKind(), u.GetName(), kept)
		}
	}
}
