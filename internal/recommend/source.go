package recommend

import (
	"context"
	"time"
)

// Sample is one usage observation of one container of one pod.
type Sample struct {
	Namespace string // "" when the source does not say (a top capture without -A)
	Pod       string
	Container string
	Time      time.Time
	// CPUCores is the average CPU use over the sample's interval, in cores;
	// MemoryBytes the working set. A negative value means "not measured".
	CPUCores    float64
	MemoryBytes float64
}

// OOM is one out-of-memory kill of a container.
type OOM struct {
	Namespace, Pod, Container string
	Time                      time.Time
}

// Observations is what a Source yields.
type Observations struct {
	Samples []Sample
	OOMs    []OOM
	// Recommendations are ready-made targets, for a source that reads them
	// instead of usage (a live VPA's status.recommendation). They bypass
	// the histograms but still go through the limit band, LimitRange and
	// ResourceQuota.
	Recommendations []Given
}

// Given is a recommendation a source already holds for one container of one
// workload (kind, namespace and name as in the manifests).
type Given struct {
	Kind, Namespace, Name, Container string
	// Target, LowerBound and UpperBound in cores and bytes.
	Target, LowerBound, UpperBound Amounts
	// From says where it came from, for the reason column.
	From string
}

// Amounts is a CPU amount in cores and a memory amount in bytes.
type Amounts struct {
	CPUCores    float64 `json:"cpuCores"`
	MemoryBytes float64 `json:"memoryBytes"`
}

// Scope tells a source what to read: the namespaces of the environment's
// workloads, and the time window for sources that query history.
type Scope struct {
	Namespaces []string
	End        time.Time
	Range      time.Duration
	Step       time.Duration
}

// Source reads usage history (or ready recommendations). The offline
// sources are Prometheus range queries and kubectl-top captures; a live
// cluster's VPA status is meant to be another implementation.
type Source interface {
	// Name says what the source is, for messages: "prometheus http://…",
	// "top baseline.txt".
	Name() string
	Read(ctx context.Context, scope Scope) (*Observations, error)
}
