package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

type rollbackOptions struct {
	live                   liveOptions
	toRevision             int
	dryRun                 string
	forceConflicts         bool
	noInstallMetricsServer bool
	metricsServerVariant   string
}

func newRollbackCommand(streams IOStreams) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback [--to-revision N]",
		Short: "Re-apply a recorded revision (default: the previous one), with prune",
		Long: `Re-apply the objects of a revision recorded in the cluster (see 'vactl history';
default: the one before the newest), exactly as setup applies: preflight,
server-side apply with the inventory, prune of what the revision lacks, wait
until everything is Current. It needs nothing local: the revision holds the
rendered objects. The rollback is recorded as a new revision.`,
		Example: `  vactl rollback
  vactl rollback --to-revision 3 --context prod`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams) },
	}
	o.live.addFlags(cmd, 5*time.Minute, "how long to wait until every object is ready")
	f := cmd.Flags()
	f.IntVar(&o.toRevision, "to-revision", 0, "revision to restore (default: the previous one)")
	f.StringVar(&o.dryRun, "dry-run", "none", `"server": a server-side dry run; "none": apply`)
	f.BoolVar(&o.forceConflicts, "force-conflicts", false, "take over fields another field manager owns")
	f.BoolVar(&o.noInstallMetricsServer, "no-install-metrics-server", false, "fail instead of installing metrics-server where metrics.k8s.io is not served")
	f.StringVar(&o.metricsServerVariant, "metrics-server-variant", "standard", "metrics-server to install where needed: standard|local")
	return cmd
}

func (o *rollbackOptions) run(streams IOStreams) error {
	if o.dryRun != "none" && o.dryRun != "server" {
		return usageErrorf("--dry-run %q: want server or none", o.dryRun)
	}
	if o.toRevision < 0 {
		return usageErrorf("--to-revision %d: revisions are numbered from 1", o.toRevision)
	}
	ms, err := metricsServerObjects("", o.metricsServerVariant)
	if err != nil {
		return err
	}
	c, err := o.live.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.live.timeout)
	defer cancel()
	revs, err := c.Revisions(ctx)
	if err != nil {
		return failure(streams.Out, err)
	}
	var target *cluster.Revision
	switch {
	case o.toRevision > 0:
		for i := range revs {
			if revs[i].Number == o.toRevision {
				target = &revs[i]
			}
		}
		if target == nil {
			var have []string
			for _, r := range revs {
				have = append(have, fmt.Sprint(r.Number))
			}
			return failure(streams.Out, fmt.Errorf("no revision %d in the cluster (recorded: %s)", o.toRevision, strings.Join(have, ", ")))
		}
	case len(revs) < 2:
		return failure(streams.Out, fmt.Errorf("%d revision(s) recorded: nothing to roll back to", len(revs)))
	default:
		target = &revs[len(revs)-2]
	}
	objs, err := target.RevisionObjects()
	if err != nil {
		return failure(streams.Out, err)
	}
	fmt.Fprintf(streams.Out, "Rolling back to revision %d (%s, %s, %d objects)\n", target.Number, target.Env, target.Time.Format(time.RFC3339), len(objs))
	return deploy(ctx, c, streams.Out, deployRequest{
		env: target.Env, objs: objs, metricsServer: ms,
		preflight: cluster.PreflightOptions{NoInstallMetricsServer: o.noInstallMetricsServer},
		dryRun:    o.dryRun == "server", force: o.forceConflicts, timeout: o.live.timeout,
		note: fmt.Sprintf("rollback to %d", target.Number),
	})
}
