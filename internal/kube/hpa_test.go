package kube

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestMetricCurrent(t *testing.T) {
	q := resource.MustParse("250m")
	for _, tc := range []struct {
		name string
		in   autoscalingv2.MetricStatus
		want string // "" for nil
	}{
		{"none set", autoscalingv2.MetricStatus{Type: autoscalingv2.ExternalMetricSourceType}, ""},
		{"external without a value", autoscalingv2.MetricStatus{External: &autoscalingv2.ExternalMetricStatus{}}, ""},
		{"resource utilization", autoscalingv2.MetricStatus{Resource: &autoscalingv2.ResourceMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](42)}}}, "util 42"},
		{"container resource", autoscalingv2.MetricStatus{ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: &q}}}, "avg 250m"},
		{"pods", autoscalingv2.MetricStatus{Pods: &autoscalingv2.PodsMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: &q}}}, "avg 250m"},
		{"object", autoscalingv2.MetricStatus{Object: &autoscalingv2.ObjectMetricStatus{Current: autoscalingv2.MetricValueStatus{Value: &q}}}, "value 250m"},
		{"external", autoscalingv2.MetricStatus{External: &autoscalingv2.ExternalMetricStatus{Current: autoscalingv2.MetricValueStatus{Value: &q}}}, "value 250m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MetricCurrent(tc.in)
			var s string
			switch {
			case got == nil:
			case got.AverageUtilization != nil:
				s = "util " + resource.NewQuantity(int64(*got.AverageUtilization), resource.DecimalSI).String()
			case got.AverageValue != nil:
				s = "avg " + got.AverageValue.String()
			case got.Value != nil:
				s = "value " + got.Value.String()
			}
			if s != tc.want {
				t.Fatalf("MetricCurrent = %q, want %q", s, tc.want)
			}
		})
	}
	// The result is a copy: changing it leaves the HPA's status alone.
	in := autoscalingv2.MetricStatus{External: &autoscalingv2.ExternalMetricStatus{Current: autoscalingv2.MetricValueStatus{Value: ptr.To(resource.MustParse("3"))}}}
	MetricCurrent(in).Value.Set(7)
	if in.External.Current.Value.Value() != 3 {
		t.Fatalf("MetricCurrent aliases the status: %s", in.External.Current.Value)
	}
}

func TestMetricSpecTarget(t *testing.T) {
	if MetricSpecTarget(autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType}) != nil || MetricTarget(autoscalingv2.MetricSpec{}) != "?" {
		t.Fatal("a spec without a source has no target")
	}
	m := autoscalingv2.MetricSpec{External: &autoscalingv2.ExternalMetricSource{Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr.To(resource.MustParse("60"))}}}
	if got := MetricSpecTarget(m); got == nil || got.Value.String() != "60" {
		t.Fatalf("MetricSpecTarget = %+v", got)
	}
	if got := MetricTarget(m); got != "Value 60" {
		t.Fatalf("MetricTarget = %q", got)
	}
}
