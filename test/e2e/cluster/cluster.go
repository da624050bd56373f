//go:build e2e

// Package cluster runs a real Kubernetes control plane on one machine, with
// no container runtime: Debian's etcd and kube-apiserver,
// kube-controller-manager and kube-scheduler built from k8s.io/kubernetes
// (hack/e2e/build.sh), each a local process inside a network namespace of
// its own. docs/local-cluster.md describes it.
//
// Addresses (all on the namespace's lo, so every one is bindable there and
// no packet leaves the namespace):
//
//	10.243.0.0/24  node network: the control plane listens on 10.243.0.1
//	10.244.0.0/24  pod network (--cluster-cidr, /26 per node)
//	10.96.0.0/24   Service cluster IPs (kubernetes.default = 10.96.0.1)
//
// Inside the namespace the ports are fixed (etcd 2379, kube-apiserver 6443,
// kube-controller-manager 10257, kube-scheduler 10259): clusters of
// different runs never collide, each has its own namespace. The test process
// stays in the host's namespace and reaches the API server through
// Netns.DialContext.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// The cluster's networks and addresses.
const (
	NodeCIDR       = "10.243.0.0/24"
	ControlPlaneIP = "10.243.0.1"
	PodCIDR        = "10.244.0.0/24"
	ServiceCIDR    = "10.96.0.0/24"
	KubernetesSvc  = "10.96.0.1"
	APIServerPort  = 6443

	// The component names hack/e2e/build.sh prints and Config.Bins uses.
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	MetricsServer         = "metrics-server"
)

// Static bearer tokens' users. The RBAC bootstrap policy grants the two
// components' users exactly what they need, as in a kubeadm cluster.
const (
	userAdmin     = "e2e-admin" // group system:masters
	userKCM       = "system:kube-controller-manager"
	userScheduler = "system:kube-scheduler"
)

// Config says what to run. Bins is required; the rest has defaults.
type Config struct {
	// Bins maps KubeAPIServer, KubeControllerManager and KubeScheduler (and
	// MetricsServer, unused so far) to binaries: hack/e2e/build.sh's output.
	Bins map[string]string
	// Etcd is the etcd binary; default "etcd" on PATH (Debian's etcd-server).
	Etcd string
	// Dir holds certificates, kubeconfigs and logs; default a new temp dir.
	Dir string
	// Keep leaves Dir on disk after Stop (it is always kept when Stop is
	// told the run failed).
	Keep bool
	// HPASyncPeriod is kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period; default 15s, upstream's.
	HPASyncPeriod time.Duration
	// ExtraArgs adds flags per component name ("etcd" or a Bins key).
	ExtraArgs map[string][]string
	// StartTimeout bounds Start; default 3 minutes.
	StartTimeout time.Duration
	// Logf receives progress lines; default none.
	Logf func(format string, args ...any)
}

// Cluster is a running control plane.
type Cluster struct {
	cfg   Config
	Dir   string
	Netns *Netns
	// AdminKubeconfig is a kubeconfig for system:masters. Its server,
	// https://10.243.0.1:6443, is reachable inside the namespace:
	// `ip netns exec <Netns.Name> kubectl --kubeconfig <AdminKubeconfig> ...`.
	AdminKubeconfig string
	// Processes, in start order.
	Etcd, APIServer, ControllerManager, Scheduler *Process

	adminToken string
	etcdDir    string
	procs      supervise.Group
	stopOnce   sync.Once
}

