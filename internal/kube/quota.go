package kube

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The ResourceQuota model `vactl lint` and `vactl recommend` share: which
// quota keys count container resources, what a container asks after
// admission has filled in defaults, and what one pod of a template counts.

// QuotaKey is a ResourceQuota spec.hard key that counts a container
// resource: the requests or the limits of Resource.
type QuotaKey struct {
	Key      corev1.ResourceName
	Resource corev1.ResourceName
	Limit    bool
}

// QuotaKeys are the spec.hard keys that count CPU and memory; "cpu" and
// "memory" are the requests, as the API server counts them.
var QuotaKeys = []QuotaKey{
	{corev1.ResourceLimitsCPU, corev1.ResourceCPU, true},
	{corev1.ResourceLimitsMemory, corev1.ResourceMemory, true},
	{corev1.ResourceRequestsCPU, corev1.ResourceCPU, false},
	{corev1.ResourceRequestsMemory, corev1.ResourceMemory, false},
	{corev1.ResourceCPU, corev1.ResourceCPU, false},
	{corev1.ResourceMemory, corev1.ResourceMemory, false},
}

// QuotaWorkloads are the workloads of namespace a quota check counts at
// their maxima: those an HPA can scale, and bare Pods. DaemonSets, Jobs and
// CronJobs run a number of pods no replica count or HPA bounds.
func (s *Set) QuotaWorkloads(namespace string) []Workload {
	var out []Workload
	for _, w := range s.WorkloadsIn(namespace) {
		if w.Template != nil && (w.Scalable || w.TemplatePath == "") {
			out = append(out, w)
		}
	}
	return out
}

// Effective is a container's request (limit=false) or limit of r after
// admission: its own; for a request, else its limit (the API server
// defaults the one to the other); else the namespace's LimitRange default.
func (s *Set) Effective(namespace string, rs corev1.ResourceRequirements, r corev1.ResourceName, limit bool) (resource.Quantity, bool) {
	if !limit {
		if q, ok := rs.Requests[r]; ok {
			return q, true
		}
	}
	if q, ok := rs.Limits[r]; ok {
		return q, true
	}
	return s.limitRangeDefault(namespace, r, limit)
}

// limitRangeDefault is the namespace's LimitRange Container default limit
// (limit=true) or default request (defaultRequest, else default) for r.
func (s *Set) limitRangeDefault(namespace string, r corev1.ResourceName, limit bool) (resource.Quantity, bool) {
	for _, lr := range s.LimitRanges {
		if lr.Namespace != namespace {
			continue
		}
		for _, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypeContainer {
				continue
			}
			if !limit {
				if q, ok := it.DefaultRequest[r]; ok {
					return q, true
				}
			}
			if q, ok := it.Default[r]; ok {
				return q, true
			}
		}
	}
	return resource.Quantity{}, false
}

// PodAmount is one pod's total request (limit=false) or limit of r as a
// quota counts it: the app containers and the sidecars (restartable init
// containers) together, or the largest other init container if that is
// more, since those run one at a time before the rest. missing names the
// containers with no amount of their own and no LimitRange default (a
// quota on r rejects such a pod); the total leaves them out.
func (s *Set) PodAmount(namespace string, spec *corev1.PodSpec, r corev1.ResourceName, limit bool) (total resource.Quantity, missing []string) {
	var sum, maxInit resource.Quantity
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		q, ok := s.Effective(namespace, c.Resources, r, limit)
		if !ok {
			missing = append(missing, c.Name)
			continue
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum.Add(q)
		} else if q.Cmp(maxInit) > 0 {
			maxInit = q
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		q, ok := s.Effective(namespace, c.Resources, r, limit)
		if !ok {
			missing = append(missing, c.Name)
			continue
		}
		sum.Add(q)
	}
	if maxInit.Cmp(sum) > 0 {
		return maxInit, missing
	}
	return sum, missing
}
