package sim

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Scenario is the offered load over time: the gateway's request rate, the
// workers' job arrival rate and one-off job bursts. Built-in scenarios scale
// the base rates of Params (gateway.baseRPS, worker.baseJobsPerSecond); a
// trace gives both rates explicitly.
type Scenario struct {
	Name string
	// Duration is the default length of a run (seconds).
	Duration int64
	// Help is one line for --help.
	Help string
	// BurstAt and BurstJobs put BurstJobs jobs on the queue at once at BurstAt.
	BurstAt, BurstJobs int64

	shape  func(t float64) float64 // load multiplier of the base rates
	trace  *Trace
	replay *Replay // exact arrivals, not rates
}

// Times of the built-in scenarios (seconds).
const (
	eventStart    = 300    // spikes, flash crowds and bursts start 5 min in
	spikeFactor   = 5.0    // spike: 5x the base load ...
	spikeRise     = 30.0   // ... reached in 30 s
	spikeHold     = 900.0  // held 15 min, then back down in 30 s
	rampLength    = 1800.0 // ramp: base to 5x over 30 min
	flashFactor   = 8.0    // flash crowd: 8x in 10 s, decaying with a 15 min time constant
	flashRise     = 10.0   // seconds
	flashDecay    = 900.0  // seconds
	diurnalTrough = 0.2    // diurnal: 0.2x at 04:00 ...
	diurnalPeak   = 4.0    // ... 4x at 16:00
	burstJobs     = 10000  // queue burst: 10,000 jobs at once
	hour          = 3600   // seconds
	day           = 24 * hour
)

var scenarios = []Scenario{
	{Name: "steady", Duration: hour, Help: "constant base load (gateway.baseRPS, worker.baseJobsPerSecond); 1 h",
		shape: func(float64) float64 { return 1 }},
	{Name: "ramp", Duration: hour, Help: "from the base load to 5x, linearly over 30 min starting at 5 min, then held; 1 h",
		shape: func(t float64) float64 {
			return 1 + (spikeFactor-1)*clamp01((t-eventStart)/rampLength)
		}},
	{Name: "spike", Duration: hour, Help: "base load, at 5 min up to 5x within 30 s, held 15 min, down again within 30 s; 1 h",
		shape: func(t float64) float64 {
			up := clamp01((t - eventStart) / spikeRise)
			down := clamp01((t - eventStart - spikeRise - spikeHold) / spikeRise)
			return 1 + (spikeFactor-1)*(up-down)
		}},
	{Name: "diurnal", Duration: day, Help: "a day: 0.2x the base load at 04:00 rising smoothly (cosine) to 4x at 16:00; 24 h",
		shape: func(t float64) float64 {
			phase := 2 * math.Pi * (t - 4*hour) / day
			return diurnalTrough + (diurnalPeak-diurnalTrough)*(1-math.Cos(phase))/2
		}},
	{Name: "flash-crowd", Duration: 2 * hour, Help: "base load, at 5 min up to 8x within 10 s, decaying back with a 15 min time constant; 2 h",
		shape: func(t float64) float64 {
			if t < eventStart {
				return 1
			}
			rise := clamp01((t - eventStart) / flashRise)
			decay := math.Exp(-max(0, t-eventStart-flashRise) / flashDecay)
			return 1 + (flashFactor-1)*rise*decay
		}},
	{Name: "queue-burst", Duration: 2 * hour, Help: "base load, and 10,000 jobs put on the queue at once at 5 min; 2 h",
		BurstAt: eventStart, BurstJobs: burstJobs,
		shape: func(float64) float64 { return 1 }},
}

func clamp01(x float64) float64 { return max(0, min(1, x)) }

// Scenarios lists the built-in scenarios in the order --help shows them.
func Scenarios() []Scenario { return append([]Scenario(nil), scenarios...) }

// ScenarioNames returns the built-in names, sorted.
func ScenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	sort.Strings(names)
	return names
}

// LookupScenario returns a built-in scenario by name.
func LookupScenario(name string) (Scenario, error) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (want one of %s, or --trace FILE)", name, strings.Join(ScenarioNames(), ", "))
}

// TraceScenario replays a trace; its duration is the trace's last time.
func TraceScenario(tr *Trace) Scenario {
	return Scenario{Name: "trace:" + tr.Name, Duration: int64(math.Ceil(tr.End())), Help: "replay of " + tr.Name, trace: tr}
}

// rates returns the offered request rate (req/s) and job arrival rate
// (jobs/s) at second t. Calls must come with non-decreasing t (a trace keeps
// a cursor).
func (s *Scenario) rates(t float64, p *Params) (rps, jobs float64) {
	if s.replay != nil {
		r, j := s.replay.arrivals(int64(t))
		return float64(r), float64(j)
	}
	if s.trace != nil {
		return s.trace.at(t)
	}
	m := s.shape(t)
	return m * p.Gateway.BaseRPS, m * p.Worker.BaseJobsPerSecond
}
