package sim

import (
	"fmt"
	"math"
)

// ln20 turns an exponential distribution's rate into its 95th percentile.
var ln20 = math.Log(20)

// gatewayModel serves the gateway's requests, one second at a time.
//
// Ready pods share the arrivals evenly (the Service balances connections).
// Each pod is approximated as an M/M/1 queue with service rate μ, what its
// CPU serves: (available CPU − idleCPU) / cpuPerRPS (see deployment.cpuAvail):
// its response time is exponential with rate μ(1−ρ), so the p95 is
// baseLatency + ln(20)/(μ(1−ρ)), ρ = arrivals/(n·μ) capped at 0.99. When the
// arrivals exceed n·μ the excess waits in a shared backlog (a fluid queue)
// that adds backlog/(n·μ) to the latency; what would wait longer than
// timeoutSeconds is dropped.
type gatewayModel struct {
	p        *Gateway
	mu       float64 // requests per second one ready pod serves at most
	backlog  float64 // requests waiting, not yet served
	memAlpha float64 // per-second smoothing factor of memory
}

func newGatewayModel(p *Gateway, d *deployment) (*gatewayModel, error) {
	a := 1.0
	if p.MemorySmoothingSeconds > 0 {
		a = 1 - math.Exp(-1/p.MemorySmoothingSeconds)
	}
	mu := (d.cpuAvail - p.IdleCPU) / p.CPUPerRPS
	if mu <= 0 {
		return nil, fmt.Errorf("gateway.idleCPU: %gm leaves no CPU for requests in a %s pod (%gm available)", p.IdleCPU, d.name, d.cpuAvail)
	}
	if p.BaseLatencyMs/1000+ln20/mu >= p.P95TargetMs/1000 {
		return nil, fmt.Errorf("gateway.p95TargetMs: %g ms cannot be met by a %s pod even idle (%gm CPU serves %.3g req/s: p95 %.0f ms)",
			p.P95TargetMs, d.name, d.cpuAvail, mu, p.BaseLatencyMs+1000*ln20/mu)
	}
	return &gatewayModel{p: p, mu: mu, memAlpha: a}, nil
}

// step serves one second of arrivals at t and updates every pod's usage. It
// returns the p95 latency (seconds) and the requests served and dropped.
func (m *gatewayModel) step(d *deployment, t int64, arrivals float64, q *jobQueue) (p95, served, dropped float64) {
	n := float64(d.readyCount(t))
	mu := m.mu
	capacity := n * mu
	demand := m.backlog + arrivals
	served = min(demand, capacity)
	m.backlog = demand - served
	if limit := capacity * m.p.TimeoutSeconds; m.backlog > limit {
		dropped = m.backlog - limit
		m.backlog = limit
	}
	timeout := m.p.TimeoutSeconds
	if capacity == 0 {
		p95 = timeout
	} else {
		rho := min(arrivals/capacity, 0.99)
		p95 = min(timeout, m.p.BaseLatencyMs/1000+ln20/(mu*(1-rho))+m.backlog/capacity)
	}

	perPod := 0.0
	if n > 0 {
		perPod = served / n
	}
	for i := range d.pods {
		p := &d.pods[i]
		if !p.running(t) {
			continue
		}
		if p.mem == 0 {
			p.mem = m.p.BaseMemoryMi
		}
		switch {
		case p.ready(t):
			p.cpu = min(m.p.IdleCPU+m.p.CPUPerRPS*perPod, d.cpuAvail)
			p.reqTotal += perPod
			p.mem += (m.p.BaseMemoryMi + m.p.MemoryMiPerRPS*perPod - p.mem) * m.memAlpha
		case p.deleted:
			p.cpu = m.p.IdleCPU
		default: // starting
			p.cpu = min(m.p.StartupCPU, d.cpuAvail)
		}
		p.cpuCum += p.cpu
		if p.mem > d.memLimit {
			d.oomKill(p, t, q, m.p.BaseMemoryMi)
		}
	}
	return p95, served, dropped
}
