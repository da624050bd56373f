package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// TextOptions controls WriteText.
type TextOptions struct {
	// Color wraps severities in ANSI colours (only for a terminal).
	Color bool
	// ShowAccepted lists accepted findings too (they are counted anyway).
	ShowAccepted bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// WriteText prints findings grouped by input and object.
func WriteText(w io.Writer, r *Report, o TextOptions) error {
	paint := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + ansiReset
	}
	sevColor := map[Severity]string{Error: ansiRed, Warning: ansiYellow, Info: ansiCyan}
	var b strings.Builder
	for _, in := range r.Inputs {
		var fs []Finding
		for _, f := range r.Findings {
			if f.Input == in && (f.Accepted == "" || o.ShowAccepted) {
				fs = append(fs, f)
			}
		}
		e, wn, inf, acc := counts(r.Findings, in)
		if len(fs) == 0 {
			fmt.Fprintf(&b, "%s: no findings%s\n", paint(ansiBold, in), acceptedNote(acc))
			continue
		}
		fmt.Fprintf(&b, "%s\n", paint(ansiBold, in))
		lastObj := ""
		for _, f := range fs {
			if key := f.Object + "\x00" + f.File; key != lastObj {
				lastObj = key
				loc := ""
				if f.File != "" {
					loc = "  " + paint(ansiDim, f.File)
				}
				fmt.Fprintf(&b, "  %s%s\n", paint(ansiBold, f.Object), loc)
			}
			sev := fmt.Sprintf("%-7s", f.Severity)
			if f.Accepted != "" {
				sev = paint(ansiDim, fmt.Sprintf("%-7s", "accept"))
			} else {
				sev = paint(sevColor[f.Severity], sev)
			}
			where := f.Field
			if f.Line > 0 {
				where = fmt.Sprintf("%s (line %d)", f.Field, f.Line)
			}
			fmt.Fprintf(&b, "    %s %s  %s\n", sev, f.RuleID, strings.TrimSpace(where))
			fmt.Fprintf(&b, "            %s\n", f.Message)
			if f.Accepted != "" {
				fmt.Fprintf(&b, "            accepted: %s\n", f.Accepted)
			} else {
				fmt.Fprintf(&b, "            fix: %s\n", f.Fix)
			}
		}
		fmt.Fprintf(&b, "  %s\n\n", summary(e, wn, inf, acc))
	}
	e, wn, inf, acc := counts(r.Findings, "")
	fmt.Fprintf(&b, "%s in %d input(s)\n", summary(e, wn, inf, acc), len(r.Inputs))
	_, err := io.WriteString(w, b.String())
	return err
}

func acceptedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d accepted)", n)
}

func summary(e, w, i, acc int) string {
	return fmt.Sprintf("%d error(s), %d warning(s), %d info%s", e, w, i, acceptedNote(acc))
}

// counts tallies unaccepted findings per severity and accepted ones, for
// one input or ("") all.
func counts(fs []Finding, input string) (e, w, i, acc int) {
	for _, f := range fs {
		if input != "" && f.Input != input {
			continue
		}
		switch {
		case f.Accepted != "":
			acc++
		case f.Severity == Error:
			e++
		case f.Severity == Warning:
			w++
		default:
			i++
		}
	}
	return
}

// WriteJSON prints the report as one JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(document(r))
}

// WriteYAML prints the same document as WriteJSON, as YAML.
func WriteYAML(w io.Writer, r *Report) error {
	y, err := yaml.Marshal(document(r))
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// reportDoc is the data form of a report (-o json, -o yaml).
type reportDoc struct {
	Inputs   []string  `json:"inputs"`
	Findings []Finding `json:"findings"`
	Summary  struct {
		Errors   int `json:"errors"`
		Warnings int `json:"warnings"`
		Info     int `json:"info"`
		Accepted int `json:"accepted"`
	} `json:"summary"`
}

func document(r *Report) reportDoc {
	e, wn, i, acc := counts(r.Findings, "")
	findings := r.Findings
	if findings == nil {
		findings = []Finding{}
	}
	doc := reportDoc{Inputs: r.Inputs, Findings: findings}
	doc.Summary.Errors, doc.Summary.Warnings, doc.Summary.Info, doc.Summary.Accepted = e, wn, i, acc
	return doc
}

// SARIF 2.1.0, the subset code-scanning tools read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string    `json:"id"`
	ShortDescription     sarifText `json:"shortDescription"`
	Help                 sarifText `json:"help"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations,omitempty"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
	Region *struct {
		StartLine int `json:"startLine"`
	} `json:"region,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind,omitempty"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// WriteSARIF prints the report as a SARIF 2.1.0 log with one run.
func WriteSARIF(w io.Writer, r *Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "vactl lint"}}, Results: []sarifResult{}}
	index := map[string]int{}
	for i, rule := range r.Rules {
		sr := sarifRule{ID: rule.ID, ShortDescription: sarifText{rule.Summary}, Help: sarifText{rule.Help}}
		sr.DefaultConfiguration.Level = sarifLevel(rule.Severity)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sr)
		index[rule.ID] = i
	}
	for _, f := range r.Findings {
		msg := f.Message + " Fix: " + f.Fix
		if f.Field != "" {
			msg = f.Object + " " + f.Field + ": " + msg
		} else {
			msg = f.Object + ": " + msg
		}
		res := sarifResult{RuleID: f.RuleID, RuleIndex: index[f.RuleID], Level: sarifLevel(f.Severity), Message: sarifText{msg}}
		loc := sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: f.Object + fieldSuffix(f.Field), Kind: "object"}}}
		if f.File != "" && !strings.HasPrefix(f.File, "<") && !strings.HasPrefix(f.File, "env ") {
			p := &sarifPhysical{}
			p.ArtifactLocation.URI = filepath.ToSlash(f.File)
			if f.Line > 0 {
				p.Region = &struct {
					StartLine int `json:"startLine"`
				}{f.Line}
			}
			loc.PhysicalLocation = p
		}
		res.Locations = []sarifLocation{loc}
		if f.Accepted != "" {
			res.Suppressions = []sarifSuppression{{Kind: "inSource", Justification: f.Accepted}}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}})
}

func fieldSuffix(f string) string {
	if f == "" {
		return ""
	}
	return " " + f
}
