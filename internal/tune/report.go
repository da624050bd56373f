package tune

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// Method names the search, for the report.
const Method = "seeded Latin-hypercube sample of the settings' box (half the candidates), then 3 rounds of Gaussian local refinement (step halving each round) around the non-dominated front of each deployment; whole configurations combined from the two deployments' fronts and sorted non-dominated (NSGA-II's first front)"

// Report is what vactl tune prints.
type Report struct {
	Env        string   `json:"env"`
	History    string   `json:"history"`
	Duration   int64    `json:"durationSeconds"`
	Seeds      []uint64 `json:"seeds"`
	SearchSeed uint64   `json:"searchSeed"`
	Candidates int      `json:"candidates"`
	Runs       int      `json:"runs"`
	Workers    int      `json:"workers"`
	// WallSeconds and CPUSeconds are the search's (the machine may be shared).
	WallSeconds float64   `json:"wallSeconds"`
	CPUSeconds  float64   `json:"cpuSeconds"`
	Method      string    `json:"method"`
	Params      []string  `json:"params"`
	Space       *Space    `json:"space"`
	Front       []Row     `json:"front"`
	Current     Row       `json:"current"`
	Prefer      Prefer    `json:"prefer"`
	Budget      Budget    `json:"budget"`
	Pick        Row       `json:"pick"`
	Changes     []Change  `json:"changes"`
	Symptoms    []Symptom `json:"symptoms"`
	// Comparison is current against the pick on the tuning history, every
	// summary figure with its 95 % interval over the seeds.
	Comparison [2]sim.RunStats `json:"comparison"`
	// Holdout is the same on the later part the search did not see.
	Holdout *Holdout `json:"holdout,omitempty"`
	Patch   string   `json:"patch"`
	Notes   []string `json:"notes,omitempty"`
}

// Holdout is the honest evaluation: the pick and the current settings on
// the history after the split.
type Holdout struct {
	From       int64           `json:"fromSeconds"`
	To         int64           `json:"toSeconds"`
	Current    Row             `json:"current"`
	Pick       Row             `json:"pick"`
	Comparison [2]sim.RunStats `json:"comparison"`
}

// Row is one configuration's objectives and settings.
type Row struct {
	SLOSeconds sim.FigureStats `json:"sloViolationSeconds"`
	PodHours   sim.FigureStats `json:"podHours"`
	Setting    Setting         `json:"setting"`
}

// RowOf is a point with its setting.
func (s *Search) RowOf(p Point) Row {
	return Row{SLOSeconds: p.SLOSeconds, PodHours: p.PodHours, Setting: s.Setting(p)}
}

// RowOfRuns sums the deployments' objectives of whole runs.
func RowOfRuns(runs []*sim.Result, v Setting) Row {
	slo, ph := make([]float64, len(runs)), make([]float64, len(runs))
	for k, r := range runs {
		for _, d := range r.Deployments {
			slo[k] += float64(d.Summary.SLOSeconds)
			ph[k] += d.Summary.PodHours
		}
	}
	return Row{SLOSeconds: describe(slo), PodHours: describe(ph), Setting: v}
}

// WriteJSON writes the report.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func iv(f sim.FigureStats, prec int) string {
	if f.N < 2 {
		return fmt.Sprintf("%.*f", prec, f.Mean)
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, f.Mean, prec, f.Lo, prec, f.Hi)
}

