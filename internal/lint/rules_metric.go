package lint

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// metricShape classifies a metric name: "depth" for counts of waiting work
// (queue depth, length, lag, backlog), "age" for how long work waits (age,
// oldest, wait time), "" for anything else.
func metricShape(name string) string {
	toks := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '_' || r == '.' || r == '-' || r == ':' || r == '/' })
	has := func(words ...string) bool {
		for _, t := range toks {
			for _, w := range words {
				if t == w {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("age", "oldest"):
		return "age"
	case has("depth", "length", "len", "lag", "backlog"):
		return "depth"
	case has("queue", "queues") && has("size", "messages", "jobs", "items", "count", "total"):
		return "depth"
	}
	return ""
}

func checkGlobalAsPods(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		for i, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.PodsMetricSourceType || m.Pods == nil {
				continue
			}
			shape := metricShape(m.Pods.Metric.Name)
			if shape == "" {
				continue
			}
			target := "AverageValue (desired = ceil(total / target))"
			if shape == "age" {
				target = "Value"
			}
			out = append(out, c.at(h, fmt.Sprintf("spec.metrics[%d].pods.metric.name", i),
				fmt.Sprintf("Pods metric %q is one global value (a queue's %s), not a per-pod one: every pod reports the whole value, so the HPA's per-pod average never falls as pods are added and it runs to maxReplicas", m.Pods.Metric.Name, shape),
				fmt.Sprintf("make it type: External (external.metric.name %q, with a selector for the queue) and a %s target", m.Pods.Metric.Name, target)))
		}
	}
	return out
}

func checkMetricTargetType(c *Context) []Finding {
	var out []Finding
	for _, h := range c.Set.HPAs {
		for i, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil {
				continue
			}
			name, tt := m.External.Metric.Name, m.External.Target.Type
			field := fmt.Sprintf("spec.metrics[%d].external.target.type", i)
			switch shape := metricShape(name); {
			case shape == "depth" && tt == autoscalingv2.ValueMetricType:
				out = append(out, c.at(h, field,
					fmt.Sprintf("External metric %q counts work but has a Value target: the HPA scales by depth/target × current pods, so the count grows with itself instead of giving one pod per %s items", name, targetValue(m.External.Target)),
					"use target type: AverageValue with averageValue = items one pod handles (desired = ceil(depth / averageValue))"))
			case shape == "age" && tt == autoscalingv2.AverageValueMetricType:
				out = append(out, c.at(h, field,
					fmt.Sprintf("External metric %q is a duration but has an AverageValue target: the HPA divides seconds by the target to get a pod count, and more pods do not make the oldest job younger per pod", name),
					"use target type: Value with value = the age you accept (the HPA scales by age / value)"))
			}
		}
	}
	return out
}

func targetValue(t autoscalingv2.MetricTarget) string {
	switch {
	case t.Value != nil:
		return t.Value.String()
	case t.AverageValue != nil:
		return t.AverageValue.String()
	}
	return "?"
}
