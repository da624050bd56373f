package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/check"
	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/lint"
)

type checkOptions struct {
	live          liveOptions
	envOptions    envOptions
	output        string
	prometheusURL string
	config        string
}

// checkFormats are the -o values of vactl check.
var checkFormats = []string{outputText, outputJSON, outputMarkdown}

func newCheckCommand(streams IOStreams) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check --env ENV",
		Short: "Go through the Production Checklist against the cluster: pass, fail or unknown, with evidence",
		Long: `Check the cluster against the Production Checklist of the performance guide,
item by item. Each item is pass, fail or unknown, with the evidence it was
judged on and, when it does not pass, what to do:

  Metrics Server installed and verified   APIService v1beta1.metrics.k8s.io Available
                                          and PodMetrics for every running pod
  Resource limits set for all containers  the lint rules on requests and limits over
                                          the live objects (vactl lint --live)
  HPAs configured with appropriate        the HPAs match the environment (server-side
  thresholds                              diff, as vactl diff), ScalingActive, no
                                          metric <unknown>
  PodDisruptionBudgets created            every PDB present and allowing a disruption,
                                          or blocking on purpose as its
                                          voiceassist.io/blocks-eviction annotation says
  VPAs configured in recommendation mode  every VPA present, updateMode Off, with a
                                          recommendation
  Monitoring and alerting configured      our PrometheusRule present; with
                                          --prometheus-url, every alert loaded
  Load testing completed successfully     the last vactl loadtest's verdict, recorded
                                          on the namespace
  Runbook created for scaling operations  every alert's runbook_url resolves to a
                                          section of docs/runbook.md
  Team trained                            always unknown: a cluster cannot show it
  Rollback plan documented                vactl history has a previous revision for
                                          vactl rollback

Unknown means vactl could not read what the item needs (the reason is the
evidence), never a guess. -o markdown is a checklist table to paste into a
change ticket.

Exit codes: 0 no item failed, 1 an item failed (or the cluster cannot be
reached), 2 usage error.`,
		Example: `  vactl check --env prod --context prod
  vactl check --env prod --prometheus-url http://prometheus.monitoring:9090 -o markdown > checklist.md
  vactl check --env staging -o json | jq '.items[] | select(.status != "pass")'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams) },
	}
	o.live.addFlags(cmd, time.Minute, "how long reading the cluster may take")
	o.envOptions.addSourceFlags(cmd)
	addOutputFlag(cmd, &o.output, outputText, checkFormats...)
	cmd.Flags().StringVar(&o.prometheusURL, "prometheus-url", "", "ask this Prometheus (its rules API) whether it loaded the alert rules, e.g. http://prometheus.monitoring:9090")
	cmd.Flags().StringVar(&o.config, "config", "", "lint configuration for the limits item (default: "+defaultConfigFile+" in the working directory, if present)")
	return cmd
}

func (o *checkOptions) run(streams IOStreams) error {
	if err := o.envOptions.validate(); err != nil {
		return err
	}
	if err := checkOutput(o.output, checkFormats); err != nil {
		return err
	}
	cfg, err := (&lintOptions{config: o.config}).configuration()
	if err != nil {
		return err
	}
	objs, err := o.envOptions.objects()
	if err != nil {
		return err
	}
	var bases []*lint.Input
	if o.envOptions.dir == "" {
		if bases, err = embeddedBases(o.envOptions.env); err != nil {
			return err
		}
	}
	c, err := o.live.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.live.timeout)
	defer cancel()
	in, err := check.Gather(ctx, c, check.Options{
		Env: o.envOptions.env, Rendered: objs, Lint: cfg, Bases: bases,
		LintInput: liveInputName(c, o.envOptions.env), PrometheusURL: o.prometheusURL,
	})
	if err != nil {
		// explained by Gather already (doctor's Gather cannot: it has no
		// cluster.Client); Explain twice would repeat its prefix
		return failure(streams.Err, err)
	}
	rep := &check.Report{Env: o.envOptions.env, Context: c.Context, Server: c.Host, Time: time.Now().UTC(),
		Vactl: cluster.ReadBuildInfo().String(), Items: check.Evaluate(in)}
	switch o.output {
	case outputJSON:
		err = writeData(streams.Out, rep, "json")
	case outputMarkdown:
		err = check.WriteMarkdown(streams.Out, rep)
	default:
		err = check.WriteText(streams.Out, rep)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

// liveInputName names the cluster in lint findings of live objects.
func liveInputName(c *cluster.Client, env string) string {
	where := c.Host
	if c.Context != "" {
		where = "context " + c.Context
	}
	return fmt.Sprintf("live %s (env %s)", where, env)
}

// embeddedBases are the kustomize bases of an embedded environment, for
// lint's overlay rules.
func embeddedBases(env string) ([]*lint.Input, error) {
	ins, err := lint.Embedded([]string{env})
	if err != nil {
		return nil, err
	}
	return ins[0].Bases, nil
}
