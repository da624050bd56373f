package sim

import (
	"math"
	"math/rand/v2"
)

// rng is a seeded PCG stream with the draws the model needs. Each concern
// (arrivals, service times, start-up times) has its own stream, so that a
// parameter change in one does not reshuffle the others.
type rng struct {
	r   *rand.Rand
	src *rand.PCG // r's state, which a copy continues exactly (rand.Rand keeps none of its own)
	// the last small Poisson mean and its exp(-λ), reused while λ is unchanged
	lastLambda, lastExp *float64
}

func newRNG(seed uint64, stream uint64) rng {
	return fromPCG(*rand.NewPCG(seed, 0x9e3779b97f4a7c15^stream))
}

// fromPCG is a stream that continues from state.
func fromPCG(state rand.PCG) rng {
	src := &state
	return rng{r: rand.New(src), src: src, lastLambda: new(float64), lastExp: new(float64)}
}

// poisson draws a Poisson count with mean lambda: Knuth's product method
// below 15, a rounded normal approximation N(λ, λ) above.
func (g rng) poisson(lambda float64) float64 {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 15:
		if *g.lastLambda != lambda {
			*g.lastLambda, *g.lastExp = lambda, math.Exp(-lambda)
		}
		l := *g.lastExp
		k, p := 0.0, g.r.Float64()
		for p > l {
			k++
			p *= g.r.Float64()
		}
		return k
	default:
		return max(0, math.Round(lambda+math.Sqrt(lambda)*g.r.NormFloat64()))
	}
}

// logNormal is a log-normal distribution given by its mean and coefficient
// of variation, with its parameters precomputed.
type logNormal struct{ mean, mu, sigma float64 }

func newLogNormal(mean, cv float64) logNormal {
	s2 := math.Log1p(cv * cv)
	return logNormal{mean: mean, mu: math.Log(mean) - s2/2, sigma: math.Sqrt(s2)}
}

// draw returns one value (the mean when cv is 0).
func (d logNormal) draw(g rng) float64 {
	if d.sigma == 0 {
		return d.mean
	}
	return math.Exp(d.mu + d.sigma*g.r.NormFloat64())
}

// jitter returns d scaled uniformly within ±frac.
func (g rng) jitter(d, frac float64) float64 {
	if frac == 0 {
		return d
	}
	return d * (1 + frac*(2*g.r.Float64()-1))
}
