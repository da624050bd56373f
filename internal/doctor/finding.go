package doctor

import (
	"sort"
	"time"

	"github.com/voiceassist/autoscaling/internal/lint"
)

// Severity is lint's: error, warning, info.
type Severity = lint.Severity

// Severities.
const (
	Error   = lint.Error
	Warning = lint.Warning
	Info    = lint.Info
)

// Checks, as they appear in the output.
const (
	CheckMetricsAPI = "metrics-api"
	CheckHPA        = "hpa"
	CheckExplain    = "explain"
	CheckPods       = "pods"
	CheckVPA        = "vpa"
	CheckPDB        = "pdb-drain"
	CheckThrashing  = "thrashing"
	CheckEnv        = "env"
)

// Finding is one diagnosis.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Object is "Kind namespace/name".
	Object string `json:"object"`
	// Message is the diagnosis in one sentence.
	Message string `json:"message"`
	// Evidence is what doctor read that shows it.
	Evidence []string `json:"evidence,omitempty"`
	// Confirm are kubectl commands that show the same.
	Confirm []string `json:"confirm,omitempty"`
	// Fix says what to do.
	Fix string `json:"fix,omitempty"`
}

// Report is doctor's result.
type Report struct {
	Namespace string    `json:"namespace"`
	Env       string    `json:"env,omitempty"`
	Time      time.Time `json:"time"`
	Findings  []Finding `json:"findings"`
	// Explanations are the replays of the HPAs' next decisions.
	Explanations []Explanation `json:"explanations"`
	Summary      Summary       `json:"summary"`
}

// Summary counts findings by severity.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
}

// HasErrors is true when a finding is an error (vactl exits 1).
func (r *Report) HasErrors() bool { return r.Summary.Errors > 0 }

func (r *Report) finish() {
	rank := map[Severity]int{Error: 0, Warning: 1, Info: 2}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank[a.Severity] != rank[b.Severity] {
			return rank[a.Severity] < rank[b.Severity]
		}
		return false
	})
	r.Summary = Summary{}
	for _, f := range r.Findings {
		switch f.Severity {
		case Error:
			r.Summary.Errors++
		case Warning:
			r.Summary.Warnings++
		default:
			r.Summary.Infos++
		}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Explanations == nil {
		r.Explanations = []Explanation{}
	}
}

// Diagnose runs every check over s.
func Diagnose(s *Snapshot) *Report {
	r := &Report{Namespace: s.Namespace, Time: s.Now}
	r.Findings = append(r.Findings, checkMetricsAPIs(s)...)
	for i := range s.HPAs {
		h := &s.HPAs[i]
		r.Findings = append(r.Findings, checkHPA(s, h)...)
		e := Explain(s, h)
		r.Explanations = append(r.Explanations, e)
		r.Findings = append(r.Findings, explainFindings(s, h, &e)...)
		r.Findings = append(r.Findings, checkThrashing(s, h)...)
	}
	r.Findings = append(r.Findings, checkPods(s)...)
	r.Findings = append(r.Findings, checkThrottling(s)...)
	r.Findings = append(r.Findings, checkVPAs(s)...)
	r.Findings = append(r.Findings, checkPDBs(s)...)
	r.finish()
	return r
}
