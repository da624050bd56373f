package lint

import (
	"path/filepath"
	"strings"
	"testing"
)

// The adapter's ConfigMap is read strictly: a misspelt key, which the
// adapter itself would ignore, is a finding naming the unknown field.
func TestAdapterConfigMisspeltKey(t *testing.T) {
	got := findings(lintPath(t, filepath.Join("testdata", "adapter-config", "misspelt-key.yaml")), "metric-not-served")
	if len(got) != 1 {
		t.Fatalf("%d metric-not-served findings, want 1: %+v", len(got), got)
	}
	f := got[0]
	if !strings.Contains(f.Object, "adapter-config") || f.Field != "data.config.yaml" || !strings.Contains(f.Message, `unknown field "externalrules"`) {
		t.Errorf("finding %s %s: %s; want it on the ConfigMap's config.yaml naming the unknown field externalrules", f.Object, f.Field, f.Message)
	}
}
