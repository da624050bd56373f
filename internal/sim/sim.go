package sim

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Config is one run's input.
type Config struct {
	// Label names the manifests in the result ("prod", a directory).
	Label string
	// Set is the rendered overlay: its voiceassist-server and
	// voiceassist-worker Deployments and the HPAs that target them.
	Set      *kube.Set
	Params   Params
	Scenario Scenario
	// Duration in seconds; 0 takes the scenario's.
	Duration int64
	Seed     uint64
	// SampleSeconds is the timeline resolution; 0 picks 1 s up to 6 h,
	// 15 s up to 3 days, 60 s beyond.
	SampleSeconds int64
}

// Sim is a prepared run. Run may be called once.
type Sim struct {
	cfg                                   Config
	p                                     Params
	sc                                    Scenario
	ctrl                                  hpa.Controller
	gw, wk                                *deployment
	gm                                    *gatewayModel
	wm                                    *workerModel
	scalers                               []*autoscaler
	tracks                                []*track // gateway, worker
	arrivals                              rng
	starts                                rng
	exp                                   exporter
	resolution, scrape, syncEvery, window int64
	duration, sample                      int64
}

// Phases of the periodic activities within their period, so that they do not
// all fall on the same second: metrics-server at 0, Prometheus at 5, the
// HPA sync at 10 (seconds, modulo each period).
const (
	scrapePhase = 5
	syncPhase   = 10
)

// New prepares a run: it finds the two Deployments and the HPAs of the set,
// checks every HPA metric has a model, and starts each deployment with its
// minimum replicas, long ready.
func New(cfg Config) (*Sim, error) {
	p := cfg.Params
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if cfg.Set == nil {
		return nil, fmt.Errorf("no manifests")
	}
	s := &Sim{cfg: cfg, p: p, sc: cfg.Scenario}
	if s.sc.shape == nil && s.sc.trace == nil {
		return nil, fmt.Errorf("no scenario")
	}
	if s.sc.trace != nil {
		tc := *s.sc.trace
		tc.cursor = 0
		s.sc.trace = &tc
	}
	s.duration = cfg.Duration
	if s.duration <= 0 {
		s.duration = s.sc.Duration
	}
	s.sample = cfg.SampleSeconds
	if s.sample <= 0 {
		switch {
		case s.duration <= 6*hour:
			s.sample = 1
		case s.duration <= 3*day:
			s.sample = 15
		default:
			s.sample = 60
		}
	}
	s.ctrl = hpa.Controller{
		Calculator: hpa.Calculator{
			CPUInitializationPeriod:       secs(p.Controller.CPUInitializationPeriodSeconds),
			DelayOfInitialReadinessStatus: secs(p.Controller.InitialReadinessDelaySeconds),
		},
		Tolerance:                    p.Controller.Tolerance,
		DownscaleStabilizationWindow: secs(p.Controller.DownscaleStabilizationSeconds),
	}
	s.resolution = p.Metrics.MetricsServerResolutionSeconds
	if s.resolution == 0 {
		s.resolution = metricsServerResolution(cfg.Set)
	}
	s.scrape, s.syncEvery, s.window = p.Metrics.ScrapeIntervalSeconds, p.Controller.SyncPeriodSeconds, p.Metrics.RateWindowSeconds
	if s.window/s.scrape+2 > promRing {
		return nil, fmt.Errorf("metrics.rateWindowSeconds: %d s holds more than %d scrapes of %d s", s.window, promRing-2, s.scrape)
	}
	s.arrivals = newRNG(cfg.Seed, 1)
	s.starts = newRNG(cfg.Seed, 2)

	var err error
	if s.gw, err = findDeployment(cfg.Set, GatewayName, gatewayKind, p.Gateway.PendingSeconds, p.Gateway.StartupSeconds); err != nil {
		return nil, err
	}
	if s.wk, err = findDeployment(cfg.Set, WorkerName, workerKind, p.Worker.PendingSeconds, p.Worker.StartupSeconds); err != nil {
		return nil, err
	}
	s.gm = newGatewayModel(&s.p.Gateway)
	s.wm = newWorkerModel(&s.p.Worker, newRNG(cfg.Seed, 3))

	byDep := map[*deployment]*autoscaler{}
	for _, h := range cfg.Set.HPAs {
		ref := h.Spec.ScaleTargetRef
		var dep *deployment
		switch {
		case ref.Kind == "Deployment" && ref.Name == GatewayName:
			dep = s.gw
		case ref.Kind == "Deployment" && ref.Name == WorkerName:
			dep = s.wk
		default:
			return nil, fmt.Errorf("HorizontalPodAutoscaler %s/%s targets %s %s, which the simulator has no model for (it models Deployments %s and %s)",
				h.Namespace, h.Name, ref.Kind, ref.Name, GatewayName, WorkerName)
		}
		if byDep[dep] != nil {
			return nil, fmt.Errorf("HorizontalPodAutoscalers %s and %s both target Deployment %s", byDep[dep].obj.Name, h.Name, dep.name)
		}
		a, err := newAutoscaler(h, dep)
		if err != nil {
			return nil, err
		}
		byDep[dep] = a
		s.scalers = append(s.scalers, a)
	}
	for _, dep := range []*deployment{s.gw, s.wk} {
		tr := newTrack(s, dep, byDep[dep])
		s.tracks = append(s.tracks, tr)
		// start with the minimum, every pod ready since long before the warm-up
		start := -s.p.Run.WarmupSeconds - 2*hour
		for i := int32(0); i < tr.min; i++ {
			dep.seq++
			dep.pods = append(dep.pods, pod{name: podName(dep.name, dep.seq), created: start, runningAt: start, readyAt: start, goneAt: -1})
		}
		dep.spec = tr.min
	}
	return s, nil
}

