//go:build e2e

package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"POD_IP": "10.244.0.5", "A": "x"}
	for in, want := range map[string]string{
		"--bind=$(POD_IP)":  "--bind=10.244.0.5",
		"$(A)$(A)":          "xx",
		"$(MISSING)":        "$(MISSING)",
		"$$(A)":             "$(A)",
		"cost $5":           "cost $5",
		"$(unterminated":    "$(unterminated",
		"plain":             "plain",
		"trailing $":        "trailing $",
		"$(A)/$(POD_IP):80": "x/10.244.0.5:80",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRewritePaths(t *testing.T) {
	mounts := []mountMap{
		{container: "/var/lib/postgresql/data", host: "/h/pv"},
		{container: "/data", host: "/h/data"},
	}
	for in, want := range map[string]string{
		"/data":                           "/h/data",
		"--dir=/data/x":                   "--dir=/h/data/x",
		"/var/lib/postgresql/data/pgdata": "/h/pv/pgdata",
		"/database":                       "/database", // not at a path boundary
		"/srv/data":                       "/srv/data", // not at the start
		"a:/data:/b":                      "a:/h/data:/b",
	} {
		if got := rewritePaths(in, mounts); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListenRewrite(t *testing.T) {
	for in, want := range map[string]string{
		":8000":           "10.244.0.7:8000",
		"0.0.0.0:9090":    "10.244.0.7:9090",
		"127.0.0.1:9090":  "127.0.0.1:9090",
		"10.244.0.9:1":    "10.244.0.9:1",
		"not-an-address":  "not-an-address",
		"[::]:8000":       "10.244.0.7:8000",
		"localhost:12345": "localhost:12345",
	} {
		if got := listenRewrite(in, "10.244.0.7"); got != want {
			t.Errorf("listenRewrite(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeAgent has listers over a fake clientset holding the given objects.
func fakeAgent(t *testing.T, objs ...any) *Agent {
	t.Helper()
	cs := fake.NewSimpleClientset()
	f := informers.NewSharedInformerFactory(cs, 0)
	svcs := f.Core().V1().Services().Informer().GetStore()
	slices := f.Discovery().V1().EndpointSlices().Informer().GetStore()
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Service:
			svcs.Add(v)
		case *discoveryv1.EndpointSlice:
			slices.Add(v)
		case *corev1.Secret:
			cs.CoreV1().Secrets(v.Namespace).Create(context.Background(), v, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			cs.CoreV1().ConfigMaps(v.Namespace).Create(context.Background(), v, metav1.CreateOptions{})
		}
	}
	a := &Agent{Client: cs, NodeName: "n1", NodeIP: "10.243.0.2"}
	a.defaults()
	a.services = f.Core().V1().Services().Lister()
	a.slices = f.Discovery().V1().EndpointSlices().Lister()
	return a
}

func slice(ns, svc, ip string, port int32, portName string, ready bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-abc", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
}

func svc(ns, name string, port, target int32, portName string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{
			Name: portName, Port: port, TargetPort: intstr.FromInt32(target),
		}}},
	}
}

// TestBuildEnv resolves the env of the manifests' server container:
// value, secretKeyRef, resourceFieldRef, fieldRef, Service names.
func TestBuildEnv(t *testing.T) {
	a := fakeAgent(t,
		svc("voiceassist", "voiceassist-redis", 6379, 6379, "redis"),
		slice("voiceassist", "voiceassist-redis", "10.244.0.3", 6379, "redis", true),
		svc("voiceassist", "voiceassist-postgres", 5432, 5432, "postgres"),
		slice("voiceassist", "voiceassist-postgres", "10.244.0.4", 5432, "postgres", true),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "voiceassist"}, Data: map[string][]byte{"password": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "voiceassist"}, Data: map[string]string{"LOG_LEVEL": "debug"}},
	)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "server-1", Namespace: "voiceassist", UID: "u1", Labels: map[string]string{"app": "server"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
	}
	c := &corev1.Container{
		Name: "server",
		EnvFrom: []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}},
		}},
		Env: []corev1.EnvVar{
			{Name: "REDIS_ADDR", Value: "voiceassist-redis:6379"},
			{Name: "DATABASE_URL", Value: "postgres://voiceassist@voiceassist-postgres.voiceassist.svc.cluster.local:5432/voiceassist?sslmode=disable"},
			{Name: "OTHER", Value: "example.com:443 and 2024-01-01T10:00"},
			{Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
			{Name: "CPU_MILLIS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
				Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
			{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "MY_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "MY_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "MY_APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "GREETING", Value: "$(MY_NAME) at $(MY_IP) $(NOPE)"},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
		},
	}
	ec := &envContext{a: a, pod: pod, podIP: "10.244.0.9"}
	vars, env, err := ec.buildEnv(context.Background(), c, Binary{Env: map[string]string{"IMAGE_VAR": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"REDIS_ADDR":   "10.244.0.3:6379",
		"DATABASE_URL": "postgres://voiceassist@10.244.0.4:5432/voiceassist?sslmode=disable",
		"OTHER":        "example.com:443 and 2024-01-01T10:00",
		"PGPASSWORD":   "s3cret",
		"GOMEMLIMIT":   "2147483648",
		"CPU_MILLIS":   "500",
		"CPU_LIMIT":    "32", // unset limit: the node's allocatable
		"MY_IP":        "10.244.0.9",
		"POD_IP":       "10.244.0.9",
		"MY_NAME":      "server-1",
		"MY_APP":       "server",
		"GREETING":     "server-1 at 10.244.0.9 $(NOPE)",
		"LOG_LEVEL":    "debug",
		"IMAGE_VAR":    "1",
		"HOSTNAME":     "server-1",
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if len(env) != len(vars) {
		t.Errorf("env has %d entries, vars %d", len(env), len(vars))
	}

	// A Service without a ready endpoint holds the container back.
	a2 := fakeAgent(t, svc("voiceassist", "voiceassist-redis", 6379, 6379, "redis"),
		slice("voiceassist", "voiceassist-redis", "10.244.0.3", 6379, "redis", false))
	ec2 := &envContext{a: a2, pod: pod, podIP: "10.244.0.9"}
	_, _, err = ec2.buildEnv(context.Background(), &corev1.Container{Env: []corev1.EnvVar{{Name: "REDIS_ADDR", Value: "voiceassist-redis:6379"}}}, Binary{})
	var ce *configError
	if err == nil || !strings.Contains(err.Error(), "no ready endpoint") {
		t.Errorf("unready Service: err = %v, want a configError about no ready endpoint", err)
	} else if !asConfigError(err, &ce) {
		t.Errorf("unready Service: %T is not a configError", err)
	}

	// A missing Secret key is a configError naming it.
	_, _, err = ec.buildEnv(context.Background(), &corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "nope"}}}}}, Binary{})
	if err == nil || !strings.Contains(err.Error(), "couldn't find key nope in Secret voiceassist/creds") {
		t.Errorf("missing key: err = %v", err)
	}
}

