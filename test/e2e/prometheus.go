//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/scrape"
	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/test/e2e/cluster"
	"github.com/voiceassist/autoscaling/test/e2e/promconfig"
)

// Where the metrics pipeline listens, inside the cluster's namespace.
const (
	prometheusAddr = "127.0.0.1:9090"
	// kubernetesSDAddr serves upstream Prometheus's Kubernetes discovery to
	// Debian's Prometheus (test/e2e/kubesd).
	kubernetesSDAddr = "127.0.0.1:9091"
	// The metrics provider (docs/metrics-provider.md): node network,
	// clear of the nodes (.2…) and of metrics-server.
	metricsProvider     = "voiceassist-metrics-provider"
	metricsProviderIP   = "10.243.0.251"
	metricsProviderPort = 4443
	// monitoringNS holds Prometheus's ServiceAccount (and the metrics
	// provider's Service), as the README's `helm install … --namespace
	// monitoring` would.
	monitoringNS = "monitoring"
)

// metricsStack is the custom/external metrics pipeline, every part a
// process in the cluster's namespace:
//
//   - Debian's real Prometheus, with the scrape jobs that Prometheus
//     Operator generates from the ServiceMonitors of the environment under
//     test (prometheusConfig): the same relabeling, on the same
//     __meta_kubernetes_endpointslice_* labels;
//   - kubernetes-sd (test/e2e/kubesd, TEST INFRASTRUCTURE): Debian builds
//     Prometheus without Kubernetes service discovery, so upstream
//     Prometheus's own discovery code (role endpointslice) runs there,
//     watching kube-apiserver as Prometheus's ServiceAccount, and Debian's
//     Prometheus reads its targets through http_sd_configs;
//   - voiceassist-metrics-provider (test/e2e/metricsprovider, TEST
//     INFRASTRUCTURE standing in for Prometheus Adapter), serving
//     custom.metrics.k8s.io and external.metrics.k8s.io from our Prometheus
//     Adapter rules file, registered through the aggregation layer.
type metricsStack struct {
	dir        string
	sd         *cluster.Process
	prometheus *cluster.Process
	provider   *cluster.Process
	client     *http.Client // dials into the namespace
	prom       promv1.API   // Prometheus's HTTP API, through client
}

func (m *metricsStack) String() string {
	return fmt.Sprintf("Prometheus on %s (pid %d, config %s), kubernetes-sd on %s (pid %d), %s on %s:%d (pid %d)",
		prometheusAddr, m.prometheus.Pid(), filepath.Join(m.dir, "prometheus.yml"),
		kubernetesSDAddr, m.sd.Pid(), metricsProvider, metricsProviderIP, metricsProviderPort, m.provider.Pid())
}

func (m *metricsStack) stop() {
	if m.provider != nil {
		m.provider.Stop(5 * time.Second)
	}
	if m.prometheus != nil {
		m.prometheus.Stop(5 * time.Second)
	}
	if m.sd != nil {
		m.sd.Stop(5 * time.Second)
	}
	m.client.CloseIdleConnections()
}

func startMetricsStack(ctx context.Context, c *cluster.Cluster, root string) (*metricsStack, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	m := &metricsStack{
		dir:    filepath.Join(c.Dir, "prometheus"),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: c.Netns.DialContext}},
	}
	pc, err := promapi.NewClient(promapi.Config{Address: "http://" + prometheusAddr, Client: m.client})
	if err != nil {
		return nil, err
	}
	m.prom = promv1.NewAPI(pc)
	if err := os.MkdirAll(filepath.Join(m.dir, "data"), 0o700); err != nil {
		return nil, err
	}
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w (hack/e2e/deps.sh installs Debian's)", err)
	}
	token, err := prometheusToken(ctx)
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(m.dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	caFile := filepath.Join(c.Dir, "pki", "ca.crt")
	for _, k := range []string{"kubernetes-sd", metricsProvider} {
		if bins[k] == "" {
			return nil, fmt.Errorf("no %s binary from hack/e2e/build.sh", k)
		}
	}
	m.sd, err = c.StartProcess("kubernetes-sd", bins["kubernetes-sd"],
		"--listen="+kubernetesSDAddr,
		fmt.Sprintf("--api-server=https://%s:%d", cluster.ControlPlaneIP, cluster.APIServerPort),
		"--ca-file="+caFile,
		"--token-file="+tokenFile,
		"--role="+promconfig.Role(scrape.Operator),
		"--namespace=voiceassist",
	)
	if err != nil {
		return nil, err
	}
	if err := m.waitHTTP(ctx, m.sd, "http://"+kubernetesSDAddr+"/-/ready"); err != nil {
		return nil, err
	}
	cfg, err := prometheusConfig("http://" + kubernetesSDAddr + "/sd")
	if err == nil {
		cfg, err = withKubeletJob(cfg) // the node's cAdvisor series (kubelet_scrape.go)
	}
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(m.dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command("promtool", "check", "config", cfgFile).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("promtool check config %s: %v\n%s", cfgFile, err, out)
	}
	m.prometheus, err = c.StartProcess("prometheus", prom,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(m.dir, "data"),
		"--storage.tsdb.retention.time=2h",
		"--web.listen-address="+prometheusAddr,
		"--log.level=info",
	)
	if err != nil {
		return nil, err
	}
	if err := m.waitHTTP(ctx, m.prometheus, "http://"+prometheusAddr+"/-/ready"); err != nil {
		return nil, err
	}
	if err := m.startProvider(ctx, c, root); err != nil {
		return nil, err
	}
	return m, nil
}

