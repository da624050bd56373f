//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/voiceassist/autoscaling/internal/audio"
)

// podClient is an HTTP client whose connections are made inside the
// cluster's namespace, so it reaches pod IPs. It sends the load test's API
// key (apikey.go).
func podClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: withAPIKey(&http.Transport{
		DialContext:         cl.Netns.DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	})}
}

// readyEndpoints lists "ip:port" of the ready endpoints of a Service's
// port, from its EndpointSlices: what kube-proxy would balance over.
func readyEndpoints(ctx context.Context, namespace, service, port string) ([]string, error) {
	slices, err := cs.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service,
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range slices.Items {
		var p int32
		for _, sp := range s.Ports {
			if sp.Name != nil && *sp.Name == port && sp.Port != nil {
				p = *sp.Port
			}
		}
		if p == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, strconv.Itoa(int(p))))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// balancer round-robins over a Service's ready endpoints, refreshed every
// second: the client-side stand-in for kube-proxy (this cluster has none),
// so a new pod gets traffic once it is Ready, as behind a real Service.
type balancer struct {
	mu   sync.Mutex
	eps  []string
	next int
}

func newBalancer(ctx context.Context, namespace, service, port string) (*balancer, error) {
	b := &balancer{}
	refresh := func() error {
		eps, err := readyEndpoints(ctx, namespace, service, port)
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.eps = eps
		b.mu.Unlock()
		return nil
	}
	if err := refresh(); err != nil {
		return nil, err
	}
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				refresh()
			}
		}
	}()
	return b, nil
}

// pick returns the next endpoint, "" when there is none.
func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.eps) == 0 {
		return ""
	}
	b.next = (b.next + 1) % len(b.eps)
	return b.eps[b.next]
}

// testWAV is seconds of 16-bit PCM at rate Hz with channels channels:
// speech-like tone bursts in low noise, as the audio benchmarks use.
func testWAV(seconds float64, rate, channels int) []byte {
	n := int(seconds * float64(rate))
	rng := rand.New(rand.NewPCG(7, 7))
	chans := make([][]float64, channels)
	for c := range chans {
		x := make([]float64, n)
		for i := range x {
			x[i] = 0.002 * (rng.Float64()*2 - 1)
			t := float64(i) / float64(rate)
			if math.Mod(t, 1.7) < 1.1 { // a 1.1 s "word" every 1.7 s
				f := 140.0
				x[i] += 0.25 * (math.Sin(2*math.Pi*f*t) + 0.5*math.Sin(2*math.Pi*2*f*t) + 0.25*math.Sin(2*math.Pi*3*f*t))
			}
		}
		chans[c] = x
	}
	var buf bytes.Buffer
	if err := audio.Encode(&buf, &audio.Clip{SampleRate: rate, Channels: chans}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
