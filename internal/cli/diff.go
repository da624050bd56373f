package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

type diffOptions struct {
	live              liveOptions
	envOptions        envOptions
	output            string
	forceConflicts    bool
	requireComponents bool
}

func newDiffCommand(streams IOStreams) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff --env ENV",
		Short: "Show what setup would change in the cluster (server-side dry run), exit 1 if anything",
		Long: `Compare an environment with the live cluster, as 'kubectl diff --server-side'
does: every object is sent as a server-side dry-run apply with vactl's field
manager (so the API server's defaulting, admission webhooks and merge decide),
and the result is compared with the live object, without the fields the server
owns (managedFields, resourceVersion, status...). Objects the inventory records
that the environment no longer renders are listed as pruned.

Kinds the cluster does not serve are decided as setup decides them: the
objects of an optional component whose CRD is missing (the VPA, Prometheus
Operator) are left out, each named in a warning, unless --require-components
makes that an error; any other kind the cluster does not serve is an error
that names the kind, its API group and its objects (exit 1).

Exit codes: 0 no differences, 1 differences (or an error), 2 usage error.
Nothing in the cluster changes.`,
		Example: `  vactl diff --env prod
  vactl diff --env prod --image-tag 1.5.0 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.envOptions.validate(); err != nil {
				return err
			}
			if o.output != "" && o.output != "json" && o.output != "yaml" {
				return usageErrorf("-o %q: want json or yaml", o.output)
			}
			objs, err := o.envOptions.objects()
			if err != nil {
				return err
			}
			c, err := o.live.connect()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(o.live.timeout)
			defer cancel()
			// Kinds the cluster does not serve are decided as setup's
			// preflight decides them: an optional component's objects are
			// left out (and said so), anything else is an error.
			// The server's version first: an unreachable server or rejected
			// credentials are said as such, not as a discovery failure.
			if _, err := c.ServerVersion(); err != nil {
				return failure(streams.Err, err)
			}
			c.FreshDiscovery()
			served, missing, err := c.ServedObjects(objs)
			if err != nil {
				return failure(streams.Err, err)
			}
			warnings, err := cluster.LeaveOutMissing(missing, o.requireComponents)
			if err != nil {
				return failure(streams.Err, fmt.Errorf("diff of %s: %w", o.envOptions.env, err))
			}
			for _, w := range warnings {
				fmt.Fprintf(streams.Err, "warning: %s\n", w)
			}
			changes, err := c.Diff(ctx, served, cluster.AppInventory, o.forceConflicts)
			if err != nil {
				return failure(streams.Err, err)
			}
			if o.output != "" {
				if changes == nil {
					changes = []cluster.Change{}
				}
				if err := writeData(streams.Out, changes, o.output); err != nil {
					return err
				}
			} else {
				cluster.PrintChanges(streams.Out, changes)
			}
			leftOut := ""
			if n := len(objs) - len(served); n > 0 {
				leftOut = fmt.Sprintf(" (%d left out: their kinds are not served, as setup would leave them out)", n)
			}
			if len(changes) > 0 {
				fmt.Fprintf(streams.Err, "%s: %d of %d objects differ from the cluster%s\n", o.envOptions.env, len(changes), len(served), leftOut)
				return &ExitError{Code: ExitFailure}
			}
			fmt.Fprintf(streams.Err, "%s: the cluster matches all %d objects%s\n", o.envOptions.env, len(served), leftOut)
			return nil
		},
	}
	o.live.addFlags(cmd, time.Minute, "how long the diff may take")
	o.envOptions.addFlags(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: json|yaml (default: unified diffs)")
	cmd.Flags().BoolVar(&o.forceConflicts, "force-conflicts", false, "as setup --force-conflicts would apply")
	cmd.Flags().BoolVar(&o.requireComponents, "require-components", false, "fail when the VPA or Prometheus Operator CRDs are missing, as setup --require-components does, instead of leaving their objects out")
	return cmd
}
