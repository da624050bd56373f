package promconfig

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/scrape"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func env(t *testing.T, name string) *kube.Set {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rm, err := src.Env(name)
	if err != nil {
		t.Fatal(err)
	}
	set, err := kube.FromResMap(rm)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// sdTargets is what test/e2e/kubesd serves for set's pods (one pod per
// workload, named <workload>-0, every address the loopback address of
// addr): for role endpointslice one target per Service port and selected
// pod, for role pod one per container port, with the __meta_kubernetes_*
// labels upstream's discovery sets.
func sdTargets(set *kube.Set, role, addr string) []map[string]any {
	var out []map[string]any
	for _, w := range set.Workloads() {
		pod := w.Name + "-0"
		base := map[string]string{
			"__address__":                          addr,
			"__meta_kubernetes_namespace":          w.Namespace,
			"__meta_kubernetes_pod_name":           pod,
			"__meta_kubernetes_pod_phase":          "Running",
			"__meta_kubernetes_pod_ip":             "127.0.0.1",
			"__meta_kubernetes_pod_node_name":      "node-0",
			"__meta_kubernetes_pod_container_name": w.Template.Spec.Containers[0].Name,
		}
		for k, v := range w.Template.Labels {
			base["__meta_kubernetes_pod_label_"+sanitizeLabel(k)] = v
		}
		for k, v := range w.Template.Annotations {
			base["__meta_kubernetes_pod_annotation_"+sanitizeLabel(k)] = v
		}
		add := func(extra map[string]string) {
			l := map[string]string{}
			for k, v := range base {
				l[k] = v
			}
			for k, v := range extra {
				l[k] = v
			}
			out = append(out, map[string]any{"targets": []string{l["__address__"]}, "labels": l})
		}
		if role == "pod" {
			add(nil)
			continue
		}
		for _, svc := range set.Services {
			if svc.Namespace != w.Namespace || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
				continue
			}
			for _, p := range svc.Spec.Ports {
				extra := map[string]string{
					"__meta_kubernetes_service_name":                      svc.Name,
					"__meta_kubernetes_endpointslice_port_name":           p.Name,
					"__meta_kubernetes_endpointslice_address_target_kind": "Pod",
					"__meta_kubernetes_endpointslice_address_target_name": pod,
				}
				for k, v := range svc.Labels {
					extra["__meta_kubernetes_service_label_"+sanitizeLabel(k)] = v
					extra["__meta_kubernetes_service_labelpresent_"+sanitizeLabel(k)] = "true"
				}
				add(extra)
			}
		}
	}
	return out
}

