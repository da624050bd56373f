package sim

import (
	_ "embed" // the measured profile
	"fmt"
	"math"
	"sync"
)

// Params are the model's parameters. Every field has a documented default
// (DefaultParams); a YAML file (LoadParams) or --set key=value overrides them.
// Times are in seconds, CPU in millicores, memory in MiB.
type Params struct {
	// Profile says where the values come from; `vactl calibrate` fills it
	// in, the simulator only reports it.
	Profile    Profile    `json:"profile"`
	Controller Controller `json:"controller"`
	Metrics    Pipeline   `json:"metrics"`
	Gateway    Gateway    `json:"gateway"`
	Worker     Worker     `json:"worker"`
	Run        RunParams  `json:"run"`
}

// Profile describes a parameter file: who measured it, how and where. The
// defaults have Source "defaults"; a measured profile names its command and
// machine so that a figure can be traced back to the run that produced it.
type Profile struct {
	Source  string `json:"source,omitempty"`
	Command string `json:"command,omitempty"`
	Machine string `json:"machine,omitempty"`
	Date    string `json:"date,omitempty"`
	Notes   string `json:"notes,omitempty"`
}

// Controller holds the kube-controller-manager HPA flags.
type Controller struct {
	// SyncPeriodSeconds is --horizontal-pod-autoscaler-sync-period.
	SyncPeriodSeconds int64 `json:"syncPeriodSeconds"`
	// Tolerance is --horizontal-pod-autoscaler-tolerance.
	Tolerance float64 `json:"tolerance"`
	// CPUInitializationPeriodSeconds is --horizontal-pod-autoscaler-cpu-initialization-period.
	CPUInitializationPeriodSeconds int64 `json:"cpuInitializationPeriodSeconds"`
	// InitialReadinessDelaySeconds is --horizontal-pod-autoscaler-initial-readiness-delay.
	InitialReadinessDelaySeconds int64 `json:"initialReadinessDelaySeconds"`
	// DownscaleStabilizationSeconds is --horizontal-pod-autoscaler-downscale-stabilization.
	DownscaleStabilizationSeconds int64 `json:"downscaleStabilizationSeconds"`
}

// Pipeline holds the metrics pipeline: metrics-server for CPU and memory,
// Prometheus and Prometheus Adapter for the custom and external metrics.
type Pipeline struct {
	// MetricsServerResolutionSeconds is metrics-server's --metric-resolution:
	// how often it scrapes the kubelets. 0 means: read it from the rendered
	// metrics-server Deployment, else DefaultMetricResolution.
	MetricsServerResolutionSeconds int64 `json:"metricsServerResolutionSeconds"`
	// ScrapeIntervalSeconds is Prometheus' scrape interval for the gateway
	// and the queue exporter. 0 means: the interval of the ServiceMonitor
	// endpoint that scrapes each of them, else DefaultScrapeInterval.
	ScrapeIntervalSeconds int64 `json:"scrapeIntervalSeconds"`
	// RateWindowSeconds is the range of rate() in the adapter's query for
	// http_requests_per_second. 0 means: read it from the adapter rule in
	// prometheus-adapter-values.yaml, else DefaultRateWindow.
	RateWindowSeconds int64 `json:"rateWindowSeconds"`
}

// Gateway models one voiceassist-server pod.
type Gateway struct {
	// BaseRPS is the scenario's base request rate for the whole gateway (req/s).
	BaseRPS float64 `json:"baseRPS"`
	// BaseLatencyMs is the latency of a request that does not queue (downstream calls).
	BaseLatencyMs float64 `json:"baseLatencyMs"`
	// P95TargetMs is the latency SLO: seconds whose p95 exceeds it violate the SLO.
	P95TargetMs float64 `json:"p95TargetMs"`
	// TimeoutSeconds: requests queued longer than this are dropped (client timeout).
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	// IdleCPU is a ready pod's CPU with no traffic (millicores).
	IdleCPU float64 `json:"idleCPU"`
	// CPUPerRPS is the CPU one request costs (millicore-seconds per request).
	// It sets a pod's capacity: (available CPU - idleCPU) / cpuPerRPS req/s,
	// the available CPU being the pod's request plus run.cpuBurst of the
	// room up to its limit.
	CPUPerRPS float64 `json:"cpuPerRPS"`
	// StartupCPU is a pod's CPU while it starts, before it is ready.
	StartupCPU float64 `json:"startupCPU"`
	// BaseMemoryMi is a pod's memory with no traffic.
	BaseMemoryMi float64 `json:"baseMemoryMi"`
	// MemoryMiPerRPS is the extra memory per req/s served.
	MemoryMiPerRPS float64 `json:"memoryMiPerRPS"`
	// MemorySmoothingSeconds is the time constant with which memory follows load.
	MemorySmoothingSeconds float64 `json:"memorySmoothingSeconds"`
	// PendingSeconds is scheduling plus image pull: the pod is Pending.
	PendingSeconds float64 `json:"pendingSeconds"`
	// StartupSeconds is from container start until the readiness probe can pass.
	StartupSeconds float64 `json:"startupSeconds"`
	// DrainSeconds is how long a deleted pod keeps running after it leaves the Service.
	DrainSeconds float64 `json:"drainSeconds"`
}

