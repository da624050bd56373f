//go:build e2e

package nodeagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voiceassist/autoscaling/test/e2e/netns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// prober runs a container's httpGet and tcpSocket probes from inside the
// pods' namespace against the pod's IP, as the kubelet runs them from the
// node. exec and grpc probes are not supported: they fail with a message
// saying so (the manifests here use none; docs/design.md forbids probes that
// need a tool inside the image).
type prober struct {
	ns     *netns.Namespace
	client *http.Client
}

func newProber(ns *netns.Namespace) *prober {
	tr := &http.Transport{
		DialContext:       ns.DialContext,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet: HTTPS probes do not verify
		DisableKeepAlives: true,                                  // as the kubelet
	}
	return &prober{ns: ns, client: &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}}
}

// probeResult is one probe's outcome.
type probeResult struct {
	ok  bool
	msg string
}

func (p *prober) run(ctx context.Context, pr *corev1.Probe, c *corev1.Container, podIP string) probeResult {
	timeout := time.Duration(pr.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		return p.httpGet(ctx, pr.HTTPGet, c, podIP)
	case pr.TCPSocket != nil:
		port, err := resolvePort(pr.TCPSocket.Port, c)
		if err != nil {
			return probeResult{false, err.Error()}
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		conn, err := p.ns.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return probeResult{false, err.Error()}
		}
		conn.Close()
		return probeResult{ok: true}
	case pr.Exec != nil:
		return probeResult{false, "exec probes are not supported by the node agent"}
	case pr.GRPC != nil:
		return probeResult{false, "grpc probes are not supported by the node agent"}
	}
	return probeResult{false, "probe has no handler"}
}

func (p *prober) httpGet(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) probeResult {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return probeResult{false, err.Error()}
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path == "" {
		path = "/"
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if pu, err := url.Parse(path); err == nil {
		u.Path, u.RawQuery = pu.Path, pu.RawQuery
	} else {
		u.Path = path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return probeResult{false, err.Error()}
	}
	req.Header.Set("User-Agent", "kube-probe/1.34")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "host") {
			req.Host = h.Value
		} else {
			req.Header.Set(h.Name, h.Value)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return probeResult{false, err.Error()}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return probeResult{ok: true}
	}
	return probeResult{false, fmt.Sprintf("HTTP probe failed with statuscode: %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))}
}

// resolvePort turns a probe's port (number or containerPort name) into a
// number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}

// probeState applies a probe's thresholds to a stream of results.
type probeState struct {
	probe     *corev1.Probe
	successes int32
	failures  int32
	result    bool // current outcome after thresholds
}

func newProbeState(p *corev1.Probe, initial bool) *probeState {
	return &probeState{probe: p, result: initial}
}

// observe records one result and reports whether the thresholded outcome
// changed.
func (s *probeState) observe(ok bool) (changed bool) {
	succ, fail := s.probe.SuccessThreshold, s.probe.FailureThreshold
	if succ <= 0 {
		succ = 1
	}
	if fail <= 0 {
		fail = 3
	}
	if ok {
		s.failures = 0
		s.successes++
		if !s.result && s.successes >= succ {
			s.result = true
			return true
		}
		return false
	}
	s.successes = 0
	s.failures++
	if s.result && s.failures >= fail {
		s.result = false
		return true
	}
	return false
}

func probePeriod(p *corev1.Probe) time.Duration {
	if p.PeriodSeconds <= 0 {
		return 10 * time.Second
	}
	return time.Duration(p.PeriodSeconds) * time.Second
}
