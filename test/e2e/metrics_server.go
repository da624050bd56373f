//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	vcluster "github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/test/e2e/cluster"
	"github.com/voiceassist/autoscaling/test/e2e/nodeagent"
)

// metricsServerImageRepo is the image of the base's metrics-server
// Deployment (k8s/performance/base/metrics-server.yaml), without its tag.
const metricsServerImageRepo = "registry.k8s.io/metrics-server/metrics-server"

// metricsServerImage maps the manifests' metrics-server image to the real
// metrics-server v0.8.0 that hack/e2e/build.sh built, so the metrics-server
// Deployment, Service and APIService that every overlay applies (the
// README's step 1) run as they would on a real cluster: the pod is
// scheduled on the node, probed on its own /livez and /readyz, put into
// its Service's EndpointSlice by the endpointslice controller, and the
// aggregation layer routes metrics.k8s.io to it.
//
// What a container image would provide and this machine cannot:
//
//   - in-cluster credentials (a projected ServiceAccount token and the
//     kubernetes Service's ClusterIP): the process gets --kubeconfig (and
//     --authentication-/--authorization-kubeconfig) pointing at an admin
//     kubeconfig readable only by the pod's runAsUser, taken from the
//     rendered manifest;
//   - a pod network of its own: every pod shares the cluster's network
//     namespace, and the node's kubelet endpoint already holds port 10250
//     on the node IP, so it binds its pod IP (--bind-address=$(POD_IP));
//   - a kubelet serving certificate signed by the cluster CA: the node
//     agent's is self-signed, so it scrapes with --kubelet-insecure-tls.
//
// The returned function configures the agent (nodeagent.StartForCluster);
// the files live under c.Dir and go with it.
func metricsServerImage(c *cluster.Cluster) (func(*nodeagent.Agent), error) {
	bin := bins[cluster.MetricsServer]
	if bin == "" {
		return nil, fmt.Errorf("no %s binary from hack/e2e/build.sh", cluster.MetricsServer)
	}
	uid, err := metricsServerUID()
	if err != nil {
		return nil, err
	}
	// The pod runs as its runAsUser: the cluster's directory is 0700, so
	// the binary and its kubeconfig go into a directory it can traverse;
	// not under /tmp, which is the pod's emptyDir mount path (the agent
	// rewrites /tmp/... in its args onto the volume).
	// Named after our pid, so hack/e2e/cleanup.sh can remove it (it holds
	// an admin token) when this process dies without cleaning up.
	dir, err := os.MkdirTemp("/var/tmp", fmt.Sprintf("va-e2e-%d-metrics-server-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	exe := filepath.Join(dir, "metrics-server")
	if err := copyFile(bin, exe, 0o755); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(c.Dir, "pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.RESTConfig().Host, CertificateAuthorityData: ca}
	cfg.AuthInfos["metrics-server"] = &clientcmdapi.AuthInfo{Token: c.RESTConfig().BearerToken}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "metrics-server"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, kc); err != nil {
		return nil, err
	}
	if err := os.Chown(kc, uid, uid); err != nil {
		return nil, err
	}
	if err := os.Chmod(kc, 0o600); err != nil {
		return nil, err
	}
	harnessCleanup = append(harnessCleanup, func(bool) { os.RemoveAll(dir) })
	// The agent's directory (pod logs and volumes) is kept, like the
	// cluster's, when the run fails or VA_E2E_KEEP=1.
	agentDir, err := os.MkdirTemp("", "va-e2e-nodeagent-")
	if err != nil {
		return nil, err
	}
	harnessCleanup = append(harnessCleanup, func(failed bool) {
		if failed || os.Getenv("VA_E2E_KEEP") == "1" {
			log.Printf("node agent's pod logs and volumes kept in %s", agentDir)
			return
		}
		os.RemoveAll(agentDir)
	})
	return func(a *nodeagent.Agent) {
		a.Dir = agentDir
		a.Images[metricsServerImageRepo] = nodeagent.Binary{
			Path: exe,
			AppendArgs: []string{
				"--bind-address=$(POD_IP)",
				"--kubelet-insecure-tls",
				"--kubeconfig=" + kc,
				"--authentication-kubeconfig=" + kc,
				"--authorization-kubeconfig=" + kc,
			},
		}
	}, nil
}

// metricsServerUID is the runAsUser of the rendered metrics-server
// container (k8s/performance/metrics-server).
func metricsServerUID() (int, error) {
	_, set, err := renderMetricsServer()
	if err != nil {
		return 0, err
	}
	for _, d := range set.Deployments {
		if d.Namespace != "kube-system" || d.Name != "metrics-server" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
				return int(*sc.RunAsUser), nil
			}
		}
		if sc := d.Spec.Template.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil {
			return int(*sc.RunAsUser), nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("k8s/performance/metrics-server renders no Deployment kube-system/metrics-server")
}

// renderMetricsServer builds k8s/performance/metrics-server (the standard
// variant: the node agent adds --kubelet-insecure-tls itself).
func renderMetricsServer() ([]*unstructured.Unstructured, *kube.Set, error) {
	src, err := render.Embedded()
	if err != nil {
		return nil, nil, err
	}
	m, err := src.MetricsServer("standard")
	if err != nil {
		return nil, nil, err
	}
	set, err := kube.FromResMap(m)
	if err != nil {
		return nil, nil, err
	}
	objs, err := vcluster.Objects(m)
	return objs, set, err
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
