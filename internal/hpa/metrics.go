package hpa

import (
	"errors"
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Observation is what the metrics APIs and the pod lister returned for one
// metric spec at one sync. Only the fields the spec's type reads are used.
type Observation struct {
	// Pods are the pods matched by the scale target's selector (the pod
	// lister). Resource, ContainerResource and Pods metrics group them; Object
	// and External metrics with a Value target count the ready ones.
	Pods []Pod
	// PodMetrics are per-pod samples: for Resource the sum over the pod's
	// containers (a pod where any container lacks the resource is left out, as
	// metrics/client.go does), for ContainerResource the named container's
	// value, for Pods the custom metric.
	PodMetrics PodMetrics
	// ObjectValue is the Object metric's value (milli-units).
	ObjectValue int64
	// ExternalValues are the External metric's values (milli-units), one per
	// series the external metrics API returned for the selector; they are
	// summed. Empty means the API returned no series: the metric fails with
	// FailedGetExternalMetric, as upstream, and is never read as zero.
	ExternalValues []int64
	// Err is an error of the metrics API itself (e.g. the adapter is down).
	Err error
}

// ComputeReplicasForMetric mirrors computeReplicasForMetric and the
// computeStatusFor*Metric functions: it picks the calculator for the spec's
// type and target, with the tolerances of the HPA. specReplicas is the scale's
// spec.replicas, statusReplicas its status.replicas (used by AverageValue
// targets of Object and External metrics).
func (c *Controller) ComputeReplicasForMetric(hpa *autoscalingv2.HorizontalPodAutoscaler, spec *autoscalingv2.MetricSpec,
	specReplicas, statusReplicas int32, obs *Observation, now time.Time) MetricProposal {
	tol := c.Tolerances(hpa)
	switch spec.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if spec.Resource == nil {
			return failed(ReasonFailedGetResourceMetric, "failed to get resource metric value: %v", errors.New("resource metric source is not set"))
		}
		return c.resourceProposal(now, specReplicas, spec.Resource.Name, "", spec.Resource.Target, tol, obs, ReasonFailedGetResourceMetric,
			string(spec.Resource.Name), "resource")
	case autoscalingv2.ContainerResourceMetricSourceType:
		if spec.ContainerResource == nil {
			return failed(ReasonFailedGetContainerResourceMetric, "failed to get container metric value: %v", errors.New("container resource metric source is not set"))
		}
		return c.resourceProposal(now, specReplicas, spec.ContainerResource.Name, spec.ContainerResource.Container, spec.ContainerResource.Target, tol, obs,
			ReasonFailedGetContainerResourceMetric, spec.ContainerResource.Container, "container")
	case autoscalingv2.PodsMetricSourceType:
		if spec.Pods == nil || spec.Pods.Target.AverageValue == nil {
			return failed(ReasonFailedGetPodsMetric, "failed to get pods metric value: %v", errors.New("invalid pods metric source: no average value target"))
		}
		if obs.Err != nil {
			return failed(ReasonFailedGetPodsMetric, "failed to get pods metric value: %v", fmt.Errorf("unable to get metric %s: %v", spec.Pods.Metric.Name, obs.Err))
		}
		r, _, err := c.PodsMetricReplicas(now, specReplicas, spec.Pods.Target.AverageValue.MilliValue(), tol, obs.Pods, obs.PodMetrics)
		if err != nil {
			return failed(ReasonFailedGetPodsMetric, "failed to get pods metric value: %v", err)
		}
		return MetricProposal{Metric: "pods metric " + spec.Pods.Metric.Name, Replicas: r}
	case autoscalingv2.ObjectMetricSourceType:
		if spec.Object == nil {
			return failed(ReasonFailedGetObjectMetric, "failed to get object metric value: %v", errors.New("object metric source is not set"))
		}
		if obs.Err != nil {
			return failed(ReasonFailedGetObjectMetric, "failed to get object metric value: %v", fmt.Errorf("unable to get metric %s: %v", spec.Object.Metric.Name, obs.Err))
		}
		t := spec.Object.Target
		if t.Type == autoscalingv2.ValueMetricType && t.Value != nil {
			r, err := c.ObjectMetricReplicas(specReplicas, t.Value.MilliValue(), obs.ObjectValue, tol, obs.Pods)
			if err != nil {
				return failed(ReasonFailedGetObjectMetric, "failed to get object metric value: %v", err)
			}
			return MetricProposal{Metric: spec.Object.DescribedObject.Kind + " metric " + spec.Object.Metric.Name, Replicas: r}
		}
		if t.Type == autoscalingv2.AverageValueMetricType && t.AverageValue != nil {
			r, _ := c.ObjectPerPodMetricReplicas(statusReplicas, t.AverageValue.MilliValue(), obs.ObjectValue, tol)
			return MetricProposal{Metric: "object metric " + spec.Object.Metric.Name, Replicas: r}
		}
		return failed(ReasonFailedGetObjectMetric, "failed to get object metric value: %v",
			errors.New("invalid object metric source: neither a value target nor an average value target was set"))
	case autoscalingv2.ExternalMetricSourceType:
		if spec.External == nil {
			return failed(ReasonFailedGetExternalMetric, "failed to get external metric value: %v", errors.New("external metric source is not set"))
		}
		name := spec.External.Metric.Name
		if obs.Err != nil {
			return failed(ReasonFailedGetExternalMetric, "failed to get "+name+" external metric value: %v", fmt.Errorf("unable to get external metric %s: %v", name, obs.Err))
		}
		t := spec.External.Target
		if t.AverageValue != nil {
			r, _, err := c.ExternalPerPodMetricReplicas(statusReplicas, t.AverageValue.MilliValue(), obs.ExternalValues, tol)
			if err != nil {
				return failed(ReasonFailedGetExternalMetric, "failed to get "+name+" external metric value: %v", err)
			}
			return MetricProposal{Metric: "external metric " + name, Replicas: r}
		}
		if t.Value != nil {
			r, _, err := c.ExternalMetricReplicas(specReplicas, t.Value.MilliValue(), obs.ExternalValues, tol, obs.Pods)
			if err != nil {
				return failed(ReasonFailedGetExternalMetric, "failed to get "+name+" external metric value: %v", err)
			}
			return MetricProposal{Metric: "external metric " + name, Replicas: r}
		}
		return failed(ReasonFailedGetExternalMetric, "failed to get "+name+" external metric value: %v",
			errors.New("invalid external metric source: neither a value target nor an average value target was set"))
	default:
		return failed(ReasonInvalidMetricSourceType, "%v", fmt.Errorf("unknown metric source type %q", string(spec.Type)))
	}
}

