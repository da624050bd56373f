package sim

import (
	"fmt"
	"math"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/hpa"
	"github.com/voiceassist/autoscaling/internal/kube"
)

// Config is one run's input.
type Config struct {
	// Label names the manifests in the result ("prod", a directory).
	Label string
	// Set is the rendered overlay: its voiceassist-server and
	// voiceassist-worker Deployments and the HPAs that target them, and
	// what the metrics pipeline and the quota are read from.
	Set *kube.Set
	// Adapter is the Prometheus Adapter configuration (nil: none, the rate
	// window takes its default); AdapterFile names it in messages.
	Adapter     *adapter.Values
	AdapterFile string
	Params      Params
	Scenario    Scenario
	// Duration in seconds; 0 takes the scenario's.
	Duration int64
	Seed     uint64
	// SampleSeconds is the timeline resolution; 0 picks 1 s up to 6 h,
	// 15 s up to 3 days, 60 s beyond.
	SampleSeconds int64
	// Phases place the scrapes and the HPA sync within their periods; nil
	// takes DefaultPhases.
	Phases *Phases
	// Arrivals are this run's arrivals drawn beforehand (NewArrivals with
	// this Seed, Scenario, Duration and Params), read and not changed, so
	// that runs under one seed can share them; nil: the run draws its own.
	Arrivals *Arrivals
}

// Sim is a prepared run. Run may be called once.
type Sim struct {
	cfg     Config
	p       Params
	sc      Scenario
	ctrl    hpa.Controller
	gw, wk  *deployment
	gm      *gatewayModel
	wm      *workerModel
	scalers []*autoscaler
	tracks  []*track // gateway, worker
	// Each deployment has its own streams (arrivals here, start-up times in
	// the deployment, service times in the worker model), so that a change
	// to one deployment does not move the other's figures.
	gwArrivals, wkArrivals rng
	arr                    *Arrivals // or drawn beforehand
	exp                    exporter
	pipeline               PipelineInEffect
	resolution, gwScrape   int64
	qScrape, syncEvery     int64
	window                 int64
	duration, sample       int64
	phases                 Phases
}

// Phases of the periodic activities within their period, so that they do not
// all fall on the same second: metrics-server at 0, Prometheus at 5, the
// HPA sync at 10 (seconds, modulo each period).
const (
	scrapePhase = 5
	syncPhase   = 10
)

// Random stream numbers: one per deployment and concern.
const (
	streamGatewayArrivals = 1
	streamGatewayStarts   = 2
	streamWorkerArrivals  = 11
	streamWorkerStarts    = 12
	streamWorkerService   = 13
)

