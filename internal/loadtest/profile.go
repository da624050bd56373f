package loadtest

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// Profile names, the shapes of `vactl simulate --scenario` where they share
// a name (steady is constant here).
const (
	ProfileConstant = "constant"
	ProfileRamp     = "ramp"
	ProfileStep     = "step"
	ProfileSpike    = "spike"
)

// ProfileNames lists the built-in profiles.
func ProfileNames() []string {
	return []string{ProfileConstant, ProfileRamp, ProfileStep, ProfileSpike}
}

// Shape is a load profile: a multiplier of the base rates over time, or a
// trace giving both rates. The parameters are simulate's: the event starts
// at Start, the load rises over Rise to Factor times the base, is held for
// Hold (spike), then falls over Rise again.
type Shape struct {
	Kind     string
	Duration time.Duration
	// Start is when a ramp, step or spike begins.
	Start time.Duration
	// Rise is the spike's rise and fall, and the ramp's length.
	Rise time.Duration
	// Hold is how long the spike holds its peak.
	Hold time.Duration
	// Factor is the peak over the base rate.
	Factor float64
	// Steps and StepLength shape a step profile: Steps equal steps from the
	// base to Factor times it, each StepLength long.
	Steps      int
	StepLength time.Duration
	// Trace, when set, gives the rates (Kind is "trace:<file>").
	Trace *sim.Trace
}

// DefaultShape is a profile with the parameters of simulate's scenarios,
// shortened for a real cluster: the event at 1 min, a 30 s rise, a 5 min
// hold, 5x the base.
func DefaultShape(kind string) Shape {
	return Shape{Kind: kind, Start: time.Minute, Rise: 30 * time.Second, Hold: 5 * time.Minute, Factor: 5,
		Steps: 4, StepLength: 2 * time.Minute}
}

// DefaultDuration is the length a profile needs to show its whole shape,
// plus a minute at its end level.
func (s Shape) DefaultDuration() time.Duration {
	switch {
	case s.Trace != nil:
		return time.Duration(s.Trace.End() * float64(time.Second))
	case s.Kind == ProfileRamp:
		return s.Start + s.Rise + time.Minute
	case s.Kind == ProfileStep:
		return s.Start + time.Duration(s.Steps)*s.StepLength
	case s.Kind == ProfileSpike:
		return s.Start + 2*s.Rise + s.Hold + time.Minute
	}
	return 5 * time.Minute
}

// Validate says what is wrong with the shape's parameters.
func (s Shape) Validate() error {
	if s.Trace != nil {
		return nil
	}
	known := false
	for _, n := range ProfileNames() {
		known = known || n == s.Kind
	}
	switch {
	case !known:
		return fmt.Errorf("--profile %q: want one of %s, or --trace FILE", s.Kind, strings.Join(ProfileNames(), ", "))
	case s.Duration <= 0:
		return fmt.Errorf("--duration %s: want more than 0", s.Duration)
	case s.Kind == ProfileConstant:
		return nil
	case math.IsNaN(s.Factor) || math.IsInf(s.Factor, 0) || s.Factor <= 0:
		return fmt.Errorf("--factor %v: want a finite number above 0", s.Factor)
	case s.Start < 0:
		return fmt.Errorf("--start %s: want 0 or more", s.Start)
	case s.Kind == ProfileRamp && s.Rise <= 0:
		return fmt.Errorf("--rise %s: a ramp needs a length above 0", s.Rise)
	case s.Kind == ProfileSpike && (s.Rise < 0 || s.Hold < 0):
		return fmt.Errorf("--rise %s --hold %s: want 0 or more", s.Rise, s.Hold)
	case s.Kind == ProfileStep && (s.Steps < 1 || s.StepLength <= 0):
		return fmt.Errorf("--steps %d --step-length %s: want at least 1 step of more than 0", s.Steps, s.StepLength)
	}
	return nil
}

// Name is the profile as the report and the namespace record name it.
func (s Shape) Name() string {
	if s.Trace != nil {
		return "trace:" + s.Trace.Name
	}
	return s.Kind
}

