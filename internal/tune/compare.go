package tune

import (
	"context"
	"fmt"
	"math"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// Simulate runs each setting under every seed with full timelines (for the
// comparison table and the charts), on a pool of workers. runs[i][k] is
// setting i under Seeds[k]; labels name the settings in the results.
func Simulate(ctx context.Context, sp *Space, base sim.Config, seeds []uint64, workers int, labels []string, settings ...Setting) ([][]*sim.Result, error) {
	runs := make([][]*sim.Result, len(settings))
	for i := range runs {
		runs[i] = make([]*sim.Result, len(seeds))
	}
	err := pool(ctx, workers, len(settings), len(seeds), func(i, k int) error {
		cfg := base
		cfg.Set, cfg.Seed, cfg.Label = sp.Apply(settings[i]), seeds[k], labels[i]
		r, err := sim.Simulate(cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", labels[i], err)
		}
		runs[i][k] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
}

// Change is one knob the pick moves.
type Change struct {
	Knob Knob    `json:"knob"`
	From float64 `json:"from"`
	To   float64 `json:"to"`
	// Remedy is the spec's Tuning Guideline the direction serves.
	Remedy string `json:"remedy"`
}

// The spec's symptoms (its "Tuning Guidelines").
const (
	symptomFlapping = "flapping"
	symptomSlow     = "slow response to spikes"
	symptomIdle     = "idle pods"
)

// Changes lists the knobs that differ between two settings, each with the
// symptom of the spec's Tuning Guidelines that its direction addresses.
func (sp *Space) Changes(from, to Setting) []Change {
	var out []Change
	for i, k := range sp.Knobs {
		if from[i] == to[i] {
			continue
		}
		up := to[i] > from[i]
		out = append(out, Change{Knob: k, From: from[i], To: to[i], Remedy: remedy(k.Kind, up)})
	}
	return out
}

func remedy(k Kind, up bool) string {
	pick := func(ifUp, ifDown string) string {
		if up {
			return ifUp
		}
		return ifDown
	}
	switch k {
	case KindTarget:
		return pick("higher target: fewer "+symptomIdle+" (\"increase target utilization\")",
			"lower target: against "+symptomSlow+" (\"lower utilization thresholds\")")
	case KindMaxReplicas:
		return pick("more room at the peak: against "+symptomSlow, "lower ceiling: fewer "+symptomIdle+" (\"reduce max replicas\")")
	case KindMinReplicas:
		return pick("more headroom before a spike: against "+symptomSlow, "lower floor: fewer "+symptomIdle)
	case KindUpWindow:
		return pick("longer scale-up window: against "+symptomFlapping, "shorter scale-up window: against "+symptomSlow)
	case KindUpValue:
		return pick("bigger scale-up steps: against "+symptomSlow+" (\"increase scale-up percentage\")", "smaller scale-up steps: against "+symptomFlapping)
	case KindUpPeriod:
		return pick("longer scale-up period: against "+symptomFlapping, "shorter scale-up period: against "+symptomSlow+" (\"decrease scale-up period\")")
	case KindDownWindow:
		return pick("longer scale-down window: against "+symptomFlapping+" (\"increase stabilization window\")",
			"shorter scale-down window: fewer "+symptomIdle+" (\"increase scale-down aggressiveness\")")
	case KindDownValue:
		return pick("bigger scale-down steps: fewer "+symptomIdle+" (\"increase scale-down aggressiveness\")", "smaller scale-down steps: against "+symptomFlapping)
	case KindDownPeriod:
		return pick("longer scale-down period: against "+symptomFlapping, "shorter scale-down period: fewer "+symptomIdle+" (\"increase scale-down aggressiveness\")")
	}
	return ""
}

// Symptom is one of the spec's symptoms measured on one deployment, for
// the current settings and the pick (means over the seeds).
type Symptom struct {
	Deployment string  `json:"deployment"`
	Symptom    string  `json:"symptom"`
	Measure    string  `json:"measure"`
	Current    float64 `json:"current"`
	Pick       float64 `json:"pick"`
}

// Symptoms measures flapping (direction changes), slow response to spikes
// (the longest catch-up and the SLO-violating seconds) and idle pods
// (pod-hours above the perfect-foresight oracle's) per deployment.
func Symptoms(current, pick []*sim.Result) []Symptom {
	cs, ps := sim.Stats(current), sim.Stats(pick)
	var out []Symptom
	for d := range cs.Deployments {
		name := cs.Deployments[d].Name
		c, p := cs.Deployments[d].Figures, ps.Deployments[d].Figures
		out = append(out,
			Symptom{name, symptomFlapping, "direction changes", c["directionChanges"].Mean, p["directionChanges"].Mean},
			Symptom{name, symptomSlow, "longest catch-up s", c["catchUpSeconds"].Mean, p["catchUpSeconds"].Mean},
			Symptom{name, symptomSlow, "SLO-violating s", c["sloViolationSeconds"].Mean, p["sloViolationSeconds"].Mean},
			Symptom{name, symptomIdle, "pod-hours above the oracle's", c["podHours"].Mean - c["oraclePodHours"].Mean, p["podHours"].Mean - p["oraclePodHours"].Mean},
		)
	}
	return out
}

// Verdict says in one line what the pick does to a symptom.
func (s Symptom) Verdict() string {
	switch {
	case math.Abs(s.Pick-s.Current) < 1e-9:
		return "unchanged"
	case s.Pick < s.Current:
		if s.Current > 0 {
			return fmt.Sprintf("%.0f %% less", 100*(s.Current-s.Pick)/s.Current)
		}
		return "less"
	default:
		if s.Current > 0 {
			return fmt.Sprintf("%.0f %% more", 100*(s.Pick-s.Current)/s.Current)
		}
		return "more"
	}
}