func findDeployment(set *kube.Set, name string, k kind, pending, startup float64) (*deployment, error) {
	var found *appsv1.Deployment
	for _, d := range set.Deployments {
		if d.Name == name {
			found = d
		}
	}
	if found == nil {
		return nil, fmt.Errorf("the manifests have no Deployment %s", name)
	}
	return newDeployment(found, k, pending, startup)
}

// metricsServerResolution reads --metric-resolution from the rendered
// metrics-server Deployment, or returns 15 s.
func metricsServerResolution(set *kube.Set) int64 {
	for _, d := range set.Deployments {
		if d.Name != "metrics-server" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, a := range c.Args {
				var v string
				if n, _ := fmt.Sscanf(a, "--metric-resolution=%s", &v); n == 1 {
					var secs int64
					if _, err := fmt.Sscanf(v, "%ds", &secs); err == nil && secs > 0 {
						return secs
					}
				}
			}
		}
	}
	return 15
}

func mod(t, m int64) int64 { return ((t % m) + m) % m }

// Run simulates from -warmup to the duration in 1 s steps and returns the result.
func (s *Sim) Run() *Result {
	q := &s.wm.queue
	for t := -s.p.Run.WarmupSeconds; t < s.duration; t++ {
		if t == 0 {
			s.wm.late = 0 // count from the end of the warm-up
		}
		rps, jobRate := s.sc.rates(float64(max(t, 0)), &s.p)
		reqs := s.arrivals.poisson(rps)
		jobs := int64(s.arrivals.poisson(jobRate))
		burst := int64(0)
		if t == s.sc.BurstAt && s.sc.BurstJobs > 0 {
			burst = s.sc.BurstJobs
		}

		s.gw.reap(t, q)
		s.wk.reap(t, q)
		p95, served, dropped := s.gm.step(s.gw, t, reqs)
		done := s.wm.step(s.wk, t, jobs+burst)

		if mod(t, s.resolution) == 0 {
			s.gw.scrapeMetricsServer(t)
			s.wk.scrapeMetricsServer(t)
		}
		if mod(t, s.scrape) == scrapePhase%s.scrape {
			s.gw.scrapePrometheus(t)
			s.exp = exporter{depth: q.depth, age: q.oldestAge(t)}
		}
		if mod(t, s.syncEvery) == syncPhase%s.syncEvery {
			s.gw.queryAdapter(t, s.window)
			for _, a := range s.scalers {
				from := a.dep.spec
				d := a.sync(&s.ctrl, t, s.exp)
				if d.Rescale {
					a.dep.scale(t, d.Desired, s.starts, s.p.Run.StartupJitter, s.p.Gateway.DrainSeconds)
					if t >= 0 {
						s.trackOf(a.dep).scaled(t, from, d)
					}
				}
			}
		}
		if t < 0 {
			continue
		}
		s.tracks[0].gateway(t, rps, p95, served, dropped)
		s.tracks[1].worker(t, jobRate, burst, q, done)
	}
	res := &Result{Label: s.cfg.Label, Scenario: s.sc.Name, Duration: s.duration, Seed: s.cfg.Seed, SampleSeconds: s.sample}
	for _, tr := range s.tracks {
		res.Deployments = append(res.Deployments, tr.result())
	}
	res.Deployments[1].Summary.LateJobs = s.wm.late
	return res
}

func (s *Sim) trackOf(d *deployment) *track {
	if d == s.gw {
		return s.tracks[0]
	}
	return s.tracks[1]
}

// Simulate prepares and runs one simulation.
func Simulate(cfg Config) (*Result, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return s.Run(), nil
}

// oracleUtilization is the highest per-pod utilization at which the gateway
// model's p95 meets its target: base + ln20/(μ(1−ρ)) = target.
func oracleUtilization(g *Gateway) float64 {
	rho := 1 - ln20/(g.CapacityRPS*(g.P95TargetMs-g.BaseLatencyMs)/1000)
	return math.Max(rho, 0.05)
}
