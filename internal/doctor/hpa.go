package doctor

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

func hpaRef(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler) string {
	return "HorizontalPodAutoscaler " + s.Namespace + "/" + h.Name
}

func describeHPA(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler) string {
	return fmt.Sprintf("kubectl describe hpa %s -n %s", h.Name, s.Namespace)
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

func conditionText(c *autoscalingv2.HorizontalPodAutoscalerCondition) string {
	return fmt.Sprintf("condition %s=%s reason %s: %s", c.Type, c.Status, c.Reason, c.Message)
}

// hpaEvents are the HPA's Warning Events with one of reasons (all when none).
func (s *Snapshot) hpaEvents(h *autoscalingv2.HorizontalPodAutoscaler, reasons ...string) []string {
	var out []string
	for i := range s.Events {
		e := &s.Events[i]
		if e.InvolvedObject.Kind != "HorizontalPodAutoscaler" || e.InvolvedObject.Name != h.Name || e.Type != corev1.EventTypeWarning {
			continue
		}
		if len(reasons) > 0 && !contains(reasons, e.Reason) {
			continue
		}
		out = append(out, fmt.Sprintf("event %s (×%d, last %s): %s", e.Reason, max(e.Count, 1), eventTime(e).UTC().Format("15:04:05"), e.Message))
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkHPA: the scale target (FailedGetScale) and the pods without a
// request for a Resource metric.
func checkHPA(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler) []Finding {
	var out []Finding
	ref := h.Spec.ScaleTargetRef
	t := s.Targets[h.Name]
	if t == nil || t.Err != nil {
		ev := []string{}
		if t != nil {
			ev = append(ev, fmt.Sprintf("get %s %s/%s scale: %v", ref.Kind, s.Namespace, ref.Name, t.Err))
		}
		if c := condition(h, autoscalingv2.AbleToScale); c != nil {
			ev = append(ev, conditionText(c))
		}
		ev = append(ev, s.hpaEvents(h, "FailedGetScale")...)
		out = append(out, Finding{
			Check: CheckHPA, Severity: Error, Object: hpaRef(s, h),
			Message:  fmt.Sprintf("the HPA cannot read the scale of its target %s %s (FailedGetScale): it does not scale at all", ref.Kind, ref.Name),
			Evidence: ev,
			Confirm:  []string{describeHPA(s, h), fmt.Sprintf("kubectl get %s %s -n %s", strings.ToLower(ref.Kind), ref.Name, s.Namespace)},
			Fix:      "fix spec.scaleTargetRef in the environment's manifests (kind, name, apiVersion apps/v1), or re-apply the environment if the Deployment was deleted (vactl setup --env <env>)",
		})
		return out
	}
	// Pods without a request for a Resource utilization metric.
	pods := s.targetCorePods(t)
	for _, m := range h.Spec.Metrics {
		var res corev1.ResourceName
		container := ""
		switch {
		case m.Resource != nil && m.Resource.Target.AverageUtilization != nil:
			res = m.Resource.Name
		case m.ContainerResource != nil && m.ContainerResource.Target.AverageUtilization != nil:
			res, container = m.ContainerResource.Name, m.ContainerResource.Container
		default:
			continue
		}
		var missing, owners []string
		for _, p := range pods {
			hp := hpa.PodFromCore(p)
			if _, err := hpa.PodRequest(&hp, container, res); err != nil {
				missing = append(missing, fmt.Sprintf("pod %s: %v", p.Name, err))
				if o := ownerDeployment(s, p); o != "" && !contains(owners, o) {
					owners = append(owners, o)
				}
			}
		}
		if len(missing) == 0 {
			continue
		}
		ev := missing
		if c := condition(h, autoscalingv2.ScalingActive); c != nil {
			ev = append(ev, conditionText(c))
		}
		who := t.Kind + " " + t.Name
		if len(owners) > 0 {
			who = strings.Join(owners, ", ")
		}
		out = append(out, Finding{
			Check: CheckHPA, Severity: Error, Object: hpaRef(s, h),
			Message: fmt.Sprintf("%d pod(s) of %s have no %s request: the HPA cannot compute %s utilization (FailedGetResourceMetric, missing request for %s)",
				len(missing), who, res, kube.MetricKey(m), res),
			Evidence: ev,
			Confirm: []string{
				fmt.Sprintf("kubectl get pods -n %s -l %s -o custom-columns='NAME:.metadata.name,%s_REQUESTS:.spec.containers[*].resources.requests.%s'", s.Namespace, t.Selector, strings.ToUpper(string(res)), res),
				describeHPA(s, h),
			},
			Fix: fmt.Sprintf("give every container of %s a %s request (k8s/performance resource-limits.yaml; vactl lint flags it) and re-apply: a live patch is undone by the next apply", who, res),
		})
	}
	return out
}

// ownerDeployment names the Deployment of a pod by its ReplicaSet's name
// ("voiceassist-server-7d9c8b5f4" → Deployment voiceassist-server).
func ownerDeployment(s *Snapshot, p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Kind != "ReplicaSet" {
			continue
		}
		for _, d := range s.Deployments {
			if strings.HasPrefix(o.Name, d.Name+"-") {
				return "Deployment " + d.Name
			}
		}
	}
	return ""
}

// explainFindings turns the replay into findings: each invalid metric, the
// no-scale-down rule, and a disagreement with the controller's status.
func explainFindings(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler, e *Explanation) []Finding {
	if e.Err != "" {
		return nil
	}
	var out []Finding
	var invalid []string
	for i, m := range e.Metrics {
		if m.Error == "" {
			continue
		}
		invalid = append(invalid, m.Metric)
		if strings.Contains(m.Error, "missing request for") {
			continue // checkHPA names the pods
		}
		var readErr error
		if rs := s.Reads[h.Name]; i < len(rs) {
			readErr = rs[i].Err
		}
		out = append(out, metricFinding(s, h, &h.Spec.Metrics[i], &m, readErr))
	}
	if len(invalid) > 0 {
		f := Finding{Check: CheckHPA, Severity: Error, Object: hpaRef(s, h), Confirm: []string{describeHPA(s, h)}}
		if len(invalid) == len(e.Metrics) {
			f.Message = fmt.Sprintf("%s does not scale at all: every metric is invalid (%s); it keeps %d replicas", h.Name, strings.Join(invalid, ", "), e.SpecReplicas)
		} else {
			f.Message = fmt.Sprintf("%s will not scale down while %d of its %d metrics are invalid (%s): upstream's controller scales up on the valid ones but never down while one fails",
				h.Name, len(invalid), len(e.Metrics), strings.Join(invalid, ", "))
		}
		f.Evidence = []string{"replay: " + e.Summary}
		if c := condition(h, autoscalingv2.ScalingActive); c != nil {
			f.Evidence = append(f.Evidence, conditionText(c))
		}
		f.Fix = "bring the invalid metrics back (the findings above name the API or pod); in an emergency kubectl scale holds while every metric fails, within minReplicas–maxReplicas"
		out = append(out, f)
	}
	if e.Disagreement != "" {
		sev := Info
		if strings.Contains(e.Disagreement, "<unknown>") || strings.Contains(e.Disagreement, "memory") {
			sev = Warning
		}
		out = append(out, Finding{
			Check: CheckExplain, Severity: sev, Object: hpaRef(s, h),
			Message:  "the replay disagrees with the controller's last decision: " + e.Disagreement,
			Evidence: []string{"replay: " + e.Summary},
			Confirm:  []string{fmt.Sprintf("kubectl get hpa %s -n %s -o jsonpath='{.status}'", h.Name, s.Namespace)},
			Fix:      "run vactl doctor again after the next sync (15 s): a difference that persists means a stale or partial metric",
		})
	}
	return out
}

func metricFinding(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler, spec *autoscalingv2.MetricSpec, m *MetricExplanation, readErr error) Finding {
	f := Finding{Check: CheckHPA, Severity: Error, Object: hpaRef(s, h)}
	api := APIFor(*spec)
	f.Evidence = []string{fmt.Sprintf("%s: %s (%s)", m.Metric, m.Error, m.Reason), "status.currentMetrics: " + m.Status}
	if c := condition(h, autoscalingv2.ScalingActive); c != nil && c.Status != corev1.ConditionTrue {
		f.Evidence = append(f.Evidence, conditionText(c))
	}
	f.Evidence = append(f.Evidence, s.hpaEvents(h, "FailedGetResourceMetric", "FailedGetPodsMetric", "FailedGetExternalMetric", "FailedGetObjectMetric", "FailedComputeMetricsReplicas")...)
	if m.Query != "" {
		f.Confirm = append(f.Confirm, fmt.Sprintf("kubectl get --raw %q", m.Query))
	}
	f.Confirm = append(f.Confirm, describeHPA(s, h))
	switch {
	case !s.apiAvailable(api):
		f.Message = fmt.Sprintf("%s is <unknown>: %s is unavailable (APIService %s)", m.Metric, apiGroup(api), api)
		f.Fix = "bring back " + provider(api) + " (see the APIService finding)"
	case apierrors.IsNotFound(readErr) && api != ResourceMetricsAPI:
		f.Message = fmt.Sprintf("the %s API does not serve %s (404 for the HPA's query): %s stays <unknown>", apiGroup(api), metricName(spec), m.Metric)
		f.Fix = "the adapter has no rule for the metric, or its series lack the labels the rule needs: check k8s/performance/prometheus-adapter-values.yaml and that Prometheus has the series"
	case spec.Type == autoscalingv2.ExternalMetricSourceType && strings.Contains(m.Error, hpa.ErrNoExternalMetrics.Error()):
		f.Message = fmt.Sprintf("the external metrics API serves no series of %s for the HPA's selector %s (FailedGetExternalMetric)", spec.External.Metric.Name, selectorOf(spec.External.Metric))
		f.Fix = "the exporter is down or not scraped, or the selector matches no series: runbook VoiceAssistQueueMetricsMissing"
	case spec.Type == autoscalingv2.PodsMetricSourceType && strings.Contains(m.Error, hpa.ErrNoCustomMetrics.Error()):
		f.Message = fmt.Sprintf("the custom metrics API serves no %s for the HPA's pods (selector %s) (FailedGetPodsMetric)", spec.Pods.Metric.Name, s.Targets[h.Name].Selector)
		f.Fix = "check that Prometheus scrapes the pods (ServiceMonitor targets) and that the adapter's rules (k8s/performance/prometheus-adapter-values.yaml) name the metric"
	default:
		f.Message = fmt.Sprintf("%s cannot be computed (%s): %s", m.Metric, m.Reason, m.Error)
		f.Fix = "see the error: the metric's API answered, but the controller cannot use the answer"
	}
	return f
}

func metricName(spec *autoscalingv2.MetricSpec) string {
	switch {
	case spec.Pods != nil:
		return spec.Pods.Metric.Name
	case spec.Object != nil:
		return spec.Object.Metric.Name
	case spec.External != nil:
		return spec.External.Metric.Name + " for selector " + selectorOf(spec.External.Metric)
	}
	return string(spec.Type)
}

func selectorOf(m autoscalingv2.MetricIdentifier) string {
	return metav1.FormatLabelSelector(m.Selector)
}
