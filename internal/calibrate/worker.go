package calibrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/voiceassist/autoscaling/internal/loadtest"
)

// WorkerConfig is one worker measurement: a burst of real jobs.
type WorkerConfig struct {
	// Gateway accepts POST /v1/jobs and answers GET /v1/jobs/{id}.
	Gateway loadtest.Gateway
	// APIKey goes with every request (loadtest.Config.APIKey); "": none.
	APIKey string
	// Metrics scrape every worker process.
	Metrics []Scraper
	// CPUMillicores is the CPU one worker may use (0: unknown).
	CPUMillicores float64
	Clips         []loadtest.Clip
	Burst         int
	Idle          time.Duration
	// FollowTimeout bounds how long the jobs are followed.
	FollowTimeout  time.Duration
	RequestTimeout time.Duration
	Progress       io.Writer
}

// WorkerResult is what the worker measurement found.
type WorkerResult struct {
	Pods          int     `json:"pods"`
	CPUMillicores float64 `json:"cpuMillicores,omitempty"`
	Mix           string  `json:"mix"`
	Burst         int     `json:"burst"`
	Done          int     `json:"done"`
	Failed        int     `json:"failed"`
	Unfinished    int     `json:"unfinished"`
	// Seconds from the first job accepted to the last one ended, and the
	// jobs completed per second over it (all workers).
	DrainSeconds  float64 `json:"drainSeconds"`
	JobsPerSecond float64 `json:"jobsPerSecond"`
	// Service time, claim to outcome done (the job_duration histogram's delta).
	Service ServiceTime `json:"serviceTime"`
	// Concurrency is the most jobs in progress seen in one worker.
	Concurrency int `json:"concurrency"`
	// MeanBusy is the mean jobs in progress per worker during the burst.
	MeanBusy float64 `json:"meanBusy"`
	// CPU: idle (millicores per worker), the burst's CPU rate (per worker),
	// CPU-seconds per job (idle subtracted).
	IdleCPU          float64 `json:"idleCPU"`
	BusyCPU          float64 `json:"busyCPU"`
	CPUSecondsPerJob float64 `json:"cpuSecondsPerJob"`
	// Saturated: the burst's CPU reached 90 % of CPUMillicores, so the
	// service time was stretched by the CPU limit (see FullSpeed).
	Saturated bool `json:"saturated"`
	// FullSpeed is the model's job at full speed: its mean time and the
	// millicores it wants (worker.jobMeanSeconds, worker.cpuPerJob).
	FullSpeedSeconds float64 `json:"fullSpeedSeconds"`
	CPUPerJob        float64 `json:"cpuPerJob"`
	BaseMemoryMi     float64 `json:"baseMemoryMi"`
	MemoryMiPerJob   float64 `json:"memoryMiPerJob"`
}

