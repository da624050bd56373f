package hpa

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Controller defaults of kube-controller-manager v1.34 (cmd/kube-controller-manager
// options and pkg/controller/podautoscaler/horizontal.go).
const (
	// DefaultSyncPeriod is --horizontal-pod-autoscaler-sync-period.
	DefaultSyncPeriod = 15 * time.Second
	// DefaultTolerance is --horizontal-pod-autoscaler-tolerance.
	DefaultTolerance = 0.1
	// DefaultDownscaleStabilizationWindow is
	// --horizontal-pod-autoscaler-downscale-stabilization.
	DefaultDownscaleStabilizationWindow = 5 * time.Minute
	// DefaultCPUInitializationPeriod is
	// --horizontal-pod-autoscaler-cpu-initialization-period.
	DefaultCPUInitializationPeriod = 5 * time.Minute
	// DefaultInitialReadinessDelay is
	// --horizontal-pod-autoscaler-initial-readiness-delay.
	DefaultInitialReadinessDelay = 30 * time.Second

	// ScaleUpLimitFactor and ScaleUpLimitMinimum bound one scale-up when the
	// HPA has no behavior: at most max(2*current, 4) replicas
	// (horizontal.go scaleUpLimitFactor, scaleUpLimitMinimum).
	ScaleUpLimitFactor  = 2.0
	ScaleUpLimitMinimum = 4.0

	// DefaultCPUUtilization is the target of the metric added by SetDefaults
	// when an HPA lists no metrics (pkg/apis/autoscaling DefaultCPUUtilization).
	DefaultCPUUtilization int32 = 80
)

// Tolerances are the usage-ratio tolerances (replica_calculator.go Tolerances):
// no change while 1-ScaleDown <= ratio <= 1+ScaleUp.
type Tolerances struct {
	ScaleDown float64
	ScaleUp   float64
}

// DefaultTolerances returns {0.1, 0.1}.
func DefaultTolerances() Tolerances { return Tolerances{DefaultTolerance, DefaultTolerance} }

// IsWithin reports whether the ratio is inside the tolerance band.
func (t Tolerances) IsWithin(usageRatio float64) bool {
	return (1.0-t.ScaleDown) <= usageRatio && usageRatio <= (1.0+t.ScaleUp)
}

// Container is one container of a pod, as far as the HPA reads it.
type Container struct {
	Name string
	// Requests holds the container's resource requests in milli-units
	// (Quantity.MilliValue()). A missing key is a missing request.
	Requests map[corev1.ResourceName]int64
	// Init marks an init container that is not restartable; its requests
	// never count. (A restartable init container, restartPolicy Always, is a
	// sidecar and counts like a regular container: leave Init false.)
	Init bool
}

// Pod mirrors what the replica calculator reads from a v1.Pod.
type Pod struct {
	Name  string
	Phase corev1.PodPhase
	// Ready is the status of the pod's Ready condition; "" means the pod has
	// no Ready condition (upstream: condition == nil).
	Ready corev1.ConditionStatus
	// ReadyTransitionTime is the Ready condition's lastTransitionTime.
	ReadyTransitionTime time.Time
	// StartTime is status.startTime; the zero time means "not set" (nil).
	StartTime time.Time
	// Deleted is true when metadata.deletionTimestamp is set.
	Deleted bool
	// Containers lists the pod's containers and init containers.
	Containers []Container
	// PodRequests holds pod-level requests (spec.resources.requests, KEP-2837,
	// PodLevelResources is beta and on in v1.34), milli-units. When it sets the
	// resource and the metric is not a per-container one, it replaces the
	// container sum.
	PodRequests map[corev1.ResourceName]int64
}

// Sample is one pod's metric value (metrics.PodMetric).
type Sample struct {
	// Value in milli-units.
	Value int64
	// Timestamp and Window of the sample as reported by the metrics API.
	Timestamp time.Time
	Window    time.Duration
}

// PodMetrics maps pod name to its sample (metrics.PodMetricsInfo). It may
// hold samples for pods that are not in the pod list; as upstream, they are
// ignored by utilization but still count as entries.
type PodMetrics map[string]Sample

// Calculator computes metric proposals (replica_calculator.go ReplicaCalculator).
type Calculator struct {
	// CPUInitializationPeriod: within this time after start, a pod's CPU sample
	// only counts if the pod is Ready and the sample was taken a full window
	// after the pod became Ready.
	CPUInitializationPeriod time.Duration
	// DelayOfInitialReadinessStatus: after the initialization period, an unready
	// pod whose Ready condition last changed within this delay of its start is
	// treated as never having been ready (its CPU sample is ignored).
	DelayOfInitialReadinessStatus time.Duration
}

// DefaultCalculator returns a Calculator with the controller defaults.
func DefaultCalculator() Calculator {
	return Calculator{
		CPUInitializationPeriod:       DefaultCPUInitializationPeriod,
		DelayOfInitialReadinessStatus: DefaultInitialReadinessDelay,
	}
}

// Errors returned by the calculator. Messages match upstream.
var (
	ErrNoPods           = errors.New("no pods returned by selector while calculating replica count")
	ErrNoReadyMetrics   = errors.New("did not receive metrics for targeted pods (pods might be unready)")
	ErrNoMatchedMetrics = errors.New("no metrics returned matched known pods")
	// ErrNoResourceMetrics is what the resource metrics client returns for an
	// empty list (metrics/client.go).
	ErrNoResourceMetrics = errors.New("no metrics returned from resource metrics API")
	// ErrNoCustomMetrics is what the custom metrics client returns for an
	// empty list (metrics/client.go).
	ErrNoCustomMetrics = errors.New("no metrics returned from custom metrics API")
	// ErrNoExternalMetrics is what the external metrics client returns when
	// the API answers with no series for the metric's selector
	// (metrics/rest_metrics_client.go GetExternalMetric): upstream fails the
	// metric (FailedGetExternalMetric) instead of treating it as zero.
	ErrNoExternalMetrics = errors.New("no metrics returned from external metrics API")
)

// PodClass is the group a pod falls into (groupPods).
type PodClass uint8

// Pod groups.
const (
	// PodReady: the pod's sample is used.
	PodReady PodClass = iota
	// PodUnready: pending, or (CPU only) not yet trustworthy; its sample is
	// dropped and counted as 0 on a scale-up.
	PodUnready
	// PodMissing: no sample; counted as the target (or 100% of request) on a
	// scale-down and as 0 on a scale-up.
	PodMissing
	// PodIgnored: deleted or failed; never counted.
	PodIgnored
)

func (c PodClass) String() string {
	switch c {
	case PodReady:
		return "ready"
	case PodUnready:
		return "unready"
	case PodMissing:
		return "missing"
	default:
		return "ignored"
	}
}

// classify is groupPods for one pod.
func (c *Calculator) classify(p *Pod, s Sample, found bool, resource corev1.ResourceName, now time.Time) PodClass {
	if p.Deleted || p.Phase == corev1.PodFailed {
		return PodIgnored
	}
	if p.Phase == corev1.PodPending {
		return PodUnready
	}
	if !found {
		return PodMissing
	}
	if resource == corev1.ResourceCPU {
		var unready bool
		if p.Ready == "" || p.StartTime.IsZero() {
			unready = true
		} else if p.StartTime.Add(c.CPUInitializationPeriod).After(now) {
			// Pod still within possible initialisation period: ignore the
			// sample if the pod is unready or one window of metric was not
			// collected since the last state transition.
			unready = p.Ready == corev1.ConditionFalse || s.Timestamp.Before(p.ReadyTransitionTime.Add(s.Window))
		} else {
			// Ignore the sample if the pod is unready and has never been ready.
			unready = p.Ready == corev1.ConditionFalse && p.StartTime.Add(c.DelayOfInitialReadinessStatus).After(p.ReadyTransitionTime)
		}
		if unready {
			return PodUnready
		}
	}
	return PodReady
}

// GroupPods classifies every pod like upstream's groupPods. It returns one
// class per pod (same order) and the number of ready pods. now replaces
// time.Now().
func (c *Calculator) GroupPods(pods []Pod, metrics PodMetrics, resource corev1.ResourceName, now time.Time) (classes []PodClass, readyPodCount int) {
	classes = make([]PodClass, len(pods))
	for i := range pods {
		s, found := metrics[pods[i].Name]
		classes[i] = c.classify(&pods[i], s, found, resource, now)
		if classes[i] == PodReady {
			readyPodCount++
		}
	}
	return classes, readyPodCount
}

// PodRequest returns the pod's request for resource in milli-units
// (calculateRequests for one pod). If container is non-empty only that
// container counts; otherwise a pod-level request for the resource wins when
// set, else all containers (including restartable init containers) are summed
// and each must have a request ("missing request for cpu in container ...").
func PodRequest(p *Pod, container string, resource corev1.ResourceName) (int64, error) {
	if container == "" && len(p.PodRequests) > 0 {
		// component-helpers PodRequests: pod-level values override the
		// container aggregate for the resources they set.
		if v, ok := p.PodRequests[resource]; ok {
			return v, nil
		}
	}
	var request int64
	for i := range p.Containers {
		ct := &p.Containers[i]
		if ct.Init {
			continue
		}
		if container == "" || container == ct.Name {
			v, ok := ct.Requests[resource]
			if !ok {
				return 0, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, ct.Name, p.Name)
			}
			request += v
		}
	}
	return request, nil
}

