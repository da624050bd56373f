package recommend

import (
	"context"
	"fmt"
	"time"

	"github.com/voiceassist/autoscaling/internal/kube"
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

// InputError is an error in the user's input (a malformed capture), as
// opposed to a failure to reach a source.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// FromSources reads every source and recommends from their observations
// together.
func FromSources(ctx context.Context, set *kube.Set, sources []Source, scope Scope, opt Options) (*Result, error) {
	all := &Observations{}
	var names []string
	for _, s := range sources {
		obs, err := s.Read(ctx, scope)
		if err != nil {
			return nil, err
		}
		names = append(names, fmt.Sprintf("%s (%d samples, %d OOM kills)", s.Name(), len(obs.Samples), len(obs.OOMs)))
		all.Samples = append(all.Samples, obs.Samples...)
		all.OOMs = append(all.OOMs, obs.OOMs...)
		all.Recommendations = append(all.Recommendations, obs.Recommendations...)
	}
	res, err := Recommend(set, all, opt)
	if err != nil {
		return nil, err
	}
	res.Sources = names
	return res, nil
}
