package k8s_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// TestGatewayMetricsPort: in every environment the gateway serves /metrics
// on its own port (--metrics-listen = the container port "metrics"), the
// clients' Service voiceassist-server exposes only http, the Service
// voiceassist-server-metrics only metrics, and what Prometheus scrapes (the
// ServiceMonitor's endpoint, the prometheus.io/port annotation) is that
// port.
func TestGatewayMetricsPort(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		gw, ok := set.Workload("Deployment", ns, "voiceassist-server")
		if !ok {
			t.Fatal("no gateway")
		}
		c := gw.Template.Spec.Containers[0]
		i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" })
		if i < 0 || c.Ports[i].ContainerPort != 9091 {
			t.Fatalf("gateway: no container port metrics 9091 (%v)", c.Ports)
		}
		if !slices.Contains(c.Args, "--metrics-listen=:9091") {
			t.Errorf("gateway: args %q do not listen for /metrics on :9091", c.Args)
		}
		if got := gw.Template.Annotations["prometheus.io/port"]; got != "9091" {
			t.Errorf("gateway: prometheus.io/port %q, want 9091", got)
		}
		ports := map[string][]string{}
		for _, s := range set.Services {
			if s.Namespace == ns && s.Spec.Selector["app"] == "voiceassist-server" {
				for _, p := range s.Spec.Ports {
					ports[s.Name] = append(ports[s.Name], p.Name+"="+p.TargetPort.String())
				}
			}
		}
		if got := strings.Join(ports["voiceassist-server"], ","); got != "http=http" {
			t.Errorf("Service voiceassist-server exposes %s, want only http", got)
		}
		if got := strings.Join(ports["voiceassist-server-metrics"], ","); got != "metrics=metrics" {
			t.Errorf("Service voiceassist-server-metrics exposes %q, want only metrics", got)
		}
		for _, sm := range set.ServiceMonitors {
			if sm.Name != "voiceassist-server" {
				continue
			}
			for _, s := range set.Services {
				if s.Namespace == ns && selectorMatches(sm.Spec.Selector.MatchLabels, s.Labels) && s.Name != "voiceassist-server-metrics" {
					t.Errorf("ServiceMonitor voiceassist-server selects Service %s", s.Name)
				}
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
				t.Errorf("ServiceMonitor voiceassist-server endpoints %+v, want port metrics", sm.Spec.Endpoints)
			}
		}
	})
}
