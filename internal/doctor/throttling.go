package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
)

// CPU throttling: a container that keeps hitting its CPU limit answers
// slowly while the HPA, which compares use with the request, sees at most
// limit/request utilization. The kernel's CFS counters say so; cAdvisor
// exposes them on the kubelet's /metrics/cadvisor.

const (
	// throttledShare is the share of CFS periods throttled that makes a
	// finding: the monitoring component's VoiceAssistContainerCPUThrottled
	// alert fires above it too.
	throttledShare = 0.25
	// minPeriods: fewer 100 ms periods with work (10 s of activity) say
	// nothing yet.
	minPeriods = 100
)

func cadvisorPath(node string) string {
	return "/api/v1/nodes/" + node + "/proxy/metrics/cadvisor"
}

// gatherThrottling reads the CFS counters of namespace's containers from
// the kubelet of every node its pods run on.
func gatherThrottling(ctx context.Context, k kubernetes.Interface, namespace string, pods []corev1.Pod) (map[string]map[string]CFSThrottling, error) {
	nodes := map[string]bool{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			nodes[p.Spec.NodeName] = true
		}
	}
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]map[string]CFSThrottling{}
	var errs []error
	for _, node := range names {
		raw, err := k.CoreV1().RESTClient().Get().AbsPath(cadvisorPath(node)).Timeout(metricsTimeout).DoRaw(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("GET %s: %w", cadvisorPath(node), err))
			continue
		}
		if err := parseThrottling(raw, namespace, out); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cadvisorPath(node), err))
		}
	}
	return out, errors.Join(errs...)
}

// parseThrottling adds the container_cpu_cfs_* series of namespace in a
// /metrics/cadvisor text to into.
func parseThrottling(raw []byte, namespace string, into map[string]map[string]CFSThrottling) error {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	for name, set := range map[string]func(*CFSThrottling, float64){
		"container_cpu_cfs_periods_total":           func(c *CFSThrottling, v float64) { c.Periods = v },
		"container_cpu_cfs_throttled_periods_total": func(c *CFSThrottling, v float64) { c.ThrottledPeriods = v },
		"container_cpu_cfs_throttled_seconds_total": func(c *CFSThrottling, v float64) { c.ThrottledSeconds = v },
	} {
		for _, m := range fams[name].GetMetric() {
			var ns, pod, ctr string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "namespace":
					ns = l.GetValue()
				case "pod":
					pod = l.GetValue()
				case "container":
					ctr = l.GetValue()
				}
			}
			// container "" is the pod's own cgroup, "POD" the pause container
			if ns != namespace || pod == "" || ctr == "" || ctr == "POD" {
				continue
			}
			if into[pod] == nil {
				into[pod] = map[string]CFSThrottling{}
			}
			c := into[pod][ctr]
			set(&c, m.GetCounter().GetValue())
			into[pod][ctr] = c
		}
	}
	return nil
}

// checkThrottling: containers throttled in more than throttledShare of
// their CFS periods since they started.
func checkThrottling(s *Snapshot) []Finding {
	var out []Finding
	if s.ThrottlingErr != nil {
		out = append(out, Finding{
			Check: CheckPods, Severity: Info, Object: "Namespace " + s.Namespace,
			Message:  "CPU throttling not checked: the kubelets' /metrics/cadvisor could not be read",
			Evidence: []string{s.ThrottlingErr.Error()},
			Fix:      "run doctor with a user allowed to get nodes/proxy (as Prometheus' kubelet job is), or query container_cpu_cfs_throttled_periods_total in Prometheus",
		})
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		for _, c := range p.Spec.Containers {
			t, ok := s.Throttling[p.Name][c.Name]
			if !ok || t.Periods < minPeriods || t.ThrottledPeriods/t.Periods <= throttledShare {
				continue
			}
			share := t.ThrottledPeriods / t.Periods
			limit, request := c.Resources.Limits[corev1.ResourceCPU], c.Resources.Requests[corev1.ResourceCPU]
			ev := []string{
				fmt.Sprintf("container %s: throttled in %.0f of %.0f CFS periods (%.0f %%), held back %.1f s in total since it started", c.Name, t.ThrottledPeriods, t.Periods, 100*share, t.ThrottledSeconds),
				fmt.Sprintf("cpu request %s, limit %s", request.String(), limit.String()),
			}
			if u, ok := s.PodUsage[p.Name][c.Name]; ok {
				use := u[corev1.ResourceCPU]
				line := "cpu use now " + use.String()
				if !limit.IsZero() {
					line += fmt.Sprintf(" (%.0f %% of the limit)", 100*use.AsApproximateFloat64()/limit.AsApproximateFloat64())
				}
				ev = append(ev, line)
			}
			fix := fmt.Sprintf("raise the CPU limit of %s in the environment's overlay (at most the LimitRange's maxLimitRequestRatio × the request; raise the request with it), or scale out earlier by lowering the HPA's CPU target; check with vactl lint --env <env>", c.Name)
			if mx := s.maxCPURatio(); mx != nil && !request.IsZero() {
				most := resource.NewMilliQuantity(int64(mx.AsApproximateFloat64()*float64(request.MilliValue())), resource.DecimalSI)
				fix += fmt.Sprintf("; with the %s request, the LimitRange allows a limit up to %s", request.String(), most.String())
			}
			out = append(out, Finding{
				Check: CheckPods, Severity: Warning, Object: "Pod " + s.Namespace + "/" + p.Name,
				Message:  fmt.Sprintf("container %s is CPU-throttled in %.0f %% of its CFS periods: it hits its %s CPU limit, so it answers slowly while the HPA sees at most limit/request utilization", c.Name, 100*share, limit.String()),
				Evidence: ev,
				Confirm: []string{
					fmt.Sprintf("kubectl get --raw %s | grep 'container_cpu_cfs_.*pod=\"%s\"'", cadvisorPath(p.Spec.NodeName), p.Name),
					fmt.Sprintf("kubectl top pod %s -n %s --containers", p.Name, s.Namespace),
				},
				Fix: fix,
			})
		}
	}
	return out
}

// maxCPURatio is the lowest maxLimitRequestRatio for cpu of the
// namespace's Container LimitRanges, nil without one.
func (s *Snapshot) maxCPURatio() *resource.Quantity {
	var out *resource.Quantity
	for _, lr := range s.LimitRanges {
		for _, it := range lr.Spec.Limits {
			if q, ok := it.MaxLimitRequestRatio[corev1.ResourceCPU]; ok && it.Type == corev1.LimitTypeContainer && (out == nil || q.Cmp(*out) < 0) {
				out = &q
			}
		}
	}
	return out
}