// WriteText writes the report for a terminal.
func WriteText(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "Tuned %s's HPAs on %s (%s), seeds %s\n", r.Env, r.History, secs(float64(r.Duration)), seedList(r.Seeds))
	fmt.Fprintf(b, "  search    %d settings x %d seeds = %d simulations on %d workers: %.1f s wall, %.1f s CPU\n",
		r.Candidates, len(r.Seeds), r.Runs, r.Workers, r.WallSeconds, r.CPUSeconds)
	fmt.Fprintf(b, "  method    %s (search seed %d)\n", r.Method, r.SearchSeed)
	fmt.Fprintf(b, "  params    %s\n", strings.Join(r.Params, " + "))
	if r.Space.MaxStep > 0 {
		fmt.Fprintf(b, "  max step  %s of each current value\n", pct(r.Space.MaxStep))
	}
	for _, n := range append(append([]string(nil), r.Space.Notes...), r.Notes...) {
		fmt.Fprintf(b, "  note      %s\n", n)
	}
	b.WriteString("\nSearched (objectives: SLO-violating seconds and pod-hours, both deployments, mean over seeds):\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  HPA\tfield\tcurrent\trange")
	for _, k := range r.Space.Knobs {
		rng := "fixed"
		if k.Free() {
			rng = k.Format(k.Lo) + " – " + k.Format(k.Hi)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.HPA, k.Field, k.Format(k.Current), rng)
	}
	tw.Flush()

	fmt.Fprintf(b, "\nPareto front (%d configurations; 95 %% intervals over the seeds):\n", len(r.Front))
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tSLO-violating s\tpod-hours\tchanges\t")
	for i, f := range r.Front {
		mark := ""
		if sameSetting(f.Setting, r.Pick.Setting) {
			mark = "<- pick"
		}
		if sameSetting(f.Setting, r.Current.Setting) {
			mark += " (current)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\n", i+1, iv(f.SLOSeconds, 0), iv(f.PodHours, 2), len(r.Space.Changes(r.Current.Setting, f.Setting)), mark)
	}
	fmt.Fprintf(tw, "  current\t%s\t%s\t0\t\n", iv(r.Current.SLOSeconds, 0), iv(r.Current.PodHours, 2))
	tw.Flush()

	fmt.Fprintf(b, "\nPick (--prefer %s%s): %s SLO-violating s, %s pod-hours (current: %s, %s)\n",
		r.Prefer, budgetText(r.Budget), iv(r.Pick.SLOSeconds, 0), iv(r.Pick.PodHours, 2), iv(r.Current.SLOSeconds, 0), iv(r.Current.PodHours, 2))
	if len(r.Changes) == 0 {
		b.WriteString("  the current settings are on the front and nothing found beats them here: no change\n")
	}
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, c := range r.Changes {
		fmt.Fprintf(tw, "  %s\t%s\t%s → %s\t%s\n", c.Knob.HPA, c.Knob.Field, c.Knob.Format(c.From), c.Knob.Format(c.To), c.Remedy)
	}
	tw.Flush()

	b.WriteString("\nThe spec's symptoms, current → pick (means over the seeds):\n")
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, s := range r.Symptoms {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.4g → %.4g\t%s\n", s.Deployment, s.Symptom, s.Measure, s.Current, s.Pick, s.Verdict())
	}
	tw.Flush()

	b.WriteString("\nSimulated, current against pick (mean and 95 % interval over the seeds):\n")
	writeComparison(b, r.Comparison)
	if h := r.Holdout; h != nil {
		fmt.Fprintf(b, "\nHoldout: %s – %s of the history, which the search did not see:\n", secs(float64(h.From)), secs(float64(h.To)))
		fmt.Fprintf(b, "  tuning part   current %s s, %s pod-h; pick %s s, %s pod-h\n", iv(r.Current.SLOSeconds, 0), iv(r.Current.PodHours, 2), iv(r.Pick.SLOSeconds, 0), iv(r.Pick.PodHours, 2))
		fmt.Fprintf(b, "  holdout part  current %s s, %s pod-h; pick %s s, %s pod-h\n", iv(h.Current.SLOSeconds, 0), iv(h.Current.PodHours, 2), iv(h.Pick.SLOSeconds, 0), iv(h.Pick.PodHours, 2))
		writeComparison(b, h.Comparison)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var comparisonFigures = []string{"sloViolationSeconds", "podHours", "oraclePodHours", "catchUpSeconds", "directionChanges", "scaleEvents", "peakReplicas"}

func writeComparison(b *strings.Builder, c [2]sim.RunStats) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  deployment\tfigure\tcurrent\tpick")
	for d := range c[0].Deployments {
		for _, f := range comparisonFigures {
			prec := 0
			if f == "podHours" || f == "oraclePodHours" {
				prec = 2
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c[0].Deployments[d].Name, f, iv(c[0].Deployments[d].Figures[f], prec), iv(c[1].Deployments[d].Figures[f], prec))
		}
	}
	tw.Flush()
}

func budgetText(b Budget) string {
	s := ""
	if b.MaxPodHours != nil {
		s += fmt.Sprintf(", --max-pod-hours %g", *b.MaxPodHours)
	}
	if b.MaxSLOSeconds != nil {
		s += fmt.Sprintf(", --max-slo-seconds %g", *b.MaxSLOSeconds)
	}
	return s
}

func sameSetting(a, b Setting) bool { return a.key() == b.key() }

func seedList(s []uint64) string {
	if len(s) == 1 {
		return fmt.Sprint(s[0])
	}
	return fmt.Sprintf("%d–%d", s[0], s[len(s)-1])
}
