// Command vactl renders, checks and simulates VoiceAssist autoscaling.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/voiceassist/autoscaling/internal/cli"
)

func main() {
	cmd := cli.NewCommand(cli.IOStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	if err := cmd.Execute(); err != nil {
		var ee *cli.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "vactl:", err)
		}
		os.Exit(cli.ExitCode(err))
	}
}
