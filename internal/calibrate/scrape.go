package calibrate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// Families is one scrape, by metric name.
type Families map[string]*dto.MetricFamily

// A Scraper reads one process's /metrics.
type Scraper interface {
	Scrape(ctx context.Context) (Families, error)
	// Name says what it scrapes, for messages.
	Name() string
}

// HTTPScraper GETs a /metrics URL.
type HTTPScraper struct {
	URL    string
	Client *http.Client
}

func (s HTTPScraper) Name() string { return s.URL }

func (s HTTPScraper) Scrape(ctx context.Context) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, err
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d", s.URL, resp.StatusCode)
	}
	return parse(s.URL, body)
}

// PodScraper reads a pod's /metrics through the API server's pod proxy
// (GET /api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics), as Prometheus
// would reach it from inside the cluster, without a port-forward.
type PodScraper struct {
	Kube           kubernetes.Interface
	Namespace, Pod string
	Port           string
	Path           string
}

func (s PodScraper) Name() string { return "pod " + s.Namespace + "/" + s.Pod + ":" + s.Port }

func (s PodScraper) Scrape(ctx context.Context) (Families, error) {
	path := s.Path
	if path == "" {
		path = "/metrics"
	}
	body, err := s.Kube.CoreV1().Pods(s.Namespace).ProxyGet("http", s.Pod, s.Port, path, nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.Name(), err)
	}
	return parse(s.Name(), body)
}

func parse(name string, body []byte) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", name, err)
	}
	return Families(fams), nil
}

// Process collector and worker metric names.
const (
	metricCPU        = "process_cpu_seconds_total"
	metricRSS        = "process_resident_memory_bytes"
	metricJobSeconds = "voiceassist_worker_job_duration_seconds"
	metricInProgress = "voiceassist_worker_jobs_in_progress"
)

// value is the sum of the counter, gauge or untyped series of name whose
// labels include match; ok is false when the scrape has no such series.
func (f Families) value(name string, match map[string]string) (float64, bool) {
	mf, found := f[name]
	if !found {
		return 0, false
	}
	sum, ok := 0.0, false
	for _, m := range mf.GetMetric() {
		if !labelsMatch(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		default:
			continue
		}
		ok = true
	}
	return sum, ok
}

func labelsMatch(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Histogram is a cumulative histogram: Counts[i] observations ≤ Bounds[i],
// Count in all (the +Inf bucket), Sum of the values.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// histogram sums the histograms of name whose labels include match.
func (f Families) histogram(name string, match map[string]string) (Histogram, bool) {
	mf, found := f[name]
	if !found {
		return Histogram{}, false
	}
	var h Histogram
	ok := false
	for _, m := range mf.GetMetric() {
		if m.Histogram == nil || !labelsMatch(m, match) {
			continue
		}
		bs := m.Histogram.GetBucket()
		if !ok {
			for _, b := range bs {
				if !math.IsInf(b.GetUpperBound(), 1) {
					h.Bounds = append(h.Bounds, b.GetUpperBound())
				}
			}
			h.Counts = make([]float64, len(h.Bounds))
		}
		for _, b := range bs {
			if i := sort.SearchFloat64s(h.Bounds, b.GetUpperBound()); i < len(h.Bounds) && h.Bounds[i] == b.GetUpperBound() {
				h.Counts[i] += float64(b.GetCumulativeCount())
			}
		}
		h.Count += float64(m.Histogram.GetSampleCount())
		h.Sum += m.Histogram.GetSampleSum()
		ok = true
	}
	return h, ok
}

// Sub is h minus an earlier reading of the same histogram.
func (h Histogram) Sub(before Histogram) Histogram {
	out := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	for i := range h.Counts {
		out.Counts[i] = h.Counts[i]
		if i < len(before.Counts) {
			out.Counts[i] -= before.Counts[i]
		}
	}
	return out
}

// Mean is Sum / Count (0 when empty).
func (h Histogram) Mean() float64 {
	if h.Count <= 0 {
		return 0
	}
	return h.Sum / h.Count
}

// Quantile interpolates linearly within the bucket holding quantile q, as
// PromQL's histogram_quantile does (the lowest bucket from 0).
func (h Histogram) Quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Bounds) == 0 {
		return 0
	}
	rank := q * h.Count
	lowB, lowC := 0.0, 0.0
	for i, c := range h.Counts {
		if c >= rank {
			if c == lowC {
				return h.Bounds[i]
			}
			return lowB + (h.Bounds[i]-lowB)*(rank-lowC)/(c-lowC)
		}
		lowB, lowC = h.Bounds[i], c
	}
	return h.Bounds[len(h.Bounds)-1] // in +Inf: the highest finite bound, as PromQL
}

// CV is the coefficient of variation implied by the buckets: each
// observation at its bucket's midpoint (geometric for buckets that do not
// start at 0), the mean the exact Sum/Count. Observations above the last
// bound count at it, so the CV is then a lower bound.
func (h Histogram) CV() float64 {
	mean := h.Mean()
	if mean <= 0 {
		return 0
	}
	var ss, prevC, lowB float64
	for i, c := range h.Counts {
		n := c - prevC
		mid := (lowB + h.Bounds[i]) / 2
		if lowB > 0 {
			mid = math.Sqrt(lowB * h.Bounds[i])
		}
		ss += n * (mid - mean) * (mid - mean)
		prevC, lowB = c, h.Bounds[i]
	}
	if n := h.Count - prevC; n > 0 && len(h.Bounds) > 0 {
		top := h.Bounds[len(h.Bounds)-1]
		ss += n * (top - mean) * (top - mean)
	}
	return math.Sqrt(ss/h.Count) / mean
}

// scrapeAll scrapes every target; the first error names its target.
func scrapeAll(ctx context.Context, ss []Scraper) ([]Families, error) {
	out := make([]Families, len(ss))
	for i, s := range ss {
		f, err := s.Scrape(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// sumValue sums value over the scrapes; missing in any is an error naming it.
func sumValue(ss []Scraper, fs []Families, name string, match map[string]string) (float64, error) {
	total := 0.0
	for i, f := range fs {
		v, ok := f.value(name, match)
		if !ok {
			return 0, fmt.Errorf("%s: no %s%s in its /metrics", ss[i].Name(), name, labelString(match))
		}
		total += v
	}
	return total, nil
}

func labelString(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
