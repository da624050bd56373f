// Package docs carries the documents vactl needs at run time: the scaling
// runbook, whose sections the alert rules' runbook_url annotations link to
// (`vactl check` verifies that they resolve).
package docs

import (
	_ "embed"
	"regexp"
	"strconv"
	"strings"
)

// Runbook is docs/runbook.md.
//
//go:embed runbook.md
var Runbook string

var (
	headingRE  = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	fenceRE    = regexp.MustCompile("(?ms)^```.*?^```")
	slugDropRE = regexp.MustCompile(`[^\p{L}\p{N}\s_-]`)
)

// Anchors returns the anchors GitHub generates for the headings of a
// Markdown document: lower case, punctuation dropped, spaces to hyphens,
// "-1", "-2", … for repeats. Headings inside code fences do not count.
func Anchors(doc string) map[string]bool {
	doc = WithoutCodeBlocks(doc)
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingRE.FindAllStringSubmatch(doc, -1) {
		text := strings.ReplaceAll(m[1], "`", "")
		slug := strings.ReplaceAll(slugDropRE.ReplaceAllString(strings.ToLower(text), ""), " ", "-")
		if k := seen[slug]; k > 0 {
			out[slug+"-"+strconv.Itoa(k)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// WithoutCodeBlocks removes the fenced code blocks of a Markdown document.
func WithoutCodeBlocks(doc string) string { return fenceRE.ReplaceAllString(doc, "") }