// New prepares a run: it finds the two Deployments and the HPAs of the set,
// checks every HPA metric has a model, reads the metrics pipeline and the
// quota from the manifests, and starts each deployment with its minimum
// replicas, long ready.
func New(cfg Config) (*Sim, error) {
	p := cfg.Params
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if cfg.Set == nil {
		return nil, fmt.Errorf("no manifests")
	}
	s := &Sim{cfg: cfg, p: p, sc: cfg.Scenario}
	if s.sc.shape == nil && s.sc.trace == nil && s.sc.replay == nil {
		return nil, fmt.Errorf("no scenario")
	}
	if s.sc.trace != nil {
		tc := *s.sc.trace
		tc.cursor = 0
		s.sc.trace = &tc
	}
	s.phases = DefaultPhases()
	if cfg.Phases != nil {
		s.phases = *cfg.Phases
		for _, ph := range []struct {
			name string
			v    int64
		}{{"metrics-server", s.phases.MetricsServer}, {"scrape", s.phases.Scrape}, {"sync", s.phases.Sync}} {
			if ph.v < 0 {
				return nil, fmt.Errorf("%s phase %d s: want 0 or more", ph.name, ph.v)
			}
		}
	}
	_, s.duration = span(cfg)
	if a := cfg.Arrivals; a != nil && s.sc.replay == nil {
		if err := a.fits(cfg); err != nil {
			return nil, err
		}
		s.arr = a
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
	file := cfg.AdapterFile
	if file == "" {
		file = "prometheus-adapter-values.yaml"
	}
	var err error
	if s.pipeline, err = resolvePipeline(&p.Metrics, cfg.Set, cfg.Adapter, file); err != nil {
		return nil, err
	}
	s.resolution = s.pipeline.MetricResolution.Seconds
	s.gwScrape, s.qScrape = s.pipeline.GatewayScrape.Seconds, s.pipeline.ExporterScrape.Seconds
	s.syncEvery, s.window = p.Controller.SyncPeriodSeconds, s.pipeline.RateWindow.Seconds
	if s.window/s.gwScrape+2 > promRing {
		return nil, fmt.Errorf("rate window %s holds more than %d scrapes of %d s (the simulator keeps %d per pod)", s.pipeline.RateWindow, promRing-2, s.gwScrape, promRing)
	}
	s.gwArrivals = newRNG(cfg.Seed, streamGatewayArrivals)
	s.wkArrivals = newRNG(cfg.Seed, streamWorkerArrivals)

	if s.gw, err = findDeployment(cfg.Set, GatewayName, gatewayKind, p.Gateway.PendingSeconds, p.Gateway.StartupSeconds, p.Run.CPUBurst); err != nil {
		return nil, err
	}
	if s.wk, err = findDeployment(cfg.Set, WorkerName, workerKind, p.Worker.PendingSeconds, p.Worker.StartupSeconds, p.Run.CPUBurst); err != nil {
		return nil, err
	}
	s.gw.starts, s.gw.jitter = newRNG(cfg.Seed, streamGatewayStarts), p.Run.StartupJitter
	s.wk.starts, s.wk.jitter = newRNG(cfg.Seed, streamWorkerStarts), p.Run.StartupJitter
	if s.gm, err = newGatewayModel(&s.p.Gateway, s.gw); err != nil {
		return nil, err
	}
	if s.wm, err = newWorkerModel(&s.p.Worker, s.wk, newRNG(cfg.Seed, streamWorkerService)); err != nil {
		return nil, err
	}
	s.wm.shared = s.arr
	q := newQuota(cfg.Set, s.gw.namespace, GatewayName, WorkerName)
	if len(q.limits) > 0 {
		s.gw.quota, s.wk.quota = q, q
	}

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
			if dep.quota != nil {
				if why := dep.quota.admit(dep.cost); why != "" {
					return nil, fmt.Errorf("Deployment %s: its minimum of %d pods does not fit the quota: %s", dep.name, tr.min, why)
				}
			}
			dep.seq++
			dep.pods = append(dep.pods, pod{name: podName(dep.name, dep.seq), created: start, runningAt: start, readyAt: start, goneAt: -1})
			dep.live++
		}
		dep.spec = tr.min
	}
	return s, nil
}

func findDeployment(set *kube.Set, name string, k kind, pending, startup, burst float64) (*deployment, error) {
	var found *appsv1.Deployment
	for _, d := range set.Deployments {
		if d.Name == name {
			found = d
		}
	}
	if found == nil {
		return nil, fmt.Errorf("the manifests have no Deployment %s", name)
	}
	return newDeployment(found, k, pending, startup, burst)
}

func mod(t, m int64) int64 { return ((t % m) + m) % m }

// periodic is an activity every `every` seconds at phase within its period:
// at the seconds t with mod(t, every) == phase%every. It keeps its next
// second, so that the per-second loop compares where it would divide (four
// modulo operations a second were about 6 % of a run).
type periodic struct{ next, every int64 }

// newPeriodic starts the activity at its first second from on.
func newPeriodic(from, every, phase int64) periodic {
	return periodic{next: from + mod(phase-from, every), every: every}
}

// due says whether the activity falls at t; t rises by 1 between calls.
func (p *periodic) due(t int64) bool {
	if t != p.next {
		return false
	}
	p.next += p.every
	return true
}