// Worker models one voiceassist-worker pod and the job queue.
type Worker struct {
	// BaseJobsPerSecond is the scenario's base job arrival rate (jobs/s).
	BaseJobsPerSecond float64 `json:"baseJobsPerSecond"`
	// Concurrency is how many jobs one worker processes at once (1-16).
	Concurrency int `json:"concurrency"`
	// JobMeanSeconds is the mean service time of one job.
	JobMeanSeconds float64 `json:"jobMeanSeconds"`
	// JobCV is the coefficient of variation of the (log-normal) service time.
	JobCV float64 `json:"jobCV"`
	// WaitSLOSeconds: seconds in which the oldest queued job is older than this violate the SLO.
	WaitSLOSeconds float64 `json:"waitSLOSeconds"`
	// IdleCPU is a ready worker's CPU with no job (millicores).
	IdleCPU float64 `json:"idleCPU"`
	// CPUPerJob is the CPU of one job in progress at full speed
	// (millicores). When the busy slots want more than the pod's available
	// CPU (see gateway.cpuPerRPS), every job runs slower in proportion.
	CPUPerJob float64 `json:"cpuPerJob"`
	// StartupCPU is a worker's CPU while it starts.
	StartupCPU float64 `json:"startupCPU"`
	// BaseMemoryMi is a worker's memory with no job.
	BaseMemoryMi float64 `json:"baseMemoryMi"`
	// MemoryMiPerJob is the memory of one job in progress.
	MemoryMiPerJob float64 `json:"memoryMiPerJob"`
	// PendingSeconds is scheduling plus image pull.
	PendingSeconds float64 `json:"pendingSeconds"`
	// StartupSeconds is from container start until the readiness probe can pass.
	StartupSeconds float64 `json:"startupSeconds"`
}

// RunParams shape a run as a whole.
type RunParams struct {
	// WarmupSeconds runs the scenario's initial load before t=0, unrecorded,
	// so that pods, metrics and the HPAs start settled.
	WarmupSeconds int64 `json:"warmupSeconds"`
	// StartupJitter spreads pending and start-up times uniformly by ± this fraction.
	StartupJitter float64 `json:"startupJitter"`
	// CPUBurst is the fraction of the room between a pod's CPU request and
	// its limit that the pod gets when it wants more than its request: 0 on
	// nodes packed by requests (a pod gets what it requested, the safe
	// capacity-planning assumption), 1 on idle nodes (up to the limit, where
	// CFS throttles it).
	CPUBurst float64 `json:"cpuBurst"`
}

// measuredProfile is the parameter file `vactl calibrate` wrote on the real
// binaries (its header says the command, machine and date; hack/calibrate
// reproduces it): the simulator's defaults are the built-in values below
// with every measured value replaced by it.
//
//go:embed profile.yaml
var measuredProfile []byte

var defaults = sync.OnceValue(func() Params {
	p := builtinParams()
	if err := decodeParams(&p, measuredProfile); err != nil {
		panic("internal/sim/profile.yaml: " + err.Error()) // TestDefaultsValid
	}
	return p
})

// DefaultParams returns the defaults (docs/simulate.md): the measured
// profile (profile.yaml) over the built-in values.
func DefaultParams() Params { return defaults() }

// builtinParams are the values no calibration measures (the controller's
// flags, the run's shape, start-up CPU, drain) and the unmeasured
// estimates the profile replaces.
func builtinParams() Params {
	return Params{
		Profile: Profile{Source: "defaults", Notes: "not measured: docs/simulate.md explains each value"},
		Controller: Controller{
			SyncPeriodSeconds:              15,
			Tolerance:                      0.1,
			CPUInitializationPeriodSeconds: 300,
			InitialReadinessDelaySeconds:   30,
			DownscaleStabilizationSeconds:  300,
		},
		Metrics: Pipeline{
			MetricsServerResolutionSeconds: 0,
			ScrapeIntervalSeconds:          0,
			RateWindowSeconds:              0,
		},
		Gateway: Gateway{
			BaseRPS:                200,
			BaseLatencyMs:          50,
			P95TargetMs:            500,
			TimeoutSeconds:         30,
			IdleCPU:                50,
			CPUPerRPS:              3,
			StartupCPU:             400,
			BaseMemoryMi:           250,
			MemoryMiPerRPS:         0.5,
			MemorySmoothingSeconds: 60,
			PendingSeconds:         5,
			StartupSeconds:         15,
			DrainSeconds:           5,
		},
		Worker: Worker{
			BaseJobsPerSecond: 0.5,
			Concurrency:       2,
			JobMeanSeconds:    4,
			JobCV:             0.5,
			WaitSLOSeconds:    60,
			IdleCPU:           50,
			CPUPerJob:         400,
			StartupCPU:        600,
			BaseMemoryMi:      300,
			MemoryMiPerJob:    200,
			PendingSeconds:    10,
			StartupSeconds:    20,
		},
		Run: RunParams{
			WarmupSeconds: 900,
			StartupJitter: 0.2,
			CPUBurst:      0,
		},
	}
}

