// Package cli holds vactl's commands, one file each, in the layout of kind's
// pkg/cmd: the root command wires the subcommands, each subcommand parses its
// flags and calls the package that does the work.
package cli

import (
	"errors"
	"fmt"
	"io"

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
	// Flag errors are usage errors (exit 2), not failures.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	cmd.AddCommand(newRenderCommand(streams))
	cmd.AddCommand(newSimulateCommand(streams))
	cmd.AddCommand(newLintCommand(streams))
	cmd.AddCommand(newVersionCommand(streams))
	cmd.AddCommand(newSetupCommand(streams))
	cmd.AddCommand(newDiffCommand(streams))
	cmd.AddCommand(newHistoryCommand(streams))
	cmd.AddCommand(newRollbackCommand(streams))
	cmd.AddCommand(newTeardownCommand(streams))
	return cmd
}

// noArgs is cobra.NoArgs reported as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}
