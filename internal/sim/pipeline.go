package sim

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Defaults of the metrics pipeline where neither the parameters nor the
// manifests say (docs/simulate.md, "Metrics pipeline").
const (
	// DefaultMetricResolution is the --metric-resolution of the
	// metrics-server k8s/performance installs (metrics-server.yaml), used
	// when the render has no metrics-server Deployment (it is cluster
	// infrastructure and may live in its own kustomization).
	DefaultMetricResolution = 15
	// DefaultScrapeInterval is assumed when no ServiceMonitor scrapes a
	// service (base and dev render none; the cluster's Prometheus decides).
	DefaultScrapeInterval = 15
	// DefaultEndpointInterval is kube-prometheus-stack's scrape interval,
	// which a ServiceMonitor endpoint without `interval` gets.
	DefaultEndpointInterval = 30
	// DefaultRateWindow is used without an adapter values file: [2m].
	DefaultRateWindow = 120
)

// QueueExporterName is the Deployment whose metrics feed the queue metrics.
const QueueExporterName = "queue-exporter"

// Setting is one value of the metrics pipeline and where it came from.
type Setting struct {
	Seconds int64  `json:"seconds"`
	From    string `json:"from"`
}

func (s Setting) String() string {
	return fmt.Sprintf("%s (%s)", time.Duration(s.Seconds)*time.Second, s.From)
}

// PipelineInEffect is the metrics pipeline a run used.
type PipelineInEffect struct {
	MetricResolution Setting `json:"metricsServerResolution"`
	GatewayScrape    Setting `json:"gatewayScrapeInterval"`
	ExporterScrape   Setting `json:"queueExporterScrapeInterval"`
	RateWindow       Setting `json:"rateWindow"`
}

// resolvePipeline reads the pipeline from the parameters, where they set a
// value, else from the manifests: the metrics-server Deployment's
// --metric-resolution, the ServiceMonitor endpoints that scrape the gateway
// and the queue exporter, and the rate() range of the adapter rule that
// serves the gateway HPA's request-rate metric.
func resolvePipeline(p *Pipeline, set *kube.Set, values *adapter.Values, valuesFile string) (PipelineInEffect, error) {
	var out PipelineInEffect
	switch {
	case p.MetricsServerResolutionSeconds > 0:
		out.MetricResolution = Setting{p.MetricsServerResolutionSeconds, "metrics.metricsServerResolutionSeconds"}
	default:
		s, err := metricResolution(set)
		if err != nil {
			return out, err
		}
		out.MetricResolution = s
	}
	for _, c := range []struct {
		dst  *Setting
		name string
	}{{&out.GatewayScrape, GatewayName}, {&out.ExporterScrape, QueueExporterName}} {
		if p.ScrapeIntervalSeconds > 0 {
			*c.dst = Setting{p.ScrapeIntervalSeconds, "metrics.scrapeIntervalSeconds"}
			continue
		}
		s, err := scrapeInterval(set, c.name)
		if err != nil {
			return out, err
		}
		*c.dst = s
	}
	switch {
	case p.RateWindowSeconds > 0:
		out.RateWindow = Setting{p.RateWindowSeconds, "metrics.rateWindowSeconds"}
	case values == nil:
		out.RateWindow = Setting{DefaultRateWindow, "default: no Prometheus Adapter values"}
	default:
		s, err := rateWindow(values, valuesFile, RequestRateMetric)
		if err != nil {
			return out, err
		}
		out.RateWindow = s
	}
	return out, nil
}

// metricResolution reads --metric-resolution (also "--metric-resolution 15s"
// as two arguments) from the rendered metrics-server Deployment.
func metricResolution(set *kube.Set) (Setting, error) {
	for _, d := range set.Deployments {
		if d.Name != "metrics-server" {
			continue
		}
		ref := "Deployment " + d.Namespace + "/" + d.Name
		for _, c := range d.Spec.Template.Spec.Containers {
			args := append(append([]string(nil), c.Command...), c.Args...)
			for i, a := range args {
				v, ok := strings.CutPrefix(a, "--metric-resolution=")
				if !ok && a == "--metric-resolution" && i+1 < len(args) {
					v, ok = args[i+1], true
				}
				if !ok {
					continue
				}
				dur, err := time.ParseDuration(v)
				if err != nil || dur < time.Second {
					return Setting{}, fmt.Errorf("%s: container %s: --metric-resolution %q: want a duration of at least 1s", ref, c.Name, v)
				}
				return Setting{int64(dur / time.Second), ref + " --metric-resolution"}, nil
			}
		}
		// metrics-server's own default
		return Setting{60, ref + " without --metric-resolution: metrics-server's default"}, nil
	}
	return Setting{DefaultMetricResolution, "default: no metrics-server in the render"}, nil
}

