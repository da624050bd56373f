// Package cli holds vactl's commands, one file each, in the layout of kind's
// pkg/cmd: the root command wires the subcommands, each subcommand parses its
// flags and calls the package that does the work.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes scripts can rely on.
const (
	ExitOK       = 0 // success, nothing found
	ExitFailure  = 1 // the work failed, or found error-level problems
	ExitUsage    = 2 // bad flags, arguments or input
	exitInternal = ExitFailure
)

// UsageError marks an error as the caller's: wrong flag, argument or input.
// It makes vactl exit with ExitUsage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitError carries an exit code without a message of its own (the command
// already printed what it found).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode maps an error returned by Execute to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return exitInternal
	}
}

// IOStreams are the streams a command writes to, so tests can capture them.
type IOStreams struct {
	In       io.Reader
	Out, Err io.Writer
}

// NewCommand returns the vactl root command.
func NewCommand(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vactl",
		Short: "Render, check and simulate VoiceAssist autoscaling",
		Long: `vactl is the operator's tool for VoiceAssist autoscaling on Kubernetes.

It carries the k8s/performance manifests inside the binary, so every command
works without a checkout of the repository: render an environment, check it,
and see how its autoscalers behave before it reaches a cluster.

Exit codes: 0 success, 1 failure or error-level findings, 2 usage or input error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.Err)
	// Deferred so that it sees every subcommand added below.
	defer finishCommandTree(cmd)
	// Flag errors are usage errors (exit 2), not failures.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	cmd.AddCommand(newRenderCommand(streams))
	cmd.AddCommand(newSimulateCommand(streams))
	cmd.AddCommand(newLintCommand(streams))
	cmd.AddCommand(newRecommendCommand(streams))
	cmd.AddCommand(newTuneCommand(streams))
	cmd.AddCommand(newVersionCommand(streams))
	cmd.AddCommand(newSetupCommand(streams))
	cmd.AddCommand(newDiffCommand(streams))
	cmd.AddCommand(newHistoryCommand(streams))
	cmd.AddCommand(newRollbackCommand(streams))
	cmd.AddCommand(newTeardownCommand(streams))
	cmd.AddCommand(newCheckCommand(streams))
	cmd.AddCommand(newLoadtestCommand(streams))
	cmd.AddCommand(newCalibrateCommand(streams))
	cmd.AddCommand(newStatusCommand(streams))
	cmd.AddCommand(newDoctorCommand(streams))
	cmd.AddCommand(newAPIKeyCommand(streams))
	return cmd
}

// finishCommandTree applies vactl's conventions to every command of the
// tree: `vactl help TOPIC` and unknown subcommands of a command group are
// usage errors (exit 2), and flag values complete (completion.go).
func finishCommandTree(root *cobra.Command) {
	root.SetHelpCommand(newHelpCommand())
	registerCompletion(root)
	forEachCommand(root, func(cmd *cobra.Command) {
		if !cmd.HasSubCommands() || cmd.Runnable() {
			return
		}
		// A group: without a subcommand it prints its help; with an unknown
		// one (cobra would print help and exit 0) it is a usage error.
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		}
	})
}

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageErrorf("%s\nRun '%s --help' for the commands.", msg, cmd.CommandPath())
}

// newHelpCommand is cobra's help command, with an unknown topic a usage
// error instead of a help text and exit 0.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: vactl help lint.",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			parent, _, err := cmd.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, c := range parent.Commands() {
				if c.IsAvailableCommand() && strings.HasPrefix(c.Name(), toComplete) {
					names = append(names, c.Name())
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return usageErrorf("unknown help topic %q\nRun '%s --help' for the commands.", strings.Join(args, " "), cmd.Root().CommandPath())
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
}

// noArgs is cobra.NoArgs reported as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}
