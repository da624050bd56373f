package k8s_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

const ns = "voiceassist"

// build renders env from the embedded manifests and decodes it strictly.
func build(t *testing.T, env string) (resmap.ResMap, *kube.Set) {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Env(env)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		t.Fatalf("%s: strict decode: %v", env, err)
	}
	return m, set
}

func forEachEnv(t *testing.T, f func(t *testing.T, env string, set *kube.Set)) {
	for _, env := range render.Envs {
		t.Run(env, func(t *testing.T) {
			_, set := build(t, env)
			f(t, env, set)
		})
	}
}

// canonical turns a YAML stream into sorted canonical JSON documents, so
// two builds compare by content, not by formatting.
func canonical(t *testing.T, stream []byte) []string {
	t.Helper()
	var docs []string
	for _, d := range strings.Split(string(stream), "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(d))
		if err != nil {
			t.Fatalf("yaml: %v\n%s", err, d)
		}
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			t.Fatal(err)
		}
		c, _ := json.Marshal(v)
		docs = append(docs, string(c))
	}
	sort.Strings(docs)
	return docs
}

// TestBuilds: every environment builds with the library from the embedded
// copy and from disk identically, and — where kubectl is installed — the
// same as `kubectl kustomize`, which is what operators run.
func TestBuilds(t *testing.T) {
	disk, err := render.Dir("performance")
	if err != nil {
		t.Fatal(err)
	}
	kubectl, _ := exec.LookPath("kubectl")
	for _, env := range render.Envs {
		t.Run(env, func(t *testing.T) {
			m, _ := build(t, env)
			y, err := m.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			dm, err := disk.Env(env)
			if err != nil {
				t.Fatalf("from disk: %v", err)
			}
			dy, _ := dm.AsYaml()
			if !bytes.Equal(y, dy) {
				t.Fatalf("embedded and on-disk builds differ: is an embedded file missing from k8s/manifests.go?")
			}
			if kubectl == "" {
				t.Log("kubectl not on PATH: library build only")
				return
			}
			dir, _ := render.EnvDir(env)
			out, err := exec.Command(kubectl, "kustomize", filepath.Join("performance", dir)).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", dir, err)
			}
			if got, want := canonical(t, out), canonical(t, y); !reflect.DeepEqual(got, want) {
				t.Fatalf("kubectl kustomize and the library disagree:\nkubectl: %d objects\nlibrary: %d objects", len(got), len(want))
			}
		})
	}
}

