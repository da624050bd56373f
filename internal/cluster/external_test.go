package cluster

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	externalv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	externalfake "k8s.io/metrics/pkg/client/external_metrics/fake"
)

// ReadExternalSum on the fake External metrics client (no adapter runs
// here): the sum in milli-units, the series count and the newest
// timestamp; no series is ErrNoExternalSeries; an API error passes through.
func TestReadExternalSum(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	f := &externalfake.FakeExternalMetricsClient{}
	f.AddReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a.GetResource().Resource {
		case "empty":
			return true, &externalv1beta1.ExternalMetricValueList{}, nil
		case "broken":
			return true, nil, errors.New("adapter down")
		}
		return true, &externalv1beta1.ExternalMetricValueList{Items: []externalv1beta1.ExternalMetricValue{
			{Value: resource.MustParse("70"), Timestamp: metav1.NewTime(now.Add(-10 * time.Second))},
			{Value: resource.MustParse("1500m"), Timestamp: metav1.NewTime(now.Add(-5 * time.Second))},
			{Value: resource.MustParse("0.0001"), Timestamp: metav1.NewTime(now.Add(-20 * time.Second))}, // rounds up to 1m, as upstream
		}}, nil
	})
	got, err := ReadExternalSum(f, "ns", "depth", labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if got.Value.MilliValue() != 71501 || got.Series != 3 || !got.Newest.Equal(now.Add(-5*time.Second)) {
		t.Fatalf("ReadExternalSum = %s, %d series, newest %s", got.Value.String(), got.Series, got.Newest)
	}
	if got, err := ReadExternalSum(f, "ns", "empty", labels.Everything()); !errors.Is(err, ErrNoExternalSeries) || got.Series != 0 {
		t.Fatalf("no series: %+v, %v", got, err)
	}
	if _, err := ReadExternalSum(f, "ns", "broken", labels.Everything()); err == nil || errors.Is(err, ErrNoExternalSeries) {
		t.Fatalf("API error: %v", err)
	}
}