// tally is the result of grouping pods against a metric map, aggregated so
// that no per-call map or set is needed.
type tally struct {
	readyCount, unreadyCount, missingCount int
	readySum                               int64 // sum of ready pods' samples
	podsWithSample                         int   // pods in the list that have a sample
	podSampleSum                           int64 // sum of samples of pods in the list
}

func (c *Calculator) tally(pods []Pod, metrics PodMetrics, resource corev1.ResourceName, now time.Time) tally {
	var t tally
	for i := range pods {
		s, found := metrics[pods[i].Name]
		if found {
			t.podsWithSample++
			t.podSampleSum += s.Value
		}
		switch c.classify(&pods[i], s, found, resource, now) {
		case PodReady:
			t.readyCount++
			t.readySum += s.Value
		case PodUnready:
			t.unreadyCount++
		case PodMissing:
			t.missingCount++
		}
	}
	return t
}

// ResourceReplicas mirrors GetResourceReplicas: the desired replica count for
// a Resource (container == "") or ContainerResource metric with a Utilization
// target (percent of request). metrics are the per-pod samples of that
// resource (for a container metric: of that container). It returns the
// proposal, the current utilization (percent) and the raw average value.
func (c *Calculator) ResourceReplicas(now time.Time, currentReplicas int32, targetUtilization int32, resource corev1.ResourceName, container string,
	tolerances Tolerances, pods []Pod, metrics PodMetrics) (replicaCount int32, utilization int32, rawUtilization int64, err error) {
	if len(metrics) == 0 {
		return 0, 0, 0, fmt.Errorf("unable to get metrics for resource %s: %w", resource, ErrNoResourceMetrics)
	}
	if len(pods) == 0 {
		return 0, 0, 0, ErrNoPods
	}
	// The tally and the requests of every listed pod (calculateRequests)
	// in one pass over the pods: one metric lookup and one classification
	// per pod, where a pass for each did both twice. Upstream checks the
	// ready metrics before the requests: the first request error is kept
	// and returned after that check, as upstream would return it.
	var t tally
	var readyReq, missingReq, unreadyReq, missingFallback int64
	var reqErr error
	fallbackUtilization := int64(max(100, targetUtilization))
	for i := range pods {
		s, found := metrics[pods[i].Name]
		if found {
			t.podsWithSample++
			t.podSampleSum += s.Value
		}
		class := c.classify(&pods[i], s, found, resource, now)
		switch class {
		case PodReady:
			t.readyCount++
			t.readySum += s.Value
		case PodUnready:
			t.unreadyCount++
		case PodMissing:
			t.missingCount++
		}
		if reqErr != nil {
			continue
		}
		r, err := PodRequest(&pods[i], container, resource)
		if err != nil {
			reqErr = err
			continue
		}
		switch class {
		case PodReady:
			readyReq += r
		case PodMissing:
			missingReq += r
			missingFallback += r * fallbackUtilization / 100
		case PodUnready:
			unreadyReq += r
		}
	}
	// Entries left after removing ignored and unready pods' samples: ready
	// pods plus samples of pods not in the list.
	remaining := t.readyCount + (len(metrics) - t.podsWithSample)
	if remaining == 0 {
		return 0, 0, 0, ErrNoReadyMetrics
	}
	if reqErr != nil {
		return 0, 0, 0, reqErr
	}

	if readyReq == 0 {
		return 0, 0, 0, ErrNoMatchedMetrics
	}
	utilization = int32((t.readySum * 100) / readyReq)
	usageRatio := float64(utilization) / float64(targetUtilization)
	rawUtilization = t.readySum / int64(t.readyCount)

	scaleUpWithUnready := t.unreadyCount > 0 && usageRatio > 1.0
	if !scaleUpWithUnready && t.missingCount == 0 {
		if tolerances.IsWithin(usageRatio) {
			return currentReplicas, utilization, rawUtilization, nil
		}
		return int32(math.Ceil(usageRatio * float64(t.readyCount))), utilization, rawUtilization, nil
	}

	newSum, newReq, newLen := t.readySum, readyReq, remaining
	if t.missingCount > 0 {
		if usageRatio < 1.0 {
			// scale-down: missing pods use 100% of request (or the target if higher)
			newSum += missingFallback
			newReq += missingReq
			newLen += t.missingCount
		} else if usageRatio > 1.0 {
			// scale-up: missing pods use 0
			newReq += missingReq
			newLen += t.missingCount
		}
	}
	if scaleUpWithUnready {
		// scale-up: unready pods use 0
		newReq += unreadyReq
		newLen += t.unreadyCount
	}
	if newReq == 0 {
		return 0, utilization, rawUtilization, ErrNoMatchedMetrics
	}
	newUsageRatio := float64(int32((newSum*100)/newReq)) / float64(targetUtilization)

	if tolerances.IsWithin(newUsageRatio) || (usageRatio < 1.0 && newUsageRatio > 1.0) || (usageRatio > 1.0 && newUsageRatio < 1.0) {
		return currentReplicas, utilization, rawUtilization, nil
	}
	newReplicas := int32(math.Ceil(newUsageRatio * float64(newLen)))
	if (newUsageRatio < 1.0 && newReplicas > currentReplicas) || (newUsageRatio > 1.0 && newReplicas < currentReplicas) {
		return currentReplicas, utilization, rawUtilization, nil
	}
	return newReplicas, utilization, rawUtilization, nil
}

