package scrape

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/voiceassist/autoscaling/internal/adapter"
)

// Rules are the Prometheus Adapter rules a cluster serves metrics with.
type Rules struct {
	// Source names them in messages ("prometheus-adapter-values.yaml").
	Source           string
	Custom, External []adapter.Rule
}

// Result is the verdict on one custom, object or external metric of an HPA.
type Result struct {
	HPA *autoscalingv2.HorizontalPodAutoscaler
	// Index is the metric's position in spec.metrics; Field its JSON path
	// (spec.metrics[2].pods.metric.name).
	Index int
	Field string
	// Metric is the name the HPA asks for; Series the Prometheus series
	// the adapter rule serving it reads ("" when no rule does).
	Metric, Series string
	// Supply lists the scraped targets that deliver Series (for images we
	// know nothing about: that may deliver it).
	Supply []Target
	// Problem is why the metric cannot work, with Fix; "" when it can.
	Problem, Fix string
}

const consequence = "the metric stays <unknown>, and an HPA with an invalid metric never scales down (upstream's controller scales up on the other metrics, never down)"

// Check judges every Pods, Object and External metric of hpas against the
// manifests' scrape targets and the adapter's rules.
//
//   - Pods metrics must come from the pods of the HPA's own target (the
//     adapter finds them by their pod label);
//   - Object and External metrics from any scraped workload, in the HPA's
//     namespace when the rule maps the namespace label to the namespace
//     resource (the adapter then adds namespace="<the HPA's>").
func Check(hpas []*autoscalingv2.HorizontalPodAutoscaler, m Manifests, rules Rules) []Result {
	targets := Targets(m)
	var out []Result
	for _, h := range hpas {
		for i, ms := range h.Spec.Metrics {
			r := Result{HPA: h, Index: i}
			var rs []adapter.Rule
			var api string
			switch {
			case ms.Type == autoscalingv2.PodsMetricSourceType && ms.Pods != nil:
				r.Metric, r.Field, rs, api = ms.Pods.Metric.Name, fmt.Sprintf("spec.metrics[%d].pods.metric.name", i), rules.Custom, "custom"
			case ms.Type == autoscalingv2.ObjectMetricSourceType && ms.Object != nil:
				r.Metric, r.Field, rs, api = ms.Object.Metric.Name, fmt.Sprintf("spec.metrics[%d].object.metric.name", i), rules.Custom, "custom"
			case ms.Type == autoscalingv2.ExternalMetricSourceType && ms.External != nil:
				r.Metric, r.Field, rs, api = ms.External.Metric.Name, fmt.Sprintf("spec.metrics[%d].external.metric.name", i), rules.External, "external"
			default:
				continue
			}
			rule, ok := adapter.Find(rs, r.Metric)
			if !ok {
				r.Problem = fmt.Sprintf("no %s rule of %s serves %q: the adapter has no such %s.metrics.k8s.io metric, so %s", api, rules.Source, r.Metric, api, consequence)
				r.Fix = fmt.Sprintf("add a rules.%s entry whose name.as is %q to %s, or use a metric name one of its rules serves", api, r.Metric, rules.Source)
				out = append(out, r)
				continue
			}
			r.Series = rule.SeriesName()
			var candidates []Target
			var scope string
			if ms.Type == autoscalingv2.PodsMetricSourceType {
				ref := h.Spec.ScaleTargetRef
				scope = fmt.Sprintf("%s %s/%s (the HPA's target)", ref.Kind, h.Namespace, ref.Name)
				for _, t := range targets {
					if t.Workload.Kind == ref.Kind && t.Workload.Namespace == h.Namespace && t.Workload.Name == ref.Name {
						candidates = append(candidates, t)
					}
				}
			} else {
				scope = "any workload"
				namespaced := mapsNamespace(rule)
				if namespaced {
					scope = "any workload in namespace " + h.Namespace
				}
				for _, t := range targets {
					if !namespaced || t.Workload.Namespace == h.Namespace {
						candidates = append(candidates, t)
					}
				}
			}
			var whyNot []string
			for _, t := range candidates {
				switch v, why := t.Exporting(r.Series); v {
				case "yes", "maybe":
					r.Supply = append(r.Supply, t)
				default:
					whyNot = append(whyNot, why)
				}
			}
			if len(r.Supply) == 0 {
				r.Problem = fmt.Sprintf("the adapter serves %q from series %s, but no scraped target of %s exports it", r.Metric, r.Series, scope)
				if len(whyNot) > 0 {
					r.Problem += " (" + strings.Join(whyNot, "; ") + ")"
				} else {
					r.Problem += ": no ServiceMonitor selects a Service in front of its pods, and no pod template carries " + AnnotationScrape + `: "true"`
				}
				r.Problem += "; " + consequence
				r.Fix = fmt.Sprintf("scrape the workload that exports %s: a ServiceMonitor on its Service's metrics port (Prometheus Operator; k8s/performance/components/monitoring), or pod annotations %s: \"true\", %s and %s (the plain prometheus chart) — or drop the metric from this HPA", r.Series, AnnotationScrape, AnnotationPort, AnnotationPath)
			}
			out = append(out, r)
		}
	}
	return out
}

// mapsNamespace: the rule associates the namespace label with the
// namespace resource, so the adapter adds the HPA's namespace as a matcher.
func mapsNamespace(r adapter.Rule) bool {
	for _, o := range r.Resources.Overrides {
		if o.Group == "" && (o.Resource == "namespace" || o.Resource == "namespaces") {
			return true
		}
	}
	return strings.Contains(r.Resources.Template, "<<.Resource>>")
}

// RulesFromValues returns the rules of a prometheus-adapter Helm values file.
func RulesFromValues(source string, v *adapter.Values) Rules {
	return Rules{Source: source, Custom: v.Rules.Custom, External: v.Rules.External}
}
