package nodeagent

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// The cgroup v1 settings the kubelet gives a container, from its
// resources (k8s.io/kubernetes pkg/kubelet/cm/helpers_linux.go and
// pkg/kubelet/kuberuntime/kuberuntime_container_linux.go, with the CFS
// quota on, its default, and swap off). No build tag, so its unit test
// runs in `make test`.
const (
	minShares      = 2      // cpu.shares floor (the kernel's minimum)
	maxShares      = 262144 // cpu.shares ceiling (the kernel's maximum)
	sharesPerCPU   = 1024
	milliCPUToCPU  = 1000
	quotaPeriod    = 100000 // µs: cpu.cfs_period_us, the kubelet's 100 ms
	minQuotaPeriod = 1000   // µs: the kernel's smallest quota
)

// milliCPUToShares is the kubelet's MilliCPUToShares: 1024 shares per
// CPU of request, at least 2 (also for a container without request).
func milliCPUToShares(milliCPU int64) uint64 {
	if milliCPU == 0 {
		return minShares
	}
	shares := milliCPU * sharesPerCPU / milliCPUToCPU
	return uint64(min(max(shares, minShares), maxShares))
}

// milliCPUToQuota is the kubelet's milliCPUToQuota: the limit's share of
// each period, at least 1 ms; 0 (no quota) without a limit.
func milliCPUToQuota(milliCPU, period int64) int64 {
	if milliCPU == 0 {
		return 0
	}
	return max(milliCPU*period/milliCPUToCPU, minQuotaPeriod)
}

// containerResources is what the kubelet asks the runtime to set for c:
// cpu.shares from requests.cpu (from limits.cpu when there is no request),
// cpu.cfs_quota_us/cfs_period_us from limits.cpu, memory.limit_in_bytes
// from limits.memory and memory.memsw.limit_in_bytes equal to it (no swap:
// the kubelet's cgroup v1 NoSwap setting). Unset limits stay unlimited.
func containerResources(c *corev1.Container) *specs.LinuxResources {
	req, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	lim := c.Resources.Limits[corev1.ResourceCPU]
	var shares uint64
	if !hasReq && !lim.IsZero() {
		shares = milliCPUToShares(lim.MilliValue())
	} else {
		shares = milliCPUToShares(req.MilliValue())
	}
	r := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}
	if quota := milliCPUToQuota(lim.MilliValue(), quotaPeriod); quota > 0 {
		period := uint64(quotaPeriod)
		r.CPU.Quota, r.CPU.Period = &quota, &period
	}
	if mem := c.Resources.Limits[corev1.ResourceMemory]; mem.Value() > 0 {
		limit := mem.Value()
		swap := limit
		r.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
	}
	return r
}