// RawResourceReplicas mirrors GetRawResourceReplicas: a Resource or
// ContainerResource metric with an AverageValue target (milli-units per pod).
// For cpu the CPU initialization rules apply. It returns the proposal and the
// current average usage.
func (c *Calculator) RawResourceReplicas(now time.Time, currentReplicas int32, targetUsage int64, resource corev1.ResourceName,
	tolerances Tolerances, pods []Pod, metrics PodMetrics) (replicaCount int32, usage int64, err error) {
	if len(metrics) == 0 {
		return 0, 0, fmt.Errorf("unable to get metrics for resource %s: %w", resource, ErrNoResourceMetrics)
	}
	return c.plainMetricReplicas(now, currentReplicas, targetUsage, resource, tolerances, pods, metrics)
}

// PodsMetricReplicas mirrors GetMetricReplicas: a Pods metric with an
// AverageValue target (milli-units per pod), averaged over the pods that
// report it. It returns the proposal and the current average.
func (c *Calculator) PodsMetricReplicas(now time.Time, currentReplicas int32, targetUsage int64,
	tolerances Tolerances, pods []Pod, metrics PodMetrics) (replicaCount int32, usage int64, err error) {
	if len(metrics) == 0 {
		return 0, 0, fmt.Errorf("unable to get metric: %w", ErrNoCustomMetrics)
	}
	return c.plainMetricReplicas(now, currentReplicas, targetUsage, "", tolerances, pods, metrics)
}

