package kube

import (
	"fmt"
	"sort"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricKey identifies what an HPA metric measures, independent of its
// target: "Resource/cpu", "Pods/http_requests_per_second",
// "External/voiceassist_queue_depth{queue=voice-jobs}". Two metrics with the
// same key measure the same thing.
func MetricKey(m autoscalingv2.MetricSpec) string {
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if m.Resource != nil {
			return "Resource/" + string(m.Resource.Name)
		}
	case autoscalingv2.ContainerResourceMetricSourceType:
		if m.ContainerResource != nil {
			return "ContainerResource/" + m.ContainerResource.Container + "/" + string(m.ContainerResource.Name)
		}
	case autoscalingv2.PodsMetricSourceType:
		if m.Pods != nil {
			return "Pods/" + metricID(m.Pods.Metric)
		}
	case autoscalingv2.ObjectMetricSourceType:
		if m.Object != nil {
			return fmt.Sprintf("Object/%s/%s/%s", m.Object.DescribedObject.Kind, m.Object.DescribedObject.Name, metricID(m.Object.Metric))
		}
	case autoscalingv2.ExternalMetricSourceType:
		if m.External != nil {
			return "External/" + metricID(m.External.Metric)
		}
	}
	return string(m.Type) + "/?"
}

// MetricTarget returns a metric's target as "Utilization 70",
// "AverageValue 100" or "Value 60".
func MetricTarget(m autoscalingv2.MetricSpec) string {
	t := MetricSpecTarget(m)
	if t == nil {
		return "?"
	}
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if t.AverageUtilization != nil {
			return fmt.Sprintf("Utilization %d", *t.AverageUtilization)
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue != nil {
			return "AverageValue " + t.AverageValue.String()
		}
	case autoscalingv2.ValueMetricType:
		if t.Value != nil {
			return "Value " + t.Value.String()
		}
	}
	return string(t.Type) + " ?"
}

// MetricSpecTarget is the target of whichever source a metric spec sets,
// nil when it sets none.
func MetricSpecTarget(m autoscalingv2.MetricSpec) *autoscalingv2.MetricTarget {
	switch {
	case m.Resource != nil:
		return &m.Resource.Target
	case m.ContainerResource != nil:
		return &m.ContainerResource.Target
	case m.Pods != nil:
		return &m.Pods.Target
	case m.Object != nil:
		return &m.Object.Target
	case m.External != nil:
		return &m.External.Target
	}
	return nil
}

// MetricCurrent is a status.currentMetrics entry's current value (a copy),
// nil when it has none: the controller could not read the metric, which
// `kubectl get hpa` shows as <unknown>.
func MetricCurrent(m autoscalingv2.MetricStatus) *autoscalingv2.MetricValueStatus {
	var v *autoscalingv2.MetricValueStatus
	switch {
	case m.Resource != nil:
		v = &m.Resource.Current
	case m.ContainerResource != nil:
		v = &m.ContainerResource.Current
	case m.Pods != nil:
		v = &m.Pods.Current
	case m.Object != nil:
		v = &m.Object.Current
	case m.External != nil:
		v = &m.External.Current
	}
	if v == nil || (v.AverageUtilization == nil && v.AverageValue == nil && v.Value == nil) {
		return nil
	}
	return v.DeepCopy()
}

// DescribeRules writes a scaling direction's rules in one line:
// "window=300s select=Min Pods 1/300s". Absent fields print as "-".
func DescribeRules(r *autoscalingv2.HPAScalingRules) string {
	if r == nil {
		return "-"
	}
	var b strings.Builder
	if r.StabilizationWindowSeconds != nil {
		fmt.Fprintf(&b, "window=%ds", *r.StabilizationWindowSeconds)
	} else {
		b.WriteString("window=-")
	}
	if r.SelectPolicy != nil {
		fmt.Fprintf(&b, " select=%s", *r.SelectPolicy)
	} else {
		b.WriteString(" select=-")
	}
	for _, p := range r.Policies {
		fmt.Fprintf(&b, " %s %d/%ds", p.Type, p.Value, p.PeriodSeconds)
	}
	return b.String()
}

func metricID(id autoscalingv2.MetricIdentifier) string {
	if id.Selector == nil || (len(id.Selector.MatchLabels) == 0 && len(id.Selector.MatchExpressions) == 0) {
		return id.Name
	}
	return id.Name + "{" + selectorString(id.Selector) + "}"
}

func selectorString(sel *metav1.LabelSelector) string {
	var parts []string
	for k, v := range sel.MatchLabels {
		parts = append(parts, k+"="+v)
	}
	for _, e := range sel.MatchExpressions {
		vals := append([]string(nil), e.Values...)
		sort.Strings(vals)
		parts = append(parts, fmt.Sprintf("%s %s (%s)", e.Key, strings.ToLower(string(e.Operator)), strings.Join(vals, ",")))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
