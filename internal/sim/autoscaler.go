package sim

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Metric names the simulator can feed to an HPA.
const (
	RequestRateMetric = "http_requests_per_second"
	QueueDepthMetric  = "voiceassist_queue_depth"
	QueueAgeMetric    = "voiceassist_queue_oldest_job_age_seconds"
)

type source uint8

const (
	srcCPU source = iota
	srcMemory
	srcRPS
	srcDepth
	srcAge
)

// MetricInfo describes one metric of an HPA and its target in display units:
// percent of request for Utilization, req/s per pod, jobs per pod, seconds.
type MetricInfo struct {
	Key         string  `json:"key"`    // kube.MetricKey, e.g. "Resource/cpu"
	Target      string  `json:"target"` // kube.MetricTarget, e.g. "Utilization 70"
	Label       string  `json:"label"`  // short, e.g. "cpu %"
	TargetValue float64 `json:"targetValue"`
}

// autoscaler is one HPA object driving one simulated deployment through
// internal/hpa, the port of the upstream controller.
type autoscaler struct {
	obj       *autoscalingv2.HorizontalPodAutoscaler
	dep       *deployment
	src       []source
	info      []MetricInfo
	obs       []hpa.Observation
	proposals []hpa.MetricProposal
	values    []float64 // each metric's value at the last sync, display units
	state     hpa.State
	last      hpa.Decision
	min, max  int32
}

func newAutoscaler(h *autoscalingv2.HorizontalPodAutoscaler, dep *deployment) (*autoscaler, error) {
	ref := "HorizontalPodAutoscaler " + h.Namespace + "/" + h.Name
	a := &autoscaler{obj: h, dep: dep, min: 1, max: h.Spec.MaxReplicas}
	if h.Spec.MinReplicas != nil {
		a.min = *h.Spec.MinReplicas
	}
	if len(h.Spec.Metrics) == 0 {
		// The API server would default a CPU 80 % metric; work on a copy.
		c := h.DeepCopy()
		hpa.SetDefaults(c)
		a.obj = c
	}
	for i, m := range a.obj.Spec.Metrics {
		src, info, err := metricSource(m, dep)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.metrics[%d] (%s): %w", ref, i, kube.MetricKey(m), err)
		}
		a.src = append(a.src, src)
		a.info = append(a.info, info)
	}
	n := len(a.src)
	a.obs = make([]hpa.Observation, n)
	a.proposals = make([]hpa.MetricProposal, n)
	a.values = make([]float64, n)
	return a, nil
}

func metricSource(m autoscalingv2.MetricSpec, dep *deployment) (source, MetricInfo, error) {
	info := MetricInfo{Key: kube.MetricKey(m), Target: kube.MetricTarget(m)}
	var name string
	var target autoscalingv2.MetricTarget
	switch {
	case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
		name, target = string(m.Resource.Name), m.Resource.Target
	case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
		name, target = string(m.ContainerResource.Name), m.ContainerResource.Target
	case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil:
		name, target = m.Pods.Metric.Name, m.Pods.Target
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		name, target = m.External.Metric.Name, m.External.Target
	default:
		return 0, info, fmt.Errorf("the simulator has no model for %s metrics", m.Type)
	}
	switch {
	case target.AverageUtilization != nil:
		info.TargetValue = float64(*target.AverageUtilization)
	case target.AverageValue != nil:
		info.TargetValue = target.AverageValue.AsApproximateFloat64()
	case target.Value != nil:
		info.TargetValue = target.Value.AsApproximateFloat64()
	}
	isResource := m.Type == autoscalingv2.ResourceMetricSourceType || m.Type == autoscalingv2.ContainerResourceMetricSourceType
	utilization := target.AverageUtilization != nil
	switch {
	case isResource && name == string(corev1.ResourceCPU):
		info.Label = "cpu"
		if utilization {
			info.Label = "cpu %"
		}
		return srcCPU, info, nil
	case isResource && name == string(corev1.ResourceMemory):
		info.Label = "memory"
		if utilization {
			info.Label = "memory %"
		}
		return srcMemory, info, nil
	case m.Type == autoscalingv2.PodsMetricSourceType && name == RequestRateMetric && dep.kind == gatewayKind:
		info.Label = "req/s per pod"
		return srcRPS, info, nil
	case m.Type == autoscalingv2.ExternalMetricSourceType && name == QueueDepthMetric:
		info.Label = "queue depth"
		if target.AverageValue != nil {
			info.Label = "queue depth per pod"
		}
		return srcDepth, info, nil
	case m.Type == autoscalingv2.ExternalMetricSourceType && name == QueueAgeMetric:
		info.Label = "queue age s"
		return srcAge, info, nil
	}
	known := []string{"Resource cpu", "Resource memory", "External " + QueueDepthMetric, "External " + QueueAgeMetric}
	if dep.kind == gatewayKind {
		known = append(known, "Pods "+RequestRateMetric)
	}
	return 0, info, fmt.Errorf("the simulator has no model for this metric on Deployment %s (it models: %s)", dep.name, strings.Join(known, ", "))
}

// exporter is what Prometheus last scraped from the queue exporter.
type exporter struct {
	depth, age int64
}

// sync runs one HPA sync at t and applies the decision to the deployment.
// It returns the decision.
func (a *autoscaler) sync(c *hpa.Controller, t int64, exp exporter) hpa.Decision {
	d := a.dep
	now := at(t)
	pods := d.listPods(t)
	status := d.active()
	for i := range a.src {
		o := &a.obs[i]
		o.Pods = pods
		switch a.src[i] {
		case srcCPU:
			o.PodMetrics = d.cpuMetrics
			a.values[i] = display(d.cpuAvg, d.cpuRequest, a.info[i].Target)
		case srcMemory:
			o.PodMetrics = d.memMetrics
			a.values[i] = display(d.memAvg, d.memRequest, a.info[i].Target)
		case srcRPS:
			o.PodMetrics = d.rpsMetrics
			a.values[i] = d.rpsAvg
		case srcDepth:
			o.ExternalValues = append(o.ExternalValues[:0], exp.depth*1000)
			a.values[i] = float64(exp.depth)
			if a.info[i].Label == "queue depth per pod" && status > 0 {
				a.values[i] /= float64(status)
			}
		case srcAge:
			o.ExternalValues = append(o.ExternalValues[:0], exp.age*1000)
			a.values[i] = float64(exp.age)
		}
		a.proposals[i] = c.ComputeReplicasForMetric(a.obj, &a.obj.Spec.Metrics[i], d.spec, status, o, now)
	}
	a.last = c.Decide(a.obj, d.spec, a.proposals, now, &a.state)
	return a.last
}

// display turns a resource's average per pod (millicores or MiB) into what
// kubectl get hpa shows: percent of request for a Utilization target, else
// the raw average (millicores or MiB).
func display(avg, request float64, target string) float64 {
	if strings.HasPrefix(target, "Utilization") {
		if request == 0 {
			return 0
		}
		return avg / request * 100
	}
	return avg
}
