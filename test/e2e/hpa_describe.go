//go:build e2e

package e2e

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/voiceassist/autoscaling/internal/kube"
)

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

func describeConditions(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var out []string
	for _, c := range h.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s/%s (%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, "; ")
}

// describeCurrentMetrics prints status.currentMetrics as `kubectl get hpa`
// would, "<unknown>" for a metric the controller could not read.
func describeCurrentMetrics(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var out []string
	for i, spec := range h.Spec.Metrics {
		cur := "<unknown>"
		if i < len(h.Status.CurrentMetrics) {
			if v, ok := metricValue(h.Status.CurrentMetrics[i]); ok {
				cur = v
			}
		}
		out = append(out, fmt.Sprintf("%s %s/%s", kube.MetricKey(spec), cur, kube.MetricTarget(spec)))
	}
	return strings.Join(out, ", ")
}

// metricValue is the current value of one status.currentMetrics entry as
// kubectl shows it, and whether it has one.
func metricValue(m autoscalingv2.MetricStatus) (string, bool) {
	var cur *autoscalingv2.MetricValueStatus
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource != nil {
			cur = &m.Resource.Current
		}
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource != nil {
			cur = &m.ContainerResource.Current
		}
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods != nil {
			cur = &m.Pods.Current
		}
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object != nil {
			cur = &m.Object.Current
		}
	case autoscalingv2.ExternalMetricSourceType:
		if m.External != nil {
			cur = &m.External.Current
		}
	}
	if cur == nil {
		return "", false
	}
	switch {
	case cur.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *cur.AverageUtilization), true
	case cur.AverageValue != nil:
		return cur.AverageValue.String(), true
	case cur.Value != nil:
		return cur.Value.String(), true
	}
	return "", false
}
