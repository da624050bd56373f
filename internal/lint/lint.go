// Package lint checks rendered Kubernetes manifests for what makes
// autoscaling fail: HPAs whose target, metrics or behavior cannot work, PDBs
// that block drains, VPAs that fight HPAs, quotas too small for the maxima,
// Redis queues that evict jobs, probes that cannot run, overlays that drop
// triggers, and Pod Security "restricted" violations.
//
// Every rule has an ID, a severity, a one-line reason and a fix; a finding
// names the object, the field (as a JSON path) and, where the input is a
// file, the file and line. Lint runs the enabled rules over one or more
// inputs (a kustomize build, a YAML stream) and returns a Report.
package lint

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Severity says how bad a finding is. By default only errors fail `vactl
// lint`; --fail-on lowers the bar.
type Severity string

// Severities, most severe first.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Severities lists them, most severe first.
var Severities = []Severity{Error, Warning, Info}

// ParseSeverity reads "error", "warning" or "info".
func ParseSeverity(s string) (Severity, error) {
	for _, v := range Severities {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("severity %q: want error, warning or info", s)
}

func (s Severity) rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	default:
		return 2
	}
}

// Rule is one check.
type Rule struct {
	// ID is stable and kebab-case: it is what users disable and accept.
	ID       string
	Severity Severity
	// Summary says in one line why the problem matters.
	Summary string
	// Help says how to fix it, in general (each finding carries its own fix).
	Help  string
	Check func(*Context) []Finding
}

// Finding is one problem on one object.
type Finding struct {
	RuleID   string   `json:"ruleId"`
	Severity Severity `json:"severity"`
	// Input names what was linted: "env prod", a file, a kustomization dir.
	Input string `json:"input"`
	// Object is "Kind namespace/name".
	Object string `json:"object"`
	// Field is a JSON path into the object, like spec.behavior.scaleUp.policies[1].
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// File and Line locate the object (or the field) in the user's files
	// when they are known.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Accepted holds the reason when the object accepts this finding
	// (annotation accept.lint.voiceassist.io/<rule-id>).
	Accepted string `json:"accepted,omitempty"`

	obj   *Object
	order int
}

// AcceptAnnotationPrefix plus a rule ID is the annotation that accepts a
// finding of that rule on the object that carries it; its value is the reason.
const AcceptAnnotationPrefix = "accept.lint.voiceassist.io/"

// BlocksEvictionAnnotation marks a PDB that blocks voluntary eviction on
// purpose; its value must start with "intended:" and give the reason.
const BlocksEvictionAnnotation = "voiceassist.io/blocks-eviction"

// Report is the result of a lint run.
type Report struct {
	Inputs   []string  `json:"inputs"`
	Findings []Finding `json:"findings"`
	// Rules are the rules that ran, in registry order.
	Rules []*Rule `json:"-"`
}

// Count returns the number of findings at severity s that no object accepts.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s && f.Accepted == "" {
			n++
		}
	}
	return n
}

// Accepted returns the number of accepted findings.
func (r *Report) Accepted() int {
	n := 0
	for _, f := range r.Findings {
		if f.Accepted != "" {
			n++
		}
	}
	return n
}

// Failed reports whether an error-level finding is left unaccepted.
func (r *Report) Failed() bool { return r.FailsAt(Error) }

// FailsAt reports whether a finding at severity s or worse is left
// unaccepted: what `vactl lint --fail-on s` exits 1 on.
func (r *Report) FailsAt(s Severity) bool {
	for _, f := range r.Findings {
		if f.Accepted == "" && f.Severity.rank() <= s.rank() {
			return true
		}
	}
	return false
}

// Lint runs every enabled rule over every input.
func Lint(inputs []*Input, cfg Config) *Report {
	rules := cfg.enabledRules()
	rep := &Report{Rules: rules}
	for i, in := range inputs {
		rep.Inputs = append(rep.Inputs, in.Name)
		ctx := newContext(in, &cfg, i+1)
		for _, r := range rules {
			for _, f := range r.Check(ctx) {
				rep.Findings = append(rep.Findings, ctx.complete(r, f))
			}
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.order != b.order {
			return a.order < b.order
		}
		if a.Severity != b.Severity {
			return a.Severity.rank() < b.Severity.rank()
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.Field < b.Field
	})
	return rep
}

// complete fills what a rule leaves out: rule, severity, object, location,
// acceptance, and the ordering key that groups findings by object.
func (c *Context) complete(r *Rule, f Finding) Finding {
	f.RuleID = r.ID
	if f.Severity == "" {
		f.Severity = r.Severity
	}
	f.Input = c.Input.Name
	f.order = c.inputOrder * 1_000_000
	if o := f.obj; o != nil {
		f.Object = o.Ref
		f.order += o.index
		if f.File == "" {
			f.File = o.File
			f.Line = o.line(f.Field)
		}
		f.Accepted = accepted(o, r.ID)
	}
	return f
}

func accepted(o *Object, rule string) string {
	ann := o.annotations()
	if v := strings.TrimSpace(ann[AcceptAnnotationPrefix+rule]); v != "" {
		return v
	}
	if rule == "pdb-blocks-eviction" {
		v := strings.TrimSpace(ann[BlocksEvictionAnnotation])
		if reason, ok := strings.CutPrefix(v, "intended:"); ok && strings.TrimSpace(reason) != "" {
			return v
		}
	}
	return ""
}

// Config selects rules and sets their parameters.
type Config struct {
	// Disable lists rule IDs that do not run.
	Disable []string `json:"disable,omitempty"`
	// LimitRequestRatio is the band limits must stay in, as multiples of
	// requests (resources-limit-ratio). Default 2-4.
	LimitRequestRatio RatioBand `json:"limitRequestRatio"`
	// ShellessImages are image name prefixes (registry host ignored) of
	// images that have no shell or tools, so exec probes fail on them.
	// Default voiceassist/.
	ShellessImages []string `json:"shellessImages,omitempty"`
}

// RatioBand is a closed interval of limit/request ratios.
type RatioBand struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// DefaultConfig runs every rule with the project's parameters.
func DefaultConfig() Config {
	return Config{
		LimitRequestRatio: RatioBand{Min: 2, Max: 4},
		ShellessImages:    []string{"voiceassist/"},
	}
}

// Validate rejects unknown rule IDs and impossible parameters.
func (c Config) Validate() error {
	for _, id := range c.Disable {
		if RuleByID(id) == nil {
			return fmt.Errorf("unknown rule %q (vactl lint --list-rules shows them)", id)
		}
	}
	if b := c.LimitRequestRatio; b.Min <= 0 || b.Max < b.Min {
		return fmt.Errorf("limit/request ratio band %g-%g: want 0 < min <= max", b.Min, b.Max)
	}
	return nil
}

func (c Config) enabledRules() []*Rule {
	var out []*Rule
	for _, r := range Rules() {
		if !slices.Contains(c.Disable, r.ID) {
			out = append(out, r)
		}
	}
	return out
}
