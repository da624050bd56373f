package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// One set of -o names for every command: text is for people; json and yaml
// carry the same data; sarif (lint) is for code scanning; csv (simulate) is
// timelines for spreadsheets; patch (recommend) is JSON 6902 patches for an
// overlay. A command takes the subset that fits it.
const (
	outputText  = "text"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputSARIF = "sarif"
	outputCSV   = "csv"
	outputPatch = "patch"
	// markdown (check, loadtest) is a report to paste into a change ticket.
	outputMarkdown = "markdown"
)

// outputFormatsAnnotation on an -o flag lists the formats its command
// takes, for completion (completion.go).
const outputFormatsAnnotation = "vactl.voiceassist.io/output-formats"

// addOutputFlag defines -o/--output: default def, one of formats.
func addOutputFlag(cmd *cobra.Command, p *string, def string, formats ...string) {
	cmd.Flags().StringVarP(p, "output", "o", def, "output format: "+strings.Join(formats, "|"))
	_ = cmd.Flags().SetAnnotation("output", outputFormatsAnnotation, formats)
}

// checkOutput is the usage error for an -o value outside formats.
func checkOutput(value string, formats []string) error {
	if slices.Contains(formats, value) {
		return nil
	}
	return usageErrorf("-o %q: want %s", value, orList(formats))
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
