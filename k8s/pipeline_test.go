package k8s_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/scrape"
)

const adapterValues = "performance/prometheus-adapter-values.yaml"

func adapterRules(t *testing.T) (*adapter.Values, scrape.Rules) {
	t.Helper()
	b, err := os.ReadFile(adapterValues)
	if err != nil {
		t.Fatal(err)
	}
	v, err := adapter.Parse(adapterValues, b)
	if err != nil {
		t.Fatal(err)
	}
	return v, scrape.RulesFromValues(adapterValues, v)
}

func manifests(set *kube.Set) scrape.Manifests {
	m := scrape.Manifests{Services: set.Services, ServiceMonitors: set.ServiceMonitors}
	for _, w := range set.Workloads() {
		m.Workloads = append(m.Workloads, scrape.Workload{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Template: w.Template})
	}
	return m
}

// Which workload must deliver each custom/external metric, and which
// installs must scrape it there, per environment: kube-prometheus-stack
// (ServiceMonitors, the components/monitoring of every overlay) and the plain
// prometheus chart (pod annotations, in the base). The base includes no
// component, so only the plain chart scrapes it.
var (
	metricSupplier = map[string]string{
		"http_requests_per_second":                 "Deployment voiceassist/voiceassist-server",
		"voiceassist_queue_depth":                  "Deployment voiceassist/queue-exporter",
		"voiceassist_queue_oldest_job_age_seconds": "Deployment voiceassist/queue-exporter",
	}
	installsByEnv = map[string][]scrape.Install{
		"base":    {scrape.Annotations},
		"dev":     {scrape.Operator, scrape.Annotations},
		"staging": {scrape.Operator, scrape.Annotations},
		"prod":    {scrape.Operator, scrape.Annotations},
	}
)

// TestMetricsPipeline: in every environment, every Pods, Object and
// External metric an HPA reads is served by a rule of the Prometheus
// Adapter values and exported by a workload that Prometheus scrapes — with
// kube-prometheus-stack and with the plain prometheus chart. An HPA with a
// metric that fails never scales down, so an environment that ships one
// pins its workloads at their peak.
func TestMetricsPipeline(t *testing.T) {
	_, rules := adapterRules(t)
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		results := scrape.Check(set.HPAs, manifests(set), rules)
		if len(results) != len(metricSupplier) {
			t.Errorf("%d custom/external HPA metrics, want %d", len(results), len(metricSupplier))
		}
		for _, r := range results {
			if r.Problem != "" {
				t.Errorf("HPA %s %s: %s", r.HPA.Name, r.Field, r.Problem)
				continue
			}
			want, ok := metricSupplier[r.Metric]
			if !ok {
				t.Errorf("HPA %s reads %q, which this test does not know", r.HPA.Name, r.Metric)
				continue
			}
			var installs []scrape.Install
			for _, s := range r.Supply {
				if s.Workload.Ref() != want {
					t.Errorf("HPA %s %s: series %s supplied by %s (%s), want only %s", r.HPA.Name, r.Metric, r.Series, s.Workload.Ref(), s.Via, want)
				}
				if !slices.Contains(installs, s.Install) {
					installs = append(installs, s.Install)
				}
			}
			if !reflect.DeepEqual(installs, installsByEnv[env]) {
				t.Errorf("HPA %s %s: scraped through %v, want %v", r.HPA.Name, r.Metric, installs, installsByEnv[env])
			}
		}
	})
}

// TestReferenceInstall: the ServiceMonitors carry the label the reference
// kube-prometheus-stack release selects, and the adapter values point at
// that release's Prometheus Service.
func TestReferenceInstall(t *testing.T) {
	v, _ := adapterRules(t)
	url, port := scrape.Reference.PrometheusURL()
	if v.Prometheus.URL != url || v.Prometheus.Port != port {
		t.Errorf("%s: prometheus %s port %d, want %s port %d (kube-prometheus-stack release %q in %s)",
			adapterValues, v.Prometheus.URL, v.Prometheus.Port, url, port, scrape.Reference.Release, scrape.Reference.Namespace)
	}
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		for _, sm := range set.ServiceMonitors {
			for k, want := range scrape.Reference.ServiceMonitorSelector() {
				if sm.Labels[k] != want {
					t.Errorf("ServiceMonitor %s: label %s=%q, want %q", sm.Name, k, sm.Labels[k], want)
				}
			}
		}
	})
}

// TestSelectorLabelPatch: the patch k8s/performance/README.md documents
// ("Another kube-prometheus-stack release") relabels every ServiceMonitor of
// an overlay, and nothing else.
func TestSelectorLabelPatch(t *testing.T) {
	// kustomize takes a relative path to another kustomization only.
	abs, err := filepath.Abs("performance/overlays/prod")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prod, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	kust := `resources:
  - ` + prod + `
patches:
  - target:
      group: monitoring.coreos.com
      kind: ServiceMonitor
    patch: |-
      - op: replace
        path: /metadata/labels/release
        value: prometheus
`
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := render.Build(mustDisk(t).FS, dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		t.Fatal(err)
	}
	_, orig := build(t, "prod")
	if len(set.ServiceMonitors) == 0 || len(set.ServiceMonitors) != len(orig.ServiceMonitors) || len(set.Objects) != len(orig.Objects) {
		t.Fatalf("patched build: %d objects, %d ServiceMonitors; prod has %d, %d", len(set.Objects), len(set.ServiceMonitors), len(orig.Objects), len(orig.ServiceMonitors))
	}
	for _, sm := range set.ServiceMonitors {
		if sm.Labels["release"] != "prometheus" {
			t.Errorf("ServiceMonitor %s: release=%q after the patch, want prometheus", sm.Name, sm.Labels["release"])
		}
	}
}