// plainMetricReplicas mirrors calcPlainMetricReplicas.
func (c *Calculator) plainMetricReplicas(now time.Time, currentReplicas int32, targetUsage int64, resource corev1.ResourceName,
	tolerances Tolerances, pods []Pod, metrics PodMetrics) (int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, ErrNoPods
	}
	t := c.tally(pods, metrics, resource, now)
	superfluous := len(metrics) - t.podsWithSample
	remaining := t.readyCount + superfluous
	if remaining == 0 {
		return 0, 0, ErrNoReadyMetrics
	}
	var total int64
	for _, s := range metrics {
		total += s.Value
	}
	// samples left after removing ignored and unready pods
	sum := t.readySum + (total - t.podSampleSum)
	usage := sum / int64(remaining)
	usageRatio := float64(usage) / float64(targetUsage)

	scaleUpWithUnready := t.unreadyCount > 0 && usageRatio > 1.0
	if !scaleUpWithUnready && t.missingCount == 0 {
		if tolerances.IsWithin(usageRatio) {
			return currentReplicas, usage, nil
		}
		return int32(math.Ceil(usageRatio * float64(t.readyCount))), usage, nil
	}

	newSum, newLen := sum, remaining
	if t.missingCount > 0 {
		if usageRatio < 1.0 {
			// scale-down: missing pods use exactly the target
			newSum += targetUsage * int64(t.missingCount)
			newLen += t.missingCount
		} else if usageRatio > 1.0 {
			newLen += t.missingCount
		}
	}
	if scaleUpWithUnready {
		newLen += t.unreadyCount
	}
	newUsageRatio := float64(newSum/int64(newLen)) / float64(targetUsage)

	if tolerances.IsWithin(newUsageRatio) || (usageRatio < 1.0 && newUsageRatio > 1.0) || (usageRatio > 1.0 && newUsageRatio < 1.0) {
		return currentReplicas, usage, nil
	}
	newReplicas := int32(math.Ceil(newUsageRatio * float64(newLen)))
	if (newUsageRatio < 1.0 && newReplicas > currentReplicas) || (newUsageRatio > 1.0 && newReplicas < currentReplicas) {
		return currentReplicas, usage, nil
	}
	return newReplicas, usage, nil
}

