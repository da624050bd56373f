package cli

import (
	"strings"
	"testing"
)

// vactl doctor's usage errors exit 2 before any connection; its analysis
// is tested in internal/doctor and on a cluster in test/e2e/doctor_test.go.
func TestDoctorUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"doctor", "-o", "yaml"}, `-o "yaml": want text or json`},
		{[]string{"doctor", "--env", "base"}, `--env "base": want one of dev, staging, prod`},
		{[]string{"doctor", "-n", "default"}, `namespace "voiceassist"`},
		{[]string{"doctor", "extra"}, "unknown command"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	out, _, code := run(t, "doctor", "--help")
	if code != 0 || !strings.Contains(out, "--kubeconfig") || !strings.Contains(out, "explain") {
		t.Errorf("doctor --help: exit %d, no kubectl flags or no explain:\n%s", code, out)
	}
}
