package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/service"
)

// probeBackoff paces the gate's checks while a dependency is down: quick at
// first (a blip is over in a moment), then every 5 s, jittered so the
// workers of a Deployment do not probe in step.
var probeBackoff = wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.2, Cap: 5 * time.Second, Steps: math.MaxInt32}

// gate stops the consumers claiming while PostgreSQL or Redis is down. A
// consumer that hits a dependency error trips it; the prober (run) then
// checks the dependencies with backoff and, once all answer and the leases
// it could not give back are released, opens it again. So a worker never
// burns through the backlog during an outage, and resumes by itself.
type gate struct {
	log    *slog.Logger
	checks []service.Check
	paused prometheus.Gauge // set by New; may be nil

	mu      sync.Mutex
	down    error         // why claiming is paused; nil while open
	open    chan struct{} // closed while open
	kick    chan struct{} // wakes the prober
	pending []func(context.Context) error
}

func newGate(log *slog.Logger, checks []service.Check) *gate {
	open := make(chan struct{})
	close(open)
	return &gate{log: log, checks: checks, open: open, kick: make(chan struct{}, 1)}
}

// trip pauses claiming because dep failed with err (a no-op while paused).
func (g *gate) trip(dep string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down != nil {
		return
	}
	g.down = fmt.Errorf("%s: %w", dep, err)
	g.open = make(chan struct{})
	if g.paused != nil {
		g.paused.Set(1)
	}
	g.log.Warn("pausing claims until PostgreSQL and Redis answer", "cause", g.down.Error())
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// retryLater queues fn (giving a lease back) for the prober, which runs it
// before it reopens the gate.
func (g *gate) retryLater(fn func(context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending = append(g.pending, fn)
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// wait blocks while the gate is closed; false if ctx ended first.
func (g *gate) wait(ctx context.Context) bool {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// isOpen says whether claiming is allowed now, without waiting.
func (g *gate) isOpen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.down == nil
}

// check is the /ready check: failing while claims are paused, with why.
func (g *gate) check() service.Check {
	return service.Check{Name: "claiming", Fn: func(context.Context) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.down != nil {
			return fmt.Errorf("paused until the dependencies answer (%v)", g.down)
		}
		return nil
	}}
}

// run is the prober: it waits to be kicked, then checks with backoff until
// the dependencies answer and the pending releases are done, and reopens.
func (g *gate) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.kick:
		}
		b := probeBackoff
		for !g.recovered(ctx) {
			t := time.NewTimer(b.Step())
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// recovered runs the checks and the pending releases once; when all pass it
// opens the gate and reports true.
func (g *gate) recovered(ctx context.Context) bool {
	for _, c := range g.checks {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.Fn(cctx)
		cancel()
		if err != nil {
			g.log.Debug("dependency still down", "dependency", c.Name, "err", err)
			return false
		}
	}
	g.mu.Lock()
	pending := g.pending
	g.pending = nil
	g.mu.Unlock()
	for i, fn := range pending {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(cctx)
		cancel()
		if err != nil {
			g.mu.Lock()
			g.pending = append(pending[i:], g.pending...)
			g.mu.Unlock()
			return false
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.pending) > 0 {
		return false
	}
	if g.down != nil {
		g.log.Info("dependencies answer again; resuming claims", "was", g.down.Error())
		g.down = nil
		close(g.open)
		if g.paused != nil {
			g.paused.Set(0)
		}
	}
	return true
}
