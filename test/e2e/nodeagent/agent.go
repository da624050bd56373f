//go:build e2e

// Package nodeagent is a small node agent for the local e2e cluster
// (test/e2e/cluster): test infrastructure of ours, not a kubelet. It
// registers a Node, runs the pods the scheduler binds to it as local
// processes inside the cluster's network namespace (our images run from the
// binaries unpacked out of the OCI images `make images` builds, redis and
// postgres images map to Debian's programs), each pod
// on an IP of its own from the node's podCIDR; it reports pod status and
// readiness from the pods' own probes, stops pods with SIGTERM and their
// grace period, enforces each container's limits with a cgroup v1 of its
// own (so OOM kills and CFS throttling are the kernel's), and serves the
// kubelet's /metrics/resource and /metrics/cadvisor from the cgroups, so an
// unmodified metrics-server and Prometheus can scrape it.
// docs/node-agent.md describes it.
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/voiceassist/autoscaling/test/e2e/netns"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Agent is one node. Fill in the exported fields, then Start (returns once
// the Node is registered and Ready and the kubelet endpoint serves) and
// Stop, or Run (both, until ctx ends).
type Agent struct {
	// Client acts for the node. The agent needs what a kubelet and a
	// kube-proxy need together (Nodes, Leases, its Pods and their status,
	// Secrets and ConfigMaps its pods reference, Services and
	// EndpointSlices, PVCs and PVs): give it an admin client.
	Client kubernetes.Interface
	// NodeName is the Node's name (also its kubernetes.io/hostname label).
	NodeName string
	// NodeIP is the node's InternalIP, e.g. 10.243.0.2: the kubelet
	// endpoint listens there inside the namespace.
	NodeIP string
	// PodCIDR gives pods their IPs. Empty: the Node's spec.podCIDR, which
	// kube-controller-manager (--allocate-node-cidrs) assigns after
	// registration.
	PodCIDR string
	// Capacity is the Node's capacity and allocatable. Default: 32 CPU,
	// 128Gi memory, 60 pods, 100Gi ephemeral-storage. Only the scheduler
	// acts on it: the cgroups enforce each container's own limits, not
	// the node's allocatable.
	Capacity corev1.ResourceList
	// Images maps an image to a local program. A key "repo:tag" matches
	// exactly, a key "repo" matches every tag of it. A pod whose image has
	// no entry waits with reason ErrImagePull.
	Images map[string]Binary
	// Netns is the name of the network namespace (under /run/netns) the
	// pods run in, e.g. cluster.Netns.Name.
	Netns string
	// KubeletPort is the kubelet endpoint's port on NodeIP; default 10250.
	KubeletPort int32
	// Dir holds pod logs and volumes; default a new temp dir, removed by
	// Stop.
	Dir string
	// Labels are added to the Node's well-known ones.
	Labels map[string]string
	// KubeletVersion is reported in nodeInfo; default "v1.34.4".
	KubeletVersion string
	// HeartbeatPeriod renews the node Lease and status; default 10s.
	HeartbeatPeriod time.Duration
	// RestartBackoff is the first delay before restarting a crashed
	// container (doubling to MaxRestartBackoff); defaults 10s and 5m, the
	// kubelet's.
	RestartBackoff, MaxRestartBackoff time.Duration
	// ShutdownGrace caps each pod's grace period when Stop stops the pods;
	// default 10s.
	ShutdownGrace time.Duration
	// NoVolumeProvisioner turns off the local provisioner that binds each
	// pending PersistentVolumeClaim without a storage class to a new
	// hostPath PersistentVolume under Dir (so StatefulSets' claims bind).
	NoVolumeProvisioner bool
	// NoCgroups runs the containers without cgroups: no limits enforced,
	// no OOM kills, usage from /proc. By default each container runs in a
	// cgroup v1 of its own with the kubelet's settings (cgroups.go), and
	// Start fails where the v1 memory, cpu and cpuacct hierarchies are not
	// writable.
	NoCgroups bool
	// Logf receives what the agent does; default none.
	Logf func(format string, args ...any)

	ns       *netns.Namespace
	prober   *prober
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	podCIDR  *net.IPNet
	ownDir   bool
	binDir   string // removed by Stop (StartForCluster's build)
	server   *kubeletServer
	cgroups  *cgroups // nil with NoCgroups
	shim     string   // the agent's executable, reachable by the pods' users (shim.go)
	shimDir  string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	stopping bool // Stop has begun: no new pod starts
	workers  map[types.UID]*podWorker
	ips      map[string]types.UID // pod IP in use → pod
	lastIP   map[string]string    // namespace/name → the IP it had last (a StatefulSet pod keeps its IP)
	stopOnce sync.Once
}

