package recommend

import (
	"sort"
	"time"

	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/util"
)

// VPAConfig is the VPA recommender's configuration that shapes a
// recommendation. DefaultVPAConfig gives the recommender's defaults.
type VPAConfig struct {
	// The estimator settings, in the library's own type.
	logic.RecommendationConfig
	// MemoryAggregationInterval is how long one memory peak covers: the
	// recommender adds one sample per container per interval, its peak.
	MemoryAggregationInterval      time.Duration
	MemoryAggregationIntervalCount int64
	CPUHalfLife, MemoryHalfLife    time.Duration
	// OOMBumpUpRatio and OOMMinBumpUpBytes turn an OOM kill into a memory
	// sample of max(used × ratio, used + min).
	OOMBumpUpRatio, OOMMinBumpUpBytes float64
}

// DefaultVPAConfig returns the VPA recommender v1.8.1's defaults. The
// estimator values are the ones of DefaultRecommenderConfig in
// pkg/recommender/config/config.go (that package cannot be imported: its
// input/history dependency does not build against client_golang v1.25);
// the aggregation values are the exported constants of
// pkg/recommender/model/aggregations_config.go.
func DefaultVPAConfig() VPAConfig {
	return VPAConfig{
		RecommendationConfig: logic.RecommendationConfig{
			SafetyMarginFraction:       0.15,
			PodMinCPUMillicores:        25,
			PodMinMemoryMb:             250,
			TargetCPUPercentile:        0.9,
			LowerBoundCPUPercentile:    0.5,
			UpperBoundCPUPercentile:    0.95,
			ConfidenceIntervalCPU:      24 * time.Hour,
			TargetMemoryPercentile:     0.9,
			LowerBoundMemoryPercentile: 0.5,
			UpperBoundMemoryPercentile: 0.95,
			ConfidenceIntervalMemory:   24 * time.Hour,
		},
		MemoryAggregationInterval:      model.DefaultMemoryAggregationInterval,
		MemoryAggregationIntervalCount: model.DefaultMemoryAggregationIntervalCount,
		CPUHalfLife:                    model.DefaultCPUHistogramDecayHalfLife,
		MemoryHalfLife:                 model.DefaultMemoryHistogramDecayHalfLife,
		OOMBumpUpRatio:                 model.DefaultOOMBumpUpRatio,
		OOMMinBumpUpBytes:              model.DefaultOOMMinBumpUp,
	}
}

// Estimate is the VPA recommender's answer for one container.
type Estimate struct {
	Target     Amounts `json:"target"`
	LowerBound Amounts `json:"lowerBound"`
	UpperBound Amounts `json:"upperBound"`
	// CPUPercentile and MemoryPercentile are the target percentiles of the
	// histograms before the margin and the minimum (the reason column).
	CPUPercentile    float64 `json:"cpuPercentileCores"`
	MemoryPercentile float64 `json:"memoryPercentileBytes"`
	// CPUSamples is the number of CPU samples aggregated; Span the time
	// between the first and the last. They drive the bounds' confidence.
	CPUSamples    int `json:"cpuSamples"`
	MemorySamples int `json:"memorySamples"`
	// MemoryPeaks is the number of per-interval peaks the memory histogram
	// holds (one per pod per MemoryAggregationInterval it ran in).
	MemoryPeaks int           `json:"memoryPeaks"`
	Span        time.Duration `json:"span"`
	OOMs        int           `json:"ooms"`
}

// containerHistory is the usage of one container name of one workload,
// per pod.
type containerHistory struct {
	pods map[string][]Sample
	ooms map[string][]time.Time
}

// estimator aggregates samples into the library's AggregateContainerState,
// one per workload and container name, fed through one ContainerState per
// pod (which keeps the per-interval memory peaks and turns OOMs into
// samples), then asks the library's PodResourceRecommender.
type estimator struct {
	cfg  VPAConfig
	aggs *model.AggregationsConfig
	rec  logic.PodResourceRecommender
}

func newEstimator(cfg VPAConfig) *estimator {
	return &estimator{
		cfg:  cfg,
		aggs: model.NewAggregationsConfig(cfg.MemoryAggregationInterval, cfg.MemoryAggregationIntervalCount, cfg.MemoryHalfLife, cfg.CPUHalfLife, cfg.OOMBumpUpRatio, cfg.OOMMinBumpUpBytes),
		rec:  logic.CreatePodResourceRecommender(cfg.RecommendationConfig),
	}
}