func asConfigError(err error, target **configError) bool {
	for err != nil {
		if ce, ok := err.(*configError); ok {
			*target = ce
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestBuildArgv(t *testing.T) {
	a := fakeAgent(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	ec := &envContext{a: a, pod: pod, podIP: "10.244.0.9", mounts: []mountMap{{container: "/data", host: "/h/d"}}}
	vars := map[string]string{"POD_IP": "10.244.0.9"}
	images := Images(map[string]string{"queue-exporter": "/bin/qe"})

	// Our binaries: --listen=:port gets the pod's IP.
	argv, err := buildArgv(ec, &corev1.Container{Args: []string{"--listen=:9121"}}, images["voiceassist/queue-exporter"], vars)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/bin/qe", "--listen=10.244.0.9:9121"}; !reflect.DeepEqual(argv, want) {
		t.Errorf("argv = %q, want %q", argv, want)
	}
	// Without a listen flag, LISTEN_ADDR is set to the first port.
	env := listenEnv([]string{"A=1"}, &corev1.Container{Ports: []corev1.ContainerPort{{ContainerPort: 9121}}}, images["voiceassist/queue-exporter"], []string{"/bin/qe"}, "10.244.0.9")
	if want := []string{"A=1", "LISTEN_ADDR=10.244.0.9:9121"}; !reflect.DeepEqual(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	// redis: the image's command name is dropped, paths rewritten, bound to the pod IP.
	if redis, ok := images["redis"]; ok {
		argv, err = buildArgv(ec, &corev1.Container{Args: []string{"redis-server", "--appendonly", "yes", "--dir", "/data"}}, redis, vars)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{redis.Path, "--appendonly", "yes", "--dir", "/h/d", "--bind", "10.244.0.9", "--protected-mode", "no", "--daemonize", "no"}
		if !reflect.DeepEqual(argv, want) {
			t.Errorf("redis argv = %q, want %q", argv, want)
		}
	}
	a.Images = images
	for image, ok := range map[string]bool{
		"voiceassist/queue-exporter:0.1.0":            true,
		"voiceassist/queue-exporter@sha256:abc":       true,
		"docker.io/voiceassist/queue-exporter:0.1.0":  true,
		"voiceassist/queue-exporter-x:0.1.0":          false,
		"registry.example/voiceassist/queue-exporter": false,
	} {
		if _, got := a.lookupImage(image); got != ok {
			t.Errorf("lookupImage(%q) = %v, want %v", image, got, ok)
		}
	}
}

func TestProbeState(t *testing.T) {
	s := newProbeState(&corev1.Probe{FailureThreshold: 2, SuccessThreshold: 1}, false)
	steps := []struct {
		ok, changed, result bool
	}{
		{false, false, false}, {true, true, true}, {false, false, true}, {true, false, true},
		{false, false, true}, {false, true, false}, {false, false, false}, {true, true, true},
	}
	for i, st := range steps {
		if ch := s.observe(st.ok); ch != st.changed || s.result != st.result {
			t.Fatalf("step %d: changed=%v result=%v, want %v %v", i, ch, s.result, st.changed, st.result)
		}
	}
}

// TestResourceMetricsFormat parses the endpoint's text with Prometheus'
// own parser and checks what metrics-server v0.8.0's decoder needs
// (sigs.k8s.io/metrics-server/pkg/scraper/client/resource/decode.go): the
// metric names, container/pod/namespace labels, non-zero values and a
// timestamp on every sample.
func TestResourceMetricsFormat(t *testing.T) {
	var b strings.Builder
	start := time.Unix(1700000000, 500_000_000)
	writeResourceMetrics(&b, 1700000012345, 1234500*time.Millisecond, 3<<30, []containerUsage{
		{namespace: "voiceassist", pod: "server-1", container: "server", start: start, cpu: 1500 * time.Millisecond, mem: 20 << 20},
		{namespace: "voiceassist", pod: "server-1", container: "sidecar", start: start, cpu: 10 * time.Millisecond, mem: 5 << 20},
		{namespace: "voiceassist", pod: "redis-0", container: "redis", start: start, cpu: 30 * time.Millisecond, mem: 7 << 20},
	}, false)
	text := b.String()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, name := range []string{"node_cpu_usage_seconds_total", "node_memory_working_set_bytes",
		"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds",
		"pod_cpu_usage_seconds_total", "pod_memory_working_set_bytes", "scrape_error"} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no %s in\n%s", name, text)
			continue
		}
		for _, m := range f.Metric {
			if name != "scrape_error" && m.GetTimestampMs() != 1700000012345 {
				t.Errorf("%s: timestamp %d", name, m.GetTimestampMs())
			}
		}
	}
	if v := fams["node_cpu_usage_seconds_total"].Metric[0].GetCounter().GetValue(); v != 1234.5 {
		t.Errorf("node cpu = %v", v)
	}
	got := map[string]float64{}
	for _, m := range fams["container_cpu_usage_seconds_total"].Metric {
		l := map[string]string{}
		for _, lp := range m.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		got[l["namespace"]+"/"+l["pod"]+"/"+l["container"]] = m.GetCounter().GetValue()
	}
	if want := map[string]float64{"voiceassist/server-1/server": 1.5, "voiceassist/server-1/sidecar": 0.01, "voiceassist/redis-0/redis": 0.03}; !reflect.DeepEqual(got, want) {
		t.Errorf("container cpu = %v, want %v", got, want)
	}
	for _, m := range fams["pod_memory_working_set_bytes"].Metric {
		for _, lp := range m.Label {
			if lp.GetName() == "pod" && lp.GetValue() == "server-1" && m.GetGauge().GetValue() != 25<<20 {
				t.Errorf("pod server-1 memory = %v, want the sum of its containers", m.GetGauge().GetValue())
			}
		}
	}
	if v := fams["container_start_time_seconds"].Metric[0].GetGauge().GetValue(); v != 1700000000.5 {
		t.Errorf("start time = %v", v)
	}
}

// TestProcUsage measures this test process from /proc the way the
// endpoint measures a container: CPU it has burnt and memory it holds.
func TestProcUsage(t *testing.T) {
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	cpu, rss, ok := treeUsage(allProcs(), os.Getpid())
	if !ok {
		t.Fatal("own pid not found")
	}
	if cpu < 150*time.Millisecond {
		t.Errorf("cpu = %s after a 200 ms busy loop", cpu)
	}
	if rss < 64<<20 {
		t.Errorf("rss = %d, want ≥ 64 MiB just touched", rss)
	}
	nc, nm, err := nodeUsage()
	if err != nil || nc < cpu || nm == 0 {
		t.Errorf("node usage: cpu %s mem %d err %v", nc, nm, err)
	}
	_ = buf[x%len(buf)]
}

func TestWriteKeys(t *testing.T) {
	dir := t.TempDir()
	err := writeKeys(dir, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, []corev1.KeyToPath{{Key: "b", Path: "sub/../../x"}})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "x")); err != nil || string(b) != "2" {
		t.Errorf("item path escaped or missing: %q %v", b, err)
	}
}
