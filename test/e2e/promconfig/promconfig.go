// Package promconfig writes the configuration of the e2e's Prometheus
// (TEST INFRASTRUCTURE, test/e2e/prometheus.go) from the objects of the
// environment under test, as the two supported installs would scrape it:
//
//   - Operator: what Prometheus Operator (kube-prometheus-stack) generates
//     from the ServiceMonitors its Prometheus selects — one job per
//     endpoint, with the Operator's relabeling on the EndpointSlice
//     discovery labels;
//   - Annotations: the plain prometheus chart's kubernetes-pods job, which
//     scrapes pods annotated prometheus.io/scrape: "true" on
//     prometheus.io/port at prometheus.io/path, on the pod discovery labels.
//
// Debian's Prometheus has no Kubernetes discovery, so targets come through
// http_sd_configs from test/e2e/kubesd (upstream's discovery code, the same
// __meta_kubernetes_* labels); a keep rule on the namespace narrows them as
// kubernetes_sd_configs' namespaces would. It has no build tag: its unit
// test runs with `go test ./...`.
package promconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/scrape"
)

// Role is the kubernetes_sd_configs role the jobs of an install read: the
// one test/e2e/kubesd must run with (--role).
func Role(install scrape.Install) string {
	if install == scrape.Annotations {
		return "pod"
	}
	return "endpointslice"
}

type m = map[string]any

// Config returns prometheus.yml for install over set (a rendered
// environment), its targets read from sdURL. For Operator, selector is the
// Prometheus's serviceMonitorSelector (the reference install's: release:
// kube-prometheus-stack); a set with no ServiceMonitor it selects is an
// error, as it leaves that Prometheus nothing to scrape. For Annotations, a
// set with no annotated pod template is an error for the same reason.
// Only what our ServiceMonitors use (selector.matchLabels, a named port,
// path, interval, their own namespace) is translated; anything else is an
// error naming the object and field.
func Config(install scrape.Install, set *kube.Set, selector map[string]string, namespace, sdURL string) ([]byte, error) {
	var jobs []any
	switch install {
	case scrape.Operator:
		sel := labels.SelectorFromSet(selector)
		for _, sm := range set.ServiceMonitors {
			if !sel.Matches(labels.Set(sm.Labels)) {
				continue
			}
			js, err := operatorJobs(sm, sdURL)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, js...)
		}
		if len(jobs) == 0 {
			return nil, fmt.Errorf("no ServiceMonitor of %d carries %s, the labels the install's Prometheus selects", len(set.ServiceMonitors), metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: selector}))
		}
	case scrape.Annotations:
		annotated := slices.ContainsFunc(set.Workloads(), func(w kube.Workload) bool {
			return w.Template.Annotations[scrape.AnnotationScrape] == "true"
		})
		if !annotated {
			return nil, fmt.Errorf("no pod template is annotated %s: \"true\"", scrape.AnnotationScrape)
		}
		jobs = append(jobs, annotationsJob(namespace, sdURL))
	default:
		return nil, fmt.Errorf("unknown install %q", install)
	}
	return yaml.Marshal(m{
		"global":         m{"scrape_interval": "15s", "scrape_timeout": "10s", "evaluation_interval": "15s"},
		"scrape_configs": jobs,
	})
}

