package recommend

import (
	"math"
	"sort"
)

// KRRSimple is krr's "simple" strategy (robusta-dev/krr,
// robusta_krr/strategies/simple.py), computed on the same samples for
// comparison: CPU request = the 95th percentile of every CPU point of every
// pod (numpy's linear interpolation), no CPU limit; memory request = memory
// limit = the maximum working set of any pod + 15 %. krr also declines
// (answers "?") with fewer than 100 points, and for a resource an HPA
// scales on unless --allow-hpa; Note says so instead.
type KRRSimple struct {
	CPURequestCores float64 `json:"cpuRequestCores"`
	MemoryBytes     float64 `json:"memoryBytes"`
	CPUPoints       int     `json:"cpuPoints"`
	MemoryPoints    int     `json:"memoryPoints"`
	Note            string  `json:"note,omitempty"`
}

// krr's documented defaults.
const (
	krrCPUPercentile  = 95
	krrMemoryBuffer   = 0.15
	krrPointsRequired = 100
)

func krrSimple(h *containerHistory, hpaScalesOn map[string]bool) KRRSimple {
	var cpu []float64
	maxMem, memPoints := 0.0, 0
	for _, ss := range h.pods {
		for _, s := range ss {
			if s.CPUCores >= 0 {
				cpu = append(cpu, s.CPUCores)
			}
			if s.MemoryBytes >= 0 {
				memPoints++
				maxMem = math.Max(maxMem, s.MemoryBytes)
			}
		}
	}
	k := KRRSimple{CPURequestCores: percentileLinear(cpu, krrCPUPercentile), MemoryBytes: maxMem * (1 + krrMemoryBuffer), CPUPoints: len(cpu), MemoryPoints: memPoints}
	switch {
	case len(cpu) < krrPointsRequired || memPoints < krrPointsRequired:
		k.Note = "krr would answer \"?\": fewer than 100 points"
	case hpaScalesOn["cpu"] || hpaScalesOn["memory"]:
		k.Note = "krr would answer \"?\" for the HPA's resource unless --allow-hpa"
	}
	return k
}

// percentileLinear is numpy.percentile's default ("linear") method.
func percentileLinear(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}
