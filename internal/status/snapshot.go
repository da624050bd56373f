// Package status is `vactl status`: one snapshot of what the spec's
// "Monitoring & Verification" commands show (kubectl get/describe hpa, vpa,
// pdb, kubectl top pods, kubectl get events), gathered from a live cluster
// and printed as a kubectl-like text screen or marshalled as JSON/YAML.
//
// The Snapshot struct is the data contract of -o json|yaml: its fields keep
// the Kubernetes names (currentReplicas, desiredHealthy, averageUtilization,
// …) and Kubernetes quantities, so a script can compare them with the
// objects. Each list section carries the resourceVersion it was read at:
// `kubectl get --raw '/apis/…?resourceVersion=RV&resourceVersionMatch=Exact'`
// (or client-go's ListOptions) reads exactly the same state again.
//
// What the HPA section adds to kubectl: for every metric, the replica count
// it proposes, computed by internal/hpa (the port of upstream's replica
// calculator) from the value the controller reported in status.currentMetrics,
// and which metric's proposal is the maximum, the one that decides the desired
// count.
package status

import (
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Unavailable is how the text output shows a value an API did not give.
const Unavailable = "<unavailable>"

// Snapshot is everything `vactl status` shows, read at one moment.
type Snapshot struct {
	// Time is when the gathering started.
	Time      time.Time `json:"time"`
	Namespace string    `json:"namespace"`
	// Env is the environment given with --env ("" without it).
	Env string `json:"env,omitempty"`
	// Revision is the newest revision vactl setup or rollback recorded in the
	// cluster, nil when none is.
	Revision *Revision `json:"revision,omitempty"`
	// Missing names the HPAs, VPAs and PDBs the environment renders that the
	// cluster does not have (only with --env).
	Missing []string `json:"missing,omitempty"`

	HPAs   HPASection   `json:"hpas"`
	VPAs   VPASection   `json:"vpas"`
	PDBs   PDBSection   `json:"pdbs"`
	Pods   PodSection   `json:"pods"`
	Queue  QueueSection `json:"queue"`
	Events EventSection `json:"events"`
}

// Revision is the recorded apply the cluster runs.
type Revision struct {
	Number  int       `json:"number"`
	Env     string    `json:"env"`
	Time    time.Time `json:"time"`
	Version string    `json:"vactlVersion"`
}

// HPASection is `kubectl get hpa` and `kubectl describe hpa` for every HPA
// of the namespace.
type HPASection struct {
	ResourceVersion string `json:"resourceVersion"`
	Items           []HPA  `json:"items"`
}

// HPA is one HorizontalPodAutoscaler.
type HPA struct {
	Name string `json:"name"`
	// Target is "Kind/name" of spec.scaleTargetRef.
	Target          string `json:"target"`
	MinReplicas     int32  `json:"minReplicas"`
	MaxReplicas     int32  `json:"maxReplicas"`
	CurrentReplicas int32  `json:"currentReplicas"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	// ReadyPods is the number of Running, Ready pods the target's selector
	// matches: what the proposals multiply (upstream's ready pod count).
	ReadyPods int `json:"readyPods"`
	// LastScaleTime is status.lastScaleTime; nil when it never scaled.
	LastScaleTime *time.Time `json:"lastScaleTime,omitempty"`
	Metrics       []Metric   `json:"metrics"`
	// Decision says which metric decides the desired count.
	Decision   Decision    `json:"decision"`
	Conditions []Condition `json:"conditions"`
}

// Metric is one spec.metrics entry with its status.currentMetrics value.
type Metric struct {
	// Name is what the metric measures: "Resource/cpu",
	// "Pods/http_requests_per_second",
	// "External/voiceassist_queue_depth{queue=voice-jobs}".
	Name   string                         `json:"name"`
	Type   autoscalingv2.MetricSourceType `json:"type"`
	Target autoscalingv2.MetricTarget     `json:"target"`
	// Current is the value the HPA controller last read; nil when it could
	// not read it (kubectl shows <unknown>).
	Current *autoscalingv2.MetricValueStatus `json:"current,omitempty"`
	// Proposal is the replica count this metric proposes (internal/hpa on
	// Current); nil when it cannot be computed, with ProposalError saying why.
	Proposal      *int32 `json:"proposal,omitempty"`
	ProposalError string `json:"proposalError,omitempty"`
	// Decides is true for the metric whose proposal is the desired count
	// before bounds and behavior (the max over metrics, the first of equals).
	Decides bool `json:"decides,omitempty"`
}

// Decision is the max over the metrics' proposals, as upstream's
// computeReplicasForMetrics takes it.
type Decision struct {
	// Proposed is the max over the valid proposals; -1 when the metrics allow
	// no decision (all invalid, or some invalid and the rest propose a
	// scale-down: upstream then keeps the current count).
	Proposed int32 `json:"proposed"`
	// Metric names the metric that proposes it ("" when Proposed is -1).
	Metric string `json:"metric,omitempty"`
	// Bounded is Proposed clamped to [minReplicas, maxReplicas].
	Bounded int32 `json:"bounded"`
	// ControllerMetric is the metric the HPA controller says it computed
	// the count from at its last sync (the ScalingActive=True
	// ValidMetricFound message), in upstream's words.
	ControllerMetric string `json:"controllerMetric,omitempty"`
	// AgreesWithController is true when ControllerMetric names the metric
	// that decides here: the replay of the reported values and the
	// controller's own choice are the same.
	AgreesWithController bool `json:"agreesWithController"`
	// Explanation says it in a sentence, including why the controller's
	// desiredReplicas differs from Bounded when it does.
	Explanation string `json:"explanation"`
}

// Condition is one status condition of an HPA or VPA.
type Condition struct {
	Type               string                 `json:"type"`
	Status             corev1.ConditionStatus `json:"status"`
	Reason             string                 `json:"reason,omitempty"`
	Message            string                 `json:"message,omitempty"`
	LastTransitionTime *time.Time             `json:"lastTransitionTime,omitempty"`
}

// VPASection is `kubectl describe vpa` for every VPA of the namespace.
type VPASection struct {
	// Unavailable says why there are no VPAs to show: the CRD is not
	// installed (not an error: VPAs are optional), or the API failed.
	Unavailable     string `json:"unavailable,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Items           []VPA  `json:"items"`
}

// VPA is one VerticalPodAutoscaler.
type VPA struct {
	Name       string         `json:"name"`
	Target     string         `json:"target"`
	UpdateMode string         `json:"updateMode"`
	Containers []VPAContainer `json:"containers"`
	// NoRecommendation says why status.recommendation is empty.
	NoRecommendation string      `json:"noRecommendation,omitempty"`
	Conditions       []Condition `json:"conditions,omitempty"`
}

// VPAContainer is one container's recommendation against what the target's
// pod template requests now.
type VPAContainer struct {
	Name       string              `json:"name"`
	LowerBound corev1.ResourceList `json:"lowerBound,omitempty"`
	Target     corev1.ResourceList `json:"target,omitempty"`
	UpperBound corev1.ResourceList `json:"upperBound,omitempty"`
	// Requests are the container's requests in the target's pod template
	// (empty when the target or container was not found).
	Requests corev1.ResourceList `json:"requests,omitempty"`
}

// PDBSection is `kubectl get pdb` for the namespace.
type PDBSection struct {
	ResourceVersion string `json:"resourceVersion"`
	Items           []PDB  `json:"items"`
}

// PDB is one PodDisruptionBudget.
type PDB struct {
	Name               string              `json:"name"`
	MinAvailable       *intstr.IntOrString `json:"minAvailable,omitempty"`
	MaxUnavailable     *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	CurrentHealthy     int32               `json:"currentHealthy"`
	DesiredHealthy     int32               `json:"desiredHealthy"`
	DisruptionsAllowed int32               `json:"disruptionsAllowed"`
	ExpectedPods       int32               `json:"expectedPods"`
}

// PodSection is `kubectl get pods` and `kubectl top pods` for the namespace.
type PodSection struct {
	ResourceVersion string `json:"resourceVersion"`
	// MetricsUnavailable says why there is no CPU/memory use: metrics.k8s.io
	// is not served or failed.
	MetricsUnavailable string `json:"metricsUnavailable,omitempty"`
	Items              []Pod  `json:"items"`
}

// Pod is one pod: readiness, restarts, the last termination, and its
// CPU/memory use against requests and limits (sums over its containers).
type Pod struct {
	Name  string          `json:"name"`
	Phase corev1.PodPhase `json:"phase"`
	// Ready is the pod's Ready condition.
	Ready bool `json:"ready"`
	// ReadyContainers and Containers: kubectl's READY column, "1/1".
	ReadyContainers int   `json:"readyContainers"`
	Containers      int   `json:"containers"`
	Restarts        int32 `json:"restarts"`
	// LastTermination is the most recent lastState.terminated of its
	// containers (OOMKilled, Error, …); nil when none restarted.
	LastTermination *Termination `json:"lastTermination,omitempty"`
	CPU             Usage        `json:"cpu"`
	Memory          Usage        `json:"memory"`
	StartTime       *time.Time   `json:"startTime,omitempty"`
}

// Termination is a container's last termination.
type Termination struct {
	Container  string     `json:"container"`
	Reason     string     `json:"reason"`
	ExitCode   int32      `json:"exitCode"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Usage is one resource of a pod: use (metrics.k8s.io; nil when
// unavailable) against the sum of its containers' requests and limits (nil
// when a container has none).
type Usage struct {
	Usage   *resource.Quantity `json:"usage,omitempty"`
	Request *resource.Quantity `json:"request,omitempty"`
	Limit   *resource.Quantity `json:"limit,omitempty"`
}

// QueueSection is the queue depth and age the worker HPA reads, from
// external.metrics.k8s.io.
type QueueSection struct {
	// Unavailable says why there are no values: the API is not served.
	Unavailable string           `json:"unavailable,omitempty"`
	Metrics     []ExternalMetric `json:"metrics"`
}

// ExternalMetric is one External metric an HPA reads, as the external
// metrics API serves it now for the HPA's selector.
type ExternalMetric struct {
	Name     string `json:"name"`
	Selector string `json:"selector,omitempty"`
	// HPA names the HPA that reads it.
	HPA string `json:"hpa"`
	// Value is the sum over the series (what the HPA sums); nil with Error set.
	Value     *resource.Quantity `json:"value,omitempty"`
	Series    int                `json:"series"`
	Timestamp *time.Time         `json:"timestamp,omitempty"`
	Error     string             `json:"error,omitempty"`
}

// EventSection is the newest Warning events of the namespace.
type EventSection struct {
	ResourceVersion string  `json:"resourceVersion"`
	Items           []Event `json:"items"`
}

// Event is one Warning event.
type Event struct {
	// LastSeen is the newest of lastTimestamp, series.lastObservedTime,
	// eventTime and the creation time.
	LastSeen time.Time `json:"lastSeen"`
	// Object is "Kind/name" of the involved object.
	Object  string `json:"object"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Count   int32  `json:"count"`
	Name    string `json:"name"`
}