// ServiceTime summarizes a histogram of job durations (seconds).
type ServiceTime struct {
	Count float64 `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	CV    float64 `json:"cv"`
	// Buckets are the delta's cumulative counts by upper bound.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	Le    float64 `json:"le"`
	Count float64 `json:"count"`
}

// MeasureWorker submits Burst jobs at once through the gateway
// (internal/loadtest), follows them to the end, and reads the workers'
// job_duration histogram, jobs in progress, CPU and memory around it.
func MeasureWorker(ctx context.Context, c WorkerConfig) (*WorkerResult, error) {
	if len(c.Metrics) == 0 {
		return nil, errors.New("worker: no /metrics to scrape")
	}
	if c.Burst < 1 {
		return nil, fmt.Errorf("worker: burst %d: want at least 1 job", c.Burst)
	}
	res := &WorkerResult{Pods: len(c.Metrics), CPUMillicores: c.CPUMillicores, Mix: loadtest.MixString(c.Clips), Burst: c.Burst}
	idleCPU, baseMem, err := idle(ctx, c.Metrics, c.Idle)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	res.IdleCPU, res.BaseMemoryMi = idleCPU/float64(res.Pods), baseMem
	logf(c.Progress, "worker: idle %.0fm CPU, %.0f MiB per process (%d); submitting %d jobs (%s)", res.IdleCPU, baseMem, res.Pods, c.Burst, res.Mix)
	before, err := read(ctx, c.Metrics)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	hBefore, err := jobHistogram(c.Metrics, before.fs)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: c.RequestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	smp := startSampler(ctx, c.Metrics, metricInProgress, 100*time.Millisecond)
	rep, err := loadtest.Run(ctx, loadtest.Config{Target: loadtest.TargetWorker, APIKey: c.APIKey, Burst: c.Burst, Clips: c.Clips, Gateway: c.Gateway,
		Client: client, RequestTimeout: c.RequestTimeout, FollowTimeout: c.FollowTimeout, Poll: 200 * time.Millisecond, Cooldown: 0,
		Shape: loadtest.DefaultShape(loadtest.ProfileConstant)})
	maxRSS, meanBusy, maxBusy := smp.end()
	if err != nil {
		return nil, fmt.Errorf("worker: burst: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	after, err := read(ctx, c.Metrics)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	hAfter, err := jobHistogram(c.Metrics, after.fs)
	if err != nil {
		return nil, err
	}
	if j := rep.Jobs; j != nil {
		res.Done, res.Failed, res.Unfinished = j.Done, j.Failed, j.Unfinished
	}
	res.DrainSeconds = float64(rep.CapacityMetDemandSeconds)
	if res.DrainSeconds > 0 {
		res.JobsPerSecond = float64(res.Done) / res.DrainSeconds
	}
	h := hAfter.Sub(hBefore)
	if h.Count < 1 {
		return nil, fmt.Errorf("worker: no job ended as done in %s during the burst (%d accepted, %d failed, %d unfinished)",
			metricJobSeconds, res.Done+res.Failed+res.Unfinished, res.Failed, res.Unfinished)
	}
	res.Service = ServiceTime{Count: h.Count, Mean: h.Mean(), P50: h.Quantile(0.5), P95: h.Quantile(0.95), P99: h.Quantile(0.99), CV: h.CV()}
	for i, b := range h.Bounds {
		res.Service.Buckets = append(res.Service.Buckets, Bucket{Le: b, Count: h.Counts[i]})
	}
	res.Concurrency = int(math.Round(maxBusy / float64(res.Pods)))
	res.MeanBusy = meanBusy / float64(res.Pods)
	// the CPU of the busy part: from the readings around the burst, which
	// include the follow's tail; idle CPU subtracted
	dt := after.at.Sub(before.at).Seconds()
	busy := math.Max(0, (after.cpu-before.cpu)-idleCPU/1000*dt)
	res.CPUSecondsPerJob = busy / h.Count
	if res.DrainSeconds > 0 {
		res.BusyCPU = res.CPUSecondsPerJob * h.Count / res.DrainSeconds * 1000 / float64(res.Pods)
	}
	res.Saturated = c.CPUMillicores > 0 && res.BusyCPU+res.IdleCPU >= 0.9*c.CPUMillicores
	res.fullSpeed()
	if res.Concurrency > 0 {
		res.MemoryMiPerJob = math.Max(0, maxRSS-baseMem) / float64(res.Concurrency)
	}
	logf(c.Progress, "worker: %d done, %d failed, %d unfinished in %.0f s (%.1f jobs/s); service mean %.3f s (p50 %.3f, p95 %.3f, CV %.2f), concurrency %d, %.3f CPU-s a job%s",
		res.Done, res.Failed, res.Unfinished, res.DrainSeconds, res.JobsPerSecond, res.Service.Mean, res.Service.P50, res.Service.P95, res.Service.CV,
		res.Concurrency, res.CPUSecondsPerJob, map[bool]string{true: " (CPU-bound: the limit stretched the jobs)", false: ""}[res.Saturated])
	return res, nil
}

// fullSpeed derives the model's job at full speed (worker.jobMeanSeconds,
// worker.cpuPerJob). The model's job wants cpuPerJob millicores for
// jobMeanSeconds; slots that want more than the pod's CPU all slow down in
// proportion. Unsaturated, the measured mean is the full-speed time and
// cpuPerJob is the CPU it used over it. Saturated, the measured time was
// stretched by the limit and only their product (the CPU-seconds per job)
// is known: a job is one goroutine, so it uses at most one core, and the
// full-speed job is taken as that core for its CPU time plus the part of
// its time that is not CPU (Redis, PostgreSQL) — at least the CPU time.
func (r *WorkerResult) fullSpeed() {
	cpuS := r.CPUSecondsPerJob
	if !r.Saturated || r.Concurrency == 0 {
		r.FullSpeedSeconds = r.Service.Mean
		if r.Service.Mean > 0 {
			r.CPUPerJob = math.Min(1000, 1000*cpuS/r.Service.Mean)
		}
		return
	}
	// saturated: each of the busy slots got CPU/busy of a core; the
	// measured mean = wait for CPU + the rest. The rest is the mean less
	// the CPU time stretched by the share each slot got.
	share := math.Min(1, r.CPUMillicores/1000/math.Max(r.MeanBusy, 1))
	rest := math.Max(0, r.Service.Mean-cpuS/share)
	r.FullSpeedSeconds = cpuS + rest
	if r.FullSpeedSeconds > 0 {
		r.CPUPerJob = math.Min(1000, 1000*cpuS/r.FullSpeedSeconds)
	}
}

func jobHistogram(ss []Scraper, fs []Families) (Histogram, error) {
	var total Histogram
	for i, f := range fs {
		h, ok := f.histogram(metricJobSeconds, map[string]string{"outcome": "done"})
		if !ok {
			return Histogram{}, fmt.Errorf("worker: %s: no %s{outcome=\"done\"} in its /metrics (is it a voiceassist-worker?)", ss[i].Name(), metricJobSeconds)
		}
		if total.Bounds == nil {
			total = Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts))}
		}
		for j := range total.Counts {
			if j < len(h.Counts) {
				total.Counts[j] += h.Counts[j]
			}
		}
		total.Count += h.Count
		total.Sum += h.Sum
	}
	return total, nil
}
