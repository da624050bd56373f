package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/inventory"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/render"
)

type setupOptions struct {
	live                   liveOptions
	envOptions             envOptions
	dryRun                 string
	noInstallMetricsServer bool
	metricsServerVariant   string
	requireComponents      bool
	createSecrets          bool
	forceConflicts         bool
}

func newSetupCommand(streams IOStreams) *cobra.Command {
	o := &setupOptions{}
	cmd := &cobra.Command{
		Use:   "setup --env ENV",
		Short: "Deploy an environment to the cluster: preflight, apply with prune, wait until ready",
		Long: `Deploy one environment (dev, staging, prod) to the cluster the kubeconfig
points at, as kubectl would connect (--kubeconfig, --context, ...).

1. Preflight, one line per check: server version >= 1.27; RBAC for every kind
   (SelfSubjectAccessReview); metrics.k8s.io served (if not, setup installs
   metrics-server from k8s/performance/metrics-server, unless
   --no-install-metrics-server); custom.metrics.k8s.io and
   external.metrics.k8s.io served (if not, a warning: the HPAs' request-rate and
   queue metrics stay <unknown>); the VPA and Prometheus Operator CRDs (missing:
   their objects are left out with a warning, or setup stops with
   --require-components); the PostgreSQL Secret of staging and prod (created
   with a random password only with --create-secrets).
2. A server-side dry run of every object (as 'vactl diff'): an object the API
   server rejects (an admission webhook or policy, a CRD deleted since the
   preflight) stops setup here, before anything changed.
3. Apply with sigs.k8s.io/cli-utils (kpt's applier): server-side apply as field
   manager "vactl", an inventory ConfigMap voiceassist/vactl-inventory, and prune
   of what the previous revision had and this one lacks. The Namespace is never
   pruned or deleted (it holds the databases' PersistentVolumeClaims).
4. Wait until everything is Current: Deployments available, StatefulSets ready,
   HPAs ScalingActive=True with every metric known. At --timeout the error names
   every object that is not ready and why.
5. Record the revision in the cluster (Secret voiceassist/vactl-revision-N, the
   rendered objects gzip'd; the last 10 kept) for 'vactl history' and
   'vactl rollback'.

--dry-run=server sends everything as a server-side dry run: nothing changes,
no revision is recorded, and a Secret --create-secrets would create is only
named ("would create"), not created. Failures name the object and the reason
and exit 1; the inventory records only what was applied and a revision is
recorded only after everything is Current, so a re-run continues.`,
		Example: `  # dev on a local cluster (kind, minikube: metrics-server with --kubelet-insecure-tls)
  vactl setup --env dev --metrics-server-variant local

  # prod, its database password generated, images from your registry
  vactl setup --env prod --context prod --create-secrets \
      --image-registry registry.example/acme --image-tag 1.4.0

  # what would happen, checked by the API server
  vactl setup --env staging --dry-run=server`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams) },
	}
	o.live.addFlags(cmd, 5*time.Minute, "how long to wait until every object is ready")
	o.envOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.dryRun, "dry-run", "none", `"server": send everything as a server-side dry run and change nothing; "none": apply`)
	f.BoolVar(&o.noInstallMetricsServer, "no-install-metrics-server", false, "fail instead of installing metrics-server where metrics.k8s.io is not served")
	f.StringVar(&o.metricsServerVariant, "metrics-server-variant", "standard", "metrics-server to install: "+strings.Join(render.MetricsServerVariants, "|")+" (local adds --kubelet-insecure-tls, for kind and minikube)")
	f.BoolVar(&o.requireComponents, "require-components", false, "fail when the VPA or Prometheus Operator CRDs are missing, instead of leaving their objects out")
	f.BoolVar(&o.createSecrets, "create-secrets", false, "create missing Secrets the workloads read (the PostgreSQL password) with random values")
	f.BoolVar(&o.forceConflicts, "force-conflicts", false, "take over fields another field manager owns (as kubectl apply --server-side --force-conflicts)")
	return cmd
}

