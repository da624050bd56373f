package check

// Unit tests of Gather with client-go's fake clientsets (labelled fakes:
// a RoleBinding-only user's Forbidden is an edge case the e2e cluster of
// this repo does not set up for check).

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

func fakeClient(objs ...runtime.Object) (*cluster.Client, *fake.Clientset) {
	kube := fake.NewClientset(objs...)
	return &cluster.Client{
		Config:  &rest.Config{Host: "https://fake.invalid"},
		Kube:    kube,
		Dynamic: fakedynamic.NewSimpleDynamicClient(runtime.NewScheme()),
		Mapper:  meta.NewDefaultRESTMapper(nil),
		Host:    "https://fake.invalid",
	}, kube
}

func TestGatherNamespaceForbidden(t *testing.T) {
	c, kube := fakeClient()
	kube.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, cluster.Namespace, nil)
	})
	in, err := Gather(context.Background(), c, Options{Env: "prod"})
	if err != nil {
		t.Fatalf("Gather: %v (a Forbidden Namespace get must not stop check)", err)
	}
	it := expect(t, in, IDLoadtest, Unknown, "forbidden")
	if it.Fix == "" {
		t.Error("unknown load-test item without a fix")
	}
	// the rest still ran: the rollback item read the (empty) revisions
	expect(t, in, IDRollback, Fail, "")
}

func TestGatherLoadtestRecordBad(t *testing.T) {
	c, _ := fakeClient(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cluster.Namespace,
		Annotations: map[string]string{cluster.LoadtestAnnotation: `{"time":"2026-12-01T09:30:00Z","target":"all","verdict":"maybe"}`}}})
	in, err := Gather(context.Background(), c, Options{Env: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, in, IDLoadtest, Fail, "neither pass nor fail")

	c, _ = fakeClient()
	if in, err = Gather(context.Background(), c, Options{Env: "prod"}); err != nil {
		t.Fatal(err)
	}
	it := expect(t, in, IDLoadtest, Fail, "namespace voiceassist: not found")
	if !strings.Contains(it.Fix, "vactl loadtest") {
		t.Errorf("fix %q: want vactl loadtest", it.Fix)
	}
}

// Gather's error comes explained (as status.Gather's; doctor.Gather has no
// cluster.Client, so vactl doctor explains its error itself), once: the CLI
// must not wrap it again.
func TestGatherErrorExplainedOnce(t *testing.T) {
	c, kube := fakeClient()
	kube.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewUnauthorized("token expired")
	})
	_, err := Gather(context.Background(), c, Options{Env: "prod"})
	if err == nil {
		t.Fatal("Gather: no error for a 401")
	}
	if n := strings.Count(err.Error(), "rejected the credentials"); n != 1 {
		t.Errorf("error %q: explained %d times, want once", err, n)
	}
}
