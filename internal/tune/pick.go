package tune

import (
	"fmt"
	"math"
)

// Prefer is how a pick is made among the front.
type Prefer string

const (
	// PreferCost: the fewest pod-hours with SLO seconds no worse than the
	// bound (--max-slo-seconds, else the current setting's).
	PreferCost Prefer = "cost"
	// PreferSLO: the fewest SLO-violating seconds with pod-hours no more
	// than the bound (--max-pod-hours, else the current setting's).
	PreferSLO Prefer = "slo"
	// PreferBalanced: within both bounds, the knee — the point nearest the
	// ideal (fewest of both) once each objective is scaled to the front's range.
	PreferBalanced Prefer = "balanced"
)

// Budget bounds a pick; nil means "the current setting's".
type Budget struct {
	MaxPodHours   *float64 `json:"maxPodHours,omitempty"`
	MaxSLOSeconds *float64 `json:"maxSloSeconds,omitempty"`
}

// Pick chooses a point of the front. The bounds are the budget's, each
// defaulting to the current setting's figure, so that without a budget the
// pick is no worse than the current settings on either objective (the
// front always holds such a point: the current one or one that dominates
// it). The error says how close the front comes when nothing fits.
func (s *Search) Pick(prefer Prefer, b Budget) (Point, error) {
	maxPH, maxSLO := s.Current.PodHours.Mean, s.Current.SLOSeconds.Mean
	if b.MaxPodHours != nil {
		maxPH = *b.MaxPodHours
	}
	if b.MaxSLOSeconds != nil {
		maxSLO = *b.MaxSLOSeconds
	}
	const eps = 1e-9
	var ok []Point
	for _, p := range s.Front {
		if p.PodHours.Mean <= maxPH+eps && p.SLOSeconds.Mean <= maxSLO+eps {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		lo := s.Front[0]
		cheap := s.Front[len(s.Front)-1]
		return Point{}, fmt.Errorf("no setting on the front has at most %.2f pod-hours and at most %.0f SLO-violating seconds: the fewest SLO seconds found are %.0f (at %.2f pod-hours), the fewest pod-hours %.2f (at %.0f SLO seconds)",
			maxPH, maxSLO, lo.SLOSeconds.Mean, lo.PodHours.Mean, cheap.PodHours.Mean, cheap.SLOSeconds.Mean)
	}
	best := ok[0]
	switch prefer {
	case PreferSLO:
		// the front is sorted by rising SLO seconds
	case PreferCost:
		best = ok[len(ok)-1]
	default:
		sLo, sHi := s.Front[0].SLOSeconds.Mean, s.Front[len(s.Front)-1].SLOSeconds.Mean
		pLo, pHi := s.Front[len(s.Front)-1].PodHours.Mean, s.Front[0].PodHours.Mean
		dist := func(p Point) float64 {
			return math.Hypot(scale(p.SLOSeconds.Mean, sLo, sHi), scale(p.PodHours.Mean, pLo, pHi))
		}
		for _, p := range ok[1:] {
			if dist(p) < dist(best) {
				best = p
			}
		}
	}
	return best, nil
}

func scale(v, lo, hi float64) float64 {
	if hi <= lo {
		return 0
	}
	return (v - lo) / (hi - lo)
}

// ParsePrefer reads --prefer.
func ParsePrefer(s string) (Prefer, error) {
	switch p := Prefer(s); p {
	case PreferCost, PreferSLO, PreferBalanced:
		return p, nil
	}
	return "", fmt.Errorf("--prefer %q: want cost, slo or balanced", s)
}
