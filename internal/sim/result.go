package sim

// Result is one simulation run.
type Result struct {
	// Label names the manifests: an environment ("prod") or a directory.
	Label    string `json:"label"`
	Scenario string `json:"scenario"`
	Duration int64  `json:"durationSeconds"`
	Seed     uint64 `json:"seed"`
	// SampleSeconds is the timeline's resolution.
	SampleSeconds int64              `json:"sampleSeconds"`
	Deployments   []DeploymentResult `json:"deployments"`
}

// DeploymentResult is one deployment's outcome.
type DeploymentResult struct {
	Name string `json:"name"`
	// HPA is the autoscaler's name; "" when no HPA targets the deployment.
	HPA         string       `json:"hpa,omitempty"`
	MinReplicas int32        `json:"minReplicas"`
	MaxReplicas int32        `json:"maxReplicas"`
	LoadUnit    string       `json:"loadUnit"` // "req/s" or "jobs/s"
	SLO         string       `json:"slo"`      // what SLO seconds count
	SLOUnit     string       `json:"sloUnit"`  // unit of Point.SLO: "ms" or "s"
	SLOTarget   float64      `json:"sloTarget"`
	Metrics     []MetricInfo `json:"metrics"`
	Summary     Summary      `json:"summary"`
	Events      []ScaleEvent `json:"scaleEvents"`
	Timeline    []Point      `json:"timeline"`
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

	// gateway
	Served   float64 `json:"served,omitempty"`
	Dropped  float64 `json:"dropped,omitempty"`
	MaxP95Ms float64 `json:"maxP95Ms,omitempty"`
	// worker
	Completed     int64 `json:"completed,omitempty"`
	LateJobs      int64 `json:"lateJobs,omitempty"`
	MaxDepth      int64 `json:"maxDepth,omitempty"`
	MaxAgeSeconds int64 `json:"maxAgeSeconds,omitempty"`
}

// ScaleEvent is one rescale by the HPA.
type ScaleEvent struct {
	T      int64  `json:"t"`
	From   int32  `json:"from"`
	To     int32  `json:"to"`
	Reason string `json:"reason"`
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
