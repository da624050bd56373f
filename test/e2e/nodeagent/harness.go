//go:build e2e

package nodeagent

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/voiceassist/autoscaling/test/e2e/cluster"
)

// The node network's addresses this package uses (cluster.NodeCIDR;
// the control plane is 10.243.0.1).
const (
	// NodeIP is the first node's InternalIP; node i (1-based) gets
	// 10.243.0.(1+i).
	NodeIP = "10.243.0.2"
	// MetricsServerIP is where StartMetricsServer listens.
	MetricsServerIP   = "10.243.0.250"
	MetricsServerPort = 4443
)

// StartForCluster builds the VoiceAssist images as `make images` does
// (BuildImages; repoRoot is the module root; Go's build cache makes this
// cheap after the first time), so the pods of our three services run the
// images' own binaries and config, and starts one node agent, "va-node-1"
// at NodeIP, on the harness's cluster. It returns once the Node is Ready
// (Redis and PostgreSQL have no image of ours: Images maps them to
// Debian's programs). Stop the agent before cluster.Stop: it
// ends the pods' processes with their grace periods (capped at 10 s);
// cluster.Stop would otherwise kill them when it deletes the namespace.
//
//	agent, err := nodeagent.StartForCluster(ctx, cl, root, log.Printf)
//	...
//	defer agent.Stop()
//
// configure, if given, adjusts the Agent before it starts (e.g. a shorter
// RestartBackoff).
func StartForCluster(ctx context.Context, c *cluster.Cluster, repoRoot string, logf func(string, ...any), configure ...func(*Agent)) (*Agent, error) {
	cs, err := c.Clientset()
	if err != nil {
		return nil, err
	}
	// Outside the cluster's 0700 directory: the pods run as their
	// runAsUser and must reach the binaries.
	binDir, err := os.MkdirTemp("", "va-nodeagent-bin-")
	if err != nil {
		return nil, err
	}
	images := Images(nil) // redis, postgres: Debian's programs
	ours, err := BuildImages(ctx, repoRoot, binDir, logf)
	if err != nil {
		os.RemoveAll(binDir)
		return nil, err
	}
	maps.Copy(images, ours)
	a := &Agent{
		Client:   cs,
		NodeName: "va-node-1",
		NodeIP:   NodeIP,
		Netns:    c.Netns.Name,
		Images:   images,
		Logf:     logf,
		binDir:   binDir,
	}
	for _, f := range configure {
		f(a)
	}
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// StartMetricsServer runs the real metrics-server (bin: the harness's
// cached v0.8.0 build, cluster.MetricsServer) as a process of the cluster
// at MetricsServerIP:MetricsServerPort and registers it through the
// aggregation layer as its release manifest would: Service
// kube-system/metrics-server (without selector: it is no pod here) with
// Endpoints and an EndpointSlice at that address, and the APIService
// v1beta1.metrics.k8s.io. It scrapes every Node's /metrics/resource over
// HTTPS without verifying the self-signed certificate
// (--kubelet-insecure-tls), every 10 s (its minimum resolution).
// PodMetrics appear about two resolutions after a pod starts
// (metrics-server needs two points for a rate).
//
// It authenticates callers and reaches the API as the admin kubeconfig
// (what its ServiceAccount and RBAC in k8s/performance would grant it is
// not exercised here).
func StartMetricsServer(ctx context.Context, c *cluster.Cluster, bin string) error {
	if bin == "" {
		return fmt.Errorf("no metrics-server binary (hack/e2e/build.sh prints %s=...)", cluster.MetricsServer)
	}
	certDir, err := os.MkdirTemp(c.Dir, "metrics-server-certs-")
	if err != nil {
		return err
	}
	p, err := c.StartProcess(cluster.MetricsServer, bin,
		"--kubeconfig="+c.AdminKubeconfig,
		"--authentication-kubeconfig="+c.AdminKubeconfig,
		"--authorization-kubeconfig="+c.AdminKubeconfig,
		"--cert-dir="+certDir,
		"--bind-address="+MetricsServerIP,
		fmt.Sprintf("--secure-port=%d", MetricsServerPort),
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-use-node-status-port",
		"--kubelet-insecure-tls",
		"--metric-resolution=10s",
		"--kubelet-request-timeout=5s",
	)
	if err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	ok := func(err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	}
	_, err = cs.CoreV1().Services("kube-system").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "metrics-server"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(MetricsServerPort)}}},
	}, metav1.CreateOptions{})
	if err := ok(err); err != nil {
		return err
	}
	_, err = cs.CoreV1().Endpoints("kube-system").Create(ctx, &corev1.Endpoints{ //nolint:staticcheck // what --enable-aggregator-routing reads
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"},
		Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck
			Addresses: []corev1.EndpointAddress{{IP: MetricsServerIP}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: MetricsServerPort}}, //nolint:staticcheck
		}},
	}, metav1.CreateOptions{})
	if err := ok(err); err != nil {
		return err
	}
	_, err = cs.DiscoveryV1().EndpointSlices("kube-system").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server-local", Namespace: "kube-system",
			Labels: map[string]string{discoveryv1.LabelServiceName: "metrics-server", discoveryv1.LabelManagedBy: "nodeagent"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{MetricsServerIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(MetricsServerPort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{})
	if err := ok(err); err != nil {
		return err
	}
	rest := cs.Discovery().RESTClient()
	apiService := []byte(`{"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{"name":"v1beta1.metrics.k8s.io","labels":{"k8s-app":"metrics-server"}},
"spec":{"group":"metrics.k8s.io","version":"v1beta1","groupPriorityMinimum":100,"versionPriority":100,"insecureSkipTLSVerify":true,
"service":{"name":"metrics-server","namespace":"kube-system","port":443}}}`)
	err = rest.Post().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices").Body(apiService).
		SetHeader("Content-Type", "application/json").Do(ctx).Error()
	if err := ok(err); err != nil {
		return fmt.Errorf("APIService v1beta1.metrics.k8s.io: %w", err)
	}
	// Ready when the aggregator reaches it.
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if done, _ := p.Exited(); done {
			return false, fmt.Errorf("metrics-server exited; log %s:\n%s", p.Log, p.Tail(20))
		}
		return rest.Get().AbsPath("/apis/metrics.k8s.io/v1beta1").Do(ctx).Error() == nil, nil
	})
	if err != nil {
		return fmt.Errorf("metrics.k8s.io not served: %w (log %s)", err, filepath.Join(c.Dir, "logs", cluster.MetricsServer+".log"))
	}
	return nil
}
