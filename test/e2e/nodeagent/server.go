//go:build e2e

package nodeagent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// kubeletServer is the node's kubelet endpoint: HTTPS on NodeIP:KubeletPort
// inside the namespace, with a self-signed certificate (metrics-server runs
// with --kubelet-insecure-tls; kube-apiserver does not verify kubelets
// unless --kubelet-certificate-authority is set, and the harness sets
// none). It accepts every request: whatever bearer token or client
// certificate comes (metrics-server's service-account token, the API
// server's proxy) is not checked. That is test infrastructure inside a
// namespace nothing else can reach; a kubelet would do a TokenReview and a
// SubjectAccessReview on nodes/metrics.
type kubeletServer struct {
	srv *http.Server
	l   net.Listener
}

func (a *Agent) startServer() (*kubeletServer, error) {
	cert, err := selfSignedCert(a.NodeName, a.NodeIP)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(a.NodeIP, strconv.Itoa(int(a.KubeletPort)))
	l, err := a.ns.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: kubelet endpoint %s in %s: %w", addr, a.Netns, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/metrics/resource", a.serveResourceMetrics)
	mux.Handle("/metrics/cadvisor", a.cadvisorHandler())
	mux.HandleFunc("/pods", a.servePods)
	mux.HandleFunc("/containerLogs/", a.serveLogs)
	mux.HandleFunc("/portForward/", a.servePortForward)
	s := &kubeletServer{
		l: l,
		srv: &http.Server{
			Handler:           mux,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert},
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          nil,
		},
	}
	go s.srv.ServeTLS(l, "", "")
	return s, nil
}