// Run starts the agent and stops it when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	a.Stop()
	return nil
}

// Start registers the Node, starts the kubelet endpoint and begins running
// the pods bound to the node. It returns once the Node is Ready; the agent
// runs until Stop (or until ctx ends, which stops the processes the same
// way).
func (a *Agent) Start(ctx context.Context) (err error) {
	if a.Client == nil || a.NodeName == "" || a.NodeIP == "" || a.Netns == "" {
		return errors.New("nodeagent: Client, NodeName, NodeIP and Netns are required")
	}
	if net.ParseIP(a.NodeIP).To4() == nil {
		return fmt.Errorf("nodeagent: NodeIP %q is not an IPv4 address", a.NodeIP)
	}
	a.defaults()
	if a.ns, err = netns.Open(a.Netns); err != nil {
		return err
	}
	if a.Dir == "" {
		if a.Dir, err = os.MkdirTemp("", "va-nodeagent-"); err != nil {
			return err
		}
		a.ownDir = true
	}
	// Processes started as a non-root runAsUser must be able to reach
	// their log and volume directories.
	os.Chmod(a.Dir, 0o755)
	a.prober = newProber(a.ns)
	a.workers = map[types.UID]*podWorker{}
	a.ips = map[string]types.UID{}
	a.lastIP = map[string]string{}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			a.Stop()
		}
	}()
	if !a.NoCgroups {
		if a.cgroups, err = newCgroups(a.NodeName, a.logf); err != nil {
			return fmt.Errorf("nodeagent: %w", err)
		}
		if a.shimDir, err = os.MkdirTemp("", "va-nodeagent-shim-"); err != nil {
			return err
		}
		os.Chmod(a.shimDir, 0o755)
		if a.shim, err = linkShim(a.shimDir); err != nil {
			return fmt.Errorf("nodeagent: cgroup shim: %w", err)
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			a.Stop()
		case <-a.ctx.Done():
		}
	}()

	// The kubelet endpoint first: the Node advertises its port.
	if a.server, err = a.startServer(); err != nil {
		return err
	}
	if err = a.registerNode(ctx); err != nil {
		return err
	}
	if err = a.waitPodCIDR(ctx); err != nil {
		return err
	}

	// Services and EndpointSlices resolve the Service names in pods' env;
	// the pods are those bound to this node.
	shared := informers.NewSharedInformerFactory(a.Client, 0)
	a.services = shared.Core().V1().Services().Lister()
	a.slices = shared.Discovery().V1().EndpointSlices().Lister()
	var pvcInformer cache.SharedIndexInformer
	if !a.NoVolumeProvisioner {
		pvcInformer = shared.Core().V1().PersistentVolumeClaims().Informer()
		pvcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { a.provision(o) },
			UpdateFunc: func(_, o any) { a.provision(o) },
		})
	}
	podFactory := informers.NewSharedInformerFactoryWithOptions(a.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.nodeName=" + a.NodeName
		}))
	podInformer := podFactory.Core().V1().Pods().Informer()
	podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.syncPod(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { a.syncPod(o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				a.podGone(p)
			}
		},
	})
	// Listers first, so the first pods can resolve their Services.
	shared.Core().V1().Services().Informer()
	shared.Discovery().V1().EndpointSlices().Informer()
	shared.Start(a.ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for typ, ok := range shared.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			return fmt.Errorf("nodeagent: %v informer did not sync", typ)
		}
	}
	podFactory.Start(a.ctx.Done())
	for typ, ok := range podFactory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			return fmt.Errorf("nodeagent: %v informer did not sync", typ)
		}
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		wait.Until(func() { a.heartbeat(a.ctx) }, a.HeartbeatPeriod, a.ctx.Done())
	}()
	a.logf("node %s registered: InternalIP %s, podCIDR %s, kubelet endpoint https://%s:%d, state in %s",
		a.NodeName, a.NodeIP, a.podCIDR, a.NodeIP, a.KubeletPort, a.Dir)
	return nil
}

