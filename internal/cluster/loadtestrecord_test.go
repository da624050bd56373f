package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A fake clientset: these are the edge cases (no record, a bad one); the
// e2e scenarios write and read the record on the local control plane.
func TestLoadtestRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "voiceassist", Annotations: map[string]string{"keep": "me"}}})
	c := &Client{Kube: cs}
	if _, ok, err := c.LastLoadtest(ctx, "voiceassist"); err != nil || ok {
		t.Fatalf("before any run: ok=%v err=%v, want none", ok, err)
	}
	want := LoadtestRecord{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Env: "dev", Target: "api", Profile: "spike", Verdict: "pass", Summary: "p99 180ms"}
	if err := c.RecordLoadtest(ctx, "voiceassist", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.LastLoadtest(ctx, "voiceassist")
	if err != nil || !ok || got != want {
		t.Fatalf("LastLoadtest = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	n, err := cs.CoreV1().Namespaces().Get(ctx, "voiceassist", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Annotations["keep"] != "me" {
		t.Errorf("other annotations lost: %v", n.Annotations)
	}
}

func TestLoadtestRecordInvalid(t *testing.T) {
	ctx := context.Background()
	if err := (&Client{Kube: fake.NewSimpleClientset()}).RecordLoadtest(ctx, "voiceassist", LoadtestRecord{Time: time.Now(), Target: "api", Verdict: "ok"}); err == nil || !strings.Contains(err.Error(), "field verdict") {
		t.Errorf("bad verdict: err = %v, want one naming the field", err)
	}
	cs := fake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "voiceassist", Annotations: map[string]string{LoadtestAnnotation: "{not json"}}})
	if _, _, err := (&Client{Kube: cs}).LastLoadtest(ctx, "voiceassist"); err == nil || !strings.Contains(err.Error(), "namespace voiceassist: annotation "+LoadtestAnnotation) {
		t.Errorf("bad JSON: err = %v, want one naming the namespace and annotation", err)
	}
}