func failed(reason, format string, err error) MetricProposal {
	return MetricProposal{Err: fmt.Errorf(format, err), Reason: reason}
}

// utilizationMetric names the proposal of a resource's Utilization target;
// the common resources' names are constants, so that a sync that succeeds
// does not build the string (a simulation syncs millions of times).
func utilizationMetric(resource corev1.ResourceName) string {
	switch resource {
	case corev1.ResourceCPU:
		return "cpu resource utilization (percentage of request)"
	case corev1.ResourceMemory:
		return "memory resource utilization (percentage of request)"
	}
	return string(resource) + " resource utilization (percentage of request)"
}

// resourceProposal is a Resource or ContainerResource metric's proposal.
// A failure's message is "failed to get <subject> <kind> metric value: ...",
// built only when it fails.
func (c *Controller) resourceProposal(now time.Time, current int32, resource corev1.ResourceName, container string, target autoscalingv2.MetricTarget,
	tol Tolerances, obs *Observation, reason, subject, kind string) MetricProposal {
	fail := func(err error) MetricProposal {
		return failed(reason, "failed to get "+subject+" "+kind+" metric value: %v", err)
	}
	if obs.Err != nil {
		return fail(fmt.Errorf("unable to get metrics for resource %s: %v", resource, obs.Err))
	}
	if target.AverageValue != nil {
		r, _, err := c.RawResourceReplicas(now, current, target.AverageValue.MilliValue(), resource, tol, obs.Pods, obs.PodMetrics)
		if err != nil {
			return fail(fmt.Errorf("failed to get %s usage: %v", resource, err))
		}
		return MetricProposal{Metric: string(resource) + " resource", Replicas: r}
	}
	if target.AverageUtilization == nil {
		return fail(errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set"))
	}
	r, _, _, err := c.ResourceReplicas(now, current, *target.AverageUtilization, resource, container, tol, obs.Pods, obs.PodMetrics)
	if err != nil {
		return fail(fmt.Errorf("failed to get %s utilization: %v", resource, err))
	}
	if container != "" {
		return MetricProposal{Metric: string(resource) + " container resource utilization (percentage of request)", Replicas: r}
	}
	return MetricProposal{Metric: utilizationMetric(resource), Replicas: r}
}