// Stop stops every pod's processes (SIGTERM, then SIGKILL after the pod's
// grace period capped by ShutdownGrace), the heartbeat and the kubelet
// endpoint. The Node and the pods stay in the API, as when a kubelet
// stops; the node controller marks the Node NotReady later. Safe to call
// more than once.
func (a *Agent) Stop() {
	a.stopOnce.Do(func() {
		if a.cancel != nil {
			a.mu.Lock()
			a.stopping = true
			workers := make([]*podWorker, 0, len(a.workers))
			for _, w := range a.workers {
				workers = append(workers, w)
			}
			a.mu.Unlock()
			var wg sync.WaitGroup
			for _, w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w.stop(min(w.gracePeriod(), a.ShutdownGrace), false)
				}()
			}
			wg.Wait()
			a.cancel()
		}
		if a.server != nil {
			a.server.close()
		}
		a.wg.Wait()
		if a.cgroups != nil {
			if err := a.cgroups.remove(); err != nil {
				a.logf("cgroups: %v", err)
			}
		}
		if a.shimDir != "" {
			os.RemoveAll(a.shimDir)
		}
		a.ns.Close()
		if a.ownDir {
			os.RemoveAll(a.Dir)
		}
		if a.binDir != "" {
			os.RemoveAll(a.binDir)
		}
	})
}

// Pids lists the pid of every container process running now, by pod
// (namespace/name) and container: for tests.
func (a *Agent) Pids() map[string]map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]map[string]int{}
	for _, w := range a.workers {
		w.mu.Lock()
		for _, c := range w.ctrs {
			if c.proc != nil && c.proc.Running() {
				if out[w.key] == nil {
					out[w.key] = map[string]int{}
				}
				out[w.key][c.spec.Name] = c.proc.Pid()
			}
		}
		w.mu.Unlock()
	}
	return out
}

// LogPath is the log file of a container's current (or last) run.
func (a *Agent) LogPath(namespace, pod, container string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		if w.key == namespace+"/"+pod {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, c := range append(append([]*ctr(nil), w.inits...), w.ctrs...) {
				if c.spec.Name == container {
					return c.logPath()
				}
			}
		}
	}
	return ""
}

func (a *Agent) defaults() {
	if a.Capacity == nil {
		a.Capacity = corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("32"),
			corev1.ResourceMemory:           resource.MustParse("128Gi"),
			corev1.ResourcePods:             resource.MustParse("60"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		}
	}
	if a.KubeletPort == 0 {
		a.KubeletPort = 10250
	}
	if a.KubeletVersion == "" {
		a.KubeletVersion = "v1.34.4"
	}
	if a.HeartbeatPeriod == 0 {
		a.HeartbeatPeriod = 10 * time.Second
	}
	if a.RestartBackoff == 0 {
		a.RestartBackoff = 10 * time.Second
	}
	if a.MaxRestartBackoff == 0 {
		a.MaxRestartBackoff = 5 * time.Minute
	}
	if a.ShutdownGrace == 0 {
		a.ShutdownGrace = 10 * time.Second
	}
	if a.Logf == nil {
		a.Logf = func(string, ...any) {}
	}
}

func (a *Agent) logf(format string, args ...any) { a.Logf("nodeagent: "+format, args...) }

func (a *Agent) allocatable() corev1.ResourceList { return a.Capacity }

// --- the Node ---------------------------------------------------------------

func (a *Agent) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   a.NodeName,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: runtime.GOARCH,
	}
	for k, v := range a.Labels {
		l[k] = v
	}
	return l
}

