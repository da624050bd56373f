package doctor

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// APIFor names the APIService an HPA metric is read from.
func APIFor(m autoscalingv2.MetricSpec) string {
	switch m.Type {
	case autoscalingv2.ResourceMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
		return ResourceMetricsAPI
	case autoscalingv2.PodsMetricSourceType, autoscalingv2.ObjectMetricSourceType:
		return CustomMetricsAPI
	case autoscalingv2.ExternalMetricSourceType:
		return ExternalMetricsAPI
	}
	return ""
}

// apiGroup is "metrics.k8s.io" for "v1beta1.metrics.k8s.io".
func apiGroup(apiService string) string {
	_, g, _ := strings.Cut(apiService, ".")
	return g
}

// provider names what usually serves an API, for the fix.
func provider(apiService string) string {
	if apiService == ResourceMetricsAPI {
		return "metrics-server"
	}
	return "Prometheus Adapter"
}

// apiAvailable is true when the APIService is registered and Available.
func (s *Snapshot) apiAvailable(name string) bool {
	st := s.APIServices[name]
	if st == nil {
		return false
	}
	c := cluster.AvailableCondition(&st.APIService)
	return c != nil && c.Status == apiregistrationv1.ConditionTrue
}

// users lists, per API, the HPA metrics that read it ("voiceassist-server-hpa Resource/cpu").
func (s *Snapshot) users(api string) []string {
	var out []string
	for _, h := range s.HPAs {
		for _, m := range h.Spec.Metrics {
			if APIFor(m) == api {
				out = append(out, h.Name+" "+kube.MetricKey(m))
			}
		}
	}
	return out
}

func checkMetricsAPIs(s *Snapshot) []Finding {
	var out []Finding
	for _, name := range MetricsAPIs {
		users := s.users(name)
		st := s.APIServices[name]
		obj := "APIService " + name
		confirm := []string{"kubectl get apiservice " + name, "kubectl describe apiservice " + name}
		if st == nil {
			if len(users) == 0 {
				continue
			}
			out = append(out, Finding{
				Check: CheckMetricsAPI, Severity: Error, Object: obj,
				Message:  fmt.Sprintf("%s is not registered: no one serves %s, so %d HPA metric(s) stay <unknown>", name, apiGroup(name), len(users)),
				Evidence: append([]string{"APIService " + name + " not found"}, prefix("reads it: ", users)...),
				Confirm:  confirm[:1],
				Fix:      installFix(name),
			})
			continue
		}
		c := cluster.AvailableCondition(&st.APIService)
		if c != nil && c.Status == apiregistrationv1.ConditionTrue {
			continue
		}
		ev := []string{"condition Available: missing"}
		if c != nil {
			ev = []string{fmt.Sprintf("condition Available=%s reason %s: %s", c.Status, c.Reason, c.Message)}
		}
		ev = append(ev, backendEvidence(st)...)
		ev = append(ev, prefix("reads it: ", users)...)
		sev := Error
		if len(users) == 0 {
			sev = Warning
		}
		msg := fmt.Sprintf("%s is unavailable: the API server cannot reach %s, so every HPA metric it serves is <unknown>", apiGroup(name), provider(name))
		if len(users) > 0 {
			msg += fmt.Sprintf(" (%d here); an HPA with such a metric does not scale down", len(users))
		}
		confirm = append(confirm, backendConfirm(st)...)
		out = append(out, Finding{Check: CheckMetricsAPI, Severity: sev, Object: obj, Message: msg, Evidence: ev, Confirm: confirm, Fix: backendFix(name, st)})
	}
	return out
}