// Start brings up etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler and waits until each is healthy, the controllers have made
// the default ServiceAccount and the scheduler serves. On error everything
// started so far is stopped again.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the e2e cluster needs root (ip netns)")
	}
	for _, k := range []string{KubeAPIServer, KubeControllerManager, KubeScheduler} {
		if cfg.Bins[k] == "" {
			return nil, fmt.Errorf("no %s binary: run hack/e2e/build.sh", k)
		}
	}
	if cfg.Etcd == "" {
		cfg.Etcd = "etcd"
	}
	if cfg.Etcd, err = exec.LookPath(cfg.Etcd); err != nil {
		return nil, fmt.Errorf("etcd: %w (run hack/e2e/deps.sh: Debian's etcd-server)", err)
	}
	if cfg.HPASyncPeriod == 0 {
		cfg.HPASyncPeriod = 15 * time.Second
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 3 * time.Minute
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	for _, name := range CleanStale() {
		cfg.Logf("removed leftover network namespace %s", name)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	c = &Cluster{cfg: cfg, Dir: cfg.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "va-e2e-"); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			c.Stop(true)
			err = fmt.Errorf("%w (files kept in %s)", err, c.Dir)
			c = nil
		}
	}()
	start := time.Now()
	step := func(format string, args ...any) {
		cfg.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	if err = os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return c, err
	}
	if err = c.writeCredentials(); err != nil {
		return c, fmt.Errorf("credentials: %w", err)
	}
	step("certificates, tokens and kubeconfigs in %s", c.Dir)

	name := NetnsPrefix + strconv.Itoa(os.Getpid())
	if c.Netns, err = CreateNetns(name, NodeCIDR, PodCIDR, ServiceCIDR); err != nil {
		return c, err
	}
	step("network namespace %s: lo with %s, %s, %s", name, NodeCIDR, PodCIDR, ServiceCIDR)

	if err = c.startEtcd(ctx); err != nil {
		return c, err
	}
	step("etcd ready (pid %d)", c.Etcd.Pid())
	if err = c.startAPIServer(ctx); err != nil {
		return c, err
	}
	step("kube-apiserver ready (pid %d)", c.APIServer.Pid())
	if err = c.startControllerManager(); err != nil {
		return c, err
	}
	if err = c.startScheduler(); err != nil {
		return c, err
	}
	if err = c.waitHealthz(ctx, c.ControllerManager, "https://127.0.0.1:10257/healthz"); err != nil {
		return c, err
	}
	if err = c.waitHealthz(ctx, c.Scheduler, "https://127.0.0.1:10259/healthz"); err != nil {
		return c, err
	}
	if err = c.waitDefaultServiceAccount(ctx); err != nil {
		return c, err
	}
	step("kube-controller-manager (pid %d) and kube-scheduler (pid %d) ready", c.ControllerManager.Pid(), c.Scheduler.Pid())
	return c, nil
}

// Stop ends every process the cluster started, in reverse order, deletes
// the namespace and removes Dir unless Config.Keep or failed. It may be
// called more than once and from a signal handler.
func (c *Cluster) Stop(failed bool) {
	c.stopOnce.Do(func() {
		c.procs.StopAll(10 * time.Second)
		if c.Netns != nil {
			if err := c.Netns.Delete(); err != nil {
				c.cfg.Logf("delete network namespace: %v", err)
			}
		}
		if c.etcdDir != "" {
			os.RemoveAll(c.etcdDir)
		}
		if failed || c.cfg.Keep {
			c.cfg.Logf("cluster files and logs kept in %s", c.Dir)
		} else if c.Dir != "" {
			os.RemoveAll(c.Dir)
		}
	})
}

// StopOnSignal stops the cluster on SIGINT or SIGTERM, then exits the
// process with 128+signal. The returned function cancels the handler.
func (c *Cluster) StopOnSignal() (cancel func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			c.cfg.Logf("%v: stopping the cluster", s)
			c.Stop(true)
			os.Exit(128 + int(s.(syscall.Signal)))
		case <-done:
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// StartProcess runs another program inside the cluster's namespace with
// the same lifecycle as the control plane (log in Dir/logs, stopped by
// Stop): later a node agent, metrics-server, Prometheus.
func (c *Cluster) StartProcess(name string, argv ...string) (*Process, error) {
	p, err := startProcess(c.Netns, filepath.Join(c.Dir, "logs"), name, argv...)
	if err != nil {
		return nil, err
	}
	c.procs.Add(p)
	return p, nil
}

// Processes lists what runs, in start order.
func (c *Cluster) Processes() []*Process { return c.procs.List() }

// Dead returns a description of each started process that has exited.
func (c *Cluster) Dead() []string {
	var out []string
	for _, p := range c.procs.List() {
		if done, _ := p.Exited(); done {
			out = append(out, describeExit(p))
		}
	}
	return out
}

// RESTConfig is an admin (system:masters) client configuration that dials
// into the namespace.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            fmt.Sprintf("https://%s:%d", ControlPlaneIP, APIServerPort),
		BearerToken:     c.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(c.Dir, "pki", "ca.crt")},
		Dial:            c.Netns.DialContext,
		QPS:             50,
		Burst:           100,
		UserAgent:       "voiceassist-e2e",
	}
}