func (o *setupOptions) run(streams IOStreams) error {
	if err := o.envOptions.validate(); err != nil {
		return err
	}
	if o.dryRun != "none" && o.dryRun != "server" {
		return usageErrorf("--dry-run %q: want server or none (a client-side dry run checks nothing: use vactl render)", o.dryRun)
	}
	objs, err := o.envOptions.objects()
	if err != nil {
		return err
	}
	ms, err := metricsServerObjects(o.envOptions.dir, o.metricsServerVariant)
	if err != nil {
		return err
	}
	c, err := o.live.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.live.timeout)
	defer cancel()
	return deploy(ctx, c, streams.Out, deployRequest{
		env: o.envOptions.env, objs: objs, metricsServer: ms,
		preflight: cluster.PreflightOptions{
			NoInstallMetricsServer: o.noInstallMetricsServer,
			RequireComponents:      o.requireComponents,
			CreateSecrets:          o.createSecrets,
		},
		dryRun: o.dryRun == "server", force: o.forceConflicts, timeout: o.live.timeout,
	})
}

// deployRequest is one setup or rollback.
type deployRequest struct {
	env           string
	objs          []*unstructured.Unstructured
	metricsServer []*unstructured.Unstructured
	preflight     cluster.PreflightOptions
	dryRun, force bool
	timeout       time.Duration
	// note is recorded with the revision (rollback: "rollback to N").
	note string
}

// deploy runs preflight, installs metrics-server where needed, applies the
// environment, waits, and records the revision.
func deploy(ctx context.Context, c *cluster.Client, out io.Writer, r deployRequest) error {
	start := time.Now()
	suffix := ""
	if r.dryRun {
		suffix = " (server dry run)"
	}
	fmt.Fprintf(out, "Preflight against %s:\n", c.Host)
	r.preflight.Objects = r.objs
	r.preflight.MetricsServer = r.metricsServer
	r.preflight.DryRun = r.dryRun
	pf, err := c.RunPreflight(ctx, r.preflight)
	if err != nil {
		return failure(out, err)
	}
	pf.Print(out)
	if pf.Failed() {
		return failure(out, fmt.Errorf("preflight failed: nothing was applied"))
	}
	for _, s := range pf.CreateSecrets {
		if r.dryRun {
			fmt.Fprintf(out, "would create Secret %s/%s (%s) (dry run: not created)\n", s.Namespace, s.Name, strings.Join(s.Keys, ", "))
			continue
		}
		if err := ensureNamespace(ctx, c, r.objs, s.Namespace); err != nil {
			return failure(out, err)
		}
		if err := c.CreateSecret(ctx, s); err != nil {
			return failure(out, err)
		}
		fmt.Fprintf(out, "created Secret %s/%s (%s)\n", s.Namespace, s.Name, strings.Join(s.Keys, ", "))
	}
	if pf.InstallMetricsServer {
		fmt.Fprintf(out, "\nmetrics-server (kube-system, inventory %s):\n", cluster.MetricsServerInventory.Name)
		if _, err := c.Apply(ctx, r.metricsServer, cluster.ApplyOptions{
			Inventory: cluster.MetricsServerInventory, Policy: inventory.PolicyMustMatch,
			DryRun: r.dryRun, ForceConflicts: r.force, Timeout: r.timeout, StrictHPAMetrics: true, Progress: out,
		}); err != nil {
			return failure(out, fmt.Errorf("installing metrics-server: %w", err))
		}
	}
	var changes []cluster.Change
	if !r.dryRun {
		// What will change, so the summary can say "0 configured" on a
		// re-run (the applier reports every object as applied).
		// It is also a server-side dry run of every object: what the API
		// server would reject stops setup before anything changed.
		if changes, err = c.Diff(ctx, pf.Objects, cluster.AppInventory, r.force); err != nil {
			return failure(out, fmt.Errorf("setup of %s: %w\nnothing of %s was applied, no revision recorded", r.env, err, r.env))
		}
	}
	if r.dryRun {
		missing, err := c.MissingNamespaces(ctx, pf.Objects)
		if err != nil {
			return failure(out, err)
		}
		if len(missing) > 0 {
			return dryRunNewNamespace(ctx, c, out, r, pf.Objects, missing)
		}
	}
	fmt.Fprintf(out, "\n%s (%d objects, inventory %s/%s):\n", r.env, len(pf.Objects), cluster.AppInventory.Namespace, cluster.AppInventory.Name)
	res, err := c.Apply(ctx, pf.Objects, cluster.ApplyOptions{
		Inventory: cluster.AppInventory, Policy: inventory.PolicyAdoptIfNoInventory,
		DryRun: r.dryRun, ForceConflicts: r.force, Timeout: r.timeout,
		StrictHPAMetrics: !pf.AdapterMissing, Progress: out,
	})
	if err != nil {
		return failure(out, fmt.Errorf("setup of %s: %w\nno revision recorded; fix the cause and run setup again (it continues from what was applied)", r.env, err))
	}
	if r.dryRun {
		fmt.Fprintf(out, "\n%s: %d objects applied%s, %d would be pruned; nothing changed, no revision recorded\n", r.env, res.Applied, suffix, res.Pruned)
		return nil
	}
	var created, configured, pruned int
	for _, ch := range changes {
		switch ch.Action {
		case "create":
			created++
		case "update":
			configured++
		case "prune":
			pruned++
		}
	}
	n, err := c.RecordRevision(ctx, r.env, r.note, pf.Objects)
	if err != nil {
		return failure(out, err)
	}
	fmt.Fprintf(out, "\n%s: %d created, %d configured, %d unchanged, %d pruned; all %d Current in %.0fs; revision %d recorded\n",
		r.env, created, configured, len(pf.Objects)-created-configured, res.Pruned, res.Current, time.Since(start).Seconds(), n)
	return nil
}

