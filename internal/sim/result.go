package sim

// Result is one simulation run.
type Result struct {
	// Label names the manifests: an environment ("prod") or a directory.
	Label    string `json:"label"`
	Scenario string `json:"scenario"`
	Duration int64  `json:"durationSeconds"`
	Seed     uint64 `json:"seed"`
	// SampleSeconds is the timeline's resolution.
	SampleSeconds int64 `json:"sampleSeconds"`
	// WarmupSeconds ran before t=0 at the scenario's initial load, unrecorded.
	WarmupSeconds int64 `json:"warmupSeconds"`
	// Pipeline is the metrics pipeline in effect and where each value came from.
	Pipeline PipelineInEffect `json:"pipeline"`
	// Params are the model parameters in effect.
	Params Params `json:"params"`
	// Notes say what the input needed, e.g. a trace rebased to start at 0.
	Notes       []string           `json:"notes,omitempty"`
	Deployments []DeploymentResult `json:"deployments"`
}

// DeploymentResult is one deployment's outcome.
type DeploymentResult struct {
	Name string `json:"name"`
	// HPA is the autoscaler's name; "" when no HPA targets the deployment.
	HPA         string  `json:"hpa,omitempty"`
	MinReplicas int32   `json:"minReplicas"`
	MaxReplicas int32   `json:"maxReplicas"`
	LoadUnit    string  `json:"loadUnit"` // "req/s" or "jobs/s"
	SLO         string  `json:"slo"`      // what SLO seconds count
	SLOUnit     string  `json:"sloUnit"`  // unit of Point.SLO: "ms" or "s"
	SLOTarget   float64 `json:"sloTarget"`
	// The pod's resources as rendered (millicores, MiB; 0: no limit), the CPU
	// it gets (request + run.cpuBurst of the room to the limit) and what that
	// CPU serves: req/s (gateway) or jobs/s (worker) per ready pod.
	CPURequest      float64 `json:"cpuRequest"`
	CPULimit        float64 `json:"cpuLimit"`
	CPUAvailable    float64 `json:"cpuAvailable"`
	MemoryRequestMi float64 `json:"memoryRequestMi"`
	MemoryLimitMi   float64 `json:"memoryLimitMi"`
	CapacityPerPod  float64 `json:"capacityPerPod"`
	// CapacityLabel names Point.Capacity in charts when it is not the
	// ready pods' capacity (vactl loadtest plots the achieved rate there).
	CapacityLabel string       `json:"-"`
	Metrics       []MetricInfo `json:"metrics"`
	Summary       Summary      `json:"summary"`
	Events        []ScaleEvent `json:"scaleEvents"`
	Timeline      []Point      `json:"timeline"`
}

// Summary is the per-deployment table.
type Summary struct {
	PeakReplicas int32 `json:"peakReplicas"`
	// CatchUpSeconds is the longest stretch in which the offered load
	// exceeded the ready pods' capacity: how long capacity took to meet demand.
	CatchUpSeconds int64 `json:"catchUpSeconds"`
	// ShortfallSeconds is every second in which the load exceeded capacity.
	ShortfallSeconds int64 `json:"shortfallSeconds"`
	// SLOSeconds are seconds with gateway p95 latency over its target, or
	// with the oldest queued job waiting longer than worker.waitSLOSeconds.
	SLOSeconds       int64   `json:"sloViolationSeconds"`
	PodHours         float64 `json:"podHours"`
	OraclePodHours   float64 `json:"oraclePodHours"`
	ScaleEvents      int     `json:"scaleEvents"`
	DirectionChanges int     `json:"directionChanges"`
	// QuotaHeldSeconds counts seconds in which a ResourceQuota kept the
	// ReplicaSet from creating pods spec.replicas asked for; QuotaHeldPods is
	// the most pods held back at once, QuotaFirstHeldAt the first such second
	// (-1: never) and QuotaLimit the limit that held then.
	QuotaHeldSeconds int64  `json:"quotaHeldSeconds"`
	QuotaHeldPods    int32  `json:"quotaHeldPods"`
	QuotaFirstHeldAt int64  `json:"quotaFirstHeldAt"`
	QuotaLimit       string `json:"quotaLimit,omitempty"`
	// OOMKills counts containers restarted for exceeding their memory limit.
	OOMKills int64 `json:"oomKills"`

	// gateway
	Served   float64 `json:"served,omitempty"`
	Dropped  float64 `json:"dropped,omitempty"`
	MaxP95Ms float64 `json:"maxP95Ms,omitempty"`
	// BacklogAtEnd is the requests still waiting when the run ended.
	BacklogAtEnd float64 `json:"backlogAtEnd,omitempty"`
	// worker
	Completed     int64 `json:"completed,omitempty"`
	LateJobs      int64 `json:"lateJobs,omitempty"`
	MaxDepth      int64 `json:"maxDepth,omitempty"`
	MaxAgeSeconds int64 `json:"maxAgeSeconds,omitempty"`
	// QueuedAtEnd is the jobs still queued when the run ended, the oldest
	// of them OldestAtEndSeconds old.
	QueuedAtEnd        int64 `json:"queuedAtEnd"`
	OldestAtEndSeconds int64 `json:"oldestAtEndSeconds"`
}

// ScaleEvent is one rescale by the HPA.
type ScaleEvent struct {
	T    int64 `json:"t"`
	From int32 `json:"from"`
	To   int32 `json:"to"`
	// Proposed is the highest metric proposal; Metric names that metric, its
	// value and target.
	Proposed int32  `json:"proposed"`
	Metric   string `json:"metric,omitempty"`
	// Reason is the HPA's (hpa.Decision.Reason); Limit is set when a policy,
	// stabilization window or min/max held the proposal, Quota when a
	// ResourceQuota then kept pods from being created.
	Reason string `json:"reason"`
	Limit  string `json:"limit,omitempty"`
	Quota  string `json:"quota,omitempty"`
}

// Point is one timeline sample of one deployment.
type Point struct {
	T        int64   `json:"t"`
	Replicas int32   `json:"replicas"` // spec.replicas
	Ready    int32   `json:"ready"`
	Desired  int32   `json:"desired"`  // the max over metric proposals at the last sync
	Load     float64 `json:"load"`     // offered load, mean over the sample
	Capacity float64 `json:"capacity"` // ready pods' capacity, same unit
	SLO      float64 `json:"slo"`      // gateway p95 ms / worker oldest job age s, max over the sample
	Depth    float64 `json:"depth"`    // queue depth (worker), max over the sample
	// Metrics are the HPA's metrics at the last sync, in MetricInfo's order and units.
	Metrics []float64 `json:"metrics"`
}
