package cli

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/status"
)

type statusOptions struct {
	live     liveOptions
	env, dir string
	output   string
	watch    bool
	interval time.Duration
	events   int
}

func newStatusCommand(streams IOStreams) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [--env ENV] [--watch] [-o text|json|yaml]",
		Short: "Show the autoscalers, budgets, pods, queue and warnings of the running environment on one screen",
		Long: `Show on one screen what the spec's "Monitoring & Verification" commands show
(kubectl get/describe hpa, describe vpa, get/describe pdb, top pods, get events),
for the namespace the environment deploys to:

  - per HPA: min/max, current/desired replicas, ready pods, last scale time;
    every metric's current value (status.currentMetrics) against its target,
    the replica count each metric proposes (upstream's replica calculator,
    internal/hpa, run on the reported value: within the 0.1 tolerance the
    count stays, else ceil(ratio x ready pods) for a Utilization or
    per-pod AverageValue target, or ceil(total / target) for an External or
    Object AverageValue target, the total being the reported average x the
    current replicas), which one is the max and so decides the desired
    count, and the conditions with their reasons;
  - per VPA: lower bound, target and upper bound against the requests of the
    target's pod template (no VPA CRD: said so, not an error);
  - per PDB: expected pods, currentHealthy, desiredHealthy, disruptionsAllowed;
  - pods: readiness, restarts, the last termination reason (OOMKilled, ...),
    CPU and memory use (metrics.k8s.io) against requests and limits;
  - the queue depth and age the worker HPA reads (external.metrics.k8s.io);
  - the newest Warning events (--events).

A metrics API that is not served or not available shows <unavailable> and
why (the APIService's condition). --env also names what the environment
renders and the cluster lacks. -o json|yaml print the same data (each list
with the resourceVersion it was read at).

--watch redraws every --interval on a terminal, and streams otherwise: one
JSON object per line with -o json, YAML documents, or text snapshots. Ctrl-C
ends it (exit 0).`,
		Example: `  vactl status
  vactl status --env prod --context prod
  vactl status --watch                       # redraws every 5 s, like watch kubectl get hpa
  vactl status --watch -o json | jq -c '.hpas.items[] | [.name, .currentReplicas, .decision.metric]'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams) },
	}
	o.live.addFlags(cmd, 30*time.Second, "how long one snapshot may take")
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment deployed here: "+strings.Join(liveEnvs(), "|")+" (its namespace; what it renders and the cluster lacks is reported)")
	f.StringVar(&o.dir, "dir", "", "manifests directory laid out like k8s/performance, for --env (default: the embedded copy)")
	addOutputFlag(cmd, &o.output, outputText, outputText, outputJSON, outputYAML)
	f.BoolVarP(&o.watch, "watch", "w", false, "show a new snapshot every --interval until interrupted")
	f.DurationVar(&o.interval, "interval", 5*time.Second, "time between snapshots with --watch")
	f.IntVar(&o.events, "events", 10, "how many of the newest Warning events to show")
	return cmd
}

func (o *statusOptions) run(streams IOStreams) error {
	if err := checkOutput(o.output, []string{outputText, outputJSON, outputYAML}); err != nil {
		return err
	}
	if o.interval <= 0 {
		return usageErrorf("--interval %s: want a positive duration", o.interval)
	}
	if o.events < 0 {
		return usageErrorf("--events %d: want 0 or more", o.events)
	}
	opts := status.Options{Namespace: *o.live.flags.Namespace, Env: o.env, Events: o.events}
	if o.env != "" {
		if !slices.Contains(liveEnvs(), o.env) {
			return usageErrorf("--env %q: want one of %s", o.env, strings.Join(liveEnvs(), ", "))
		}
		if err := o.expected(&opts); err != nil {
			return err
		}
	}
	c, err := o.live.connect()
	if err != nil {
		return err
	}
	src, err := status.NewSources(c)
	if err != nil {
		return err
	}
	gather := func(ctx context.Context) (*status.Snapshot, error) {
		ctx, cancel := context.WithTimeout(ctx, o.live.timeout)
		defer cancel()
		return status.Gather(ctx, src, opts)
	}
	if !o.watch {
		s, err := gather(context.Background())
		if err != nil {
			return failure(streams.Err, err)
		}
		return status.Write(streams.Out, s, o.output)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = status.Watch(ctx, gather, streams.Out, status.WatchOptions{
		Interval: o.interval, Format: o.output, Redraw: isTerminal(streams.Out), Errors: streams.Err,
	})
	if err != nil {
		return failure(streams.Err, err)
	}
	return nil
}

// expected renders the environment: its namespace, and its HPAs, VPAs and
// PDBs, which the snapshot reports when the cluster lacks them.
func (o *statusOptions) expected(opts *status.Options) error {
	src, err := source(o.dir)
	if err != nil {
		return err
	}
	set, err := src.EnvSet(o.env)
	if err != nil {
		return err
	}
	for _, h := range set.HPAs {
		opts.Namespace = h.Namespace
		opts.Expected = append(opts.Expected, "HorizontalPodAutoscaler/"+h.Name)
	}
	for _, v := range set.VPAs {
		opts.Expected = append(opts.Expected, "VerticalPodAutoscaler/"+v.Name)
	}
	for _, p := range set.PDBs {
		opts.Expected = append(opts.Expected, "PodDisruptionBudget/"+p.Name)
	}
	return nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
