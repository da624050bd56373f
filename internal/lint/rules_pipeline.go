package lint

import (
	"errors"
	"fmt"
	"path"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/scrape"
	"github.com/voiceassist/autoscaling/k8s"
)

// checkMetricNotServed runs internal/scrape's check — adapter rule and
// scraped target for every Pods, Object and External metric — on the
// input's HPAs, ServiceMonitors, Services and pod templates.
//
// The adapter rules are those of a prometheus-adapter ConfigMap in the
// input (its config.yaml, as the Helm chart renders it: `helm template … |
// vactl lint -f -`), else those of our values file
// (k8s/performance/prometheus-adapter-values.yaml, embedded), which is what
// the README installs the adapter with.
func checkMetricNotServed(c *Context) []Finding {
	if !hasAdapterMetric(c.Set.HPAs) {
		return nil
	}
	rules, bad := inputAdapterRules(c)
	if bad != nil {
		return []Finding{*bad}
	}
	m := scrape.Manifests{Services: c.Set.Services, ServiceMonitors: c.Set.ServiceMonitors}
	for _, w := range c.Set.Workloads() {
		m.Workloads = append(m.Workloads, scrape.Workload{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Template: w.Template})
	}
	var out []Finding
	for _, r := range scrape.Check(c.Set.HPAs, m, rules) {
		if r.Problem == "" {
			continue
		}
		// A Pods metric of an HPA whose target is not in the input:
		// hpa-target-missing says so already.
		if r.HPA.Spec.Metrics[r.Index].Type == autoscalingv2.PodsMetricSourceType && r.Series != "" {
			if _, ok, _ := c.Set.Target(r.HPA.Namespace, r.HPA.Spec.ScaleTargetRef); !ok {
				continue
			}
		}
		out = append(out, c.at(r.HPA, r.Field, r.Problem, r.Fix))
	}
	return out
}

func hasAdapterMetric(hpas []*autoscalingv2.HorizontalPodAutoscaler) bool {
	for _, h := range hpas {
		for _, m := range h.Spec.Metrics {
			switch m.Type {
			case autoscalingv2.PodsMetricSourceType, autoscalingv2.ObjectMetricSourceType, autoscalingv2.ExternalMetricSourceType:
				return true
			}
		}
	}
	return false
}

// adapterConfig is the adapter's own configuration file (not the chart's
// values): rules serve custom.metrics.k8s.io, externalRules
// external.metrics.k8s.io. It is read strictly: the adapter ignores a
// misspelt key (externalrules), so every metric it should serve would be
// silently missing. resourceRules (metrics.k8s.io) is accepted, not read.
type adapterConfig struct {
	Rules         []adapter.Rule `json:"rules"`
	ExternalRules []adapter.Rule `json:"externalRules"`
	ResourceRules any            `json:"resourceRules,omitempty"`
}

// parseAdapterConfig reads config.yaml strictly and case-sensitively, as
// Kubernetes reads its objects (sigs.k8s.io/json): encoding/json, under
// sigs.k8s.io/yaml's UnmarshalStrict, matches keys case-insensitively and
// would take externalrules for externalRules, which the adapter ignores.
func parseAdapterConfig(data []byte) (adapterConfig, error) {
	var cfg adapterConfig
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return cfg, err
	}
	strict, err := sigsjson.UnmarshalStrict(j, &cfg, sigsjson.DisallowUnknownFields)
	if err != nil {
		return cfg, err
	}
	return cfg, errors.Join(strict...)
}

// inputAdapterRules finds the adapter's ConfigMap in the input (the Helm
// chart's, labelled app.kubernetes.io/name: prometheus-adapter, or the
// upstream manifests' adapter-config), else falls back to our values file.
// A ConfigMap that does not parse is a finding on it.
func inputAdapterRules(c *Context) (scrape.Rules, *Finding) {
	for _, cm := range c.Set.ConfigMaps {
		data, ok := cm.Data["config.yaml"]
		if !ok || cm.Labels["app.kubernetes.io/name"] != "prometheus-adapter" && cm.Name != "adapter-config" {
			continue
		}
		cfg, err := parseAdapterConfig([]byte(data))
		if err != nil {
			f := c.at(cm, "data.config.yaml", fmt.Sprintf("the Prometheus Adapter configuration does not parse: %v; no custom or external metric can be served", err),
				"fix config.yaml: valid YAML, and only the adapter's keys (rules, externalRules, resourceRules; in a rule seriesQuery, seriesFilters, resources, name, metricsQuery)")
			return scrape.Rules{}, &f
		}
		return scrape.Rules{Source: fmt.Sprintf("ConfigMap %s/%s", cm.Namespace, cm.Name), Custom: cfg.Rules, External: cfg.ExternalRules}, nil
	}
	const file = "prometheus-adapter-values.yaml"
	b, err := k8s.FS.ReadFile(path.Join(k8s.Root, file))
	if err != nil {
		panic(err) // embedded at build time
	}
	v, err := adapter.Parse("k8s/performance/"+file, b)
	if err != nil {
		panic(err) // k8s tests parse it
	}
	return scrape.RulesFromValues("k8s/performance/"+file+" (the adapter values vactl ships)", v), nil
}