// newState is model.NewAggregateContainerState with this estimator's
// configuration instead of the package-global one.
func (e *estimator) newState() *model.AggregateContainerState {
	return &model.AggregateContainerState{
		AggregateCPUUsage:                 util.NewDecayingHistogram(e.aggs.CPUHistogramOptions, e.aggs.CPUHistogramDecayHalfLife),
		AggregateMemoryPeaks:              util.NewDecayingHistogram(e.aggs.MemoryHistogramOptions, e.aggs.MemoryHistogramDecayHalfLife),
		CreationTime:                      time.Now(),
		OOMBumpUpRatio:                    e.aggs.OOMBumpUpRatio,
		OOMMinBumpUp:                      e.aggs.OOMMinBumpUp,
		MemoryAggregationIntervalDuration: e.aggs.MemoryAggregationIntervalDuration,
		MemoryAggregationIntervalCount:    e.aggs.MemoryAggregationIntervalCount,
	}
}

// estimate runs the recommender for the containers of one pod template.
// requestMemory gives each container's current memory request in bytes,
// which an OOM kill bumps from when no larger peak was seen.
func (e *estimator) estimate(hist map[string]*containerHistory, requestMemory map[string]float64) map[string]Estimate {
	states := model.ContainerNameToAggregateStateMap{}
	out := map[string]Estimate{}
	for name, h := range hist {
		agg := e.newState()
		est := Estimate{}
		pods := make([]string, 0, len(h.pods))
		for p := range h.pods {
			pods = append(pods, p)
		}
		for p := range h.ooms {
			if _, ok := h.pods[p]; !ok {
				pods = append(pods, p)
			}
		}
		sort.Strings(pods)
		for _, pod := range pods {
			cs := model.NewContainerState(model.Resources{model.ResourceMemory: model.MemoryAmountFromBytes(requestMemory[name])}, agg)
			samples := append([]Sample(nil), h.pods[pod]...)
			sort.SliceStable(samples, func(i, j int) bool { return samples[i].Time.Before(samples[j].Time) })
			ooms := append([]time.Time(nil), h.ooms[pod]...)
			sort.Slice(ooms, func(i, j int) bool { return ooms[i].Before(ooms[j]) })
			// Samples and OOMs in time order, as the recommender sees them.
			oi := 0
			// The recommender logs and drops an OOM older than one memory
			// interval before the last memory sample; so does this.
			flushOOMs := func(until time.Time, all bool) {
				for ; oi < len(ooms) && (all || !ooms[oi].After(until)); oi++ {
					if cs.RecordOOM(ooms[oi], model.MemoryAmountFromBytes(requestMemory[name])) == nil {
						est.OOMs++
					}
				}
			}
			for _, s := range samples {
				flushOOMs(s.Time, false)
				if s.CPUCores >= 0 && cs.AddSample(&model.ContainerUsageSample{MeasureStart: s.Time, Usage: model.CPUAmountFromCores(s.CPUCores), Resource: model.ResourceCPU}) {
					est.CPUSamples++
				}
				windowEnd := cs.WindowEnd
				if s.MemoryBytes >= 0 && cs.AddSample(&model.ContainerUsageSample{MeasureStart: s.Time, Usage: model.MemoryAmountFromBytes(s.MemoryBytes), Resource: model.ResourceMemory}) {
					est.MemorySamples++
					if !cs.WindowEnd.Equal(windowEnd) {
						est.MemoryPeaks++
					}
				}
			}
			flushOOMs(time.Time{}, true)
		}
		if agg.TotalSamplesCount == 0 && agg.AggregateMemoryPeaks.IsEmpty() {
			continue
		}
		est.Span = agg.LastSampleStart.Sub(agg.FirstSampleStart)
		est.CPUPercentile = agg.AggregateCPUUsage.Percentile(e.cfg.TargetCPUPercentile)
		est.MemoryPercentile = agg.AggregateMemoryPeaks.Percentile(e.cfg.TargetMemoryPercentile)
		states[name] = agg
		out[name] = est
	}
	for name, r := range e.rec.GetRecommendedPodResources(states) {
		est := out[name]
		est.Target = amounts(r.Target)
		est.LowerBound = amounts(r.LowerBound)
		est.UpperBound = amounts(r.UpperBound)
		out[name] = est
	}
	return out
}

func amounts(r model.Resources) Amounts {
	return Amounts{CPUCores: model.CoresFromCPUAmount(r[model.ResourceCPU]), MemoryBytes: model.BytesFromMemoryAmount(r[model.ResourceMemory])}
}
