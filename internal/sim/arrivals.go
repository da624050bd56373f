package sim

import (
	"fmt"
	"math/rand/v2"
)

// Arrivals are a run's offered load and its Poisson arrivals, second by
// second from the start of the warm-up to the end. They depend on the
// scenario, the base rates of the parameters, the duration and the seed,
// not on the manifests: a search that simulates many settings under the
// same seeds draws them once per seed (NewArrivals) and hands them to every
// run (Config.Arrivals), read-only, instead of drawing the same numbers
// again in each run. The worker's service times are drawn the same way:
// the n-th job a worker takes gets the n-th draw of the stream whatever the
// manifests, so the first draws are shared too. A run given them computes
// exactly what it computes drawing its own.
type Arrivals struct {
	seed           uint64
	scenario       string
	from, to       int64
	baseRPS, baseJ float64
	// rates is the offered load, shared by the seeds' Arrivals.
	rates *rates
	// reqs[i] and jobs[i] are the requests and jobs of second from+i: whole
	// numbers, exact in these types (a float32 holds integers to 2^24).
	reqs []float32
	jobs []int32
	// svc are the first service times of the worker's stream (as many as
	// jobs arrive: more are drawn only when jobs are handed back), and
	// svcRest the stream's state after them, for a run that needs more.
	svc            []float64
	svcRest        rand.PCG
	jobMean, jobCV float64
}

// rates are the offered request and job rates of each second.
type rates struct{ rps, jobs []float64 }

// span is the run's first second (the warm-up's) and its end.
func span(cfg Config) (from, to int64) {
	to = cfg.Duration
	if to <= 0 {
		to = cfg.Scenario.Duration
	}
	return -cfg.Params.Run.WarmupSeconds, to
}

// NewArrivals draws the arrivals of cfg's scenario under each seed, as Run
// would draw them (cfg.Seed and cfg.Set are not read). A replay has its
// arrivals already: it gets nil, and runs read the replay.
func NewArrivals(cfg Config, seeds []uint64) ([]*Arrivals, error) {
	sc := cfg.Scenario
	if sc.replay != nil {
		return make([]*Arrivals, len(seeds)), nil
	}
	if sc.shape == nil && sc.trace == nil {
		return nil, fmt.Errorf("no scenario")
	}
	if sc.trace != nil {
		tc := *sc.trace // its own cursor
		tc.cursor = 0
		sc.trace = &tc
	}
	from, to := span(cfg)
	n := max(0, to-from)
	r := &rates{rps: make([]float64, n), jobs: make([]float64, n)}
	for t := from; t < to; t++ {
		r.rps[t-from], r.jobs[t-from] = sc.rates(float64(max(t, 0)), &cfg.Params)
	}
	out := make([]*Arrivals, len(seeds))
	for k, seed := range seeds {
		a := &Arrivals{seed: seed, scenario: sc.Name, from: from, to: to, baseRPS: cfg.Params.Gateway.BaseRPS, baseJ: cfg.Params.Worker.BaseJobsPerSecond,
			rates: r, reqs: make([]float32, n), jobs: make([]int32, n)}
		gw, wk := newRNG(seed, streamGatewayArrivals), newRNG(seed, streamWorkerArrivals)
		total := int64(0) // jobs that arrive
		for i := range a.reqs {
			// the order of Run's draws: the gateway's, then the worker's, each on its own stream
			reqs, jobs := gw.poisson(r.rps[i]), wk.poisson(r.jobs[i])
			a.reqs[i], a.jobs[i] = float32(reqs), int32(jobs)
			if float64(a.reqs[i]) != reqs || float64(a.jobs[i]) != jobs {
				return nil, fmt.Errorf("second %d: %v requests or %v jobs do not fit the arrivals' types", from+int64(i), reqs, jobs)
			}
			total += int64(a.jobs[i])
		}
		if sc.BurstJobs > 0 && sc.BurstAt >= from && sc.BurstAt < to {
			total += sc.BurstJobs
		}
		w := &cfg.Params.Worker
		a.jobMean, a.jobCV = w.JobMeanSeconds, w.JobCV
		svc, g := newLogNormal(w.JobMeanSeconds, w.JobCV), newRNG(seed, streamWorkerService)
		a.svc = make([]float64, total)
		for i := range a.svc {
			a.svc[i] = svc.draw(g)
		}
		a.svcRest = *g.src
		out[k] = a
	}
	return out, nil
}

// fits says whether a are the arrivals of cfg's run.
func (a *Arrivals) fits(cfg Config) error {
	from, to := span(cfg)
	if a.seed != cfg.Seed || a.scenario != cfg.Scenario.Name || a.from != from || a.to != to ||
		a.baseRPS != cfg.Params.Gateway.BaseRPS || a.baseJ != cfg.Params.Worker.BaseJobsPerSecond ||
		a.jobMean != cfg.Params.Worker.JobMeanSeconds || a.jobCV != cfg.Params.Worker.JobCV {
		return fmt.Errorf("arrivals of seed %d, scenario %s, seconds %d..%d given to a run of seed %d, scenario %s, seconds %d..%d",
			a.seed, a.scenario, a.from, a.to, cfg.Seed, cfg.Scenario.Name, from, to)
	}
	return nil
}
