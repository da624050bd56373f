package check

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes the report for a terminal: one block per item.
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "Production checklist: env %s, %s\n\n", r.Env, where(r))
	for _, it := range r.Items {
		fmt.Fprintf(w, "%-8s %s\n", strings.ToUpper(string(it.Status)), it.Title)
		for _, e := range it.Evidence {
			fmt.Fprintf(w, "         %s\n", e)
		}
		if it.Status != Pass && it.Fix != "" {
			fmt.Fprintf(w, "         fix: %s\n", it.Fix)
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", summary(r))
	return err
}

// WriteMarkdown writes the report as a checklist table for a change
// ticket: one row per item with its status and evidence, then what to do
// for the items that did not pass.
func WriteMarkdown(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "### Production checklist: `%s`\n\n", r.Env)
	fmt.Fprintf(w, "Checked %s by `vactl check` (vactl %s) against %s.\n\n", r.Time.UTC().Format(time.RFC3339), r.Vactl, where(r))
	fmt.Fprintln(w, "| | Item | Status | Evidence |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, it := range r.Items {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", box(it.Status), it.Title, badge(it.Status), cell(strings.Join(it.Evidence, "\n")))
	}
	fmt.Fprintf(w, "\n**%s**\n", summary(r))
	first := true
	for _, it := range r.Items {
		if it.Status == Pass || it.Fix == "" {
			continue
		}
		if first {
			fmt.Fprint(w, "\nTo do:\n\n")
			first = false
		}
		fmt.Fprintf(w, "- **%s**: %s\n", it.Title, inline(it.Fix))
	}
	return nil
}

func where(r *Report) string {
	if r.Context != "" {
		return fmt.Sprintf("context %q (%s)", r.Context, r.Server)
	}
	return r.Server
}

func summary(r *Report) string {
	verdict := "nothing failed"
	if r.Failed() {
		verdict = "not ready for production"
	}
	return fmt.Sprintf("%d pass, %d fail, %d unknown: %s", r.Count(Pass), r.Count(Fail), r.Count(Unknown), verdict)
}

func box(s Status) string {
	if s == Pass {
		return "[x]"
	}
	return "[ ]"
}

func badge(s Status) string {
	switch s {
	case Pass:
		return "✅ pass"
	case Fail:
		return "❌ **fail**"
	}
	return "❔ unknown"
}

// cell makes text safe inside a Markdown table cell: pipes escaped, lines
// joined with <br>.
func cell(s string) string {
	s = strings.ReplaceAll(inline(s), "|", `\|`)
	return strings.ReplaceAll(s, "\n", "<br>")
}

// inline keeps Markdown from reading <, > and * in evidence as markup.
func inline(s string) string {
	r := strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`)
	return r.Replace(s)
}
