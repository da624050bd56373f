package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

// The reachability of the rendered NetworkPolicies is computed offline by
// cyclonus' policy engine (github.com/mattfenwick/cyclonus/pkg/matcher),
// which implements the NetworkPolicy semantics the CNIs enforce (the same
// engine cyclonus' conformance runs compare clusters against).

// peer is one pod (or an address outside the cluster) and the ports it
// serves.
type peer struct {
	name     string
	internal *matcher.InternalPeer // nil: outside the cluster
	ip       string
	ports    []corev1.ContainerPort
}

// outsiders are the pods and hosts around the namespace that the policies
// must treat correctly: Prometheus and a neighbour of it in monitoring,
// the cluster DNS, a client pod elsewhere, a stray pod in voiceassist
// itself (kubectl run debug), and a host on the internet.
func outsiders(voiceassistLabels map[string]string) []peer {
	nsLabels := func(ns string) map[string]string { return map[string]string{"kubernetes.io/metadata.name": ns} }
	tcp := func(name string, port int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
	}
	return []peer{
		{name: "monitoring/prometheus", internal: &matcher.InternalPeer{Namespace: "monitoring", NamespaceLabels: nsLabels("monitoring"),
			PodLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}}, ports: []corev1.ContainerPort{tcp("web", 9090)}},
		{name: "monitoring/grafana", internal: &matcher.InternalPeer{Namespace: "monitoring", NamespaceLabels: nsLabels("monitoring"),
			PodLabels: map[string]string{"app.kubernetes.io/name": "grafana"}}, ports: []corev1.ContainerPort{tcp("http", 3000)}},
		{name: "kube-system/kube-dns", internal: &matcher.InternalPeer{Namespace: "kube-system", NamespaceLabels: nsLabels("kube-system"),
			PodLabels: map[string]string{"k8s-app": "kube-dns"}},
			ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, tcp("dns-tcp", 53)}},
		{name: "default/client", internal: &matcher.InternalPeer{Namespace: "default", NamespaceLabels: nsLabels("default"),
			PodLabels: map[string]string{"app": "client"}}, ports: []corev1.ContainerPort{tcp("http", 8080)}},
		{name: "voiceassist/debug", internal: &matcher.InternalPeer{Namespace: ns, NamespaceLabels: voiceassistLabels,
			PodLabels: map[string]string{"run": "debug"}}, ports: []corev1.ContainerPort{tcp("http", 8080)}},
		{name: "internet", ip: "203.0.113.10", ports: []corev1.ContainerPort{tcp("https", 443)}},
	}
}

// peers are the workloads of the build (named by their app label) and the
// outsiders. The namespace's labels are the Namespace object's plus
// kubernetes.io/metadata.name, which the API server sets on every namespace.
func peers(t *testing.T, set *kube.Set) []peer {
	t.Helper()
	nsLabels := map[string]string{"kubernetes.io/metadata.name": ns}
	for _, n := range set.Namespaces {
		if n.Name == ns {
			for k, v := range n.Labels {
				nsLabels[k] = v
			}
		}
	}
	var out []peer
	for _, w := range set.Workloads() {
		out = append(out, peer{name: w.Template.Labels["app"],
			internal: &matcher.InternalPeer{Namespace: w.Namespace, NamespaceLabels: nsLabels, PodLabels: w.Template.Labels},
			ports:    allPorts(w.Template.Spec)})
	}
	return append(out, outsiders(nsLabels)...)
}

func allPorts(spec corev1.PodSpec) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
			out = append(out, p)
		}
	}
	return out
}

