//go:build e2e

package nodeagent

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
)

// The kubelet's port-forward endpoint, /portForward/<namespace>/<pod>[/<uid>],
// which kube-apiserver proxies pods/portforward to (`kubectl port-forward`,
// client-go's portforward), served by the kubelet's own streaming library
// (k8s.io/cri-streaming, k8s.io/kubelet/pkg/cri/streaming before 1.37):
// portforward.ServePortForward speaks SPDY and the WebSocket protocol
// (the API server translates a WebSocket client for the kubelet) and calls
// PortForward for every forwarded connection. A pod here is local
// processes on the pod's IP inside the node's network namespace, so the
// forward dials that IP:port there — what a container runtime does in the
// pod's own network namespace.
const (
	// portForwardIdleTimeout is the kubelet's default
	// --streaming-connection-idle-timeout.
	portForwardIdleTimeout = 4 * time.Hour
	// portForwardStreamTimeout is the kubelet's stream creation timeout
	// (remotecommand's DefaultStreamCreationTimeout).
	portForwardStreamTimeout = 30 * time.Second
)

func (a *Agent) servePortForward(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/portForward/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		http.Error(w, "want /portForward/<namespace>/<pod>[/<uid>]", http.StatusBadRequest)
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pw := a.podWorker(parts[0], parts[1])
	if pw == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not on this node", parts[0], parts[1]), http.StatusNotFound)
		return
	}
	pw.mu.Lock()
	uid := pw.pod.UID
	pw.mu.Unlock()
	if len(parts) == 3 && parts[2] != string(uid) {
		http.Error(w, fmt.Sprintf("pod %s/%s has UID %s, not %s", parts[0], parts[1], uid, parts[2]), http.StatusNotFound)
		return
	}
	portforward.ServePortForward(w, r, podForwarder{a: a, w: pw}, parts[1], string(uid), opts,
		portForwardIdleTimeout, portForwardStreamTimeout, portforward.SupportedProtocols)
}

// podWorker finds the worker running namespace/name.
func (a *Agent) podWorker(namespace, name string) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		if w.key == namespace+"/"+name {
			return w
		}
	}
	return nil
}

// podForwarder is the PortForwarder of one pod.
type podForwarder struct {
	a *Agent
	w *podWorker
}

// PortForward copies between the client's stream and a connection to the
// pod's IP:port, until either side closes.
func (f podForwarder) PortForward(ctx context.Context, name string, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	f.w.mu.Lock()
	ip, stopped := f.w.ip, f.w.stopped || f.w.terminating
	f.w.mu.Unlock()
	if ip == "" || stopped {
		return fmt.Errorf("pod %s has no running containers to forward port %d to", name, port)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := f.a.ns.DialContext(dctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	cancel()
	if err != nil {
		return fmt.Errorf("pod %s port %d: %w", name, port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(conn, stream); closeWrite(conn); done <- struct{}{} }()
	go func() { io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}