// scrapeInterval finds the ServiceMonitor endpoint that scrapes the pods of
// Deployment name: the ServiceMonitor selects a Service (labels, namespace),
// whose selector matches the pod template, and the endpoint's port is one of
// that Service's ports.
func scrapeInterval(set *kube.Set, name string) (Setting, error) {
	var dep *appsv1.Deployment
	for _, d := range set.Deployments {
		if d.Name == name {
			dep = d
		}
	}
	if dep == nil {
		return Setting{DefaultScrapeInterval, "default: no Deployment " + name + " in the render"}, nil
	}
	podLabels := labels.Set(dep.Spec.Template.Labels)
	for _, sm := range set.ServiceMonitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			return Setting{}, fmt.Errorf("ServiceMonitor %s/%s: spec.selector: %w", sm.Namespace, sm.Name, err)
		}
		for _, svc := range set.Services {
			if !smNamespace(sm, svc.Namespace) || !sel.Matches(labels.Set(svc.Labels)) || svc.Namespace != dep.Namespace ||
				len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
				continue
			}
			for i, ep := range sm.Spec.Endpoints {
				if !servesPort(svc, ep) {
					continue
				}
				ref := fmt.Sprintf("ServiceMonitor %s/%s spec.endpoints[%d]", sm.Namespace, sm.Name, i)
				if ep.Interval == "" {
					return Setting{DefaultEndpointInterval, ref + " without interval: kube-prometheus-stack's default"}, nil
				}
				d, err := model.ParseDuration(string(ep.Interval))
				if err != nil || time.Duration(d) < time.Second {
					return Setting{}, fmt.Errorf("%s.interval %q: want a duration of at least 1s", ref, ep.Interval)
				}
				return Setting{int64(time.Duration(d) / time.Second), ref + ".interval"}, nil
			}
		}
	}
	return Setting{DefaultScrapeInterval, "default: no ServiceMonitor scrapes " + name}, nil
}

func smNamespace(sm *monitoringv1.ServiceMonitor, ns string) bool {
	n := sm.Spec.NamespaceSelector
	switch {
	case n.Any:
		return true
	case len(n.MatchNames) > 0:
		for _, m := range n.MatchNames {
			if m == ns {
				return true
			}
		}
		return false
	default:
		return sm.Namespace == ns
	}
}

func servesPort(svc *corev1.Service, ep monitoringv1.Endpoint) bool {
	if ep.Port == "" && ep.TargetPort == nil {
		return true
	}
	for _, p := range svc.Spec.Ports {
		if ep.Port != "" && p.Name == ep.Port {
			return true
		}
		if ep.TargetPort != nil && (p.TargetPort.String() == ep.TargetPort.String() || fmt.Sprint(p.Port) == ep.TargetPort.String()) {
			return true
		}
	}
	return false
}

// rangeRe finds the range of a rate() or increase() over a range vector:
// the last [d] before the closing parenthesis of the call.
var rangeRe = regexp.MustCompile(`\b(rate|increase|irate)\s*\([^()]*\[\s*([0-9a-z]+)\s*\]\s*\)`)

// rateWindow reads the range of the rate() in the metricsQuery of the
// adapter rule serving metric.
func rateWindow(values *adapter.Values, file, metric string) (Setting, error) {
	for i, r := range values.Rules.Custom {
		n, ok := r.MetricName(r.SeriesName())
		if !ok || n != metric {
			continue
		}
		ref := fmt.Sprintf("%s rules.custom[%d].metricsQuery", file, i)
		m := rangeRe.FindStringSubmatch(r.MetricsQuery)
		if m == nil {
			return Setting{}, fmt.Errorf("%s %q: want rate(...[window]) for %s, which the simulator models", ref, r.MetricsQuery, metric)
		}
		if m[1] == "irate" {
			return Setting{}, fmt.Errorf("%s %q: irate() is not modelled (the simulator models rate() and increase())", ref, r.MetricsQuery)
		}
		d, err := model.ParseDuration(m[2])
		if err != nil || time.Duration(d) < time.Second {
			return Setting{}, fmt.Errorf("%s %q: range [%s]: want a Prometheus duration of at least 1s", ref, r.MetricsQuery, m[2])
		}
		return Setting{int64(time.Duration(d) / time.Second), fmt.Sprintf("%s [%s]", ref, m[2])}, nil
	}
	return Setting{DefaultRateWindow, fmt.Sprintf("default: no rule for %s in %s", metric, file)}, nil
}