// dryRunNewNamespace is setup --dry-run=server where the environment's
// namespace does not exist yet: the API server rejects a dry run of an
// object in a missing namespace (and a dry run of the Namespace creates
// nothing), so what it can take is dry-run on the server and the rest is
// validated against the server's OpenAPI schema, each object's line saying
// which. There is no inventory yet, so nothing would be pruned.
func dryRunNewNamespace(ctx context.Context, c *cluster.Client, out io.Writer, r deployRequest, objs []*unstructured.Unstructured, missing []string) error {
	fmt.Fprintf(out, "\n%s (%d objects; namespace %s does not exist yet: objects in it are validated against the server's schema, the rest dry-run on the server):\n",
		r.env, len(objs), strings.Join(missing, ", "))
	res, err := c.DryRunNewNamespace(ctx, objs, missing, r.force, out)
	if err != nil {
		return failure(out, fmt.Errorf("setup of %s (dry run): %w\nnothing changed, no revision recorded", r.env, err))
	}
	fmt.Fprintf(out, "\n%s: %d objects accepted by a server-side dry run, %d validated against the server's schema only (no admission: their namespace %s does not exist yet), 0 would be pruned; nothing changed, no revision recorded\n",
		r.env, res.DryRun, res.Schema, strings.Join(missing, ", "))
	return nil
}

// ensureNamespace applies the rendered Namespace ns first, so a Secret can
// be created in it before the workloads that read it.
func ensureNamespace(ctx context.Context, c *cluster.Client, objs []*unstructured.Unstructured, ns string) error {
	for _, u := range objs {
		if u.GetKind() == "Namespace" && u.GetName() == ns {
			return c.ApplyOne(ctx, u)
		}
	}
	return fmt.Errorf("the environment renders no Namespace %s", ns)
}