func (a *Agent) registerNode(ctx context.Context) error {
	nodes := a.Client.CoreV1().Nodes()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.NodeName, Labels: a.nodeLabels()}}
	if a.PodCIDR != "" {
		node.Spec.PodCIDR, node.Spec.PodCIDRs = a.PodCIDR, []string{a.PodCIDR}
	}
	node.Status = a.nodeStatus(nil)
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := nodes.Get(ctx, a.NodeName, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("nodeagent: get node %s: %w", a.NodeName, gerr)
		}
		for k, v := range node.Labels {
			if existing.Labels == nil {
				existing.Labels = map[string]string{}
			}
			existing.Labels[k] = v
		}
		created, err = nodes.Update(ctx, existing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("nodeagent: register node %s: %w", a.NodeName, err)
	}
	// Create ignores status: write it (kube-controller-manager's node
	// IPAM and taint controllers write the new Node too: retry).
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		created.Status = a.nodeStatus(&created.Status)
		_, err := nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := nodes.Get(ctx, a.NodeName, metav1.GetOptions{}); gerr == nil {
				created = fresh
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("nodeagent: node %s status: %w", a.NodeName, err)
	}
	return a.renewLease(ctx)
}

func (a *Agent) nodeStatus(old *corev1.NodeStatus) corev1.NodeStatus {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		if old != nil {
			for _, o := range old.Conditions {
				if o.Type == t && o.Status == s {
					c.LastTransitionTime = o.LastTransitionTime
				}
			}
		}
		return c
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	machineID, _ := os.ReadFile("/etc/machine-id")
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return corev1.NodeStatus{
		Capacity:    a.Capacity.DeepCopy(),
		Allocatable: a.allocatable().DeepCopy(),
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "voiceassist node agent is posting ready status"),
		},
		// No Hostname address: nothing resolves node names here, and
		// kube-apiserver prefers a Hostname (its default
		// --kubelet-preferred-address-types) when it reaches the kubelet
		// for `kubectl logs` and the nodes/proxy subresource
		// (/metrics/cadvisor); with the InternalIP alone it dials that.
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.NodeIP},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: a.KubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               strings.TrimSpace(string(machineID)),
			SystemUUID:              a.NodeName,
			BootID:                  strings.TrimSpace(string(bootID)),
			KernelVersion:           strings.TrimSpace(string(kernel)),
			OSImage:                 "voiceassist node agent (local processes)",
			ContainerRuntimeVersion: "nodeagent://0.1.0",
			KubeletVersion:          a.KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
	}
}

// heartbeat renews the Lease (what the node lifecycle controller watches)
// and refreshes the status conditions' heartbeat.
func (a *Agent) heartbeat(ctx context.Context) {
	if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
		a.logf("lease: %v", err)
	}
	nodes := a.Client.CoreV1().Nodes()
	n, err := nodes.Get(ctx, a.NodeName, metav1.GetOptions{})
	if err != nil {
		if ctx.Err() == nil {
			a.logf("node status: %v", err)
		}
		return
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n.Status = a.nodeStatus(&n.Status)
		_, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := nodes.Get(ctx, a.NodeName, metav1.GetOptions{}); gerr == nil {
				n = fresh
			}
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.logf("node status: %v", err)
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, a.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, nerr := a.Client.CoreV1().Nodes().Get(ctx, a.NodeName, metav1.GetOptions{})
		if nerr != nil {
			return nerr
		}
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: a.NodeName, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.NodeName),
				LeaseDurationSeconds: ptr.To(int32(40)),
				RenewTime:            &now,
			},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity = ptr.To(a.NodeName)
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// waitPodCIDR takes PodCIDR, or waits for kube-controller-manager to
// assign the Node one.
func (a *Agent) waitPodCIDR(ctx context.Context) error {
	cidr := a.PodCIDR
	if cidr == "" {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			n, err := a.Client.CoreV1().Nodes().Get(ctx, a.NodeName, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			cidr = n.Spec.PodCIDR
			return cidr != "", nil
		})
		if err != nil {
			return fmt.Errorf("nodeagent: node %s got no spec.podCIDR from kube-controller-manager (--allocate-node-cidrs) and Agent.PodCIDR is empty: %w", a.NodeName, err)
		}
	}
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return fmt.Errorf("nodeagent: podCIDR %q: not an IPv4 CIDR", cidr)
	}
	a.podCIDR = n
	return nil
}

