package fidelity

import (
	"fmt"
	"io"
	"strings"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// Match is a measured scale event and the simulated one that matches it.
type Match struct {
	Measured  Event `json:"measured"`
	Simulated Event `json:"simulated"`
	// DeltaSeconds is simulated minus measured time.
	DeltaSeconds int64 `json:"deltaSeconds"`
}

// Agreement is one HPA's comparison.
type Agreement struct {
	HPA        string `json:"hpa"`
	Deployment string `json:"deployment"`
	// ToleranceSeconds is how far apart a match may be: one HPA sync period.
	ToleranceSeconds int64   `json:"toleranceSeconds"`
	Matches          []Match `json:"matches"`
	// Unmatched are measured events no simulated one matched; Extra are
	// simulated events that match no measured one.
	Unmatched       []Event `json:"unmatched"`
	Extra           []Event `json:"extra"`
	MeasuredPeak    int32   `json:"measuredPeak"`
	SimulatedPeak   int32   `json:"simulatedPeak"`
	MaxDeltaSeconds int64   `json:"maxDeltaSeconds"`
	// Agree: every event matched both ways and the peaks are equal.
	Agree bool `json:"agree"`
}

// Compare matches the measured events of m with the simulated events of d,
// in order: the next simulated event with the same from → to, at most
// tolerance seconds from the measured one, matches it. A simulated event
// skipped over to reach a match is extra, as is one left at the end.
func Compare(m Measured, d *sim.DeploymentResult, tolerance int64) Agreement {
	a := Agreement{HPA: m.HPA, Deployment: m.Deployment, ToleranceSeconds: tolerance,
		MeasuredPeak: m.Peak, SimulatedPeak: d.Summary.PeakReplicas,
		Matches: []Match{}, Unmatched: []Event{}, Extra: []Event{}}
	sims := make([]Event, len(d.Events))
	for i, e := range d.Events {
		sims[i] = Event{T: e.T, From: e.From, To: e.To, Metric: e.Metric}
	}
	next := 0
	for _, me := range m.Events {
		found := -1
		for j := next; j < len(sims); j++ {
			if sims[j].T > me.T+tolerance {
				break
			}
			if sims[j].From == me.From && sims[j].To == me.To && abs(sims[j].T-me.T) <= tolerance {
				found = j
				break
			}
		}
		if found < 0 {
			a.Unmatched = append(a.Unmatched, me)
			continue
		}
		a.Extra = append(a.Extra, sims[next:found]...)
		delta := sims[found].T - me.T
		a.Matches = append(a.Matches, Match{Measured: me, Simulated: sims[found], DeltaSeconds: delta})
		a.MaxDeltaSeconds = max(a.MaxDeltaSeconds, abs(delta))
		next = found + 1
	}
	a.Extra = append(a.Extra, sims[next:]...)
	a.Agree = len(a.Unmatched) == 0 && len(a.Extra) == 0 && a.MeasuredPeak == a.SimulatedPeak
	return a
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// Deployment finds the simulated deployment of that name.
func Deployment(res *sim.Result, name string) (*sim.DeploymentResult, error) {
	for i := range res.Deployments {
		if res.Deployments[i].Name == name {
			return &res.Deployments[i], nil
		}
	}
	return nil, fmt.Errorf("the simulation has no Deployment %s", name)
}

// CompareAll compares every measured HPA of run with the simulation.
func CompareAll(run *Run, res *sim.Result, tolerance int64) ([]Agreement, error) {
	var out []Agreement
	for _, m := range run.HPAs {
		d, err := Deployment(res, m.Deployment)
		if err != nil {
			return nil, err
		}
		if d.HPA != m.HPA {
			return nil, fmt.Errorf("Deployment %s: measured HPA %s, the manifests' HPA is %q: simulate the manifests that were deployed", m.Deployment, m.HPA, d.HPA)
		}
		out = append(out, Compare(m, d, tolerance))
	}
	return out, nil
}

// Agree says whether every comparison agreed.
func Agree(as []Agreement) bool {
	for _, a := range as {
		if !a.Agree {
			return false
		}
	}
	return len(as) > 0
}

// WriteText prints the comparisons as a table of events per HPA.
func WriteText(w io.Writer, as []Agreement) error {
	var b strings.Builder
	for _, a := range as {
		verdict := "AGREE"
		if !a.Agree {
			verdict = "DISAGREE"
		}
		fmt.Fprintf(&b, "%s (Deployment %s): %s — %d of %d measured scale events matched within %d s (largest gap %d s), %d simulated events unmatched; peak replicas measured %d, simulated %d\n",
			a.HPA, a.Deployment, verdict, len(a.Matches), len(a.Matches)+len(a.Unmatched), a.ToleranceSeconds, a.MaxDeltaSeconds, len(a.Extra), a.MeasuredPeak, a.SimulatedPeak)
		fmt.Fprintf(&b, "    %-10s %-10s %-8s %s\n", "measured", "simulated", "gap", "replicas")
		for _, m := range a.Matches {
			fmt.Fprintf(&b, "    %-10s %-10s %+6ds  %d → %d  %s\n", clock(m.Measured.T), clock(m.Simulated.T), m.DeltaSeconds, m.Measured.From, m.Measured.To, m.Simulated.Metric)
		}
		for _, e := range a.Unmatched {
			fmt.Fprintf(&b, "    %-10s %-10s %-8s %d → %d  no simulated event within %d s\n", clock(e.T), "-", "", e.From, e.To, a.ToleranceSeconds)
		}
		for _, e := range a.Extra {
			fmt.Fprintf(&b, "    %-10s %-10s %-8s %d → %d  simulated only  %s\n", "-", clock(e.T), "", e.From, e.To, e.Metric)
		}
		if a.MeasuredPeak != a.SimulatedPeak {
			fmt.Fprintf(&b, "    peak replicas differ: measured %d, simulated %d\n", a.MeasuredPeak, a.SimulatedPeak)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func clock(t int64) string { return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60) }