func prefix(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

func installFix(name string) string {
	if name == ResourceMetricsAPI {
		return "install metrics-server: kubectl apply -k k8s/performance/metrics-server (kind/minikube: k8s/performance/metrics-server/local), or vactl setup, which installs it"
	}
	return "install Prometheus Adapter with our rules: helm upgrade --install prometheus-adapter prometheus-community/prometheus-adapter -n monitoring -f k8s/performance/prometheus-adapter-values.yaml"
}

// backendEvidence describes the Service, pods and Deployments behind an APIService.
func backendEvidence(st *APIServiceState) []string {
	svc := st.APIService.Spec.Service
	if svc == nil {
		return []string{"served by kube-apiserver itself (no service)"}
	}
	ref := fmt.Sprintf("Service %s/%s", svc.Namespace, svc.Name)
	if st.Service == nil {
		if st.ServiceErr != nil {
			return []string{fmt.Sprintf("%s: %v", ref, st.ServiceErr)}
		}
		return []string{ref + " not found"}
	}
	var out []string
	for _, d := range st.Deployments {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		line := fmt.Sprintf("Deployment %s/%s: %d replicas wanted, %d ready", d.Namespace, d.Name, want, d.Status.ReadyReplicas)
		if want == 0 {
			line += " (scaled to 0)"
		}
		out = append(out, line)
	}
	if len(st.Service.Spec.Selector) > 0 {
		if len(st.Pods) == 0 {
			out = append(out, fmt.Sprintf("%s selects no pod (%s)", ref, selectorString(st.Service.Spec.Selector)))
		}
		for i := range st.Pods {
			out = append(out, fmt.Sprintf("pod %s/%s: %s", st.Pods[i].Namespace, st.Pods[i].Name, podState(&st.Pods[i])))
		}
		return out
	}
	ready, total := 0, 0
	for _, es := range st.Endpoints {
		for _, e := range es.Endpoints {
			total++
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	return append(out, fmt.Sprintf("%s has no selector: %d EndpointSlice endpoint(s), %d ready", ref, total, ready))
}

func backendConfirm(st *APIServiceState) []string {
	svc := st.APIService.Spec.Service
	if svc == nil {
		return nil
	}
	if st.Service != nil && len(st.Service.Spec.Selector) > 0 {
		return []string{fmt.Sprintf("kubectl get pods -n %s -l %s", svc.Namespace, selectorString(st.Service.Spec.Selector))}
	}
	return []string{fmt.Sprintf("kubectl get endpointslices -n %s -l kubernetes.io/service-name=%s", svc.Namespace, svc.Name)}
}

func backendFix(name string, st *APIServiceState) string {
	for _, d := range st.Deployments {
		if d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
			return fmt.Sprintf("Deployment %s/%s is scaled to 0: kubectl scale deployment %s -n %s --replicas=1; the HPAs recover at their next sync", d.Namespace, d.Name, d.Name, d.Namespace)
		}
	}
	for i := range st.Pods {
		if !podutils.IsPodReady(&st.Pods[i]) {
			p := &st.Pods[i]
			return fmt.Sprintf("pod %s/%s is not ready: read kubectl logs -n %s %s and kubectl describe pod -n %s %s", p.Namespace, p.Name, p.Namespace, p.Name, p.Namespace, p.Name)
		}
	}
	return fmt.Sprintf("bring %s back (runbook VoiceAssistMetricsAPIUnavailable); with a running pod, FailedDiscoveryCheck is usually a network policy or a certificate between kube-apiserver and the pod", provider(name))
}

// podState is "Running, Ready" or "Running, not ready (server: CrashLoopBackOff, 5 restarts)".
func podState(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		s += ", terminating"
	}
	if podutils.IsPodReady(p) {
		return s + ", ready"
	}
	s += ", not ready"
	var why []string
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			why = append(why, fmt.Sprintf("%s: %s", c.Name, c.State.Waiting.Reason))
		case c.State.Terminated != nil:
			why = append(why, fmt.Sprintf("%s: terminated %s", c.Name, c.State.Terminated.Reason))
		case !c.Ready:
			why = append(why, c.Name+": not ready")
		}
		if c.RestartCount > 0 {
			why = append(why, fmt.Sprintf("%s: %d restarts", c.Name, c.RestartCount))
		}
	}
	if len(why) > 0 {
		s += " (" + strings.Join(why, ", ") + ")"
	}
	return s
}

func selectorString(m map[string]string) string {
	return labels.SelectorFromSet(m).String()
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

func intOrString(v *intstr.IntOrString) string {
	if v == nil {
		return "(unset)"
	}
	return v.String()
}
