package recommend

import (
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
)

// The recommender caps amounts at model.MaxResourceAmount; an upper bound
// there (no history: confidence 0) means "unbounded".

// fmtCPU prints cores as millicores, the way manifests write them.
func fmtCPU(cores float64) string {
	if cores >= model.CoresFromCPUAmount(model.MaxResourceAmount) {
		return "∞"
	}
	return fmt.Sprintf("%dm", int64(math.Ceil(cores*1000-1e-9)))
}

// fmtMem prints bytes in Mi (Gi when whole).
func fmtMem(b float64) string {
	if b >= model.BytesFromMemoryAmount(model.MaxResourceAmount) {
		return "∞"
	}
	mi := math.Ceil(b/(1<<20) - 1e-9)
	if mi >= 1024 && math.Mod(mi, 1024) == 0 {
		return fmt.Sprintf("%gGi", mi/1024)
	}
	return fmt.Sprintf("%gMi", mi)
}

func fmtAmounts(a Amounts) string { return fmtCPU(a.CPUCores) + " / " + fmtMem(a.MemoryBytes) }

func fmtUnits(res corev1.ResourceName, u int64) string {
	if res == corev1.ResourceCPU {
		return fmtCPU(float64(u) / 1000)
	}
	return fmtMem(float64(u))
}

func fmtSpan(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d > 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	default:
		return d.String()
	}
}

// sameResources compares requests and limits of cpu and memory by value.
func sameResources(a, b Resources) bool {
	for _, r := range cpuMem {
		for _, pair := range [][2]corev1.ResourceList{{a.Requests, b.Requests}, {a.Limits, b.Limits}} {
			x, okx := pair[0][r]
			y, oky := pair[1][r]
			if okx != oky || (okx && x.Cmp(y) != 0) {
				return false
			}
		}
	}
	return true
}
