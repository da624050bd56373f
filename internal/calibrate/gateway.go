package calibrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/voiceassist/autoscaling/internal/loadtest"
)

// GatewayConfig is one gateway measurement.
type GatewayConfig struct {
	// Gateway is where POST /v1/analyze goes (internal/loadtest's).
	Gateway loadtest.Gateway
	// APIKey goes with every request (loadtest.Config.APIKey); "": none.
	APIKey string
	// Metrics scrape every gateway process serving it.
	Metrics []Scraper
	// CPUMillicores is the CPU one gateway process may use (its cgroup
	// quota, or the pod's request), for the utilization of each step; 0:
	// unknown, no utilization.
	CPUMillicores float64
	Clips         []loadtest.Clip
	// P95 is the latency SLO a step must meet.
	P95 time.Duration
	// Start is the first step's TOTAL rate; MaxRate ends the doubling.
	Start, MaxRate float64
	// Step is how long each rate is held; Idle how long the idle CPU is read.
	Step, Idle time.Duration
	// Precision ends the bisection when the highest good and lowest bad
	// rates are within this fraction of each other.
	Precision float64
	// RequestTimeout bounds each request.
	RequestTimeout time.Duration
	Progress       io.Writer
}

// Step is one constant load held for GatewayConfig.Step.
type Step struct {
	// Rate is the offered TOTAL rate (req/s), Achieved the successes per second.
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	P50Ms    float64 `json:"p50Ms"`
	P95Ms    float64 `json:"p95Ms"`
	P99Ms    float64 `json:"p99Ms"`
	// CPUMillicores is the processes' CPU rate over the step (summed).
	CPUMillicores float64 `json:"cpuMillicores"`
	// Utilization is CPUMillicores over the processes' CPU (0 unknown).
	Utilization float64 `json:"utilization,omitempty"`
	// CPUPerRequest is (CPU − idle CPU) per success, millicore-seconds.
	CPUPerRequest float64 `json:"cpuPerRequest"`
	// MaxRSSMi is the highest resident memory of one process in the step.
	MaxRSSMi float64 `json:"maxRSSMi"`
	// InFlight is the mean of http_requests_in_flight (summed) in the step.
	InFlight float64 `json:"inFlight"`
	// Good: p95 within the SLO, at least 95 % of the offered rate
	// answered, at most 1 % errors; Why says what failed.
	Good bool   `json:"good"`
	Why  string `json:"why,omitempty"`
}

// GatewayResult is what the gateway measurement found.
type GatewayResult struct {
	Pods          int     `json:"pods"`
	CPUMillicores float64 `json:"cpuMillicores,omitempty"`
	Mix           string  `json:"mix"`
	P95SLOMs      float64 `json:"p95SLOMs"`
	// CapacityRPS is the highest TOTAL rate that met the SLO, per pod its
	// share; the model's saturation rate is SaturationRPS per pod.
	CapacityRPS       float64 `json:"capacityRPS"`
	CapacityPerPodRPS float64 `json:"capacityPerPodRPS"`
	// FirstBadRPS is the lowest rate that did not (0: none within MaxRate).
	FirstBadRPS float64 `json:"firstBadRPS,omitempty"`
	// IdleCPU (millicores per pod) and CPUPerRequest (millicore-seconds):
	// the model's capacity is (CPU − IdleCPU) / CPUPerRequest.
	IdleCPU       float64 `json:"idleCPU"`
	CPUPerRequest float64 `json:"cpuPerRequest"`
	SaturationRPS float64 `json:"saturationPerPodRPS,omitempty"`
	// BaseLatencyMs is the p95 of the lightest step less the model's
	// queueing term at that load (ln 20 / (μ (1 − ρ))), at least 1 ms.
	BaseLatencyMs float64 `json:"baseLatencyMs"`
	// Memory: idle, per request/s served and per request in flight (MiB,
	// least-squares slopes through the idle point over the good steps).
	BaseMemoryMi        float64 `json:"baseMemoryMi"`
	MemoryMiPerRPS      float64 `json:"memoryMiPerRPS"`
	MemoryMiPerInFlight float64 `json:"memoryMiPerInFlight"`
	// Steps are all steps, sorted by rate: the latency-vs-utilization curve.
	Steps []Step `json:"steps"`
}

