// Package scrape says what Prometheus scrapes from a set of manifests, and
// whether every custom and external metric an HPA reads can reach it: a
// rule of the Prometheus Adapter configuration serves the metric, and a
// scraped pod exports the series that rule reads.
//
// An HPA with one invalid metric can still scale up on the others, but
// upstream's controller never scales down while a metric is invalid, so a
// metric nothing scrapes pins the workload at its peak. `vactl lint`
// (rule metric-not-served) and the tests of k8s/ run this check.
//
// Two installs scrape differently, and both are modelled:
//   - Prometheus Operator (kube-prometheus-stack): a ServiceMonitor selects
//     Services by label; each endpoint names a Service port, whose
//     targetPort is a port of the pods behind the Service;
//   - the plain `prometheus` Helm chart (its kubernetes-pods job): a pod
//     template annotated prometheus.io/scrape: "true" is scraped on
//     prometheus.io/port (default: every declared port) at
//     prometheus.io/path (default /metrics).
package scrape

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The pod annotations the plain prometheus chart's kubernetes-pods job reads.
const (
	AnnotationScrape = "prometheus.io/scrape"
	AnnotationPort   = "prometheus.io/port"
	AnnotationPath   = "prometheus.io/path"
)

// DefaultPath is where both installs scrape when nothing says otherwise.
const DefaultPath = "/metrics"

// Workload is a pod template in a namespace: a Deployment, StatefulSet, Pod…
type Workload struct {
	Kind, Namespace, Name string
	Template              *corev1.PodTemplateSpec
}

// Ref names the workload as "Kind namespace/name".
func (w Workload) Ref() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// Manifests are the objects that decide what is scraped.
type Manifests struct {
	Workloads       []Workload
	Services        []*corev1.Service
	ServiceMonitors []*monitoringv1.ServiceMonitor
}

// Install is how a target is declared, which says which Prometheus
// install scrapes it.
type Install string

// The two installs.
const (
	// Operator targets come from ServiceMonitors (Prometheus Operator,
	// kube-prometheus-stack).
	Operator Install = "ServiceMonitor"
	// Annotations targets come from prometheus.io/* pod annotations (the
	// plain prometheus chart).
	Annotations Install = "annotations"
)

// Target is one scraped port of a workload's pods.
type Target struct {
	Install  Install
	Workload Workload
	// Container declares the scraped port; nil when no container declares
	// it (an annotated port number that is not in the spec).
	Container *corev1.Container
	Port      int32
	Path      string
	// Via names what declares the target, for messages:
	// "ServiceMonitor voiceassist/queue-exporter endpoints[0]" or
	// "Deployment voiceassist/queue-exporter pod annotations".
	Via string
}

// Targets lists every target the manifests declare, ServiceMonitors first.
// A ServiceMonitor endpoint that resolves to no pod port declares nothing.
func Targets(m Manifests) []Target {
	var out []Target
	for _, sm := range m.ServiceMonitors {
		// An empty selector selects every Service, as the Operator does.
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			continue
		}
		for _, svc := range m.Services {
			if !watchesNamespace(sm, svc.Namespace) || !sel.Matches(labels.Set(svc.Labels)) || len(svc.Spec.Selector) == 0 {
				continue
			}
			for i, ep := range sm.Spec.Endpoints {
				via := fmt.Sprintf("ServiceMonitor %s/%s endpoints[%d]", sm.Namespace, sm.Name, i)
				for _, w := range m.Workloads {
					if w.Namespace != svc.Namespace || w.Template == nil || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
						continue
					}
					for _, tp := range endpointPorts(svc, ep) {
						if c, port, ok := containerPort(w.Template, tp); ok {
							out = append(out, Target{Install: Operator, Workload: w, Container: c, Port: port, Path: orDefault(ep.Path), Via: via})
						}
					}
				}
			}
		}
	}
	for _, w := range m.Workloads {
		if w.Template == nil || w.Template.Annotations[AnnotationScrape] != "true" {
			continue
		}
		via := w.Ref() + " pod annotations"
		path := orDefault(w.Template.Annotations[AnnotationPath])
		if p, ok := w.Template.Annotations[AnnotationPort]; ok {
			// The chart rewrites the address only for a number (regex (\d+)).
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				continue
			}
			c, _, _ := containerPort(w.Template, intstr.FromInt32(int32(n)))
			out = append(out, Target{Install: Annotations, Workload: w, Container: c, Port: int32(n), Path: path, Via: via})
			continue
		}
		for i := range w.Template.Spec.Containers {
			c := &w.Template.Spec.Containers[i]
			for _, p := range c.Ports {
				out = append(out, Target{Install: Annotations, Workload: w, Container: c, Port: p.ContainerPort, Path: path, Via: via})
			}
		}
	}
	return out
}

// watchesNamespace: a ServiceMonitor without a namespaceSelector watches
// its own namespace only (Prometheus Operator's rule).
func watchesNamespace(sm *monitoringv1.ServiceMonitor, ns string) bool {
	switch s := sm.Spec.NamespaceSelector; {
	case s.Any:
		return true
	case len(s.MatchNames) > 0:
		return slices.Contains(s.MatchNames, ns)
	default:
		return ns == sm.Namespace
	}
}

