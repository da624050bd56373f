package recommend

// Unit tests of the live-VPA source with client-go's fake dynamic client (a
// VPA recommender cannot run here to fill a status at will): a status read
// and planned, a VPA without status, a container without a memory target,
// no CRD, no VPA, a forbidden list.

import (
	"context"
	"errors"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func vpaObject(t *testing.T, name, target string, recs ...vpav1.RecommendedContainerResources) *unstructured.Unstructured {
	t.Helper()
	v := &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "voiceassist"},
		Spec:       vpav1.VerticalPodAutoscalerSpec{TargetRef: &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target}},
	}
	if len(recs) > 0 {
		v.Status.Recommendation = &vpav1.RecommendedPodResources{ContainerRecommendations: recs}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "autoscaling.k8s.io", Version: "v1", Kind: "VerticalPodAutoscaler"})
	return u
}

func rl(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func fakeVPAs(objs ...runtime.Object) *fakedynamic.FakeDynamicClient {
	return fakedynamic.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{VPAGVR: "VerticalPodAutoscalerList"}, objs...)
}

var vpaScope = Scope{Namespaces: []string{"voiceassist"}}

func TestLiveVPAStatusIsPlanned(t *testing.T) {
	set := envSet(t, "prod")
	dyn := fakeVPAs(
		vpaObject(t, "voiceassist-server-vpa", "voiceassist-server", vpav1.RecommendedContainerResources{
			ContainerName: "server", Target: rl("700m", "1Gi"), LowerBound: rl("400m", "800Mi"), UpperBound: rl("1200m", "1536Mi")}),
		vpaObject(t, "voiceassist-worker-vpa", "voiceassist-worker"), // the recommender has not got to it yet
	)
	src := LiveVPAs{Client: dyn, Where: "context test"}
	res, err := FromSources(context.Background(), set, []Source{src}, vpaScope, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := findContainer(t, res, "voiceassist-server", "server")
	if c.Given == nil || c.Given.From != "VerticalPodAutoscaler voiceassist/voiceassist-server-vpa status" {
		t.Fatalf("server: given %+v, want the VPA's status", c.Given)
	}
	if c.Given.UpperBound.CPUCores != 1.2 || c.Given.LowerBound.MemoryBytes != 800*1024*1024 {
		t.Errorf("bounds %+v / %+v not read", c.Given.LowerBound, c.Given.UpperBound)
	}
	if c.Recommended == nil {
		t.Fatal("server: no recommendation")
	}
	cpu := c.Recommended.Requests[corev1.ResourceCPU]
	if cpu.MilliValue() != 700 {
		t.Errorf("server cpu request %s, want the VPA's target 700m", cpu.String())
	}
	lim := c.Recommended.Limits[corev1.ResourceCPU]
	if r := float64(lim.MilliValue()) / 700; r < 2 || r > 4 {
		t.Errorf("server cpu limit %s is %.2fx the request, outside the 2-4x band", lim.String(), r)
	}
	w := findContainer(t, res, "voiceassist-worker", "worker")
	if w.Recommended != nil || !strings.Contains(strings.Join(w.Reasons, " "), "no samples") {
		t.Errorf("worker without a VPA status: recommended %v, reasons %q; want it kept", w.Recommended, w.Reasons)
	}
	if !strings.Contains(res.Sources[0], "live VPAs (context test)") {
		t.Errorf("sources %q do not name the cluster", res.Sources)
	}
}

func TestLiveVPAEdgeCases(t *testing.T) {
	ctx := context.Background()
	t.Run("no recommendation anywhere", func(t *testing.T) {
		_, err := LiveVPAs{Client: fakeVPAs(vpaObject(t, "voiceassist-worker-vpa", "voiceassist-worker"))}.Read(ctx, vpaScope)
		if err == nil || !strings.Contains(err.Error(), "VerticalPodAutoscaler voiceassist/voiceassist-worker-vpa has no status.recommendation yet") {
			t.Fatalf("err %v, want it to name the VPA without a status", err)
		}
	})
	t.Run("a container without a memory target", func(t *testing.T) {
		obs, err := LiveVPAs{Client: fakeVPAs(vpaObject(t, "v", "voiceassist-worker",
			vpav1.RecommendedContainerResources{ContainerName: "worker", Target: rl("1", "2Gi")},
			vpav1.RecommendedContainerResources{ContainerName: "sidecar", Target: rl("10m", "")}))}.Read(ctx, vpaScope)
		if err != nil {
			t.Fatal(err)
		}
		if len(obs.Recommendations) != 1 || obs.Recommendations[0].Container != "worker" || obs.Recommendations[0].Target.MemoryBytes != 2<<30 {
			t.Fatalf("recommendations %+v, want the worker's alone", obs.Recommendations)
		}
	})
	t.Run("no VPA", func(t *testing.T) {
		_, err := LiveVPAs{Client: fakeVPAs()}.Read(ctx, vpaScope)
		if err == nil || !strings.Contains(err.Error(), "no VerticalPodAutoscaler in namespace voiceassist") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no CRD", func(t *testing.T) {
		dyn := fakeVPAs()
		dyn.PrependReactor("list", "verticalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "autoscaling.k8s.io", Kind: "VerticalPodAutoscaler"}}
		})
		_, err := LiveVPAs{Client: dyn}.Read(ctx, vpaScope)
		if err == nil || !strings.Contains(err.Error(), "CRD (verticalpodautoscalers.autoscaling.k8s.io) is not installed") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		dyn := fakeVPAs()
		dyn.PrependReactor("list", "verticalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "autoscaling.k8s.io", Resource: "verticalpodautoscalers"}, "", errors.New("RBAC"))
		})
		_, err := LiveVPAs{Client: dyn}.Read(ctx, vpaScope)
		if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "list VerticalPodAutoscalers in voiceassist") {
			t.Fatalf("err %v, want the Forbidden error wrapped with what was listed", err)
		}
	})
}