// Describe is one line on the profile's parameters.
func (s Shape) Describe() string {
	switch {
	case s.Trace != nil:
		return fmt.Sprintf("trace %s (%d rows), %s", s.Trace.Name, len(s.Trace.T), s.Duration)
	case s.Kind == ProfileRamp:
		return fmt.Sprintf("ramp: base, from %s up to %gx over %s, held; %s", s.Start, s.Factor, s.Rise, s.Duration)
	case s.Kind == ProfileStep:
		return fmt.Sprintf("step: base, from %s %d steps up to %gx, %s each; %s", s.Start, s.Steps, s.Factor, s.StepLength, s.Duration)
	case s.Kind == ProfileSpike:
		return fmt.Sprintf("spike: base, at %s up to %gx within %s, held %s, down within %s; %s", s.Start, s.Factor, s.Rise, s.Hold, s.Rise, s.Duration)
	}
	return fmt.Sprintf("constant; %s", s.Duration)
}

// multiplier is the load over the base at t seconds.
func (s Shape) multiplier(t float64) float64 {
	start, rise, hold := s.Start.Seconds(), s.Rise.Seconds(), s.Hold.Seconds()
	step := func(x float64) float64 { // 0 before 0, 1 after 1, linear between
		return max(0, min(1, x))
	}
	switch s.Kind {
	case ProfileRamp:
		return 1 + (s.Factor-1)*step((t-start)/rise)
	case ProfileStep:
		if t < start {
			return 1
		}
		k := min(float64(s.Steps), math.Floor((t-start)/s.StepLength.Seconds())+1)
		return 1 + (s.Factor-1)*k/float64(s.Steps)
	case ProfileSpike:
		up, down := 1.0, 0.0
		if rise > 0 {
			up = step((t - start) / rise)
			down = step((t - start - rise - hold) / rise)
		} else {
			if t < start {
				up = 0
			}
			if t >= start+hold {
				down = 1
			}
		}
		return 1 + (s.Factor-1)*(up-down)
	}
	return 1
}

// Rates are the offered request and job rates at t, for base rates rps
// and jobs (a trace gives its own).
func (s Shape) Rates(t time.Duration, rps, jobs float64) (float64, float64) {
	if t < 0 || t >= s.Duration {
		return 0, 0
	}
	if s.Trace != nil {
		return s.Trace.At(t.Seconds())
	}
	m := s.multiplier(t.Seconds())
	return m * rps, m * jobs
}

// pacer is a vegeta.Pacer for any rate over time: hits are sent when the
// integral of the rate passes the next whole number, so the total sent
// matches the profile whatever its shape.
type pacer struct {
	rate func(t float64) float64
	dur  float64
	cum  []float64 // integral of rate from 0 to k*pacerStep
}

// pacerStep is the resolution of the integral (seconds).
const pacerStep = 0.01

func newPacer(dur time.Duration, rate func(t float64) float64) *pacer {
	p := &pacer{rate: rate, dur: dur.Seconds()}
	n := int(math.Ceil(p.dur/pacerStep)) + 1
	p.cum = make([]float64, n)
	for k := 1; k < n; k++ {
		// midpoint rule: exact for constant stretches, and the rate is
		// never read at the run's end, where it drops to 0
		p.cum[k] = p.cum[k-1] + rate((float64(k)-0.5)*pacerStep)*pacerStep
	}
	return p
}

// hitsBy is the expected number of hits sent by t seconds.
func (p *pacer) hitsBy(t float64) float64 {
	k := t / pacerStep
	i := int(k)
	if i >= len(p.cum)-1 {
		return p.cum[len(p.cum)-1]
	}
	return p.cum[i] + (k-float64(i))*(p.cum[i+1]-p.cum[i])
}

// Pace implements vegeta.Pacer.
func (p *pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	t := elapsed.Seconds()
	if t >= p.dur {
		return 0, true
	}
	if float64(hits) < p.hitsBy(t) {
		return 0, false
	}
	// when the integral reaches hits+1
	want := float64(hits + 1)
	i := sort.SearchFloat64s(p.cum, want)
	if i >= len(p.cum) {
		return time.Duration((p.dur - t) * float64(time.Second)), false // no more hits: sleep to the end
	}
	lo := p.cum[i-1]
	at := (float64(i-1) + (want-lo)/(p.cum[i]-lo)) * pacerStep
	wait := time.Duration((at - t) * float64(time.Second))
	return max(wait, time.Microsecond), false
}

// Rate implements vegeta.Pacer.
func (p *pacer) Rate(elapsed time.Duration) float64 { return p.rate(elapsed.Seconds()) }

// burstPacer sends n hits at once, as fast as the attacker's workers go.
type burstPacer struct{ n uint64 }

func (b burstPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= b.n }
func (b burstPacer) Rate(time.Duration) float64                              { return 0 }