// ReadyPodCount counts Running pods whose Ready condition is True
// (getReadyPodsCount). It fails when there are no pods at all.
func ReadyPodCount(pods []Pod) (int64, error) {
	if len(pods) == 0 {
		return 0, ErrNoPods
	}
	var n int64
	for i := range pods {
		if pods[i].Phase == corev1.PodRunning && pods[i].Ready == corev1.ConditionTrue {
			n++
		}
	}
	return n, nil
}

// usageRatioReplicaCount mirrors getUsageRatioReplicaCount: with current
// replicas != 0 the tolerance applies and the ratio multiplies the ready pod
// count; from zero replicas the ratio alone decides (scale from/to zero).
func usageRatioReplicaCount(currentReplicas int32, usageRatio float64, tolerances Tolerances, pods []Pod) (int32, error) {
	if currentReplicas == 0 {
		return int32(math.Ceil(usageRatio)), nil
	}
	if tolerances.IsWithin(usageRatio) {
		return currentReplicas, nil
	}
	ready, err := ReadyPodCount(pods)
	if err != nil {
		return 0, fmt.Errorf("unable to calculate ready pods: %s", err)
	}
	return int32(math.Ceil(usageRatio * float64(ready))), nil
}

// ObjectMetricReplicas mirrors GetObjectMetricReplicas: an Object metric with
// a Value target. usage is the object's metric value (milli-units).
func (c *Calculator) ObjectMetricReplicas(currentReplicas int32, targetUsage, usage int64, tolerances Tolerances, pods []Pod) (int32, error) {
	usageRatio := float64(usage) / float64(targetUsage)
	return usageRatioReplicaCount(currentReplicas, usageRatio, tolerances, pods)
}

// ObjectPerPodMetricReplicas mirrors GetObjectPerPodMetricReplicas: an Object
// metric with an AverageValue target; desired = ceil(usage/target) unless
// usage/(target*statusReplicas) is within tolerance. It also returns the
// per-pod usage reported in the status.
func (c *Calculator) ObjectPerPodMetricReplicas(statusReplicas int32, targetAverageUsage, usage int64, tolerances Tolerances) (replicaCount int32, averageUsage int64) {
	replicaCount = statusReplicas
	usageRatio := float64(usage) / (float64(targetAverageUsage) * float64(replicaCount))
	if !tolerances.IsWithin(usageRatio) {
		replicaCount = int32(math.Ceil(float64(usage) / float64(targetAverageUsage)))
	}
	return replicaCount, perPodUsage(usage, statusReplicas)
}

