package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// completions runs cobra's hidden __complete command, as the shell scripts
// do, and returns the candidates (without descriptions) and the directive line.
func completions(t *testing.T, root *cobra.Command, args ...string) []string {
	t.Helper()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %s: %v", strings.Join(args, " "), err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, ":") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return got
}

func TestFlagValueCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"lint", "--env", ""}, []string{"base", "dev", "staging", "prod"}},
		{[]string{"render", "--env", "st"}, []string{"staging"}},
		{[]string{"simulate", "--compare", ""}, []string{"base", "dev", "staging", "prod"}},
		{[]string{"simulate", "--scenario", ""}, sim.ScenarioNames()},
		{[]string{"lint", "-o", ""}, []string{"text", "json", "yaml", "sarif"}},
		{[]string{"render", "--output", ""}, []string{"yaml", "json"}},
		{[]string{"simulate", "-o", ""}, []string{"text", "json", "yaml", "csv"}},
		{[]string{"recommend", "-o", ""}, []string{"text", "json", "yaml", "patch"}},
		{[]string{"recommend", "--output", "p"}, []string{"patch"}},
		{[]string{"lint", "--fail-on", ""}, []string{"error", "warning", "info"}},
		{[]string{"lint", "--disable", "hpa-target-kind,behavior-w"}, []string{"hpa-target-kind,behavior-window-period", "hpa-target-kind,behavior-window-grace"}},
		{[]string{"lint", "--disable", "hpa-target-kind,hpa-target-k"}, nil}, // already given
		{[]string{"help", "li"}, []string{"lint"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
	} {
		got := completions(t, NewCommand(IOStreams{In: strings.NewReader("")}), c.args...)
		if !slices.Equal(got, c.want) {
			t.Errorf("vactl %s<TAB>: %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}

// TestCompletionByFlagName: a command added by anyone gets its flag values
// completed by name, and keeps a completion it registers itself.
func TestCompletionByFlagName(t *testing.T) {
	root := &cobra.Command{Use: "vactl"}
	var env, out, mine string
	status := &cobra.Command{Use: "status", Run: func(*cobra.Command, []string) {}}
	status.Flags().StringVar(&env, "env", "", "environment")
	addOutputFlag(status, &out, outputText, outputText, outputYAML)
	status.Flags().StringVar(&mine, "scenario", "", "its own scenarios")
	_ = status.RegisterFlagCompletionFunc("scenario", cobra.FixedCompletions([]string{"own"}, cobra.ShellCompDirectiveNoFileComp))
	root.AddCommand(status)
	finishCommandTree(root)
	if got := completions(t, root, "status", "--env", "p"); !slices.Equal(got, []string{"prod"}) {
		t.Errorf("--env: %q", got)
	}
	if got := completions(t, root, "status", "-o", ""); !slices.Equal(got, []string{"text", "yaml"}) {
		t.Errorf("-o: %q", got)
	}
	if got := completions(t, root, "status", "--scenario", ""); !slices.Equal(got, []string{"own"}) {
		t.Errorf("--scenario: %q, want the command's own completion", got)
	}
}

// TestUsageErrorsExit2: every mistake in what the user typed exits 2.
func TestUsageErrorsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nosuch"}, ExitUsage, `unknown command "nosuch" for "vactl"`},
		{[]string{"lnt"}, ExitUsage, "Did you mean this?\n\tlint"},
		{[]string{"help", "nosuch"}, ExitUsage, `unknown help topic "nosuch"`},
		{[]string{"help", "lint", "extra"}, ExitUsage, `unknown help topic "lint extra"`},
		{[]string{"completion", "nosh"}, ExitUsage, `want one shell, bash, zsh, fish or powershell (got "nosh")`},
		{[]string{"completion"}, ExitUsage, "(got none)"},
		{[]string{"completion", "bash", "zsh"}, ExitUsage, "want one shell"},
		{[]string{"lint", "nosuch"}, ExitUsage, "unknown command"},
		{[]string{"render", "-o", "text"}, ExitUsage, `-o "text": want yaml or json`},
	} {
		_, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl %s: exit %d %q, want exit %d containing %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
	}
	for shell, want := range map[string]string{"bash": "bash completion V2 for vactl", "zsh": "#compdef vactl", "fish": "fish completion for vactl", "powershell": "powershell completion for vactl"} {
		out, stderr, code := run(t, "completion", shell)
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("vactl completion %s: exit %d %q", shell, code, stderr)
		}
	}
	for _, args := range [][]string{{}, {"help"}, {"help", "lint"}, {"lint", "--help"}} {
		out, stderr, code := run(t, args...)
		if code != ExitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("vactl %s: exit %d %q", strings.Join(args, " "), code, stderr)
		}
	}
}
