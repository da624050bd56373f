package server

import (
	"context"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/voiceassist/autoscaling/internal/auth"
)

// The gateway's limits, all refusing rather than queueing so an overloaded
// pod answers fast and clients (or the load balancer) retry elsewhere:
//
//   - per-client request rate (--client-rate, --client-burst): 429 with
//     Retry-After saying when the client's next token is due;
//   - requests doing work at once (--max-in-flight): 503 Retry-After: 1,
//     checked before the body is read and again after it, when the work
//     (decode, analysis, store) starts. Reading a body does not hold a slot:
//     slow uploads must not lock out everyone else; what they hold instead is
//     bounded by the memory budget and --max-connections;
//   - memory for audio (--decode-memory-bytes, internal/audio.Budget): upload
//     buffers as they fill, decoded samples and the analysis; 503 when full;
//   - open connections (--max-connections, service.Serving.MaxConns).
//
// /health and /ready go through none of these (the kubelet must reach them
// under overload); they are served before the limits (see probeFastPath).

// memoryLimit is the pod's memory limit as the process can see it:
// GOMEMLIMIT (the manifests set it from limits.memory), else the cgroup's
// limit (v2 memory.max, v1 memory.limit_in_bytes), else 0 (unknown).
func memoryLimit() int64 {
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		return l
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a page-rounded MaxInt64 (v1) mean no limit.
		if err == nil && v > 0 && v < 1<<60 {
			return v
		}
	}
	return 0
}

// fallbackMemoryLimit stands in for an unknown limit: the production
// gateway's (k8s/performance/base/resource-limits.yaml).
const fallbackMemoryLimit = 2 << 30

// derivedLimits fills the limits left at 0 ("auto") from the memory limit
// and GOMAXPROCS (which Go sets from the container's CPU limit):
//
//   - memory budget: 1/4 of the limit (512 MiB at 2 GiB). The Go heap can
//     hold a collection's worth of garbage on top of live memory, and the
//     process has its runtime, connections and metrics besides, so 1/4 live
//     keeps RSS near half the limit;
//   - connections: one per MiB of limit (2 048 at 2 GiB), at least 64. An
//     idle or slow connection costs a goroutine and its buffers (tens of KiB);
//     its upload bytes count in the memory budget;
//   - in flight: 2 per core, at least 4. The work is CPU-bound (decode and
//     analysis), so more in flight only adds queueing latency (Little's law),
//     and 2 per core keeps a core busy while the other request of its pair
//     waits on PostgreSQL or Redis.
func (c *Config) derivedLimits(memLimit int64) {
	if memLimit <= 0 {
		memLimit = fallbackMemoryLimit
	}
	if c.DecodeMemoryBytes <= 0 {
		c.DecodeMemoryBytes = memLimit / 4
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = max(64, int(memLimit>>20))
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = max(4, 2*runtime.GOMAXPROCS(0))
	}
}

// workSlots counts requests doing work; tryAcquire never waits.
type workSlots struct {
	max   int64
	inUse atomic.Int64
}

func (w *workSlots) full() bool { return w.inUse.Load() >= w.max }

func (w *workSlots) tryAcquire() bool {
	for {
		n := w.inUse.Load()
		if n >= w.max {
			return false
		}
		if w.inUse.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (w *workSlots) release() { w.inUse.Add(-1) }

// clientLimiters holds one token bucket per client id.
type clientLimiters struct {
	limit rate.Limit // 0: no per-client limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// maxTrackedClients bounds the limiter map (one entry is ~100 bytes); past
// it, idle clients (bucket full again) are forgotten, which costs them
// nothing since a new bucket starts full too.
const maxTrackedClients = 100_000

func (c *clientLimiters) get(id string, now time.Time) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.m[id]; ok {
		return l
	}
	if c.m == nil {
		c.m = map[string]*rate.Limiter{}
	}
	if len(c.m) >= maxTrackedClients {
		for k, l := range c.m {
			if l.TokensAt(now) >= float64(c.burst) {
				delete(c.m, k)
			}
		}
		// All busy: forget a tenth, chosen by map order (random), so the
		// sweep is not repeated on every new client.
		for k := range c.m {
			if len(c.m) < maxTrackedClients*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	l := rate.NewLimiter(c.limit, c.burst)
	c.m[id] = l
	return l
}

// allow takes a token for client id, or says how long until one is due.
func (c *clientLimiters) allow(id string, now time.Time) (bool, time.Duration) {
	if c.limit <= 0 {
		return true, 0
	}
	l := c.get(id, now)
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// retryAfter formats d as a Retry-After value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// shed refuses a request the gateway has no capacity for.
func (s *Server) shed(w http.ResponseWriter, code int, after time.Duration, reason, detail string) {
	s.metrics.shed.WithLabelValues(reason).Inc()
	w.Header().Set("Retry-After", retryAfter(after))
	writeError(w, code, reason, detail)
}

// admit applies the per-client rate and the in-flight check before a /v1
// handler runs (and before its body is read). Authentication must run
// before it, so the rate is the authenticated client's.
//
// work says the route does the work the in-flight slots bound (analysing
// audio in the request, /v1/analyze): only such a route is refused while
// they are all taken. Submitting, reading or deleting a job is a header
// check and a row or two, bounded by the PostgreSQL pool and the audio
// memory budget; a burst of submissions is what the queue is for, and a
// client polling for its result must not be shed by others' analyses.
func (s *Server) admit(next http.HandlerFunc, work bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.clients.allow(rateKey(r.Context()), time.Now()); !ok {
			s.shed(w, http.StatusTooManyRequests, wait, "rate_limited",
				"this client is over its request rate; retry after the Retry-After seconds")
			return
		}
		if work && s.work.full() {
			s.overloaded(w)
			return
		}
		next(w, r)
	}
}

func (s *Server) overloaded(w http.ResponseWriter) {
	s.shed(w, http.StatusServiceUnavailable, time.Second, "overloaded",
		"the gateway is at capacity; nothing was accepted, retry later")
}

// startWork takes an in-flight slot for the work of one request, or answers
// 503 and returns false. Call the returned func when the work is done.
func (s *Server) startWork(w http.ResponseWriter) (func(), bool) {
	if !s.work.tryAcquire() {
		s.overloaded(w)
		return nil, false
	}
	return s.work.release, true
}

// budgetWait bounds how long a request waits for audio memory that
// finished requests hold until the garbage collector frees it (never for
// running ones), well inside the 100 ms in which a refusal must arrive.
const budgetWait = 50 * time.Millisecond

// ClientID names the client a request comes from, for per-client limits:
// the authenticated client id once authentication has set it, else the IP
// of the remote address.
func ClientID(ctx context.Context) string {
	ri := infoFrom(ctx)
	if ri.client != "" {
		return ri.client
	}
	if host, _, err := net.SplitHostPort(ri.remote); err == nil {
		return host
	}
	return ri.remote
}

// rateKey is what the per-client rate limit counts against: the
// authenticated client, or the remote IP when authentication is off (every
// request is then auth.Anonymous, and one bucket for all would let one
// caller starve the rest). Ownership of jobs keeps using ClientID.
func rateKey(ctx context.Context) string {
	if id := ClientID(ctx); id != auth.Anonymous {
		return id
	}
	ri := infoFrom(ctx)
	if host, _, err := net.SplitHostPort(ri.remote); err == nil {
		return host
	}
	return ri.remote
}

// setClientID records the authenticated client of the request carrying ctx
// (for authentication middleware).
func setClientID(ctx context.Context, id string) { infoFrom(ctx).client = id }
