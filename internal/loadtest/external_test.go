package loadtest

import (
	"context"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	externalv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	externalfake "k8s.io/metrics/pkg/client/external_metrics/fake"
)

// An External metric with no series for the HPA's selector is unknown
// (value null), as the HPA controller fails the read, not 0; one with
// series is their sum. Fake clientsets: no cluster runs in unit tests.
func TestWatcherExternalUnknownWithoutSeries(t *testing.T) {
	ext := func(name string) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: name}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: resource.NewQuantity(60, resource.DecimalSI)}}}
	}
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "w-hpa", Namespace: "ns"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{ext("depth"), ext("age")}}}
	f := &externalfake.FakeExternalMetricsClient{}
	f.AddReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetResource().Resource == "age" {
			return true, &externalv1beta1.ExternalMetricValueList{}, nil
		}
		return true, &externalv1beta1.ExternalMetricValueList{Items: []externalv1beta1.ExternalMetricValue{{Value: resource.MustParse("4")}, {Value: resource.MustParse("3")}}}, nil
	})
	w := &Watcher{Kube: fake.NewClientset(h), External: f, Namespace: "ns"}
	s := w.Sample(context.Background())
	got := map[string]ExternalValue{}
	for _, e := range s.External {
		got[e.Metric] = e
	}
	if d := got["depth"]; d.Value == nil || *d.Value != 7 || d.Series != 2 || d.Error != "" {
		t.Errorf("depth: %+v", d)
	}
	if a := got["age"]; a.Value != nil || a.Series != 0 || a.Error == "" {
		t.Errorf("age without series: %+v, want unknown with an error", a)
	}
}