func (s *kubeletServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

func selfSignedCert(nodeName, ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeName + "@nodeagent"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		DNSNames:     []string{nodeName},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// containerUsage is one running container's usage, for /metrics/resource.
type containerUsage struct {
	namespace, pod, container string
	start                     time.Time
	cpu                       time.Duration
	mem                       uint64
}

// usage measures every running container now and the node: from the
// container's cgroup as cAdvisor does (cpuacct.usage; memory usage less
// inactive file cache), or, with NoCgroups, summed over its process tree
// from /proc.
func (a *Agent) usage() (nodeCPU time.Duration, nodeMem uint64, ctrs []containerUsage, err error) {
	nodeCPU, nodeMem, err = nodeUsage()
	if err != nil {
		return 0, 0, nil, err
	}
	runs := a.runningContainers()
	var procs map[int]procStat
	for _, r := range runs {
		u := containerUsage{namespace: r.ns, pod: r.pod, container: r.name, start: r.p.StartedAt()}
		if r.cg != nil {
			s, err := r.cg.stats()
			if err != nil || s.CPU == nil || s.CPU.Usage == nil {
				continue
			}
			u.cpu, u.mem = time.Duration(s.CPU.Usage.Total), workingSet(s)
		} else {
			if procs == nil {
				procs = allProcs()
			}
			var ok bool
			if u.cpu, u.mem, ok = treeUsage(procs, r.p.Pid()); !ok {
				continue
			}
		}
		ctrs = append(ctrs, u)
	}
	return nodeCPU, nodeMem, ctrs, nil
}

// runningContainer is one running container, for the metrics endpoints.
type runningContainer struct {
	ns, pod, name string
	p             *process
	cg            *ctrCgroup
}

// runningContainers lists the running containers sorted by namespace,
// pod and container.
func (a *Agent) runningContainers() []runningContainer {
	var runs []runningContainer
	a.mu.Lock()
	for _, w := range a.workers {
		w.mu.Lock()
		for _, c := range w.ctrs {
			if c.proc != nil && c.proc.Running() {
				runs = append(runs, runningContainer{w.pod.Namespace, w.pod.Name, c.spec.Name, c.proc, c.cgroup})
			}
		}
		w.mu.Unlock()
	}
	a.mu.Unlock()
	sort.Slice(runs, func(i, j int) bool {
		if runs[i].ns != runs[j].ns {
			return runs[i].ns < runs[j].ns
		}
		if runs[i].pod != runs[j].pod {
			return runs[i].pod < runs[j].pod
		}
		return runs[i].name < runs[j].name
	})
	return runs
}

// serveResourceMetrics is the kubelet's /metrics/resource in the
// Prometheus text format (the metric names, labels, units and explicit
// millisecond timestamps the kubelet's resource-metrics collector writes,
// and metrics-server v0.8.0 reads: node_cpu_usage_seconds_total,
// node_memory_working_set_bytes, container_cpu_usage_seconds_total,
// container_memory_working_set_bytes, container_start_time_seconds, plus
// pod_* sums and scrape_error).
func (a *Agent) serveResourceMetrics(w http.ResponseWriter, r *http.Request) {
	nodeCPU, nodeMem, ctrs, err := a.usage()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	ts := time.Now().UnixMilli()
	var b strings.Builder
	writeResourceMetrics(&b, ts, nodeCPU, nodeMem, ctrs, err != nil)
	io.WriteString(w, b.String())
}

func writeResourceMetrics(b *strings.Builder, ts int64, nodeCPU time.Duration, nodeMem uint64, ctrs []containerUsage, scrapeErr bool) {
	esc := func(s string) string {
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
	}
	cl := func(c containerUsage) string {
		return fmt.Sprintf(`container="%s",namespace="%s",pod="%s"`, esc(c.container), esc(c.namespace), esc(c.pod))
	}
	pl := func(ns, pod string) string { return fmt.Sprintf(`namespace="%s",pod="%s"`, esc(ns), esc(pod)) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

	if len(ctrs) > 0 {
		b.WriteString("# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n")
		for _, c := range ctrs {
			fmt.Fprintf(b, "container_cpu_usage_seconds_total{%s} %s %d\n", cl(c), f(c.cpu.Seconds()), ts)
		}
		b.WriteString("# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n# TYPE container_memory_working_set_bytes gauge\n")
		for _, c := range ctrs {
			fmt.Fprintf(b, "container_memory_working_set_bytes{%s} %d %d\n", cl(c), c.mem, ts)
		}
		b.WriteString("# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n# TYPE container_start_time_seconds gauge\n")
		for _, c := range ctrs {
			fmt.Fprintf(b, "container_start_time_seconds{%s} %s %d\n", cl(c), f(float64(c.start.UnixNano())/1e9), ts)
		}
	}
	if nodeCPU > 0 {
		b.WriteString("# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\n")
		fmt.Fprintf(b, "node_cpu_usage_seconds_total %s %d\n", f(nodeCPU.Seconds()), ts)
		b.WriteString("# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n# TYPE node_memory_working_set_bytes gauge\n")
		fmt.Fprintf(b, "node_memory_working_set_bytes %d %d\n", nodeMem, ts)
	}
	if len(ctrs) > 0 {
		type sum struct {
			ns, pod string
			cpu     time.Duration
			mem     uint64
		}
		var pods []*sum
		idx := map[string]*sum{}
		for _, c := range ctrs {
			k := c.namespace + "/" + c.pod
			s := idx[k]
			if s == nil {
				s = &sum{ns: c.namespace, pod: c.pod}
				idx[k] = s
				pods = append(pods, s)
			}
			s.cpu += c.cpu
			s.mem += c.mem
		}
		b.WriteString("# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds\n# TYPE pod_cpu_usage_seconds_total counter\n")
		for _, s := range pods {
			fmt.Fprintf(b, "pod_cpu_usage_seconds_total{%s} %s %d\n", pl(s.ns, s.pod), f(s.cpu.Seconds()), ts)
		}
		b.WriteString("# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n# TYPE pod_memory_working_set_bytes gauge\n")
		for _, s := range pods {
			fmt.Fprintf(b, "pod_memory_working_set_bytes{%s} %d %d\n", pl(s.ns, s.pod), s.mem, ts)
		}
	}
	b.WriteString("# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE scrape_error gauge\n")
	if scrapeErr {
		b.WriteString("scrape_error 1\n")
	} else {
		b.WriteString("scrape_error 0\n")
	}
}

// servePods is the kubelet's /pods: the pods the agent runs.
func (a *Agent) servePods(w http.ResponseWriter, r *http.Request) {
	list := corev1.PodList{}
	list.APIVersion, list.Kind = "v1", "PodList"
	a.mu.Lock()
	for _, wk := range a.workers {
		wk.mu.Lock()
		p := wk.pod.DeepCopy()
		p.Status = wk.status(&p.Status)
		wk.mu.Unlock()
		list.Items = append(list.Items, *p)
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(&list)
}

// serveLogs is the kubelet's /containerLogs/<namespace>/<pod>/<container>
// (what `kubectl logs` reaches through the API server); it returns the
// current run's log, or the previous run's with ?previous=true. follow is
// not supported (the log so far is returned).
func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.Error(w, "want /containerLogs/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	path := a.LogPath(parts[0], parts[1], parts[2])
	if path == "" {
		http.Error(w, "no such container here", http.StatusNotFound)
		return
	}
	if r.URL.Query().Get("previous") == "true" {
		dir, file := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
		n, _ := strconv.Atoi(strings.TrimSuffix(file, ".log"))
		if n == 0 {
			http.Error(w, "no previous run", http.StatusBadRequest)
			return
		}
		path = dir + "/" + strconv.Itoa(n-1) + ".log"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if tail := r.URL.Query().Get("tailLines"); tail != "" {
		if n, err := strconv.Atoi(tail); err == nil && n >= 0 {
			lines := strings.SplitAfter(string(b), "\n")
			if len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			if len(lines) > n {
				lines = lines[len(lines)-n:]
			}
			b = []byte(strings.Join(lines, ""))
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
}