// allocateIP gives a pod the IP it had before (same namespace/name: a
// StatefulSet pod keeps its address across re-creation) or the lowest free
// one from .2 on.
func (a *Agent) allocateIP(p *corev1.Pod) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	if ip, ok := a.lastIP[key]; ok {
		if owner, used := a.ips[ip]; !used || owner == p.UID {
			a.ips[ip] = p.UID
			return ip, nil
		}
	}
	base := a.podCIDR.IP.To4()
	ones, bits := a.podCIDR.Mask.Size()
	size := 1 << (bits - ones)
	taken := map[string]bool{}
	for _, ip := range a.lastIP {
		taken[ip] = true
	}
	// Prefer addresses no pod has had yet, then any free one.
	for pass := 0; pass < 2; pass++ {
		for i := 2; i < size-1; i++ {
			ip := net.IPv4(base[0], base[1], base[2], base[3]+byte(i)).String()
			if _, used := a.ips[ip]; used || pass == 0 && taken[ip] {
				continue
			}
			a.ips[ip] = p.UID
			a.lastIP[key] = ip
			return ip, nil
		}
	}
	return "", fmt.Errorf("no free pod IP in %s", a.podCIDR)
}

func (a *Agent) releaseIP(ip string, uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ips[ip] == uid {
		delete(a.ips, ip)
	}
}

// --- pods -------------------------------------------------------------------

func (a *Agent) syncPod(p *corev1.Pod) {
	if a.ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return
	}
	w := a.workers[p.UID]
	if w == nil {
		if p.DeletionTimestamp != nil {
			a.mu.Unlock()
			// Nothing runs for it here (e.g. it was never started, or an
			// earlier agent ran it): finish the deletion as a kubelet does.
			a.deletePod(p)
			return
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			a.mu.Unlock()
			return
		}
		w = newPodWorker(a, p)
		a.workers[p.UID] = w
		a.mu.Unlock()
		a.logf("pod %s/%s bound here: starting", p.Namespace, p.Name)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.run()
		}()
		return
	}
	a.mu.Unlock()
	w.update(p)
}

func (a *Agent) podGone(p *corev1.Pod) {
	a.mu.Lock()
	w := a.workers[p.UID]
	delete(a.workers, p.UID)
	stopping := a.stopping
	a.mu.Unlock()
	if w != nil && !stopping {
		// Deleted without us (grace 0 by someone, or our own final delete).
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.stop(2*time.Second, false)
		}()
	}
}

func (a *Agent) deletePod(p *corev1.Pod) {
	err := a.Client.CoreV1().Pods(p.Namespace).Delete(a.ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && a.ctx.Err() == nil {
		a.logf("delete pod %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// --- local volumes ------------------------------------------------------------

// provision binds a pending claim without a storage class to a new
// hostPath PersistentVolume under Dir/volumes, pinned to this node: the
// minimum a StatefulSet's volumeClaimTemplates need to schedule. The PV is
// pre-bound (claimRef), so the PV controller binds exactly this claim.
func (a *Agent) provision(o any) {
	pvc, ok := o.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil {
		return
	}
	if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		return
	}
	// Named by the claim's UID, as dynamic provisioners name theirs: a
	// claim deleted and created again (teardown --delete-data, then setup)
	// gets a new, empty volume instead of colliding with the Released one.
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(a.Dir, "volumes", pvc.Namespace, pvc.Name+"-"+string(pvc.UID))
	if err := os.MkdirAll(path, 0o755); err != nil {
		a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"voiceassist.io/provisioned-by": "nodeagent"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "",
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{a.NodeName},
				}}}},
			}},
		},
	}
	_, err := a.Client.CoreV1().PersistentVolumes().Create(a.ctx, pv, metav1.CreateOptions{})
	if err == nil {
		a.logf("provisioned PersistentVolume %s (%s at %s) for claim %s/%s", name, size.String(), path, pvc.Namespace, pvc.Name)
	} else if !apierrors.IsAlreadyExists(err) && a.ctx.Err() == nil {
		a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
	}
}