// Run simulates from -warmup to the duration in 1 s steps and returns the result.
func (s *Sim) Run() *Result {
	q := &s.wm.queue
	start := -s.p.Run.WarmupSeconds
	metricsServer := newPeriodic(start, s.resolution, s.phases.MetricsServer)
	gwScrape := newPeriodic(start, s.gwScrape, s.phases.Scrape)
	qScrape := newPeriodic(start, s.qScrape, s.phases.Scrape)
	sync := newPeriodic(start, s.syncEvery, s.phases.Sync)
	for t := start; t < s.duration; t++ {
		if t == 0 {
			s.wm.late = 0 // count from the end of the warm-up
		}
		var rps, jobRate, reqs float64
		var jobs int64
		if r := s.sc.replay; r != nil {
			// the measured arrivals themselves; no load before the run
			n, j := r.arrivals(t)
			rps, jobRate, reqs, jobs = float64(n), float64(j), float64(n), j
		} else if a := s.arr; a != nil {
			i := t - a.from
			rps, jobRate = a.rates.rps[i], a.rates.jobs[i]
			reqs, jobs = float64(a.reqs[i]), int64(a.jobs[i])
		} else {
			rps, jobRate = s.sc.rates(float64(max(t, 0)), &s.p)
			reqs = s.gwArrivals.poisson(rps)
			jobs = int64(s.wkArrivals.poisson(jobRate))
		}
		burst := int64(0)
		if t == s.sc.BurstAt && s.sc.BurstJobs > 0 {
			burst = s.sc.BurstJobs
		}

		s.gw.reap(t, q)
		s.wk.reap(t, q)
		gwHeld, wkHeld := s.gw.reconcile(t), s.wk.reconcile(t)
		p95, served, dropped := s.gm.step(s.gw, t, reqs, q)
		done := s.wm.step(s.wk, t, jobs+burst)

		if metricsServer.due(t) {
			s.gw.scrapeMetricsServer(t)
			s.wk.scrapeMetricsServer(t)
		}
		if gwScrape.due(t) {
			s.gw.scrapePrometheus(t)
		}
		if qScrape.due(t) {
			s.exp = exporter{depth: q.depth, age: q.oldestAge(t)}
		}
		if sync.due(t) {
			s.gw.queryAdapter(t, s.window)
			for _, a := range s.scalers {
				from := a.dep.spec
				d := a.sync(&s.ctrl, t, s.exp)
				if d.Rescale {
					a.dep.scale(t, d.Desired, s.p.Gateway.DrainSeconds)
					held := a.dep.reconcile(t)
					if a.dep == s.gw {
						gwHeld = held
					} else {
						wkHeld = held
					}
					if t >= 0 {
						s.trackOf(a.dep).scaled(t, from, d, a)
					}
				}
			}
		}
		if t < 0 {
			continue
		}
		s.tracks[0].held(t, gwHeld)
		s.tracks[1].held(t, wkHeld)
		s.tracks[0].gateway(t, rps, p95, served, dropped)
		s.tracks[1].worker(t, jobRate, burst, q, done)
	}
	res := &Result{Label: s.cfg.Label, Scenario: s.sc.Name, Duration: s.duration, Seed: s.cfg.Seed, SampleSeconds: s.sample,
		WarmupSeconds: s.p.Run.WarmupSeconds, Pipeline: s.pipeline, Params: s.p}
	if s.sc.trace != nil {
		res.Notes = append(res.Notes, s.sc.trace.Notes...)
	}
	for _, tr := range s.tracks {
		res.Deployments = append(res.Deployments, tr.result())
	}
	res.Deployments[0].Summary.BacklogAtEnd = s.gm.backlog
	res.Deployments[1].Summary.LateJobs = s.wm.late
	res.Deployments[1].Summary.QueuedAtEnd = q.depth
	res.Deployments[1].Summary.OldestAtEndSeconds = q.oldestAge(s.duration - 1)
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
func oracleUtilization(g *Gateway, mu float64) float64 {
	rho := 1 - ln20/(mu*(g.P95TargetMs-g.BaseLatencyMs)/1000)
	return math.Max(rho, 0.05)
}
