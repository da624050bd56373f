package cluster

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// MissingNamespaces on a fake clientset: dev's objects are in voiceassist
// (and its Namespace is cluster-scoped), so the list is voiceassist until
// that namespace exists, then empty. The dry run that follows from it runs
// against a real API server in test/e2e (TestSetupDryRunWithoutNamespace).
func TestMissingNamespaces(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}})
	c := &Client{Kube: kube}
	objs := envObjects(t, "dev")
	got, err := c.MissingNamespaces(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{Namespace}; !reflect.DeepEqual(got, want) {
		t.Fatalf("missing %v, want %v", got, want)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err = c.MissingNamespaces(ctx, objs); err != nil || len(got) != 0 {
		t.Fatalf("with the namespace: missing %v, %v; want none", got, err)
	}
}