// endpointPorts are the pod-side ports an endpoint scrapes: the targetPort
// of the Service port it names, or its own targetPort.
func endpointPorts(svc *corev1.Service, ep monitoringv1.Endpoint) []intstr.IntOrString {
	var out []intstr.IntOrString
	for _, sp := range svc.Spec.Ports {
		switch {
		case ep.Port != "":
			if sp.Name == ep.Port {
				out = append(out, servicePortTarget(sp))
			}
		case ep.TargetPort != nil:
			if t := servicePortTarget(sp); t == *ep.TargetPort {
				out = append(out, t)
			}
		}
	}
	return out
}

func servicePortTarget(sp corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "" || sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0 {
		return sp.TargetPort
	}
	return intstr.FromInt32(sp.Port) // targetPort defaults to port
}

// containerPort finds the container declaring port (a name or a number).
func containerPort(t *corev1.PodTemplateSpec, port intstr.IntOrString) (*corev1.Container, int32, bool) {
	for i := range t.Spec.Containers {
		c := &t.Spec.Containers[i]
		for _, p := range c.Ports {
			if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
				return c, p.ContainerPort, true
			}
		}
	}
	return nil, 0, false
}

func orDefault(path string) string {
	if path == "" {
		return DefaultPath
	}
	return path
}

// exports lists the series our images export on their one listen port at
// /metrics, by image name (the last element of the repository path, so
// `kustomize edit set image` to another registry keeps it). The names
// come from internal/server, internal/worker and internal/exporter; their
// tests (exports_test.go in each) check every name here against what the
// code really registers.
var exports = map[string][]string{
	"voiceassist-server": {
		"http_requests_total",
		"http_request_duration_seconds_bucket", "http_request_duration_seconds_sum", "http_request_duration_seconds_count",
		"http_requests_in_flight",
	},
	"voiceassist-worker": {
		"voiceassist_worker_jobs_processed_total", "voiceassist_worker_jobs_failed_total",
		"voiceassist_worker_jobs_dead_lettered_total", "voiceassist_worker_lease_lost_total",
		"voiceassist_worker_audio_seconds_processed_total", "voiceassist_worker_jobs_in_progress",
		"voiceassist_worker_job_duration_seconds_bucket", "voiceassist_worker_job_duration_seconds_sum", "voiceassist_worker_job_duration_seconds_count",
		"voiceassist_worker_job_queue_wait_seconds_bucket", "voiceassist_worker_job_queue_wait_seconds_sum", "voiceassist_worker_job_queue_wait_seconds_count",
		"voiceassist_worker_dependency_errors_total", "voiceassist_worker_claiming_paused",
		"voiceassist_worker_reconciler_jobs_redriven_total", "voiceassist_worker_reconciler_jobs_marked_failed_total",
		"voiceassist_worker_reconciler_passes_total", "voiceassist_worker_accepted_jobs_pending", "voiceassist_worker_accepted_job_oldest_age_seconds",
	},
	"queue-exporter": {
		"voiceassist_queue_depth", "voiceassist_queue_oldest_job_age_seconds",
		"voiceassist_queue_inflight_jobs", "voiceassist_queue_dead_letter_jobs", "voiceassist_queue_delayed_jobs",
		"voiceassist_queue_exporter_up", "voiceassist_queue_exporter_scrape_errors_total",
		"voiceassist_queue_exporter_scrape_duration_seconds",
	},
}

// Exports returns the series an image exports, and whether it is one of
// ours (for any other image nothing is known: it may export anything).
func Exports(image string) ([]string, bool) {
	s, ok := exports[imageName(image)]
	return s, ok
}

// imageName is the last path element of an image reference, without tag
// or digest: "registry:5000/voiceassist/queue-exporter:0.1.0" → "queue-exporter".
func imageName(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	image, _, _ = strings.Cut(image, ":")
	return image
}

// Exporting says whether t delivers series: "yes" when t's container is one
// of our images serving it there, "no" with the reason when it is one of
// ours and does not, "maybe" for images we know nothing about.
func (t Target) Exporting(series string) (verdict, why string) {
	if t.Container == nil {
		for _, c := range t.Workload.Template.Spec.Containers {
			if _, known := Exports(c.Image); known {
				return "no", fmt.Sprintf("%s scrapes port %d, which no container of %s declares", t.Via, t.Port, t.Workload.Ref())
			}
		}
		return "maybe", ""
	}
	s, known := Exports(t.Container.Image)
	switch {
	case !known:
		return "maybe", ""
	case !slices.Contains(s, series):
		return "no", fmt.Sprintf("%s scrapes container %s (image %s), which does not export %s", t.Via, t.Container.Name, t.Container.Image, series)
	case t.Path != DefaultPath:
		return "no", fmt.Sprintf("%s scrapes path %s, but image %s serves its metrics at %s", t.Via, t.Path, t.Container.Image, DefaultPath)
	}
	return "yes", ""
}

// CheckExports compares the exports table with g, the registry of the
// code behind image: an error lists every series the table claims and g
// does not expose (as Prometheus stores them: a histogram's _bucket, _sum
// and _count). The tests of our services run it on their real registries.
func CheckExports(image string, g prometheus.Gatherer) error {
	want, ok := Exports(image)
	if !ok || len(want) == 0 {
		return fmt.Errorf("internal/scrape lists no series for image %s", image)
	}
	mfs, err := g.Gather()
	if err != nil {
		return err
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			got[n+"_bucket"], got[n+"_sum"], got[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			got[n], got[n+"_sum"], got[n+"_count"] = true, true, true
		default:
			got[n] = true
		}
	}
	var missing []string
	for _, s := range want {
		if !got[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("internal/scrape lists %s for image %s, which its code does not export", strings.Join(missing, ", "), image)
	}
	return nil
}
