package loadtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Gateway says where the next request goes.
type Gateway interface {
	// Next is a base URL ("http://host:port"), "" while no pod is ready.
	Next() string
	// Describe says how the gateway is reached, for the report.
	Describe() string
	Close()
}

// URLGateway sends every request to one base URL (an Ingress, a
// LoadBalancer, a local server).
type URLGateway string

func (u URLGateway) Next() string     { return string(u) }
func (u URLGateway) Describe() string { return string(u) }
func (URLGateway) Close()             {}

// endpoint is one ready endpoint of a Service port.
type endpoint struct {
	pod  string // targetRef name; "" when the slice names none
	addr string // ip:port
	port int32
}

// readyEndpoints lists the ready, not terminating endpoints of a Service's
// port from its EndpointSlices: what kube-proxy balances over.
func readyEndpoints(ctx context.Context, kc kubernetes.Interface, ns, service, port string) ([]endpoint, error) {
	slices, err := kc.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: endpoints: %w", ns, service, err)
	}
	var out []endpoint
	for _, s := range slices.Items {
		var p int32
		for _, sp := range s.Ports {
			if sp.Port != nil && (port == "" || (sp.Name != nil && *sp.Name == port) || strconv.Itoa(int(*sp.Port)) == port) {
				p = *sp.Port
			}
		}
		if p == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if (e.Conditions.Ready != nil && !*e.Conditions.Ready) || (e.Conditions.Terminating != nil && *e.Conditions.Terminating) {
				continue
			}
			pod := ""
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				pod = e.TargetRef.Name
			}
			for _, a := range e.Addresses {
				out = append(out, endpoint{pod: pod, addr: net.JoinHostPort(a, strconv.Itoa(int(p))), port: p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out, nil
}

// roundRobin is a set of base URLs refreshed in the background.
type roundRobin struct {
	mu   sync.Mutex
	urls []string
	next int
}

func (r *roundRobin) Next() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.urls) == 0 {
		return ""
	}
	r.next = (r.next + 1) % len(r.urls)
	return r.urls[r.next]
}

func (r *roundRobin) set(urls []string) {
	r.mu.Lock()
	r.urls = urls
	r.mu.Unlock()
}

// refreshEvery calls f now and then every d until ctx ends.
func refreshEvery(ctx context.Context, d time.Duration, f func()) {
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// EndpointsGateway balances over the Service's ready endpoints itself,
// refreshed every second, dialling pod IPs: for a vactl that runs inside
// the cluster's network (a Job, a node), where kube-proxy would do the
// same; a new pod gets traffic once it is Ready.
type EndpointsGateway struct {
	roundRobin
	ns, service string
	cancel      context.CancelFunc
}

// NewEndpointsGateway starts following the endpoints of service's port.
func NewEndpointsGateway(ctx context.Context, kc kubernetes.Interface, ns, service, port string) (*EndpointsGateway, error) {
	eps, err := readyEndpoints(ctx, kc, ns, service, port)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &EndpointsGateway{ns: ns, service: service, cancel: cancel}
	update := func(eps []endpoint) {
		urls := make([]string, len(eps))
		for i, e := range eps {
			urls[i] = "http://" + e.addr
		}
		g.set(urls)
	}
	update(eps)
	refreshEvery(ctx, time.Second, func() {
		if eps, err := readyEndpoints(ctx, kc, ns, service, port); err == nil {
			update(eps)
		}
	})
	return g, nil
}

func (g *EndpointsGateway) Describe() string {
	return fmt.Sprintf("service %s/%s, its ready endpoints dialled directly", g.ns, g.service)
}
func (g *EndpointsGateway) Close() { g.cancel() }

// PortForwardGateway port-forwards to every ready pod of the Service (as
// `kubectl port-forward pod/NAME` does, through the API server: client-go's
// portforward over WebSockets, falling back to SPDY) and balances over the
// local ports, following the endpoints every 2 s: a pod that becomes Ready
// gets a forward and traffic, a pod that goes away loses both.
type PortForwardGateway struct {
	roundRobin
	ns, service string
	cfg         *rest.Config
	kc          kubernetes.Interface
	log         io.Writer

	mu      sync.Mutex
	forward map[string]*forward // by pod
	cancel  context.CancelFunc
}

type forward struct {
	stop chan struct{}
	url  string
}

// NewPortForwardGateway opens forwards to the ready pods of service's port.
func NewPortForwardGateway(ctx context.Context, cfg *rest.Config, kc kubernetes.Interface, ns, service, port string, log io.Writer) (*PortForwardGateway, error) {
	ctx, cancel := context.WithCancel(ctx)
	g := &PortForwardGateway{ns: ns, service: service, cfg: cfg, kc: kc, log: log, forward: map[string]*forward{}, cancel: cancel}
	sync := func() error {
		eps, err := readyEndpoints(ctx, kc, ns, service, port)
		if err != nil {
			return err
		}
		return g.sync(ctx, eps)
	}
	if err := sync(); err != nil {
		g.Close()
		return nil, err
	}
	refreshEvery(ctx, 2*time.Second, func() {
		if err := sync(); err != nil && ctx.Err() == nil {
			fmt.Fprintf(g.log, "port-forward: %v\n", err)
		}
	})
	return g, nil
}

func (g *PortForwardGateway) sync(ctx context.Context, eps []endpoint) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	want := map[string]endpoint{}
	for _, e := range eps {
		if e.pod != "" {
			want[e.pod] = e
		}
	}
	for pod, f := range g.forward {
		if _, ok := want[pod]; !ok {
			close(f.stop)
			delete(g.forward, pod)
		}
	}
	var firstErr error
	for pod, e := range want {
		if _, ok := g.forward[pod]; ok {
			continue
		}
		f, err := g.open(ctx, pod, e.port)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		g.forward[pod] = f
	}
	var urls []string
	for _, f := range g.forward {
		urls = append(urls, f.url)
	}
	sort.Strings(urls)
	g.set(urls)
	if len(g.forward) == 0 && firstErr != nil {
		return firstErr
	}
	return nil
}

// open forwards a free local port to pod:port, as kubectl port-forward.
func (g *PortForwardGateway) open(ctx context.Context, pod string, port int32) (*forward, error) {
	req := g.kc.CoreV1().RESTClient().Post().Resource("pods").Namespace(g.ns).Name(pod).SubResource("portforward")
	transport, upgrader, err := spdy.RoundTripperFor(g.cfg)
	if err != nil {
		return nil, err
	}
	var dialer httpstream.Dialer = spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(req.URL(), g.cfg)
	if err != nil {
		return nil, err
	}
	dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(int(port))}, stop, ready, io.Discard, g.log)
	if err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return nil, fmt.Errorf("port-forward to pod %s/%s:%d: %w", g.ns, pod, port, err)
	case <-ctx.Done():
		close(stop)
		return nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stop)
		return nil, fmt.Errorf("port-forward to pod %s/%s:%d: no local port: %v", g.ns, pod, port, err)
	}
	return &forward{stop: stop, url: fmt.Sprintf("http://127.0.0.1:%d", ports[0].Local)}, nil
}

func (g *PortForwardGateway) Describe() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprintf("service %s/%s, port-forwarded to each ready pod through the API server", g.ns, g.service)
}

func (g *PortForwardGateway) Close() {
	g.cancel()
	g.mu.Lock()
	defer g.mu.Unlock()
	for pod, f := range g.forward {
		close(f.stop)
		delete(g.forward, pod)
	}
}