// Clientset returns a typed admin client.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.RESTConfig())
}

// Dynamic returns an admin dynamic client.
func (c *Cluster) Dynamic() (*dynamic.DynamicClient, error) {
	return dynamic.NewForConfig(c.RESTConfig())
}

// --- credentials ---------------------------------------------------------

func (c *Cluster) writeCredentials() error {
	p, err := newPKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return err
	}
	err = p.issue("apiserver", certSpec{
		cn:     "kube-apiserver",
		ips:    []net.IP{net.ParseIP(ControlPlaneIP), net.ParseIP(KubernetesSvc), net.ParseIP("127.0.0.1")},
		dns:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		server: true,
	}, p.caCert, p.caKey)
	if err != nil {
		return err
	}
	// The aggregation layer (metrics.k8s.io, custom.metrics.k8s.io) proxies
	// with a front-proxy client certificate from a CA of its own.
	fpCA, fpKey, err := p.newCA("front-proxy-ca", "voiceassist-e2e-front-proxy-ca")
	if err != nil {
		return err
	}
	if err := p.issue("front-proxy-client", certSpec{cn: "front-proxy-client", client: true}, fpCA, fpKey); err != nil {
		return err
	}
	if err := p.serviceAccountKey(); err != nil {
		return err
	}

	c.adminToken = randomToken()
	kcmToken, schedToken := randomToken(), randomToken()
	tokens := fmt.Sprintf("%s,%s,uid-admin,\"system:masters\"\n%s,%s,uid-kcm\n%s,%s,uid-scheduler\n",
		c.adminToken, userAdmin, kcmToken, userKCM, schedToken, userScheduler)
	if err := os.WriteFile(filepath.Join(c.Dir, "pki", "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	for file, tok := range map[string]string{
		c.AdminKubeconfig: c.adminToken,
		filepath.Join(c.Dir, "controller-manager.kubeconfig"): kcmToken,
		filepath.Join(c.Dir, "scheduler.kubeconfig"):          schedToken,
	} {
		if err := writeKubeconfig(file, filepath.Join(c.Dir, "pki", "ca.crt"), tok); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(file, caFile, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["voiceassist-e2e"] = &clientcmdapi.Cluster{
		Server:               fmt.Sprintf("https://%s:%d", ControlPlaneIP, APIServerPort),
		CertificateAuthority: caFile,
	}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["voiceassist-e2e"] = &clientcmdapi.Context{Cluster: "voiceassist-e2e", AuthInfo: "user"}
	cfg.CurrentContext = "voiceassist-e2e"
	return clientcmd.WriteToFile(*cfg, file)
}

// --- components ----------------------------------------------------------

func (c *Cluster) start(name string, argv ...string) (*Process, error) {
	argv = append(argv, c.cfg.ExtraArgs[name]...)
	return c.StartProcess(name, argv...)
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	// etcd's data lives in memory (/dev/shm) when it can: the cluster is
	// thrown away, and fsync on a shared disk is what makes etcd slow here.
	base := "/dev/shm"
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = c.Dir
	}
	dir, err := os.MkdirTemp(base, c.Netns.Name+"-etcd-")
	if err != nil {
		return err
	}
	c.etcdDir = dir
	c.Etcd, err = c.start("etcd", c.cfg.Etcd,
		"--name=e2e",
		"--data-dir="+dir,
		"--listen-client-urls=http://127.0.0.1:2379",
		"--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380",
		"--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=e2e=http://127.0.0.1:2380",
		"--logger=zap", "--log-outputs=stderr",
	)
	if err != nil {
		return err
	}
	return c.waitHTTP(ctx, c.Etcd, "http://127.0.0.1:2379/health", nil)
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	pki := func(f string) string { return filepath.Join(c.Dir, "pki", f) }
	var err error
	c.APIServer, err = c.start(KubeAPIServer, c.cfg.Bins[KubeAPIServer],
		"--etcd-servers=http://127.0.0.1:2379",
		"--advertise-address="+ControlPlaneIP,
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--tls-cert-file="+pki("apiserver.crt"),
		"--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--token-auth-file="+pki("tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.pub"),
		"--service-account-signing-key-file="+pki("sa.key"),
		"--requestheader-client-ca-file="+pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--proxy-client-cert-file="+pki("front-proxy-client.crt"),
		"--proxy-client-key-file="+pki("front-proxy-client.key"),
		// No kube-proxy: the aggregator dials an APIService's endpoints
		// (pod IPs) directly rather than its ClusterIP.
		"--enable-aggregator-routing=true",
		// The node's Hostname address resolves nowhere (no DNS here): reach
		// the kubelet endpoint (logs, port-forward) at its InternalIP.
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.poll(ctx, c.APIServer, "kube-apiserver /readyz", func(ctx context.Context) error {
		b, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%v: %s", err, lastLines(string(b), 5))
		}
		return nil
	})
}

func (c *Cluster) startControllerManager() error {
	kc := filepath.Join(c.Dir, "controller-manager.kubeconfig")
	pki := func(f string) string { return filepath.Join(c.Dir, "pki", f) }
	var err error
	c.ControllerManager, err = c.start(KubeControllerManager, c.cfg.Bins[KubeControllerManager],
		"--kubeconfig="+kc,
		"--authentication-kubeconfig="+kc,
		"--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		// Each controller acts as its own service account, as in kubeadm.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+pki("sa.key"),
		"--root-ca-file="+pki("ca.crt"),
		"--cluster-signing-cert-file="+pki("ca.crt"),
		"--cluster-signing-key-file="+pki("ca.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		// Each node gets a /26 of the pod /24 (up to 4 nodes).
		"--allocate-node-cidrs=true",
		"--cluster-cidr="+PodCIDR,
		"--node-cidr-mask-size=26",
		"--horizontal-pod-autoscaler-sync-period="+c.cfg.HPASyncPeriod.String(),
		"--profiling=false",
	)
	return err
}

func (c *Cluster) startScheduler() error {
	kc := filepath.Join(c.Dir, "scheduler.kubeconfig")
	var err error
	c.Scheduler, err = c.start(KubeScheduler, c.cfg.Bins[KubeScheduler],
		"--kubeconfig="+kc,
		"--authentication-kubeconfig="+kc,
		"--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--profiling=false",
	)
	return err
}

// --- readiness -----------------------------------------------------------

// poll calls check every 250 ms until it succeeds, ctx ends or p exits.
func (c *Cluster) poll(ctx context.Context, p *Process, what string, check func(context.Context) error) error {
	var last error
	exited := false
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return true, nil
		}
		exited = !p.Running()
		return exited, nil
	})
	switch {
	case exited:
		return fmt.Errorf("waiting for %s: %s", what, describeExit(p))
	case err != nil:
		return fmt.Errorf("waiting for %s: %v; last error: %v; last lines of %s:\n%s", what, ctx.Err(), last, p.Log, indent(p.Tail(20)))
	}
	return nil
}

func (c *Cluster) waitHTTP(ctx context.Context, p *Process, url string, tlsCfg *tls.Config) error {
	client := &http.Client{Transport: &http.Transport{DialContext: c.Netns.DialContext, TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	return c.poll(ctx, p, p.Name+" "+url, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// waitHealthz polls a component's /healthz. Each component serves it with a
// certificate it made for itself at start; the request stays inside our own
// namespace, so the health probe does not verify it.
func (c *Cluster) waitHealthz(ctx context.Context, p *Process, url string) error {
	return c.waitHTTP(ctx, p, url, &tls.Config{InsecureSkipVerify: true})
}

// waitDefaultServiceAccount waits for kube-controller-manager's
// serviceaccount controller to make default/default: pods can be created.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.poll(ctx, c.ControllerManager, "ServiceAccount default/default", func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts(corev1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return errors.New("not created yet")
		}
		return err
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
