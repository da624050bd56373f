package nodeagent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The kubelet's formulas, with the values its own tests
// (pkg/kubelet/cm/helpers_linux_test.go) and our manifests use.
func TestCgroupShares(t *testing.T) {
	for _, c := range []struct {
		milli int64
		want  uint64
	}{
		{0, 2}, {1, 2}, {2, 2}, {10, 10}, {100, 102}, {250, 256}, {500, 512}, {1000, 1024}, {2000, 2048},
		{500000, 262144}, // capped at the kernel's maximum
	} {
		if got := milliCPUToShares(c.milli); got != c.want {
			t.Errorf("milliCPUToShares(%d) = %d, want %d", c.milli, got, c.want)
		}
	}
}

func TestCgroupQuota(t *testing.T) {
	for _, c := range []struct {
		milli, period, want int64
	}{
		{0, 100000, 0},       // no limit: no quota
		{5, 100000, 1000},    // 500 µs raised to the 1 ms minimum
		{9, 100000, 1000},    // 900 µs raised too
		{10, 100000, 1000},   // exactly 1 ms
		{200, 100000, 20000}, // 200m: 20 ms of every 100 ms
		{500, 100000, 50000},
		{1000, 100000, 100000},
		{1500, 100000, 150000}, // more than one CPU: quota over the period
		{200, 50000, 10000},
	} {
		if got := milliCPUToQuota(c.milli, c.period); got != c.want {
			t.Errorf("milliCPUToQuota(%d, %d) = %d, want %d", c.milli, c.period, got, c.want)
		}
	}
}

func TestContainerResources(t *testing.T) {
	q := resource.MustParse
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m"), corev1.ResourceMemory: q("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("512Mi")},
	}}
	r := containerResources(c)
	if *r.CPU.Shares != 256 || *r.CPU.Quota != 100000 || *r.CPU.Period != 100000 {
		t.Errorf("cpu: shares %d quota %d period %d, want 256 100000 100000", *r.CPU.Shares, *r.CPU.Quota, *r.CPU.Period)
	}
	if *r.Memory.Limit != 512<<20 || *r.Memory.Swap != 512<<20 {
		t.Errorf("memory: limit %d swap %d, want %d both", *r.Memory.Limit, *r.Memory.Swap, 512<<20)
	}

	// Only a limit (no request): shares from the limit, as the kubelet does.
	r = containerResources(&corev1.Container{Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: q("500m")},
	}})
	if *r.CPU.Shares != 512 || *r.CPU.Quota != 50000 || r.Memory != nil {
		t.Errorf("limit only: shares %d quota %d memory %v, want 512 50000 nil", *r.CPU.Shares, *r.CPU.Quota, r.Memory)
	}

	// Nothing set (BestEffort): 2 shares, no quota, no memory limit.
	r = containerResources(&corev1.Container{})
	if *r.CPU.Shares != 2 || r.CPU.Quota != nil || r.CPU.Period != nil || r.Memory != nil {
		t.Errorf("best effort: shares %d quota %v period %v memory %v, want 2 nil nil nil", *r.CPU.Shares, r.CPU.Quota, r.CPU.Period, r.Memory)
	}

	// A request without limit: shares from it, no quota.
	r = containerResources(&corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")},
	}})
	if *r.CPU.Shares != 102 || r.CPU.Quota != nil {
		t.Errorf("request only: shares %d quota %v, want 102 nil", *r.CPU.Shares, r.CPU.Quota)
	}
}
