package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

type teardownOptions struct {
	live              liveOptions
	env               string
	deleteData        bool
	keepMetricsServer bool
	dryRun            string
}

func newTeardownCommand(streams IOStreams) *cobra.Command {
	o := &teardownOptions{}
	cmd := &cobra.Command{
		Use:   "teardown --env ENV",
		Short: "Remove exactly what vactl applied, by its inventory; data stays unless --delete-data",
		Long: `Remove what vactl setup applied, as its inventory (voiceassist/vactl-inventory)
records it, and nothing else: objects created by others, even in the same
namespace, stay. The recorded revisions are deleted too.

Kept unless --delete-data: the PersistentVolumeClaims (the databases' data),
the Secrets setup --create-secrets made (the password that data needs), and so
the Namespace that holds them. With --delete-data those go as well.

metrics-server is removed only if vactl installed it (its inventory
kube-system/vactl-metrics-server-inventory exists) and --keep-metrics-server is
not given; a metrics-server vactl did not install is never touched.

--env must name the environment the cluster runs (the newest revision's), so
a teardown meant for another context fails instead of removing this one.

--dry-run (= --dry-run=server) lists exactly what teardown would delete (the
inventory's objects but the kept Namespace; the revisions; with --delete-data
the PVCs, Secrets and Namespace; metrics-server only where vactl installed
it), each sent as a server-side dry-run delete so the API server checks it,
and deletes nothing.`,
		Example: `  vactl teardown --env dev --dry-run
  vactl teardown --env dev
  vactl teardown --env staging --context staging --delete-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams) },
	}
	o.live.addFlags(cmd, 5*time.Minute, "how long to wait until everything is gone")
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment the cluster runs: "+strings.Join(liveEnvs(), "|")+" (required)")
	f.BoolVar(&o.deleteData, "delete-data", false, "also delete the PersistentVolumeClaims, the created Secrets and the Namespace")
	f.BoolVar(&o.keepMetricsServer, "keep-metrics-server", false, "keep the metrics-server vactl installed")
	f.StringVar(&o.dryRun, "dry-run", "none", `"server" (or --dry-run alone): list what would be deleted, each delete a server-side dry run; nothing changes`)
	f.Lookup("dry-run").NoOptDefVal = "server"
	return cmd
}

func (o *teardownOptions) run(streams IOStreams) error {
	if err := (&envOptions{env: o.env}).validate(); err != nil {
		return err
	}
	if o.dryRun != "none" && o.dryRun != "server" {
		return usageErrorf("--dry-run %q: want server or none", o.dryRun)
	}
	dry := o.dryRun == "server"
	// "deleted" or, in a dry run, "would delete".
	deleted, suffix := "deleted", ""
	if dry {
		deleted, suffix = "would be deleted", " (dry run: nothing deleted)"
	}
	out := streams.Out
	c, err := o.live.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.live.timeout)
	defer cancel()
	revs, err := c.Revisions(ctx)
	if err != nil {
		return failure(out, err)
	}
	if len(revs) > 0 {
		if last := revs[len(revs)-1]; last.Env != o.env {
			return failure(out, fmt.Errorf("--env %s, but this cluster (%s) runs %s (revision %d): wrong --context?", o.env, c.Host, last.Env, last.Number))
		}
	}
	have, err := c.InventoryExists(ctx, cluster.AppInventory)
	if err != nil {
		return failure(out, err)
	}
	if have {
		fmt.Fprintf(out, "%s (inventory %s/%s):\n", o.env, cluster.AppInventory.Namespace, cluster.AppInventory.Name)
		ids, err := c.Destroy(ctx, cluster.AppInventory, cluster.DestroyOptions{DryRun: dry, Timeout: o.live.timeout, Progress: out})
		if err != nil {
			return failure(out, fmt.Errorf("teardown of %s: %w\nrun teardown again to continue", o.env, err))
		}
		fmt.Fprintf(out, "%s: %d objects %s%s\n", o.env, len(ids), deleted, suffix)
	} else {
		fmt.Fprintf(out, "no inventory %s/%s: vactl applied nothing here\n", cluster.AppInventory.Namespace, cluster.AppInventory.Name)
	}
	nrev, err := c.DeleteRevisions(ctx, dry)
	if err != nil {
		return failure(out, err)
	}
	fmt.Fprintf(out, "%d revisions %s%s\n", len(nrev), deleted, suffix)
	if o.deleteData {
		d, err := c.DeleteData(ctx, dry)
		if err != nil {
			return failure(out, err)
		}
		if d.Namespace {
			fmt.Fprintf(out, "--delete-data: %s: PersistentVolumeClaims [%s], Secrets [%s] and Namespace %s%s\n",
				deleted, strings.Join(d.PVCs, ", "), strings.Join(d.Secrets, ", "), cluster.Namespace, suffix)
		} else {
			fmt.Fprintf(out, "--delete-data: no Namespace %s, no data to delete\n", cluster.Namespace)
		}
	} else {
		d, err := c.ListData(ctx)
		if err != nil {
			return failure(out, err)
		}
		fmt.Fprintf(out, "kept: Namespace %s with its PersistentVolumeClaims [%s] and the Secrets vactl created [%s] (--delete-data removes them)\n",
			cluster.Namespace, strings.Join(d.PVCs, ", "), strings.Join(d.Secrets, ", "))
	}
	msOurs, err := c.InventoryExists(ctx, cluster.MetricsServerInventory)
	if err != nil {
		return failure(out, err)
	}
	switch {
	case !msOurs:
		fmt.Fprintln(out, "metrics-server: not installed by vactl, left alone")
	case o.keepMetricsServer:
		fmt.Fprintln(out, "metrics-server: installed by vactl, kept (--keep-metrics-server)")
	default:
		fmt.Fprintf(out, "metrics-server (installed by vactl, inventory %s/%s):\n", cluster.MetricsServerInventory.Namespace, cluster.MetricsServerInventory.Name)
		ids, err := c.Destroy(ctx, cluster.MetricsServerInventory, cluster.DestroyOptions{DryRun: dry, Timeout: o.live.timeout, Progress: out})
		if err != nil {
			return failure(out, fmt.Errorf("removing metrics-server: %w", err))
		}
		fmt.Fprintf(out, "metrics-server: %d objects %s%s\n", len(ids), deleted, suffix)
	}
	return nil
}