// activeTargets runs Debian's Prometheus (testenv.StartPrometheus) on cfg and returns its active
// targets as "job service pod path" and its dropped-target count, once
// every target of the SD answer has been either kept or dropped.
func activeTargets(t *testing.T, install scrape.Install, set *kube.Set) ([]string, int) {
	t.Helper()
	metrics := httptest.NewServer(http.NotFoundHandler())
	defer metrics.Close()
	addr := strings.TrimPrefix(metrics.URL, "http://")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	groups := sdTargets(set, Role(install), addr)
	if install == scrape.Annotations {
		// The chart builds the address from the pod IP and the port annotation.
		for _, g := range groups {
			l := g["labels"].(map[string]string)
			l["__meta_kubernetes_pod_ip"] = host
			if _, ok := l["__meta_kubernetes_pod_annotation_prometheus_io_port"]; ok {
				l["__meta_kubernetes_pod_annotation_prometheus_io_port"] = port
			}
		}
	}
	sd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(groups); err != nil {
			t.Errorf("serving SD targets: %v", err)
		}
	}))
	defer sd.Close()

	cfg, err := Config(install, set, scrape.Reference.ServiceMonitorSelector(), "voiceassist", sd.URL)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(file, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "config", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, out, cfg)
	}
	// Every job sees every SD target: kept in one job or dropped.
	var parsed struct {
		ScrapeConfigs []struct {
			JobName string `json:"job_name"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(cfg, &parsed); err != nil {
		t.Fatalf("generated config is not YAML: %v\n%s", err, cfg)
	}
	jobs := len(parsed.ScrapeConfigs)
	if jobs == 0 {
		t.Fatalf("generated config has no scrape_configs:\n%s", cfg)
	}
	prom := testenv.StartPrometheus(t, cfg)

	var body struct {
		Data struct {
			Active []struct {
				Labels    map[string]string `json:"labels"`
				ScrapeURL string            `json:"scrapeUrl"`
			} `json:"activeTargets"`
			Dropped []json.RawMessage `json:"droppedTargets"`
		} `json:"data"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		body.Data.Active, body.Data.Dropped = nil, nil
		resp, err := http.Get(prom.URL + "/api/v1/targets?state=any")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && len(body.Data.Active) > 0 && len(body.Data.Active)+len(body.Data.Dropped) == jobs*len(groups) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never settled its targets (%d active, %d dropped of %d jobs x %d targets): %v\n%s",
				len(body.Data.Active), len(body.Data.Dropped), jobs, len(groups), err, prom.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got []string
	for _, a := range body.Data.Active {
		u := strings.TrimPrefix(a.ScrapeURL, "http://"+addr)
		got = append(got, fmt.Sprintf("%s %s %s %s %s", a.Labels["job"], a.Labels["namespace"], a.Labels["service"], a.Labels["pod"], u))
	}
	sort.Strings(got)
	return got, len(body.Data.Dropped)
}

// TestConfig runs a real Prometheus on each install's configuration:
//
//   - Operator, on dev's ServiceMonitors: exactly the metrics port of the
//     gateway, the worker and queue-exporter is kept (not Redis,
//     PostgreSQL or another port), each target labelled with the
//     namespace, service and pod that the adapter's rules need, as
//     Prometheus Operator's relabeling does;
//   - Annotations, on the base (no ServiceMonitor there): the plain chart's
//     job keeps the annotated pods, on their annotated port and path.
func TestConfig(t *testing.T) {
	for _, c := range []struct {
		install scrape.Install
		env     string
		want    []string // job namespace service pod path
	}{
		{scrape.Operator, "dev", []string{
			"queue-exporter voiceassist queue-exporter queue-exporter-0 /metrics",
			"voiceassist-server-metrics voiceassist voiceassist-server-metrics voiceassist-server-0 /metrics", // the metrics port's own Service
			"voiceassist-worker voiceassist voiceassist-worker voiceassist-worker-0 /metrics",
		}},
		{scrape.Annotations, "base", []string{
			"kubernetes-pods voiceassist  queue-exporter-0 /metrics",
			"kubernetes-pods voiceassist  voiceassist-server-0 /metrics",
			"kubernetes-pods voiceassist  voiceassist-worker-0 /metrics",
		}},
	} {
		t.Run(string(c.install), func(t *testing.T) {
			got, dropped := activeTargets(t, c.install, env(t, c.env))
			if !slices.Equal(got, c.want) {
				t.Errorf("active targets\n got %q\nwant %q", got, c.want)
			}
			if dropped == 0 {
				t.Error("nothing dropped: the keep rules select nothing")
			}
		})
	}
}

// TestConfigErrors: an environment that gives the install nothing to
// scrape, or a ServiceMonitor feature that is not translated, is an error.
func TestConfigErrors(t *testing.T) {
	if _, err := Config(scrape.Operator, env(t, "base"), scrape.Reference.ServiceMonitorSelector(), "voiceassist", "http://sd"); err == nil || !strings.Contains(err.Error(), "release=kube-prometheus-stack") {
		t.Errorf("base has no ServiceMonitor: got %v", err)
	}
	dev := env(t, "dev")
	if _, err := Config(scrape.Operator, dev, map[string]string{"release": "other"}, "voiceassist", "http://sd"); err == nil {
		t.Error("ServiceMonitors another release selects: no error")
	}
	sm := dev.ServiceMonitors[0].DeepCopy()
	sm.Spec.Endpoints[0].Port = ""
	one := &kube.Set{ServiceMonitors: []*monitoringv1.ServiceMonitor{sm}}
	if _, err := Config(scrape.Operator, one, scrape.Reference.ServiceMonitorSelector(), "voiceassist", "http://sd"); err == nil || !strings.Contains(err.Error(), "spec.endpoints[0].port") {
		t.Errorf("endpoint without a named port: got %v", err)
	}
	noAnn := &kube.Set{Deployments: dev.Deployments[:0]}
	if _, err := Config(scrape.Annotations, noAnn, nil, "voiceassist", "http://sd"); err == nil {
		t.Error("no annotated pod: no error")
	}
}
