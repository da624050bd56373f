package doctor

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

// The aggregated APIs an HPA reads its metrics from.
const (
	ResourceMetricsAPI = "v1beta1.metrics.k8s.io"
	CustomMetricsAPI   = "v1beta1.custom.metrics.k8s.io"
	ExternalMetricsAPI = "v1beta1.external.metrics.k8s.io"
)

// MetricsAPIs lists them in the order doctor reports them.
var MetricsAPIs = []string{ResourceMetricsAPI, CustomMetricsAPI, ExternalMetricsAPI}

// Snapshot is everything doctor reads from the cluster at one moment. Gather
// fills it from a live cluster; tests construct it.
type Snapshot struct {
	// Now is when it was read: ages, windows and the replay count from it.
	Now       time.Time
	Namespace string

	// APIServices are the metrics APIServices by name; a missing name is
	// not registered.
	APIServices map[string]*APIServiceState

	HPAs []autoscalingv2.HorizontalPodAutoscaler
	// Targets are the scale targets by HPA name.
	Targets map[string]*Target
	// Reads are, by HPA name, what the metrics APIs return now for each of
	// the HPA's spec.metrics (same order).
	Reads map[string][]MetricRead

	Pods         []corev1.Pod
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	Events       []corev1.Event
	PDBs         []policyv1.PodDisruptionBudget
	Nodes        []corev1.Node
	LimitRanges  []corev1.LimitRange
	Quotas       []corev1.ResourceQuota
	// LimitRangesErr, QuotasErr: why they could not be listed; advice
	// that needs them says "not checked" instead of passing.
	LimitRangesErr, QuotasErr error

	// PodUsage is metrics.k8s.io's current use per pod and container;
	// PodUsageErr is set when the API could not be read.
	PodUsage    map[string]map[string]corev1.ResourceList
	PodUsageErr error

	// Throttling is the CFS throttling of each pod's containers (by pod
	// and container) from the kubelet's /metrics/cadvisor of the nodes the
	// pods run on, read through the API server's node proxy;
	// ThrottlingErr says why a node could not be read (nodes/proxy is a
	// permission a namespaced user often lacks).
	Throttling    map[string]map[string]CFSThrottling
	ThrottlingErr error

	// VPACRD is false when the VerticalPodAutoscaler CRD is not installed.
	VPACRD bool
	VPAs   []vpav1.VerticalPodAutoscaler
	// VPARecommenders are the vpa-recommender pods found (any namespace).
	VPARecommenders []corev1.Pod
}

// APIServiceState is one APIService and what serves it.
type APIServiceState struct {
	APIService apiregistrationv1.APIService
	// Service is the Service it points at (nil: a local API, or not found;
	// ServiceErr says which).
	Service    *corev1.Service
	ServiceErr error
	// Pods are the pods the Service selects; Endpoints the EndpointSlices of
	// a selector-less Service.
	Pods      []corev1.Pod
	Endpoints []discoveryv1.EndpointSlice
	// Deployments are those whose pod template the Service selects (their
	// replica count tells "scaled to 0" from "crashing").
	Deployments []appsv1.Deployment
}

// Target is an HPA's scale target as the scale subresource shows it.
type Target struct {
	Kind, Name string
	// SpecReplicas and StatusReplicas are the scale's spec.replicas and
	// status.replicas; Selector its status.selector.
	SpecReplicas, StatusReplicas int32
	Selector                     string
	// Err is set when the scale could not be read (FailedGetScale).
	Err error
}

// MetricRead is what the metrics API returned now for one HPA metric.
type MetricRead struct {
	// Query is the request, as `kubectl get --raw` takes it.
	Query string
	// PodValues (Resource, ContainerResource, Pods metrics): per pod, in
	// milli-units, with the sample's timestamp and window.
	PodValues map[string]Sample
	// ObjectValue (Object metrics), milli-units.
	ObjectValue int64
	// ExternalValues (External metrics): the series' sum, milli-units.
	ExternalValues []int64
	// Err is the API's error. An empty answer is not an error here: the
	// analysis applies upstream's rule for it.
	Err error
}

// Sample is one pod's metric value.
type Sample struct {
	Value     int64
	Timestamp time.Time
	Window    time.Duration
}

// CFSThrottling is one container's CFS counters since it started
// (cAdvisor's container_cpu_cfs_*_total): periods in which it ran, those in
// which it hit its quota, and the time it was held back.
type CFSThrottling struct {
	Periods, ThrottledPeriods float64
	ThrottledSeconds          float64
}
