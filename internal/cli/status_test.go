package cli

import (
	"strings"
	"testing"
)

// vactl status's usage errors are caught before any connection (exit 2);
// what it shows of a cluster is tested in test/e2e/status_test.go.
func TestStatusUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "-o", "wide"}, `-o "wide": want text, json or yaml`},
		{[]string{"status", "--env", "base"}, `--env "base": want one of dev, staging, prod`},
		{[]string{"status", "--watch", "--interval", "0s"}, "--interval 0s: want a positive duration"},
		{[]string{"status", "--events", "-1"}, "--events -1"},
		{[]string{"status", "-n", "default"}, `namespace "voiceassist"`},
		{[]string{"status", "extra"}, "unknown command"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	out, _, code := run(t, "status", "--help")
	for _, f := range []string{"--kubeconfig", "--context", "--watch", "--interval", "--events", "text|json|yaml"} {
		if code != 0 || !strings.Contains(out, f) {
			t.Errorf("vactl status --help (exit %d) lacks %s", code, f)
		}
	}
}
