package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

func newHistoryCommand(streams IOStreams) *cobra.Command {
	var live liveOptions
	var output string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the revisions setup and rollback recorded in the cluster",
		Long: fmt.Sprintf(`List the revisions recorded in the cluster (Secrets voiceassist/vactl-revision-N,
the last %d): number, time, environment, vactl version, object count, and
for a rollback which revision it restored. 'vactl rollback --to-revision N'
re-applies one.`, cluster.KeepRevisions),
		Example: `  vactl history
  vactl history --context prod -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usageErrorf("-o %q: want json or yaml", output)
			}
			c, err := live.connect()
			if err != nil {
				return err
			}
			ctx, cancel := withTimeout(live.timeout)
			defer cancel()
			revs, err := c.Revisions(ctx)
			if err != nil {
				return failure(streams.Err, err)
			}
			if output != "" {
				if revs == nil {
					revs = []cluster.Revision{}
				}
				return writeData(streams.Out, revs, output)
			}
			if len(revs) == 0 {
				fmt.Fprintln(streams.Err, "no revisions recorded: vactl setup has not deployed to this cluster")
				return nil
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tTIME\tENV\tVACTL\tOBJECTS\tNOTE")
			for _, r := range revs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", r.Number, r.Time.Format(time.RFC3339), r.Env, r.Version, r.Objects, r.Note)
			}
			return tw.Flush()
		},
	}
	live.addFlags(cmd, 30*time.Second, "how long to wait for the server")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json|yaml (default: a table)")
	return cmd
}