// MeasureGateway finds the gateway's capacity at the SLO: the rate doubles
// from Start until a step fails the SLO (or MaxRate), then bisects between
// the highest good and lowest bad rate to Precision.
func MeasureGateway(ctx context.Context, c GatewayConfig) (*GatewayResult, error) {
	if len(c.Metrics) == 0 {
		return nil, errors.New("gateway: no /metrics to scrape")
	}
	if c.Start <= 0 || c.MaxRate < c.Start || c.Precision <= 0 || c.Step <= 0 || c.P95 <= 0 {
		return nil, fmt.Errorf("gateway: start %v, max %v, precision %v, step %s, p95 %s: want 0 < start ≤ max, precision, step and p95 above 0",
			c.Start, c.MaxRate, c.Precision, c.Step, c.P95)
	}
	res := &GatewayResult{Pods: len(c.Metrics), CPUMillicores: c.CPUMillicores, Mix: loadtest.MixString(c.Clips), P95SLOMs: ms(c.P95)}
	idleCPU, baseMem, err := idle(ctx, c.Metrics, c.Idle)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	res.IdleCPU, res.BaseMemoryMi = idleCPU/float64(res.Pods), baseMem
	logf(c.Progress, "gateway: idle %.0fm CPU, %.0f MiB per process (%d)", res.IdleCPU, baseMem, res.Pods)

	client := &http.Client{Timeout: c.RequestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	run := func(rate float64) (Step, error) {
		st, err := c.step(ctx, client, rate, idleCPU)
		if err != nil {
			return st, err
		}
		res.Steps = append(res.Steps, st)
		verdict := "good"
		if !st.Good {
			verdict = "over: " + st.Why
		}
		logf(c.Progress, "gateway: %7.1f req/s → %7.1f ok/s, p50/95/99 %.0f/%.0f/%.0f ms, CPU %.0fm (%s), %.2f m·s/req, %.0f MiB: %s",
			rate, st.Achieved, st.P50Ms, st.P95Ms, st.P99Ms, st.CPUMillicores, pctOf(st.Utilization), st.CPUPerRequest, st.MaxRSSMi, verdict)
		return st, nil
	}
	good, bad := 0.0, 0.0
	for rate := c.Start; ; rate = math.Min(rate*2, c.MaxRate) {
		st, err := run(rate)
		if err != nil {
			return nil, err
		}
		if !st.Good {
			bad = rate
			break
		}
		good = rate
		if rate >= c.MaxRate {
			break
		}
	}
	if good == 0 {
		return nil, fmt.Errorf("gateway: the first step, %.1f req/s, already failed (%s): lower --start-rate or raise --slo-p95", c.Start, res.Steps[0].Why)
	}
	for bad > 0 && (bad-good)/good > c.Precision {
		rate := (good + bad) / 2
		st, err := run(rate)
		if err != nil {
			return nil, err
		}
		if st.Good {
			good = rate
		} else {
			bad = rate
		}
	}
	res.CapacityRPS, res.FirstBadRPS = good, bad
	res.CapacityPerPodRPS = good / float64(res.Pods)
	res.fit()
	return res, nil
}

// step holds one constant rate through internal/loadtest and reads the
// processes' metrics around it.
func (c GatewayConfig) step(ctx context.Context, client *http.Client, rate, idleCPU float64) (Step, error) {
	shape := loadtest.DefaultShape(loadtest.ProfileConstant)
	shape.Duration = c.Step
	before, err := read(ctx, c.Metrics)
	if err != nil {
		return Step{}, fmt.Errorf("gateway: %w", err)
	}
	smp := startSampler(ctx, c.Metrics, "http_requests_in_flight", 250*time.Millisecond)
	rep, err := loadtest.Run(ctx, loadtest.Config{Target: loadtest.TargetAPI, APIKey: c.APIKey, Shape: shape, APIRate: rate, Clips: c.Clips,
		Gateway: c.Gateway, Client: client, RequestTimeout: c.RequestTimeout, Cooldown: 0})
	maxRSS, inFlight, _ := smp.end()
	if err != nil {
		return Step{}, fmt.Errorf("gateway: load at %.1f req/s: %w", rate, err)
	}
	if ctx.Err() != nil {
		return Step{}, ctx.Err()
	}
	after, err := read(ctx, c.Metrics)
	if err != nil {
		return Step{}, fmt.Errorf("gateway: %w", err)
	}
	st := Step{Rate: rate, P50Ms: rep.APILatency.P50, P95Ms: rep.APILatency.P95, P99Ms: rep.APILatency.P99,
		CPUMillicores: millicores(before, after), MaxRSSMi: maxRSS, InFlight: inFlight}
	if a := rep.API; a != nil {
		st.Requests, st.Achieved = a.Requests, a.AchievedRate
		st.Errors = a.Requests - a.OK
		if a.OK > 0 {
			busy := (after.cpu - before.cpu) - idleCPU/1000*after.at.Sub(before.at).Seconds()
			st.CPUPerRequest = math.Max(0, busy) * 1000 / float64(a.OK)
		}
	}
	if c.CPUMillicores > 0 {
		st.Utilization = st.CPUMillicores / (c.CPUMillicores * float64(len(c.Metrics)))
	}
	st.Good, st.Why = true, ""
	planned := rate * c.Step.Seconds()
	switch {
	case st.P95Ms > ms(c.P95):
		st.Why = fmt.Sprintf("p95 %.0f ms > %.0f ms", st.P95Ms, ms(c.P95))
	case float64(st.Requests-st.Errors) < 0.95*planned:
		st.Why = fmt.Sprintf("%d of %.0f answered", st.Requests-st.Errors, planned)
	case float64(st.Errors) > 0.01*float64(max(st.Requests, 1)):
		st.Why = fmt.Sprintf("%d errors of %d", st.Errors, st.Requests)
	}
	st.Good = st.Why == ""
	return st, nil
}

// fit derives the model's figures from the good steps.
func (r *GatewayResult) fit() {
	var goods []Step
	for _, s := range r.Steps {
		if s.Good && s.Achieved > 0 {
			goods = append(goods, s)
		}
	}
	sort.Slice(r.Steps, func(i, j int) bool { return r.Steps[i].Rate < r.Steps[j].Rate })
	if len(goods) == 0 {
		return
	}
	// CPU per request: the busy CPU over the successes of the good steps
	// from the second-lightest up (the lightest warms the process up, and
	// its CPU is mostly idle noise), weighted by their requests.
	sort.Slice(goods, func(i, j int) bool { return goods[i].Rate < goods[j].Rate })
	use := goods
	if len(use) > 1 {
		use = use[1:]
	}
	var cpu, ok float64
	for _, s := range use {
		n := s.Achieved
		cpu += s.CPUPerRequest * n
		ok += n
	}
	r.CPUPerRequest = cpu / ok
	if r.CPUMillicores > 0 && r.CPUPerRequest > 0 {
		r.SaturationRPS = (r.CPUMillicores - r.IdleCPU) / r.CPUPerRequest
	}
	// base latency: the lightest step's p95 less the M/M/1 queueing term
	light := goods[0]
	base := light.P95Ms
	if r.SaturationRPS > 0 {
		mu := r.SaturationRPS
		rho := math.Min(light.Achieved/float64(r.Pods)/mu, 0.99)
		base -= 1000 * math.Log(20) / (mu * (1 - rho))
	}
	r.BaseLatencyMs = math.Max(1, base)
	// memory slopes through the idle point
	var sxx, sxy, sii, siy float64
	for _, s := range goods {
		x := s.Achieved / float64(r.Pods)
		y := math.Max(0, s.MaxRSSMi-r.BaseMemoryMi)
		in := s.InFlight / float64(r.Pods)
		sxx, sxy = sxx+x*x, sxy+x*y
		sii, siy = sii+in*in, siy+in*y
	}
	if sxx > 0 {
		r.MemoryMiPerRPS = sxy / sxx
	}
	if sii > 0 {
		r.MemoryMiPerInFlight = siy / sii
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pctOf(u float64) string {
	if u <= 0 {
		return "utilization unknown"
	}
	return fmt.Sprintf("%.0f%%", 100*u)
}