// reachable lists every "source -> destination:port/protocol" the policies
// allow (both the source's egress and the destination's ingress), for the
// pairs with at least one end in voiceassist: outside it our policies
// decide nothing.
func reachable(policies []*networkingv1.NetworkPolicy, all []peer) []string {
	engine := matcher.BuildNetworkPolicies(true, policies)
	var out []string
	for _, src := range all {
		for _, dst := range all {
			if src.name == dst.name || (src.namespace() != ns && dst.namespace() != ns) {
				continue
			}
			for _, p := range dst.ports {
				tr := &matcher.Traffic{Source: src.trafficPeer(), Destination: dst.trafficPeer(),
					ResolvedPort: int(p.ContainerPort), ResolvedPortName: p.Name, Protocol: p.Protocol}
				if engine.IsTrafficAllowed(tr).IsAllowed() {
					out = append(out, fmt.Sprintf("%s -> %s:%d/%s", src.name, dst.name, p.ContainerPort, p.Protocol))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func (p peer) namespace() string {
	if p.internal == nil {
		return ""
	}
	return p.internal.Namespace
}

func (p peer) trafficPeer() *matcher.TrafficPeer {
	ip := p.ip
	if ip == "" {
		ip = "10.0.0.1" // a pod address; only ipBlock rules read it, and ours have none
	}
	return &matcher.TrafficPeer{Internal: p.internal, IP: ip}
}

// wantReachable is the whole intended matrix, the same in every
// environment. Everything not listed is denied, in particular: the worker,
// queue-exporter and the databases reach neither the gateway nor one
// another beyond what is listed; nothing outside the namespace reaches
// Redis or PostgreSQL; only Prometheus reaches the metrics ports (the
// gateway's 9091, the worker's 9090, queue-exporter's 9121); nothing in the namespace reaches the
// internet or monitoring.
var wantReachable = func() []string {
	var out []string
	// DNS for every pod of the namespace (allow-dns selects them all).
	for _, p := range []string{"voiceassist-server", "voiceassist-worker", "queue-exporter", "voiceassist-postgres", "voiceassist-redis", "voiceassist/debug"} {
		out = append(out, p+" -> kube-system/kube-dns:53/TCP", p+" -> kube-system/kube-dns:53/UDP")
	}
	// The gateway's API port, from anywhere clients come from; not from a
	// stray pod of the namespace, whose egress default-deny denies.
	for _, p := range []string{"monitoring/prometheus", "monitoring/grafana", "kube-system/kube-dns", "default/client", "internet"} {
		out = append(out, p+" -> voiceassist-server:8000/TCP")
	}
	out = append(out,
		"voiceassist-server -> voiceassist-postgres:5432/TCP",
		"voiceassist-server -> voiceassist-redis:6379/TCP",
		"voiceassist-worker -> voiceassist-postgres:5432/TCP",
		"voiceassist-worker -> voiceassist-redis:6379/TCP",
		"queue-exporter -> voiceassist-redis:6379/TCP",
		"monitoring/prometheus -> voiceassist-server:9091/TCP",
		"monitoring/prometheus -> voiceassist-worker:9090/TCP",
		"monitoring/prometheus -> queue-exporter:9121/TCP",
	)
	sort.Strings(out)
	return out
}()

// TestNetworkReachability: in every environment, the rendered
// NetworkPolicies allow exactly wantReachable.
func TestNetworkReachability(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		got := reachable(set.NetworkPolicies, peers(t, set))
		if missing, extra := diffSorted(wantReachable, got); len(missing)+len(extra) > 0 {
			t.Errorf("reachability differs from the intended matrix\nallowed but not intended:\n  %s\nintended but denied:\n  %s",
				strings.Join(extra, "\n  "), strings.Join(missing, "\n  "))
		}
		// The properties the matrix implies, said on their own.
		for _, p := range got {
			src, dst, _ := strings.Cut(p, " -> ")
			switch {
			case src == "voiceassist-worker" && strings.HasPrefix(dst, "voiceassist-server:"):
				t.Errorf("the worker reaches the gateway: %s", p)
			case (strings.HasPrefix(dst, "voiceassist-server:9091") || strings.HasPrefix(dst, "voiceassist-worker:9090") || strings.HasPrefix(dst, "queue-exporter:9121")) && src != "monitoring/prometheus":
				t.Errorf("a metrics port is reachable by something other than Prometheus: %s", p)
			case (strings.HasPrefix(dst, "voiceassist-redis:") || strings.HasPrefix(dst, "voiceassist-postgres:")) &&
				!slices.Contains([]string{"voiceassist-server", "voiceassist-worker", "queue-exporter"}, src):
				t.Errorf("a database is reachable by %s: %s", src, p)
			}
		}
	})
}

// TestReachabilityEngineDenies: the engine is not vacuous. Without
// policies everything is allowed (Kubernetes' default), and with the
// default-deny alone only pairs with no end in voiceassist would be.
func TestReachabilityEngineDenies(t *testing.T) {
	_, set := build(t, "prod")
	all := peers(t, set)
	open := reachable(nil, all)
	if !slices.Contains(open, "voiceassist-worker -> voiceassist-server:8000/TCP") || !slices.Contains(open, "internet -> voiceassist-redis:6379/TCP") {
		t.Fatalf("without policies the worker and the internet should reach everything; got %d pairs", len(open))
	}
	var deny []*networkingv1.NetworkPolicy
	for _, p := range set.NetworkPolicies {
		if p.Name == "default-deny" {
			deny = append(deny, p)
		}
	}
	if len(deny) != 1 {
		t.Fatalf("want one NetworkPolicy default-deny, got %d", len(deny))
	}
	if got := reachable(deny, all); len(got) != 0 {
		t.Errorf("default-deny alone allows %q", got)
	}
}

// TestPrometheusNamespacePatch: the patch k8s/performance/README.md
// documents ("Network policies") moves the Prometheus peer to another
// namespace: Prometheus there reaches the metrics ports, Prometheus in
// monitoring no longer does.
func TestPrometheusNamespacePatch(t *testing.T) {
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
      group: networking.k8s.io
      kind: NetworkPolicy
      name: allow-prometheus-scrape
    patch: |-
      - op: replace
        path: /spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name
        value: observability
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
	all := peers(t, set)
	all = append(all, peer{name: "observability/prometheus", internal: &matcher.InternalPeer{Namespace: "observability",
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "observability"},
		PodLabels:       map[string]string{"app.kubernetes.io/name": "prometheus"}}})
	got := reachable(set.NetworkPolicies, all)
	for _, p := range []string{"observability/prometheus -> voiceassist-worker:9090/TCP", "observability/prometheus -> queue-exporter:9121/TCP"} {
		if !slices.Contains(got, p) {
			t.Errorf("after the patch, %s is denied", p)
		}
	}
	for _, p := range []string{"monitoring/prometheus -> voiceassist-worker:9090/TCP", "monitoring/prometheus -> queue-exporter:9121/TCP"} {
		if slices.Contains(got, p) {
			t.Errorf("after the patch, %s is still allowed", p)
		}
	}
}

// diffSorted returns what want has that got lacks, and the reverse.
func diffSorted(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}
