//go:build e2e

// Package e2e runs VoiceAssist's end-to-end scenarios against a real local
// Kubernetes control plane (test/e2e/cluster): etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler as processes in a network
// namespace of their own, with one node (test/e2e/nodeagent) that runs the
// pods as local processes, the manifests' metrics-server, and Prometheus
// with a custom/external metrics provider (prometheus.go). TestMain starts
// it once for all scenarios and stops it afterwards, also when a scenario
// fails or the run is interrupted.
//
//	make e2e                                          # everything
//	go test -tags e2e -count=1 -run TestApplyDev ./test/e2e/   # one scenario
//
// It needs root (ip netns), Debian's etcd-server and the binaries of
// hack/e2e/build.sh; TestMain runs hack/e2e/deps.sh and hack/e2e/build.sh
// itself, which do nothing when all is there. docs/local-cluster.md has more.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/voiceassist/autoscaling/internal/testenv"
	"github.com/voiceassist/autoscaling/test/e2e/cluster"
	"github.com/voiceassist/autoscaling/test/e2e/nodeagent"
)

// The cluster every scenario shares, and admin clients for it.
var (
	cl     *cluster.Cluster
	cs     *kubernetes.Clientset
	dyn    *dynamic.DynamicClient
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// bins maps each component hack/e2e/build.sh built to its binary.
	bins map[string]string
	// agent is the one node (test/e2e/nodeagent): it runs the pods.
	agent *nodeagent.Agent
	// metrics is the custom/external metrics pipeline (Prometheus, its
	// Kubernetes discovery and the metrics provider): prometheus.go.
	metrics *metricsStack
)

// Environment knobs (docs/local-cluster.md):
//
//	VA_E2E_KEEP=1            keep the cluster's directory (certs, kubeconfigs, logs)
//	VA_E2E_HPA_SYNC=15s      kube-controller-manager --horizontal-pod-autoscaler-sync-period
//	VA_E2E_SKIP_BUILD=1      do not run hack/e2e/build.sh / deps.sh (binaries must be cached)
//	VA_E2E_HOLD=1            after the tests, keep the cluster up until Ctrl-C (use -v -timeout 0)
//	VA_E2E_TIME_FACTOR=10    divisor of the scale-down windows and periods in the scaling scenarios
//	VA_E2E_GATEWAY_RPS=40    TestScaleGateway's total request rate
//	VA_E2E_WORKER_JOBS=700   TestScaleWorker's burst
func TestMain(m *testing.M) {
	log.SetFlags(log.Ltime)
	log.SetPrefix("e2e: ")
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		log.Print(err)
		return 1
	}
	if os.Getenv("VA_E2E_SKIP_BUILD") != "1" {
		if err := script(root, "hack/e2e/deps.sh", nil); err != nil {
			log.Print(err)
			return 1
		}
	}
	bins, err = binaries(root)
	if err != nil {
		log.Print(err)
		return 1
	}
	prebuildVactl()
	sync := 15 * time.Second
	if s := os.Getenv("VA_E2E_HPA_SYNC"); s != "" {
		if sync, err = time.ParseDuration(s); err != nil {
			log.Printf("VA_E2E_HPA_SYNC: %v", err)
			return 1
		}
	}
	start := time.Now()
	c, err := cluster.Start(context.Background(), cluster.Config{
		Bins:          bins,
		Keep:          os.Getenv("VA_E2E_KEEP") == "1",
		HPASyncPeriod: sync,
		Logf:          log.Printf,
	})
	if err != nil {
		log.Printf("starting the cluster: %v", err)
		return 1
	}
	cl = c
	cancelSignal := c.StopOnSignal()
	log.Printf("cluster up in %.1fs: netns %s, admin kubeconfig %s (HPA sync period %s)",
		time.Since(start).Seconds(), c.Netns.Name, c.AdminKubeconfig, sync)

	code := 1
	defer func() {
		cancelSignal()
		t := time.Now()
		c.Stop(code != 0)
		log.Printf("cluster stopped in %.1fs", time.Since(t).Seconds())
	}()
	if cs, err = c.Clientset(); err != nil {
		log.Print(err)
		return 1
	}
	if dyn, err = c.Dynamic(); err != nil {
		log.Print(err)
		return 1
	}
	mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))

	// The node: it runs the pods the scheduler binds, and the manifests'
	// own metrics-server Deployment as the real metrics-server binary.
	defer func() {
		for _, f := range harnessCleanup {
			f(code != 0)
		}
	}()
	withMetricsServer, err := metricsServerImage(c)
	if err != nil {
		log.Printf("metrics-server: %v", err)
		return 1
	}
	t := time.Now()
	agent, err = nodeagent.StartForCluster(context.Background(), c, root, log.Printf, withMetricsServer)
	if err != nil {
		log.Printf("node agent: %v", err)
		return 1
	}
	defer agent.Stop() // registered after the cluster-stop defer, so it runs first
	log.Printf("node %s Ready in %.1fs", agent.NodeName, time.Since(t).Seconds())
	t = time.Now()
	if metrics, err = startMetricsStack(context.Background(), c, root); err != nil {
		log.Printf("metrics: %v", err)
		return 1
	}
	defer metrics.stop()
	log.Printf("metrics pipeline up in %.1fs: %s", time.Since(t).Seconds(), metrics)

	code = m.Run()
	if os.Getenv("VA_E2E_HOLD") == "1" {
		log.Printf("VA_E2E_HOLD=1: the cluster stays up until Ctrl-C (SIGINT) or SIGTERM. Try:\n"+
			"  ip netns exec %s %s --kubeconfig %s get all -A\n  logs: %s",
			c.Netns.Name, bins["kubectl"], c.AdminKubeconfig, filepath.Join(c.Dir, "logs"))
		select {} // StopOnSignal stops the cluster and exits
	}
	return code
}

// binaries runs hack/e2e/build.sh, which builds what is not cached yet
// (with VA_E2E_SKIP_BUILD=1 it must not build, so a missing binary fails).
func binaries(root string) (map[string]string, error) {
	return cluster.Binaries(root, os.Getenv("VA_E2E_SKIP_BUILD") == "1", os.Stderr)
}

func script(root, name string, stdout *bytes.Buffer, env ...string) error {
	cmd := exec.Command("bash", filepath.Join(root, name))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		cmd.Stdout = os.Stderr
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// repoRoot is the directory holding hack/e2e (the tests run in test/e2e).
var repoRoot = testenv.RepoRoot

// scenario bounds one test in time and, when it ends, fails it if any
// control-plane process died meanwhile.
func scenario(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(func() {
		cancel()
		for _, d := range cl.Dead() {
			t.Errorf("control plane process died: %s", d)
		}
	})
	return ctx
}