// waitHTTP waits until url answers 200, failing early when p exits.
func (m *metricsStack) waitHTTP(ctx context.Context, p *cluster.Process, url string) error {
	var last error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := eventually(ctx, func(ctx context.Context) error {
		if done, _ := p.Exited(); done {
			cancel() // no point waiting
			return errExited
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := m.client.Do(req)
		if err != nil {
			last = err
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
			return last
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %v (last: %v); last lines of %s:\n%s", url, err, last, p.Log, p.Tail(20))
	}
	return nil
}

var errExited = fmt.Errorf("process exited")

// prometheusToken gives Prometheus an identity of its own, with the rights
// its Helm chart's ClusterRole grants for service discovery, and returns a
// token for it (TokenRequest, valid for the run).
func prometheusToken(ctx context.Context) (string, error) {
	ok := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: monitoringNS}}, metav1.CreateOptions{}); ok(err) != nil {
		return "", err
	}
	if _, err := cs.CoreV1().ServiceAccounts(monitoringNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{}); ok(err) != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-e2e-prometheus"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "endpoints", "pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); ok(err) != nil {
		return "", err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "voiceassist-e2e-prometheus"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: monitoringNS, Name: "prometheus"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); ok(err) != nil {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(monitoringNS).CreateToken(ctx, "prometheus", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(12 * 3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/prometheus: %w", monitoringNS, err)
	}
	return tr.Status.Token, nil
}

// metricsEnv is the environment whose metrics the scenarios read: the
// scaling scenarios and TestHPAStatus deploy dev (scalingOverlay changes no
// ServiceMonitor), so Prometheus scrapes what dev declares.
const metricsEnv = "dev"

// prometheusConfig configures Prometheus as the reference install
// (kube-prometheus-stack, scrape.Reference) would for metricsEnv: one job
// per endpoint of each ServiceMonitor the release's Prometheus selects
// (release: kube-prometheus-stack), with Prometheus Operator's relabeling
// (test/e2e/promconfig, unit-tested without the e2e tag). A ServiceMonitor
// without the label is not scraped, as on a real cluster. The targets come
// from sdURL (kubernetes-sd, role promconfig.Role(scrape.Operator)).
func prometheusConfig(sdURL string) ([]byte, error) {
	src, err := render.Embedded()
	if err != nil {
		return nil, err
	}
	rm, err := src.Env(metricsEnv)
	if err != nil {
		return nil, err
	}
	set, err := kube.FromResMap(rm)
	if err != nil {
		return nil, err
	}
	cfg, err := promconfig.Config(scrape.Operator, set, scrape.Reference.ServiceMonitorSelector(), "voiceassist", sdURL)
	if err != nil {
		return nil, fmt.Errorf("the %s overlay: %w", metricsEnv, err)
	}
	return cfg, nil
}

// promSample is one element of an instant vector.
type promSample = testenv.Sample

// query runs an instant PromQL query (client_golang's API client, dialing
// into the namespace).
func (m *metricsStack) query(ctx context.Context, q string) ([]promSample, error) {
	return testenv.InstantVector(ctx, m.prom, q, time.Time{}) // zero: Prometheus's now
}

// metricsAPIServices are the provider's APIServices as {group, version}
// (cluster.MetricsAPIServices, split), for scenarios that wait on them.
var metricsAPIServices = func() [][2]string {
	var out [][2]string
	for _, name := range cluster.MetricsAPIServices {
		version, group, _ := strings.Cut(name, ".")
		out = append(out, [2]string{group, version})
	}
	return out
}()

// startProvider runs voiceassist-metrics-provider on our Prometheus Adapter
// rules file and registers it as docs/metrics-provider.md describes: a
// selector-less Service kube-system/voiceassist-metrics-provider with an
// EndpointSlice at its address (the aggregator dials endpoints: there is
// no kube-proxy), and the three APIServices; it returns once they are
// Available.
func (m *metricsStack) startProvider(ctx context.Context, c *cluster.Cluster, root string) error {
	var err error
	m.provider, err = c.StartProcess(metricsProvider, bins[metricsProvider],
		"--rules="+filepath.Join(root, "k8s", "performance", "prometheus-adapter-values.yaml"),
		"--prometheus-url=http://"+prometheusAddr,
		"--lister-kubeconfig="+c.AdminKubeconfig,
		"--authentication-kubeconfig="+c.AdminKubeconfig,
		"--authorization-kubeconfig="+c.AdminKubeconfig,
		"--cert-dir="+filepath.Join(m.dir, "provider-certs"),
		"--bind-address="+metricsProviderIP,
		fmt.Sprintf("--secure-port=%d", metricsProviderPort),
		"--v=2",
	)
	if err != nil {
		return err
	}
	if err := cluster.RegisterMetricsProvider(ctx, cs, metricsProviderIP, metricsProviderPort); err != nil {
		return err
	}
	rc := cs.Discovery().RESTClient()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = eventually(wctx, func(ctx context.Context) error {
		if done, _ := m.provider.Exited(); done {
			cancel() // no point waiting
			return errExited
		}
		for _, name := range cluster.MetricsAPIServices {
			b, err := rc.Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices/" + name).DoRaw(ctx)
			if err != nil {
				return err
			}
			var s struct {
				Status struct {
					Conditions []struct{ Type, Status, Reason, Message string }
				}
			}
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
			if !slices.ContainsFunc(s.Status.Conditions, func(c struct{ Type, Status, Reason, Message string }) bool {
				return c.Type == "Available" && c.Status == "True"
			}) {
				return fmt.Errorf("%s not Available: %+v", name, s.Status.Conditions)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %v; last lines of %s:\n%s", metricsProvider, err, m.provider.Log, m.provider.Tail(20))
	}
	return nil
}
