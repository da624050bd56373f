package status

import (
	"errors"
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// hpaStatus reads one HPA: bounds, replicas, every metric against its target
// with the replica count it proposes, which one decides, the conditions.
func hpaStatus(h *autoscalingv2.HorizontalPodAutoscaler, w workload, pods []corev1.Pod, now time.Time) HPA {
	out := HPA{
		Name:            h.Name,
		Target:          h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name,
		MinReplicas:     hpa.MinReplicas(h),
		MaxReplicas:     h.Spec.MaxReplicas,
		CurrentReplicas: h.Status.CurrentReplicas,
		DesiredReplicas: h.Status.DesiredReplicas,
		Metrics:         []Metric{},
		Conditions:      []Condition{},
	}
	if h.Status.LastScaleTime != nil {
		out.LastScaleTime = conditionTime(*h.Status.LastScaleTime)
	}
	for _, c := range h.Status.Conditions {
		out.Conditions = append(out.Conditions, Condition{Type: string(c.Type), Status: c.Status, Reason: c.Reason, Message: c.Message, LastTransitionTime: conditionTime(c.LastTransitionTime)})
	}

	// The replica counts upstream's calculator reads: the scale's
	// spec.replicas (the workload's) and status.replicas (the HPA's
	// currentReplicas), and the ready pods of the target's selector.
	specReplicas, statusReplicas := h.Status.CurrentReplicas, h.Status.CurrentReplicas
	ready := int(h.Status.CurrentReplicas)
	readyNote := ""
	if w.found {
		specReplicas = w.replicas
		ready = 0
		for i := range pods {
			p := &pods[i]
			if w.selector.Matches(labels.Set(p.Labels)) && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podutils.IsPodReady(p) {
				ready++
			}
		}
	} else {
		readyNote = w.why + "; the proposals assume currentReplicas ready pods"
	}
	out.ReadyPods = ready

	ctl := hpa.DefaultController()
	proposals := make([]hpa.MetricProposal, len(h.Spec.Metrics))
	for i := range h.Spec.Metrics {
		spec := &h.Spec.Metrics[i]
		m := Metric{Name: kube.MetricKey(*spec), Type: spec.Type}
		if t := kube.MetricSpecTarget(*spec); t != nil {
			m.Target = *t
		}
		if i < len(h.Status.CurrentMetrics) && h.Status.CurrentMetrics[i].Type == spec.Type {
			m.Current = kube.MetricCurrent(h.Status.CurrentMetrics[i])
		}
		if m.Current == nil {
			proposals[i] = hpa.MetricProposal{Err: errors.New("the controller reports no current value (<unknown>): see ScalingActive")}
		} else {
			obs := observation(spec, m.Current, ready, statusReplicas, now)
			proposals[i] = ctl.ComputeReplicasForMetric(h, spec, specReplicas, statusReplicas, obs, now)
		}
		if proposals[i].Err != nil {
			m.ProposalError = proposals[i].Err.Error()
		} else {
			r := proposals[i].Replicas
			m.Proposal = &r
		}
		out.Metrics = append(out.Metrics, m)
	}
	out.Decision = decide(&out, proposals, specReplicas, readyNote)
	return out
}

// decide takes the max over the proposals as upstream's
// computeReplicasForMetrics does: the first of the highest valid proposals
// wins; when every metric is invalid, or some are and the rest propose
// fewer replicas than spec.replicas, there is no decision (-1: upstream keeps
// the count, never scaling down on partial metrics).
func decide(h *HPA, proposals []hpa.MetricProposal, specReplicas int32, note string) Decision {
	d := Decision{Proposed: -1, Bounded: specReplicas}
	best, invalid := -1, 0
	for i, p := range proposals {
		if p.Err != nil {
			invalid++
			continue
		}
		// Upstream's rule (computeReplicasForMetrics): a larger proposal
		// wins, and so does any metric while the best so far proposes 0,
		// so among metrics all proposing 0 the last one is named.
		if best < 0 || proposals[best].Replicas == 0 || p.Replicas > proposals[best].Replicas {
			best = i
		}
	}
	var parts []string
	for i, p := range proposals {
		if p.Err != nil {
			parts = append(parts, h.Metrics[i].Name+" <unknown>")
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", h.Metrics[i].Name, p.Replicas))
		}
	}
	list := strings.Join(parts, ", ")
	switch {
	case len(proposals) == 0:
		d.Explanation = "the HPA has no metrics"
	case best < 0:
		d.Explanation = fmt.Sprintf("no metric has a current value (%s): the HPA cannot compute a replica count and keeps %d", list, specReplicas)
	case invalid > 0 && proposals[best].Replicas < specReplicas:
		d.Explanation = fmt.Sprintf("%d metric(s) <unknown> and the rest propose fewer replicas (%s): upstream does not scale down while a metric is invalid, so it keeps %d",
			invalid, list, specReplicas)
	default:
		d.Proposed = proposals[best].Replicas
		d.Metric = h.Metrics[best].Name
		h.Metrics[best].Decides = true
		d.Bounded = min(max(d.Proposed, h.MinReplicas), h.MaxReplicas)
		d.Explanation = fmt.Sprintf("max(%s) = %d from %s", list, d.Proposed, d.Metric)
		if d.Bounded != d.Proposed {
			d.Explanation += fmt.Sprintf(", bounded to %d by [%d, %d]", d.Bounded, h.MinReplicas, h.MaxReplicas)
		}
		if invalid > 0 {
			d.Explanation += fmt.Sprintf(" (%d metric(s) <unknown>: the HPA may scale up on the others, never down)", invalid)
		}
		d.ControllerMetric = controllerMetric(h)
		// Agreement is on the number: with several metrics proposing the
		// same count, which one the controller names depends on its own
		// evaluation at that sync (an idle HPA's metrics all propose the
		// minimum), not on a disagreement.
		for _, p := range proposals {
			if p.Err == nil && p.Replicas == proposals[best].Replicas && d.ControllerMetric != "" &&
				strings.HasPrefix(d.ControllerMetric, p.Metric) {
				d.AgreesWithController = true
			}
		}
		if d.ControllerMetric != "" && !d.AgreesWithController {
			d.Explanation += fmt.Sprintf("; the controller's last sync computed from %s (the values moved since, or a pod was unready or missing a sample there)", d.ControllerMetric)
		}
		switch {
		case h.DesiredReplicas == d.Bounded:
			d.Explanation += fmt.Sprintf("; the controller's desired count is %d", h.DesiredReplicas)
		default:
			d.Explanation += fmt.Sprintf("; the controller's desired count is %d: %s", h.DesiredReplicas, limitReason(h))
		}
	}
	if note != "" {
		d.Explanation += " (" + note + ")"
	}
	return d
}

// validMetricPrefix starts upstream's ScalingActive=True message; the
// metric the count was computed from follows it.
const validMetricPrefix = "the HPA was able to successfully calculate a replica count from "

// controllerMetric is the metric the controller's ScalingActive condition
// names, or "".
func controllerMetric(h *HPA) string {
	for _, c := range h.Conditions {
		if c.Type == string(autoscalingv2.ScalingActive) && c.Status == corev1.ConditionTrue && strings.HasPrefix(c.Message, validMetricPrefix) {
			return strings.TrimPrefix(c.Message, validMetricPrefix)
		}
	}
	return ""
}

// limitReason names what holds the desired count away from the proposal:
// the ScalingLimited or AbleToScale condition's reason when it says so.
func limitReason(h *HPA) string {
	for _, c := range h.Conditions {
		if c.Type == string(autoscalingv2.ScalingLimited) && c.Status == corev1.ConditionTrue {
			return c.Reason + " (" + c.Message + ")"
		}
	}
	for _, c := range h.Conditions {
		if c.Type == string(autoscalingv2.AbleToScale) && (c.Reason == hpa.ReasonScaleDownStabilized || c.Reason == hpa.ReasonScaleUpStabilized) {
			return c.Reason + " (" + c.Message + ")"
		}
	}
	return "its stabilization window or rate policy holds it, or the status values changed since its last sync"
}

// observation turns the controller's reported value into what the metrics
// APIs would return for it: every ready pod reporting the average, an
// object or external value as reported. The calculator then runs its fast
// path (no missing or unready samples): within the tolerance the count stays,
// else ceil(ratio × ready pods), or ceil(total / target) for AverageValue
// External and Object metrics. A replay from per-pod samples, with unready
// and missing pods, is `vactl doctor`'s job.
func observation(spec *autoscalingv2.MetricSpec, cur *autoscalingv2.MetricValueStatus, ready int, statusReplicas int32, now time.Time) *hpa.Observation {
	obs := &hpa.Observation{PodMetrics: hpa.PodMetrics{}}
	since := now.Add(-time.Hour) // long past the CPU initialization period
	perPod := int64(0)
	var resName corev1.ResourceName
	const request = 1000 // milli-units: utilization U% is a sample of U*10
	switch spec.Type {
	case autoscalingv2.ResourceMetricSourceType:
		resName = spec.Resource.Name
	case autoscalingv2.ContainerResourceMetricSourceType:
		resName = spec.ContainerResource.Name
	}
	switch {
	case cur.AverageUtilization != nil:
		perPod = int64(*cur.AverageUtilization) * request / 100
	case cur.AverageValue != nil:
		perPod = cur.AverageValue.MilliValue()
	}
	container := "c"
	if spec.Type == autoscalingv2.ContainerResourceMetricSourceType {
		container = spec.ContainerResource.Container
	}
	for i := 0; i < ready; i++ {
		name := fmt.Sprintf("ready-%d", i)
		p := hpa.Pod{Name: name, Phase: corev1.PodRunning, Ready: corev1.ConditionTrue, ReadyTransitionTime: since, StartTime: since,
			Containers: []hpa.Container{{Name: container}}}
		if resName != "" {
			p.Containers[0].Requests = map[corev1.ResourceName]int64{resName: request}
		}
		obs.Pods = append(obs.Pods, p)
		obs.PodMetrics[name] = hpa.Sample{Value: perPod, Timestamp: now, Window: time.Minute}
	}
	switch spec.Type {
	case autoscalingv2.ObjectMetricSourceType:
		if cur.Value != nil {
			obs.ObjectValue = cur.Value.MilliValue()
		} else if cur.AverageValue != nil {
			obs.ObjectValue = cur.AverageValue.MilliValue() * int64(statusReplicas)
		}
	case autoscalingv2.ExternalMetricSourceType:
		// The status keeps the total for a Value target and the total per
		// pod (rounded up to a milli-unit) for an AverageValue one.
		if cur.Value != nil {
			obs.ExternalValues = []int64{cur.Value.MilliValue()}
		} else if cur.AverageValue != nil {
			obs.ExternalValues = []int64{cur.AverageValue.MilliValue() * int64(max(statusReplicas, 1))}
		}
	}
	return obs
}
