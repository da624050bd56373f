package recommend

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus reads container usage from cAdvisor's metrics in Prometheus
// with range queries, one point per step, the way the VPA recommender's own
// Prometheus history provider does (pkg/recommender/input/history).
type Prometheus struct {
	// URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090.
	URL string
	// Client, when set, replaces the default HTTP client (tests, auth).
	Client api.Client
}

// Name implements Source.
func (p Prometheus) Name() string { return "prometheus " + p.URL }

// The queries. Each selects the environment's namespaces and drops the
// cgroup-level series cAdvisor also exports (container="" is the pod,
// container="POD" the pause container).
const (
	// CPU is the rate of the usage counter over one step (at least a
	// minute, so that a 15–30 s scrape gives the rate two points).
	cpuQuery = `sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{%s}[%s]))`
	// Memory is the peak working set within each step, so that the VPA's
	// per-interval peak sees spikes between the points.
	memoryQuery = `max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes{%s}[%s]))`
	// An OOM kill is a step in which cAdvisor's OOM counter went up.
	oomQuery = `sum by (namespace, pod, container) (increase(container_oom_events_total{%s}[%s])) > 0`
)

// Read implements Source.
func (p Prometheus) Read(ctx context.Context, scope Scope) (*Observations, error) {
	if scope.Step <= 0 || scope.Range <= 0 {
		return nil, fmt.Errorf("prometheus: range %s and step %s must be positive", scope.Range, scope.Step)
	}
	client := p.Client
	if client == nil {
		c, err := api.NewClient(api.Config{Address: p.URL})
		if err != nil {
			return nil, fmt.Errorf("prometheus %s: %w", p.URL, err)
		}
		client = c
	}
	papi := promv1.NewAPI(client)
	end := scope.End
	if end.IsZero() {
		end = time.Now()
	}
	chunks := rangeChunks(end.Add(-scope.Range), end, scope.Step)
	window := model.Duration(max(scope.Step, time.Minute)).String()
	sel := selector(scope.Namespaces)

	obs := &Observations{}
	cpu, err := p.matrix(ctx, papi, fmt.Sprintf(cpuQuery, sel, window), chunks)
	if err != nil {
		return nil, err
	}
	mem, err := p.matrix(ctx, papi, fmt.Sprintf(memoryQuery, sel, window), chunks)
	if err != nil {
		return nil, err
	}
	oom, err := p.matrix(ctx, papi, fmt.Sprintf(oomQuery, sel, window), chunks)
	if err != nil {
		return nil, err
	}
	// One Sample per point; CPU and memory points of the same container at
	// the same time share a Sample.
	type key struct {
		ns, pod, ctr string
		t            int64
	}
	idx := map[key]int{}
	add := func(ss *model.SampleStream, cpu bool) {
		ns, pod, ctr := string(ss.Metric["namespace"]), string(ss.Metric["pod"]), string(ss.Metric["container"])
		for _, v := range ss.Values {
			k := key{ns, pod, ctr, int64(v.Timestamp)}
			i, ok := idx[k]
			if !ok {
				i = len(obs.Samples)
				idx[k] = i
				obs.Samples = append(obs.Samples, Sample{Namespace: ns, Pod: pod, Container: ctr, Time: v.Timestamp.Time(), CPUCores: -1, MemoryBytes: -1})
			}
			f := float64(v.Value)
			if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				continue
			}
			if cpu {
				obs.Samples[i].CPUCores = f
			} else {
				obs.Samples[i].MemoryBytes = f
			}
		}
	}
	for _, ss := range cpu {
		add(ss, true)
	}
	for _, ss := range mem {
		add(ss, false)
	}
	for _, ss := range oom {
		for _, v := range ss.Values {
			obs.OOMs = append(obs.OOMs, OOM{Namespace: string(ss.Metric["namespace"]), Pod: string(ss.Metric["pod"]), Container: string(ss.Metric["container"]), Time: v.Timestamp.Time()})
		}
	}
	sort.SliceStable(obs.Samples, func(i, j int) bool { return obs.Samples[i].Time.Before(obs.Samples[j].Time) })
	return obs, nil
}

// matrix runs q over each chunk and returns the series of all of them
// (one series may come once per chunk; Read merges by timestamp).
func (p Prometheus) matrix(ctx context.Context, papi promv1.API, q string, chunks []promv1.Range) (model.Matrix, error) {
	var out model.Matrix
	for _, r := range chunks {
		v, _, _, err := papi.QueryRange(ctx, q, r)
		if err != nil {
			return nil, fmt.Errorf("prometheus %s: query %s from %s to %s: %w", p.URL, q, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("prometheus %s: query %s: got a %s, want a matrix", p.URL, q, v.Type())
		}
		out = append(out, m...)
	}
	return out, nil
}

// maxPoints is the most points Prometheus returns per series in one range
// query ("exceeded maximum resolution of 11,000 points per timeseries").
const maxPoints = 11000

// rangeChunks splits the evaluation times start, start+step, … ≤ end into
// ranges of at most a day (and at most maxPoints points) each. Each chunk
// starts one step after the previous one's last point, so every evaluation
// time of the whole range is in exactly one chunk.
func rangeChunks(start, end time.Time, step time.Duration) []promv1.Range {
	per := min(int64(24*time.Hour/step), maxPoints)
	per = max(per, 1)
	var out []promv1.Range
	for s := start; !s.After(end); s = s.Add(time.Duration(per) * step) {
		e := s.Add(time.Duration(per-1) * step)
		if e.After(end) {
			e = end
		}
		out = append(out, promv1.Range{Start: s, End: e, Step: step})
	}
	return out
}

// selector matches the namespaces and the containers proper.
func selector(namespaces []string) string {
	parts := []string{`container!=""`, `container!="POD"`}
	if len(namespaces) > 0 {
		quoted := make([]string, len(namespaces))
		for i, n := range namespaces {
			quoted[i] = regexpQuote(n)
		}
		parts = append([]string{fmt.Sprintf(`namespace=~"%s"`, strings.Join(quoted, "|"))}, parts...)
	}
	return strings.Join(parts, ",")
}

// regexpQuote escapes a namespace for a PromQL regex inside double quotes.
// Namespace names are DNS labels, so only "." could matter; escape it anyway.
func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", `\\.`) }