// Validate reports the first parameter out of range, named by its YAML path.
func (p *Params) Validate() error {
	type check struct {
		name string
		v    float64
		min  float64
		// strict: v must be > min; else v >= min.
		strict bool
	}
	checks := []check{
		{"controller.syncPeriodSeconds", float64(p.Controller.SyncPeriodSeconds), 0, true},
		{"controller.tolerance", p.Controller.Tolerance, 0, false},
		{"controller.cpuInitializationPeriodSeconds", float64(p.Controller.CPUInitializationPeriodSeconds), 0, false},
		{"controller.initialReadinessDelaySeconds", float64(p.Controller.InitialReadinessDelaySeconds), 0, false},
		{"controller.downscaleStabilizationSeconds", float64(p.Controller.DownscaleStabilizationSeconds), 0, false},
		{"metrics.metricsServerResolutionSeconds", float64(p.Metrics.MetricsServerResolutionSeconds), 0, false},
		{"metrics.scrapeIntervalSeconds", float64(p.Metrics.ScrapeIntervalSeconds), 0, false},
		{"metrics.rateWindowSeconds", float64(p.Metrics.RateWindowSeconds), 0, false},
		{"gateway.baseRPS", p.Gateway.BaseRPS, 0, false},
		{"gateway.baseLatencyMs", p.Gateway.BaseLatencyMs, 0, false},
		{"gateway.p95TargetMs", p.Gateway.P95TargetMs, 0, true},
		{"gateway.timeoutSeconds", p.Gateway.TimeoutSeconds, 0, true},
		{"gateway.idleCPU", p.Gateway.IdleCPU, 0, false},
		{"gateway.cpuPerRPS", p.Gateway.CPUPerRPS, 0, true},
		{"gateway.startupCPU", p.Gateway.StartupCPU, 0, false},
		{"gateway.baseMemoryMi", p.Gateway.BaseMemoryMi, 0, false},
		{"gateway.memoryMiPerRPS", p.Gateway.MemoryMiPerRPS, 0, false},
		{"gateway.memorySmoothingSeconds", p.Gateway.MemorySmoothingSeconds, 0, false},
		{"gateway.pendingSeconds", p.Gateway.PendingSeconds, 0, false},
		{"gateway.startupSeconds", p.Gateway.StartupSeconds, 0, false},
		{"gateway.drainSeconds", p.Gateway.DrainSeconds, 0, false},
		{"worker.baseJobsPerSecond", p.Worker.BaseJobsPerSecond, 0, false},
		{"worker.concurrency", float64(p.Worker.Concurrency), 0, true},
		{"worker.jobMeanSeconds", p.Worker.JobMeanSeconds, 0, true},
		{"worker.jobCV", p.Worker.JobCV, 0, false},
		{"worker.waitSLOSeconds", p.Worker.WaitSLOSeconds, 0, true},
		{"worker.idleCPU", p.Worker.IdleCPU, 0, false},
		{"worker.cpuPerJob", p.Worker.CPUPerJob, 0, true},
		{"worker.startupCPU", p.Worker.StartupCPU, 0, false},
		{"worker.baseMemoryMi", p.Worker.BaseMemoryMi, 0, false},
		{"worker.memoryMiPerJob", p.Worker.MemoryMiPerJob, 0, false},
		{"worker.pendingSeconds", p.Worker.PendingSeconds, 0, false},
		{"worker.startupSeconds", p.Worker.StartupSeconds, 0, false},
		{"run.warmupSeconds", float64(p.Run.WarmupSeconds), 0, false},
		{"run.startupJitter", p.Run.StartupJitter, 0, false},
		{"run.cpuBurst", p.Run.CPUBurst, 0, false},
	}
	for _, c := range checks {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) {
			return fmt.Errorf("%s: %v is not a number", c.name, c.v)
		}
		if c.strict && c.v <= c.min {
			return fmt.Errorf("%s: %v must be greater than %v", c.name, c.v, c.min)
		}
		if !c.strict && c.v < c.min {
			return fmt.Errorf("%s: %v must not be negative", c.name, c.v)
		}
	}
	if p.Worker.Concurrency > maxConcurrency {
		return fmt.Errorf("worker.concurrency: %d is more than %d", p.Worker.Concurrency, maxConcurrency)
	}
	if p.Run.StartupJitter >= 1 {
		return fmt.Errorf("run.startupJitter: %v must be below 1", p.Run.StartupJitter)
	}
	if p.Run.CPUBurst > 1 {
		return fmt.Errorf("run.cpuBurst: %v must be at most 1", p.Run.CPUBurst)
	}
	if p.Gateway.BaseLatencyMs >= p.Gateway.P95TargetMs {
		return fmt.Errorf("gateway.p95TargetMs: %v must exceed gateway.baseLatencyMs (%v)", p.Gateway.P95TargetMs, p.Gateway.BaseLatencyMs)
	}
	return nil
}
