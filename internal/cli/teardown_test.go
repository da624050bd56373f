package cli

import (
	"strings"
	"testing"
)

// teardown's and diff's flags of this change, checked before any
// connection; what they do against a cluster is tested in test/e2e
// (TestDeployFailures).
func TestTeardownAndDiffFlags(t *testing.T) {
	_, stderr, code := run(t, "teardown", "--env", "dev", "--dry-run=client")
	if code != ExitUsage || !strings.Contains(stderr, `--dry-run "client": want server or none`) {
		t.Errorf("teardown --dry-run=client: exit %d, stderr %q; want exit 2", code, stderr)
	}
	for _, c := range []struct{ verb, flag string }{
		{"teardown", "--dry-run"},
		{"teardown", "--delete-data"},
		{"diff", "--require-components"},
	} {
		out, _, code := run(t, c.verb, "--help")
		if code != 0 || !strings.Contains(out, c.flag) {
			t.Errorf("vactl %s --help: exit %d, lacks %s", c.verb, code, c.flag)
		}
	}
}
