package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/voiceassist/autoscaling/internal/lint"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
)

// Shell completion. Flag values are completed by flag name, for every
// command in the tree: a command added later gets its --env, --scenario,
// -o and --disable values completed without code of its own. A command
// that registers its own completion for a flag keeps it.

// flagValues are the values a flag of that name takes, wherever it is.
var flagValues = map[string]func(cmd *cobra.Command, f *pflag.Flag) []string{
	"env":      func(*cobra.Command, *pflag.Flag) []string { return render.Envs },
	"compare":  func(*cobra.Command, *pflag.Flag) []string { return render.Envs }, // simulate --compare ENV
	"scenario": func(*cobra.Command, *pflag.Flag) []string { return sim.ScenarioNames() },
	"prefer":   func(*cobra.Command, *pflag.Flag) []string { return []string{"balanced", "cost", "slo"} }, // tune --prefer
	"output":   func(_ *cobra.Command, f *pflag.Flag) []string { return outputFormatsOf(f) },
	"fail-on": func(*cobra.Command, *pflag.Flag) []string {
		out := make([]string, len(lint.Severities))
		for i, s := range lint.Severities {
			out[i] = string(s)
		}
		return out
	},
}

// listFlagValues are comma-separated lists of these values.
var listFlagValues = map[string]func() []string{
	"disable": func() []string {
		var ids []string
		for _, r := range lint.Rules() {
			ids = append(ids, r.ID)
		}
		return ids
	},
}

// registerCompletion adds `vactl completion SHELL` to root and registers
// flag-value completion on every command below it.
func registerCompletion(root *cobra.Command) {
	root.AddCommand(newCompletionCommand())
	forEachCommand(root, func(cmd *cobra.Command) {
		visit := func(f *pflag.Flag) {
			name := f.Name
			if values, ok := flagValues[name]; ok {
				// An error means the command completes this flag itself.
				_ = cmd.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					return withPrefix(values(cmd, f), toComplete), cobra.ShellCompDirectiveNoFileComp
				})
			}
			if values, ok := listFlagValues[name]; ok {
				_ = cmd.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					return completeList(values(), toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
				})
			}
		}
		cmd.LocalNonPersistentFlags().VisitAll(visit)
		cmd.PersistentFlags().VisitAll(visit)
	})
}

// forEachCommand calls fn for cmd and every command below it.
func forEachCommand(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		forEachCommand(c, fn)
	}
}

var formatWord = regexp.MustCompile(`\b(text|json|yaml|sarif|csv)\b`)

// outputFormatsOf returns the formats an -o flag takes: from its
// annotation (addOutputFlag), else the format names its usage line lists,
// in order, for commands that define -o themselves.
func outputFormatsOf(f *pflag.Flag) []string {
	if formats := f.Annotations[outputFormatsAnnotation]; len(formats) > 0 {
		return formats
	}
	var out []string
	for _, w := range formatWord.FindAllString(f.Usage, -1) {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func withPrefix(values []string, prefix string) []string {
	var out []string
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

// completeList completes the last item of a comma-separated list, leaving
// out the items already given: "hpa-target-kind,beh" → "hpa-target-kind,behavior-…".
func completeList(values []string, toComplete string) []string {
	done, last := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	given := strings.Split(done, ",")
	var out []string
	for _, v := range withPrefix(values, last) {
		if !slices.Contains(given, v) {
			out = append(out, done+v)
		}
	}
	return out
}

var shells = []string{"bash", "zsh", "fish", "powershell"}

func newCompletionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print the script that completes vactl's commands, flags and flag values
(environments, scenarios, output formats, rule IDs) in your shell.

  bash:        source <(vactl completion bash)    (needs bash-completion)
  zsh:         vactl completion zsh > "${fpath[1]}/_vactl"
  fish:        vactl completion fish > ~/.config/fish/completions/vactl.fish
  powershell:  vactl completion powershell | Out-String | Invoke-Expression`,
		ValidArgs:             shells,
		DisableFlagsInUseLine: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(shells, args[0]) {
				got := "none"
				if len(args) > 0 {
					got = fmt.Sprintf("%q", strings.Join(args, " "))
				}
				return usageErrorf("want one shell, %s (got %s)\nSee '%s --help'.", orList(shells), got, cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return fmt.Errorf("shell %q", args[0]) // Args has checked it
		},
	}
}