// perPodUsage is ceil(usage/replicas) for the status; upstream divides by zero
// for zero status replicas, here the total is returned instead.
func perPodUsage(usage int64, statusReplicas int32) int64 {
	if statusReplicas == 0 {
		return usage
	}
	return int64(math.Ceil(float64(usage) / float64(statusReplicas)))
}

// ExternalMetricReplicas mirrors GetExternalMetricReplicas: an External
// metric with a Value target; values (milli-units) are summed, the ratio
// sum/target multiplies the ready pod count. It returns the proposal and sum.
// No values at all is [ErrNoExternalMetrics], as upstream's metrics client
// returns for an empty list: the metric fails, it does not read as zero.
func (c *Calculator) ExternalMetricReplicas(currentReplicas int32, targetUsage int64, values []int64, tolerances Tolerances, pods []Pod) (int32, int64, error) {
	if len(values) == 0 {
		return 0, 0, fmt.Errorf("unable to get external metric: %w", ErrNoExternalMetrics)
	}
	var usage int64
	for _, v := range values {
		usage += v
	}
	usageRatio := float64(usage) / float64(targetUsage)
	r, err := usageRatioReplicaCount(currentReplicas, usageRatio, tolerances, pods)
	return r, usage, err
}

// ExternalPerPodMetricReplicas mirrors GetExternalPerPodMetricReplicas: an
// External metric with an AverageValue target; desired = ceil(sum/target)
// unless sum/(target*statusReplicas) is within tolerance. Overflows saturate
// as upstream. It returns the proposal and the per-pod usage. No values at
// all is [ErrNoExternalMetrics] (see [Calculator.ExternalMetricReplicas]).
func (c *Calculator) ExternalPerPodMetricReplicas(statusReplicas int32, targetUsagePerPod int64, values []int64, tolerances Tolerances) (replicaCount int32, averageUsage int64, err error) {
	if len(values) == 0 {
		return 0, 0, fmt.Errorf("unable to get external metric: %w", ErrNoExternalMetrics)
	}
	var usage int64
	for _, v := range values {
		usage += v
		if usage < 0 {
			// int64 overflow
			usage = math.MaxInt64
			break
		}
	}
	replicaCount = statusReplicas
	usageRatio := float64(usage) / (float64(targetUsagePerPod) * float64(replicaCount))
	if !tolerances.IsWithin(usageRatio) {
		r := math.Ceil(float64(usage) / float64(targetUsagePerPod))
		if r > float64(math.MaxInt32) {
			replicaCount = math.MaxInt32
		} else {
			replicaCount = int32(r)
		}
	}
	if float64(usage) >= float64(math.MaxInt64) {
		return replicaCount, math.MaxInt64, nil
	}
	return replicaCount, perPodUsage(usage, statusReplicas), nil
}

// PodFromCore converts a v1.Pod into the calculator's Pod: phase, Ready
// condition, start time, deletion, container and restartable init container
// requests (milli-units) and pod-level requests.
func PodFromCore(p *corev1.Pod) Pod {
	out := Pod{Name: p.Name, Phase: p.Status.Phase, Deleted: p.DeletionTimestamp != nil}
	if p.Status.StartTime != nil {
		out.StartTime = p.Status.StartTime.Time
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready = c.Status
			out.ReadyTransitionTime = c.LastTransitionTime.Time
			break
		}
	}
	conv := func(rl corev1.ResourceList) map[corev1.ResourceName]int64 {
		if rl == nil {
			return nil
		}
		m := make(map[corev1.ResourceName]int64, len(rl))
		for k, v := range rl {
			m[k] = v.MilliValue()
		}
		return m
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		out.Containers = append(out.Containers, Container{Name: c.Name, Requests: conv(c.Resources.Requests)})
	}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		restartable := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		out.Containers = append(out.Containers, Container{Name: c.Name, Requests: conv(c.Resources.Requests), Init: !restartable})
	}
	if p.Spec.Resources != nil {
		out.PodRequests = conv(p.Spec.Resources.Requests)
	}
	return out
}
