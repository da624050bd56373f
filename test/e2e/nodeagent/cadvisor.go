//go:build e2e

package nodeagent

import (
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The kubelet's /metrics/cadvisor, the part of it that shows a container
// at its limits: CFS throttling and memory against the limit, read from
// the containers' cgroups at scrape time, with cAdvisor's names, types and
// the labels Prometheus' kubelet job keeps (namespace, pod, container).
// As in cAdvisor, the CFS series exist only for a container with a CPU
// limit (a quota), and an unlimited memory limit is 0.

var (
	cfsPeriodsDesc = prometheus.NewDesc("container_cpu_cfs_periods_total",
		"Number of elapsed enforcement period intervals.", cadvisorLabels, nil)
	cfsThrottledPeriodsDesc = prometheus.NewDesc("container_cpu_cfs_throttled_periods_total",
		"Number of throttled period intervals.", cadvisorLabels, nil)
	cfsThrottledSecondsDesc = prometheus.NewDesc("container_cpu_cfs_throttled_seconds_total",
		"Total time duration the container has been throttled.", cadvisorLabels, nil)
	cpuUsageDesc = prometheus.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative cpu time consumed in seconds.", append(append([]string(nil), cadvisorLabels...), "cpu"), nil)
	workingSetDesc = prometheus.NewDesc("container_memory_working_set_bytes",
		"Current working set in bytes.", cadvisorLabels, nil)
	memoryLimitDesc = prometheus.NewDesc("container_spec_memory_limit_bytes",
		"Memory limit for the container.", cadvisorLabels, nil)
	oomEventsDesc = prometheus.NewDesc("container_oom_events_total",
		"Count of out of memory events observed for the container", cadvisorLabels, nil)
)

var cadvisorLabels = []string{"namespace", "pod", "container"}

// unlimitedMemory: cgroup v1 reports no limit as the largest page-aligned
// int64 (9223372036854771712).
const unlimitedMemory = math.MaxInt64 &^ 4095

type cadvisorCollector struct{ a *Agent }

func (a *Agent) cadvisorHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(cadvisorCollector{a})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func (cadvisorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cfsPeriodsDesc, cfsThrottledPeriodsDesc, cfsThrottledSecondsDesc, cpuUsageDesc, workingSetDesc, memoryLimitDesc, oomEventsDesc} {
		ch <- d
	}
}

func (c cadvisorCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.a.runningContainers() {
		if r.cg == nil {
			continue
		}
		s, err := r.cg.stats()
		if err != nil {
			continue
		}
		l := []string{r.ns, r.pod, r.name}
		if s.CPU != nil {
			if s.CPU.Usage != nil {
				ch <- prometheus.MustNewConstMetric(cpuUsageDesc, prometheus.CounterValue, float64(s.CPU.Usage.Total)/1e9, append(l, "total")...)
			}
			if t := s.CPU.Throttling; t != nil && r.cg.quota {
				ch <- prometheus.MustNewConstMetric(cfsPeriodsDesc, prometheus.CounterValue, float64(t.Periods), l...)
				ch <- prometheus.MustNewConstMetric(cfsThrottledPeriodsDesc, prometheus.CounterValue, float64(t.ThrottledPeriods), l...)
				ch <- prometheus.MustNewConstMetric(cfsThrottledSecondsDesc, prometheus.CounterValue, float64(t.ThrottledTime)/1e9, l...)
			}
		}
		if s.Memory != nil && s.Memory.Usage != nil {
			ch <- prometheus.MustNewConstMetric(workingSetDesc, prometheus.GaugeValue, float64(workingSet(s)), l...)
			limit := s.Memory.Usage.Limit
			if limit >= unlimitedMemory {
				limit = 0
			}
			ch <- prometheus.MustNewConstMetric(memoryLimitDesc, prometheus.GaugeValue, float64(limit), l...)
		}
		if s.MemoryOomControl != nil {
			ch <- prometheus.MustNewConstMetric(oomEventsDesc, prometheus.CounterValue, float64(s.MemoryOomControl.OomKill), l...)
		}
	}
}