// operatorJobs: targets of the ServiceMonitor's namespace, kept when the
// Service's labels match its selector and the port's name matches the
// endpoint's port; target labels namespace, service, pod, container,
// endpoint and job (the Service's name).
func operatorJobs(sm *monitoringv1.ServiceMonitor, sdURL string) ([]any, error) {
	name := sm.Namespace + "/" + sm.Name
	if len(sm.Spec.Selector.MatchExpressions) > 0 {
		return nil, fmt.Errorf("ServiceMonitor %s: spec.selector.matchExpressions is not translated", name)
	}
	if sm.Spec.NamespaceSelector.Any || len(sm.Spec.NamespaceSelector.MatchNames) > 0 {
		return nil, fmt.Errorf("ServiceMonitor %s: spec.namespaceSelector is not translated", name)
	}
	var jobs []any
	for i, ep := range sm.Spec.Endpoints {
		if ep.Port == "" {
			return nil, fmt.Errorf("ServiceMonitor %s: spec.endpoints[%d].port: only a named port is translated", name, i)
		}
		relabel := []any{
			m{"source_labels": []string{"job"}, "target_label": "__tmp_prometheus_job_name"},
			m{"action": "keep", "source_labels": []string{"__meta_kubernetes_namespace"}, "regex": sm.Namespace},
		}
		for _, k := range slices.Sorted(maps.Keys(sm.Spec.Selector.MatchLabels)) {
			l := sanitizeLabel(k)
			relabel = append(relabel, m{
				"action":        "keep",
				"source_labels": []string{"__meta_kubernetes_service_label_" + l, "__meta_kubernetes_service_labelpresent_" + l},
				"regex":         "(" + sm.Spec.Selector.MatchLabels[k] + ");true",
			})
		}
		relabel = append(relabel,
			m{"action": "keep", "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}, "regex": ep.Port},
			m{"source_labels": []string{"__meta_kubernetes_endpointslice_address_target_kind", "__meta_kubernetes_endpointslice_address_target_name"},
				"separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
			m{"source_labels": []string{"__meta_kubernetes_endpointslice_address_target_kind", "__meta_kubernetes_endpointslice_address_target_name"},
				"separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
			m{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
			m{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "service"},
			m{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
			m{"source_labels": []string{"__meta_kubernetes_pod_container_name"}, "target_label": "container"},
			m{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_phase"}, "regex": "(Failed|Succeeded)"},
			m{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "job", "replacement": "${1}"},
			m{"target_label": "endpoint", "replacement": ep.Port},
		)
		job := m{
			"job_name":        fmt.Sprintf("serviceMonitor/%s/%s/%d", sm.Namespace, sm.Name, i),
			"honor_labels":    false,
			"http_sd_configs": []any{m{"url": sdURL, "refresh_interval": "5s"}},
			"metrics_path":    scrape.DefaultPath,
			"relabel_configs": relabel,
		}
		if ep.Path != "" {
			job["metrics_path"] = ep.Path
		}
		if ep.Interval != "" {
			job["scrape_interval"] = string(ep.Interval)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// annotationsJob is the plain prometheus chart's kubernetes-pods job
// (charts/prometheus values.yaml, serverFiles prometheus.yml), IPv4 only.
func annotationsJob(namespace, sdURL string) any {
	return m{
		"job_name":        "kubernetes-pods",
		"honor_labels":    true,
		"http_sd_configs": []any{m{"url": sdURL, "refresh_interval": "5s"}},
		"relabel_configs": []any{
			m{"action": "keep", "source_labels": []string{"__meta_kubernetes_namespace"}, "regex": namespace},
			m{"action": "keep", "source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_scrape"}, "regex": "true"},
			m{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow"}, "regex": "true"},
			m{"action": "replace", "source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_scheme"}, "regex": "(https?)", "target_label": "__scheme__"},
			m{"action": "replace", "source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_path"}, "regex": "(.+)", "target_label": "__metrics_path__"},
			m{"action": "replace", "source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_ip"},
				"regex": `(\d+);((([0-9]+?)(\.|$)){4})`, "replacement": "$2:$1", "target_label": "__address__"},
			m{"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
			m{"action": "replace", "source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
			m{"action": "replace", "source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
			m{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_phase"}, "regex": "Pending|Succeeded|Failed|Completed"},
			m{"action": "replace", "source_labels": []string{"__meta_kubernetes_pod_node_name"}, "target_label": "node"},
		},
	}
}

func sanitizeLabel(k string) string {
	var b strings.Builder
	for _, r := range k {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