// The spec's individual-file commands (`kubectl apply -f api-gateway-hpa.yaml`
// in k8s/performance) keep working through the symlinks.
func TestSpecFileNames(t *testing.T) {
	for _, f := range []string{"api-gateway-hpa.yaml", "worker-hpa.yaml", "resource-limits.yaml",
		"vpa-config.yaml", "pod-disruption-budget.yaml", "metrics-server.yaml", "kustomization.yaml", "README.md"} {
		b, err := os.ReadFile(filepath.Join("performance", f))
		if err != nil {
			t.Errorf("spec file %s: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, ".yaml") && f != "kustomization.yaml" {
			for i, doc := range strings.Split(string(b), "\n---\n") {
				if !strings.Contains(doc, "kind:") {
					continue
				}
				if _, _, err := kube.DecodeStrict([]byte(doc)); err != nil {
					t.Errorf("%s document %d: %v", f, i, err)
				}
			}
		}
	}
}

func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	bad := []byte(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: x}
  maxReplicas: 3
  behaviour: {}
`)
	_, _, err := kube.DecodeStrict(bad)
	if err == nil || !strings.Contains(err.Error(), "behaviour") {
		t.Fatalf("want an error naming the unknown field behaviour, got %v", err)
	}
}

// TestBrokenKustomizationNamesFile: a kustomization error names the file.
func TestBrokenKustomizationNamesFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n  - missing.yaml\n"), 0o644)
	_, err := render.Build(mustDisk(t).FS, dir)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want an error naming %s and missing.yaml, got %v", dir, err)
	}
}

func mustDisk(t *testing.T) render.Source {
	s, err := render.Dir(".")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// --- every number of the spec, per environment -----------------------------

type res struct{ reqCPU, reqMem, limCPU, limMem string }

type envSpec struct {
	server, worker [2]int32 // HPA min, max
	serverRes      res
	workerRes      res
	vpa, monitors  bool
}

var (
	baseServerRes = res{"500m", "512Mi", "2000m", "2Gi"}
	baseWorkerRes = res{"1000m", "1Gi", "4000m", "4Gi"}
	postgresRes   = res{"1000m", "2Gi", "4000m", "8Gi"}
	redisRes      = res{"250m", "256Mi", "1000m", "1Gi"}
)

var specByEnv = map[string]envSpec{
	"base":    {server: [2]int32{2, 10}, worker: [2]int32{1, 5}, serverRes: baseServerRes, workerRes: baseWorkerRes},
	"dev":     {server: [2]int32{1, 3}, worker: [2]int32{1, 2}, serverRes: res{"250m", "256Mi", "1000m", "1Gi"}, workerRes: res{"500m", "512Mi", "2000m", "2Gi"}, monitors: true},
	"staging": {server: [2]int32{2, 6}, worker: [2]int32{1, 3}, serverRes: baseServerRes, workerRes: baseWorkerRes, vpa: true, monitors: true},
	"prod":    {server: [2]int32{3, 15}, worker: [2]int32{2, 8}, serverRes: baseServerRes, workerRes: baseWorkerRes, vpa: true, monitors: true},
}

// The same in every environment (docs/design.md, "Autoscaling semantics").
var (
	serverMetrics = []string{
		"Resource/cpu Utilization 70",
		"Resource/memory Utilization 80",
		"Pods/http_requests_per_second AverageValue 100",
	}
	workerMetrics = []string{
		"Resource/cpu Utilization 80",
		"Resource/memory Utilization 85",
		"External/voiceassist_queue_depth{queue=voice-jobs} AverageValue 50",
		"External/voiceassist_queue_oldest_job_age_seconds{queue=voice-jobs} Value 60",
	}
	serverUp   = "window=0s select=Min Percent 100/30s Pods 2/30s"
	serverDown = "window=300s select=Min Pods 1/300s"
	workerUp   = "window=0s select=Max Percent 50/60s"
	workerDown = "window=600s select=Max Percent 10/600s"
)

func hpa(t *testing.T, set *kube.Set, name string) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	for _, h := range set.HPAs {
		if h.Name == name && h.Namespace == ns {
			return h
		}
	}
	t.Fatalf("no HPA %s/%s", ns, name)
	return nil
}

func metricsOf(h *autoscalingv2.HorizontalPodAutoscaler) []string {
	var out []string
	for _, m := range h.Spec.Metrics {
		out = append(out, kube.MetricKey(m)+" "+kube.MetricTarget(m))
	}
	return out
}

func TestSpecNumbers(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		want := specByEnv[env]
		for _, c := range []struct {
			name     string
			bounds   [2]int32
			metrics  []string
			up, down string
		}{
			{"voiceassist-server-hpa", want.server, serverMetrics, serverUp, serverDown},
			{"voiceassist-worker-hpa", want.worker, workerMetrics, workerUp, workerDown},
		} {
			h := hpa(t, set, c.name)
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != c.bounds[0] || h.Spec.MaxReplicas != c.bounds[1] {
				t.Errorf("%s: replicas %v-%d, want %d-%d", c.name, deref(h.Spec.MinReplicas), h.Spec.MaxReplicas, c.bounds[0], c.bounds[1])
			}
			if got := metricsOf(h); !reflect.DeepEqual(got, c.metrics) {
				t.Errorf("%s: metrics\n got %q\nwant %q", c.name, got, c.metrics)
			}
			if h.Spec.Behavior == nil {
				t.Fatalf("%s: no behavior", c.name)
			}
			if got := kube.DescribeRules(h.Spec.Behavior.ScaleUp); got != c.up {
				t.Errorf("%s: scaleUp %q, want %q", c.name, got, c.up)
			}
			if got := kube.DescribeRules(h.Spec.Behavior.ScaleDown); got != c.down {
				t.Errorf("%s: scaleDown %q, want %q", c.name, got, c.down)
			}
		}

		for _, c := range []struct {
			kind, name, container string
			want                  res
		}{
			{"Deployment", "voiceassist-server", "server", want.serverRes},
			{"Deployment", "voiceassist-worker", "worker", want.workerRes},
			{"StatefulSet", "voiceassist-postgres", "postgres", postgresRes},
			{"StatefulSet", "voiceassist-redis", "redis", redisRes},
		} {
			w, ok := set.Workload(c.kind, ns, c.name)
			if !ok {
				t.Fatalf("no %s %s", c.kind, c.name)
			}
			ctr := container(t, w, c.container)
			r := ctr.Resources
			got := res{q(r.Requests.Cpu()), q(r.Requests.Memory()), q(r.Limits.Cpu()), q(r.Limits.Memory())}
			if !sameRes(got, c.want) {
				t.Errorf("%s/%s: resources %+v, want %+v", c.name, c.container, got, c.want)
			}
			// Best practice 1: limits 2-4x requests.
			for _, rn := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				l, rq := r.Limits[rn], r.Requests[rn]
				ratio := float64(l.MilliValue()) / float64(rq.MilliValue())
				if ratio < 2 || ratio > 4 {
					t.Errorf("%s/%s: %s limit/request = %.2f, want 2-4", c.name, c.container, rn, ratio)
				}
			}
		}

		// PDBs (docs/design.md): gateway minAvailable >= 1 and < the HPA's
		// minReplicas... except where minReplicas is 1 (dev), where no
		// minAvailable >= 1 can allow an eviction, so it must be maxUnavailable.
		pdbs := map[string]string{}
		for _, p := range set.PDBs {
			pdbs[p.Name] = describePDB(p.Spec.MinAvailable, p.Spec.MaxUnavailable, p.Spec.UnhealthyPodEvictionPolicy)
		}
		wantPDB := map[string]string{
			"voiceassist-server-pdb":   "minAvailable=1 policy=AlwaysAllow",
			"voiceassist-worker-pdb":   "maxUnavailable=50% policy=AlwaysAllow",
			"voiceassist-postgres-pdb": "minAvailable=1 policy=AlwaysAllow",
			"voiceassist-redis-pdb":    "minAvailable=1 policy=AlwaysAllow",
		}
		if env == "dev" {
			wantPDB["voiceassist-server-pdb"] = "maxUnavailable=1 policy=AlwaysAllow"
		}
		if !reflect.DeepEqual(pdbs, wantPDB) {
			t.Errorf("PDBs\n got %v\nwant %v", pdbs, wantPDB)
		}
		if got := len(set.VPAs) == 4; got != want.vpa {
			t.Errorf("VPAs present = %v (%d), want %v", got, len(set.VPAs), want.vpa)
		}
		for _, v := range set.VPAs {
			if v.Spec.UpdatePolicy == nil || v.Spec.UpdatePolicy.UpdateMode == nil || string(*v.Spec.UpdatePolicy.UpdateMode) != "Off" {
				t.Errorf("VPA %s: updateMode must be Off (recommendation only)", v.Name)
			}
		}
		if got := len(set.ServiceMonitors) == 3; got != want.monitors {
			t.Errorf("ServiceMonitors present = %v (%d), want %v", got, len(set.ServiceMonitors), want.monitors)
		}
	})
}

func describePDB(minA, maxU *intstr.IntOrString, p *policyv1.UnhealthyPodEvictionPolicyType) string {
	s := ""
	if minA != nil {
		s = "minAvailable=" + minA.String()
	}
	if maxU != nil {
		s = "maxUnavailable=" + maxU.String()
	}
	if p != nil {
		s += " policy=" + string(*p)
	}
	return s
}

func container(t *testing.T, w kube.Workload, name string) corev1.Container {
	t.Helper()
	for _, c := range w.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no container %q", w.Ref(), name)
	return corev1.Container{}
}

func q(x *resource.Quantity) string { return x.String() }

func sameRes(a, b res) bool {
	eq := func(x, y string) bool {
		return resource.MustParse(x).Equal(resource.MustParse(y))
	}
	return eq(a.reqCPU, b.reqCPU) && eq(a.reqMem, b.reqMem) && eq(a.limCPU, b.limCPU) && eq(a.limMem, b.limMem)
}

func deref(p *int32) any {
	if p == nil {
		return "nil"
	}
	return *p
}

// --- references between objects ---------------------------------------------

func TestReferences(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		for _, w := range set.Workloads() {
			if w.Selector == nil || len(w.Selector.MatchLabels) == 0 {
				t.Errorf("%s: no selector", w.Ref())
				continue
			}
			if ws, err := set.PodsMatching(w.Namespace, w.Selector); err != nil || !slices.ContainsFunc(ws, func(x kube.Workload) bool { return x.Name == w.Name }) {
				t.Errorf("%s: selector does not match its own pod labels", w.Ref())
			}
			for _, c := range w.Template.Spec.Containers {
				if c.Image == "" {
					t.Errorf("%s/%s: no image", w.Ref(), c.Name)
				}
				checkProbePorts(t, w, c)
			}
		}
		for _, h := range set.HPAs {
			ref := h.Spec.ScaleTargetRef
			w, ok := set.Workload(ref.Kind, h.Namespace, ref.Name)
			if !ok || ref.APIVersion != "apps/v1" {
				t.Errorf("HPA %s: target %s %s/%s not in the build", h.Name, ref.APIVersion, ref.Kind, ref.Name)
				continue
			}
			if w.Replicas != nil {
				t.Errorf("HPA %s: target %s sets replicas; every apply would reset the HPA's count", h.Name, w.Ref())
			}
		}
		for _, v := range set.VPAs {
			if _, ok := set.Workload(v.Spec.TargetRef.Kind, v.Namespace, v.Spec.TargetRef.Name); !ok {
				t.Errorf("VPA %s: target %s %s not in the build", v.Name, v.Spec.TargetRef.Kind, v.Spec.TargetRef.Name)
			}
		}
		for _, p := range set.PDBs {
			if ws, err := set.PodsMatching(p.Namespace, p.Spec.Selector); err != nil || len(ws) != 1 {
				t.Errorf("PDB %s: selector matches %d workloads (err %v), want exactly 1", p.Name, len(ws), err)
			}
		}
		for _, s := range set.Services {
			ws := set.PodsMatchingMap(s.Namespace, s.Spec.Selector)
			if len(ws) != 1 {
				t.Errorf("Service %s/%s: selector matches %d workloads, want 1", s.Namespace, s.Name, len(ws))
				continue
			}
			for _, p := range s.Spec.Ports {
				if p.TargetPort.Type == intstr.String && !declaresPort(ws[0].Template.Spec, p.TargetPort.StrVal) {
					t.Errorf("Service %s: targetPort %q is not a port of %s", s.Name, p.TargetPort.StrVal, ws[0].Ref())
				}
			}
		}
		for _, sm := range set.ServiceMonitors {
			found := false
			for _, s := range set.Services {
				if s.Namespace == sm.Namespace && selectorMatches(sm.Spec.Selector.MatchLabels, s.Labels) {
					found = true
					for _, e := range sm.Spec.Endpoints {
						if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
							t.Errorf("ServiceMonitor %s: port %q not on Service %s", sm.Name, e.Port, s.Name)
						}
					}
				}
			}
			if !found {
				t.Errorf("ServiceMonitor %s: selects no Service", sm.Name)
			}
		}
	})
}

func selectorMatches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func declaresPort(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func checkProbePorts(t *testing.T, w kube.Workload, c corev1.Container) {
	t.Helper()
	for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil {
			t.Errorf("%s/%s: no %s probe", w.Ref(), c.Name, kind)
			continue
		}
		if p.Exec != nil {
			t.Errorf("%s/%s: %s probe is exec; it needs a tool inside the image", w.Ref(), c.Name, kind)
			continue
		}
		var port intstr.IntOrString
		switch {
		case p.HTTPGet != nil:
			port = p.HTTPGet.Port
		case p.TCPSocket != nil:
			port = p.TCPSocket.Port
		case p.GRPC != nil:
			port = intstr.FromInt32(p.GRPC.Port)
		}
		ok := slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
			return (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal)
		})
		if !ok {
			t.Errorf("%s/%s: %s probe port %s is not declared by the container", w.Ref(), c.Name, kind, port.String())
		}
	}
}

// --- placement, quota, overlays ---------------------------------------------

func TestPlacement(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		for _, o := range set.Objects {
			if ns := metaNamespace(o); ns != "" && ns != "voiceassist" {
				t.Errorf("%s: VoiceAssist objects belong in voiceassist", o.Ref)
			}
		}
		for _, a := range set.APIServices {
			svc := a.Spec.Service
			if svc == nil || !slices.ContainsFunc(set.Services, func(s *corev1.Service) bool { return s.Name == svc.Name && s.Namespace == svc.Namespace }) {
				t.Errorf("APIService %s: its Service is not in the build", a.Name)
			}
		}
	})
}

// TestMetricsServerOutsideEnvs: metrics-server is cluster infrastructure. No
// environment carries any of it (an overlay would overwrite a managed
// cluster's metrics-server and its APIService, and deleting the overlay
// would take the cluster's metrics API with it); its own kustomization
// builds in kube-system with the APIService pointing at its Service, the
// local variant differs only by --kubelet-insecure-tls, and the spec's
// single file metrics-server.yaml holds the same objects.
func TestMetricsServerOutsideEnvs(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		for _, o := range set.Objects {
			if strings.Contains(o.Ref, "metrics-server") || strings.Contains(o.Ref, "kube-system/") {
				t.Errorf("%s: metrics-server is not part of an environment", o.Ref)
			}
		}
		if len(set.APIServices) != 0 {
			t.Errorf("%d APIServices: an environment registers no aggregated API", len(set.APIServices))
		}
	})
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	args := map[string][]string{}
	for _, v := range render.MetricsServerVariants {
		m, err := src.MetricsServer(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		set, err := kube.FromResMap(m)
		if err != nil {
			t.Fatalf("%s: strict decode: %v", v, err)
		}
		for _, o := range set.Objects {
			if ns := metaNamespace(o); ns != "" && ns != "kube-system" {
				t.Errorf("%s: %s: metrics-server objects stay in kube-system", v, o.Ref)
			}
		}
		if len(set.APIServices) != 1 || set.APIServices[0].Name != "v1beta1.metrics.k8s.io" {
			t.Fatalf("%s: want the one APIService v1beta1.metrics.k8s.io, got %d", v, len(set.APIServices))
		}
		svc := set.APIServices[0].Spec.Service
		if svc == nil || !slices.ContainsFunc(set.Services, func(s *corev1.Service) bool { return s.Name == svc.Name && s.Namespace == svc.Namespace }) {
			t.Errorf("%s: APIService v1beta1.metrics.k8s.io: its Service is not in the build", v)
		}
		for _, d := range set.Deployments {
			if d.Name == "metrics-server" {
				args[v] = d.Spec.Template.Spec.Containers[0].Args
			}
		}
		if v == "standard" {
			b, err := os.ReadFile(filepath.Join("performance", "metrics-server.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "\nkind: "); n != m.Size() {
				t.Errorf("metrics-server.yaml holds %d objects, the kustomization builds %d", n, m.Size())
			}
		}
	}
	const insecure = "--kubelet-insecure-tls"
	if slices.Contains(args["standard"], insecure) {
		t.Errorf("standard metrics-server has %s", insecure)
	}
	if want := append(slices.Clone(args["standard"]), insecure); !slices.Equal(args["local"], want) {
		t.Errorf("local metrics-server args\n got %q\nwant %q", args["local"], want)
	}
}

func metaNamespace(o kube.Object) string {
	// Ref is "Kind namespace/name" or "Kind name".
	parts := strings.SplitN(strings.SplitN(o.Ref, " ", 2)[1], "/", 2)
	if len(parts) == 2 {
		return parts[0]
	}
	return ""
}

// TestQuotaCoversMaxima: Σ (maxReplicas + maxSurge) × limits of every
// workload fits the quota, so the HPAs can reach their maxima mid-rollout.
func TestQuotaCoversMaxima(t *testing.T) {
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		if len(set.ResourceQuotas) != 1 {
			t.Fatalf("want one ResourceQuota, got %d", len(set.ResourceQuotas))
		}
		hard := set.ResourceQuotas[0].Spec.Hard
		maxOf := map[string]int32{}
		for _, h := range set.HPAs {
			maxOf[h.Spec.ScaleTargetRef.Name] = h.Spec.MaxReplicas
		}
		need := corev1.ResourceList{}
		pods := int64(0)
		for _, w := range set.Workloads() {
			n := int64(1)
			if w.Replicas != nil {
				n = int64(*w.Replicas)
			}
			if m, ok := maxOf[w.Name]; ok {
				n = int64(m)
			}
			if d := deployment(set, w.Name); d != nil && d.Spec.Strategy.RollingUpdate != nil && d.Spec.Strategy.RollingUpdate.MaxSurge != nil {
				surge, _ := intstr.GetScaledValueFromIntOrPercent(d.Spec.Strategy.RollingUpdate.MaxSurge, int(n), true)
				n += int64(surge)
			}
			pods += n
			for _, c := range w.Template.Spec.Containers {
				add(need, "limits.cpu", c.Resources.Limits.Cpu(), n)
				add(need, "limits.memory", c.Resources.Limits.Memory(), n)
				add(need, "requests.cpu", c.Resources.Requests.Cpu(), n)
				add(need, "requests.memory", c.Resources.Requests.Memory(), n)
			}
		}
		for name, q := range need {
			h, ok := hard[name]
			q := q
			if !ok || h.Cmp(q) < 0 {
				t.Errorf("quota %s = %s, the maxima need %s", name, h.String(), q.String())
			}
		}
		if h := hard[corev1.ResourcePods]; h.Value() < pods {
			t.Errorf("quota pods = %d, the maxima need %d", h.Value(), pods)
		}
		// The LimitRange's max must admit every container.
		for _, lr := range set.LimitRanges {
			for _, item := range lr.Spec.Limits {
				for _, w := range set.Workloads() {
					for _, c := range w.Template.Spec.Containers {
						for rn, max := range item.Max {
							if l, ok := c.Resources.Limits[rn]; ok && l.Cmp(max) > 0 {
								t.Errorf("LimitRange %s: max %s %s is below %s/%s's limit %s", lr.Name, rn, max.String(), w.Name, c.Name, l.String())
							}
						}
					}
				}
			}
		}
	})
}

func add(l corev1.ResourceList, name corev1.ResourceName, q *resource.Quantity, n int64) {
	sum := l[name]
	for range n {
		sum.Add(*q)
	}
	l[name] = sum
}

func deployment(set *kube.Set, name string) *appsv1.Deployment {
	for _, d := range set.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// TestOverlaysKeepMetrics: no overlay drops a metric its base's HPA has.
func TestOverlaysKeepMetrics(t *testing.T) {
	_, base := build(t, "base")
	for _, env := range []string{"dev", "staging", "prod"} {
		_, set := build(t, env)
		for _, bh := range base.HPAs {
			oh := hpa(t, set, bh.Name)
			for _, m := range bh.Spec.Metrics {
				if !slices.ContainsFunc(oh.Spec.Metrics, func(o autoscalingv2.MetricSpec) bool { return kube.MetricKey(o) == kube.MetricKey(m) }) {
					t.Errorf("%s: HPA %s dropped metric %s", env, bh.Name, kube.MetricKey(m))
				}
			}
		}
	}
}

// TestPodSecurityRestricted runs the upstream Pod Security admission
// evaluator, at the latest level, over every pod template.
func TestPodSecurityRestricted(t *testing.T) {
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	forEachEnv(t, func(t *testing.T, env string, set *kube.Set) {
		for _, w := range set.Workloads() {
			for _, r := range evaluator.EvaluatePod(lv, &w.Template.ObjectMeta, &w.Template.Spec) {
				if !r.Allowed {
					t.Errorf("%s: restricted: %s: %s", w.Ref(), r.ForbiddenReason, r.ForbiddenDetail)
				}
			}
		}
	})
}

// TestAdapterRules: the Prometheus Adapter values serve exactly the metrics
// the HPAs read, and each query, rendered as the adapter renders it, is
// valid PromQL by promtool (Debian's prometheus package).
func TestAdapterRules(t *testing.T) {
	b, err := os.ReadFile("performance/prometheus-adapter-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := adapter.Parse("prometheus-adapter-values.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	_, set := build(t, "prod")
	var queries []string
	for _, h := range set.HPAs {
		for _, m := range h.Spec.Metrics {
			var rules []adapter.Rule
			var name string
			var matchers []adapter.Matcher
			var groupBy []string
			switch m.Type {
			case autoscalingv2.PodsMetricSourceType:
				rules, name = v.Rules.Custom, m.Pods.Metric.Name
				matchers = []adapter.Matcher{{Label: "namespace", Op: "=", Value: ns}, {Label: "pod", Op: "=~", Value: "voiceassist-server-a|voiceassist-server-b"}}
				groupBy = []string{"pod"}
			case autoscalingv2.ExternalMetricSourceType:
				rules, name = v.Rules.External, m.External.Metric.Name
				matchers = []adapter.Matcher{{Label: "namespace", Op: "=", Value: ns}}
				for k, val := range m.External.Metric.Selector.MatchLabels {
					matchers = append(matchers, adapter.Matcher{Label: k, Op: "=", Value: val})
				}
			default:
				continue
			}
			r, ok := adapter.Find(rules, name)
			if !ok {
				t.Errorf("HPA %s reads %s metric %q, which no adapter rule serves", h.Name, m.Type, name)
				continue
			}
			q, err := r.Query(r.SeriesName(), matchers, groupBy)
			if err != nil {
				t.Fatal(err)
			}
			queries = append(queries, q)
		}
	}
	if len(queries) != 3 {
		t.Fatalf("want 3 adapter queries (request rate, queue depth, queue age), got %d", len(queries))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not on PATH: run scripts/setup-debian.sh (Debian's prometheus package)")
	}
	var rules strings.Builder
	rules.WriteString("groups:\n- name: adapter\n  rules:\n")
	for i, q := range queries {
		fmt.Fprintf(&rules, "  - record: adapter:query%d\n    expr: %q\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(file, []byte(rules.String()), 0o644)
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool rejects the adapter queries: %v\n%s\n%s", err, out, rules.String())
	}
	// And promtool really checks: a broken query fails.
	os.WriteFile(file, []byte("groups:\n- name: x\n  rules:\n  - record: x\n    expr: 'sum(rate(x[2m]) by (pod)'\n"), 0o644)
	if err := exec.Command(promtool, "check", "rules", file).Run(); err == nil {
		t.Fatal("promtool accepted invalid PromQL; the check above proves nothing")
	}
}
