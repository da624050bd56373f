package docs

import "testing"

func TestAnchors(t *testing.T) {
	got := Anchors("# Scaling runbook\n\n## `VoiceAssistHPAUnableToScale`\n\n```\n# not a heading\n```\n\n## What to do: roll back\n## What to do: roll back\n")
	for _, want := range []string{"scaling-runbook", "voiceassisthpaunabletoscale", "what-to-do-roll-back", "what-to-do-roll-back-1"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a line in a code fence became an anchor: %v", got)
	}
}

// TestRunbookEmbedded: vactl carries the runbook whole.
func TestRunbookEmbedded(t *testing.T) {
	a := Anchors(Runbook)
	for _, want := range []string{"scaling-runbook", "rolling-back", "voiceassisthpaunabletoscale"} {
		if !a[want] {
			t.Errorf("the embedded runbook has no section #%s", want)
		}
	}
}
