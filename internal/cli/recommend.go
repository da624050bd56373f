package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/lint"
	"github.com/voiceassist/autoscaling/internal/recommend"
	"github.com/voiceassist/autoscaling/internal/render"
)

// recommendFormats are recommend's -o values: the result as text, JSON or
// YAML, or the overlay's patches.
var recommendFormats = []string{outputText, outputJSON, outputYAML, outputPatch}

type recommendOptions struct {
	env        string
	dir        string
	prometheus string
	rangeFlag  string
	step       time.Duration
	top        []string
	output     string
	patchOut   string
	limitRatio string
	fromVPA    bool
	live       liveOptions
}

func newRecommendCommand(streams IOStreams) *cobra.Command {
	o := &recommendOptions{}
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "Right-size requests and limits from usage, the VPA recommender's way",
		Long: `Recommend CPU and memory requests and limits for every container of one
environment, with the Vertical Pod Autoscaler recommender's own code: decaying
histograms (half-life 24h), the 90th percentile of CPU and of daily memory
peaks, a 15% safety margin, pod minimums 25m / 250Mi, OOM kills bumped 1.2×,
bounds widened by confidence (see docs/recommend.md).

The usage comes from Prometheus (cAdvisor's container_cpu_usage_seconds_total
and container_memory_working_set_bytes, one point per --step over --range) or
from captures of 'kubectl top pods --containers' (the spec's baseline.txt),
or both; or --from-vpa reads the targets the cluster's VPA recommender has
already made (status.recommendation of each VerticalPodAutoscaler, through
kubectl's connection flags: --kubeconfig, --context, ...). The result then fits the environment: limits keep the container's
current limit/request ratio inside the 2-4x band, stay within the namespace's
LimitRange, and the workloads at their HPA maxima fit the ResourceQuota
(limits drop to the band's minimum if they must; what still does not fit is
reported). Each container shows current against recommended, with the
reasons, and krr's "simple" strategy on the same data for comparison.

-o patch (or --patch-out FILE) writes JSON 6902 patches for the environment's
overlay, as entries to append to its kustomization's patches: list; the
result passes 'vactl lint'.

Exit codes: 0 success, 1 a constraint cannot be met (see the problems),
2 usage or input error (a malformed capture names the file and line).`,
		Example: `  # A week of Prometheus history for prod
  vactl recommend --env prod --prometheus http://prometheus.monitoring:9090 --range 7d

  # The spec's baseline captures, as JSON
  vactl recommend --env staging --top baseline.txt --top baseline-2.txt -o json

  # What the cluster's VPAs recommend, fitted to the band, LimitRange and quota
  vactl recommend --env prod --from-vpa --context prod-cluster

  # Write the overlay patch and check it
  vactl recommend --env prod --top baseline.txt --patch-out recommended.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), streams)
		},
	}
	f := cmd.Flags()
	// No default: right-sizing the wrong environment (base, say, when prod
	// was meant) gives a plausible-looking but wrong patch.
	f.StringVar(&o.env, "env", "", "environment to right-size: "+strings.Join(render.Envs, "|")+" (required)")
	f.StringVar(&o.dir, "dir", "", "manifests directory laid out like k8s/performance (default: the embedded copy)")
	f.StringVar(&o.prometheus, "prometheus", "", "Prometheus URL to read cAdvisor usage from, e.g. http://prometheus.monitoring:9090")
	f.StringVar(&o.rangeFlag, "range", "8d", "history to read from Prometheus, a Prometheus duration (8d is the VPA's own default)")
	f.DurationVar(&o.step, "step", time.Minute, "Prometheus resolution: one VPA sample per step (the recommender samples once a minute)")
	f.StringArrayVar(&o.top, "top", nil, "a 'kubectl top pods --containers' capture (repeatable)")
	addOutputFlag(cmd, &o.output, outputText, recommendFormats...)
	f.StringVar(&o.patchOut, "patch-out", "", "also write the overlay's JSON 6902 patches to this file")
	f.BoolVar(&o.fromVPA, "from-vpa", false, "read the live VPAs' status.recommendation (the cluster of the connection flags)")
	o.live.addFlags(cmd, 30*time.Second, "give up reading the live VPAs after this long (with --from-vpa)")
	f.StringVar(&o.limitRatio, "limit-ratio", "", "allowed limit/request band as MIN-MAX (default: vactl lint's, 2-4)")
	return cmd
}

func (o *recommendOptions) run(ctx context.Context, streams IOStreams) error {
	if o.env == "" {
		return usageErrorf("--env is required (%s)", strings.Join(render.Envs, ", "))
	}
	overlay, err := render.EnvDir(o.env)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--env: %w", err)}
	}
	if err := checkOutput(o.output, recommendFormats); err != nil {
		return err
	}
	if o.prometheus == "" && len(o.top) == 0 && !o.fromVPA {
		return usageErrorf("no usage source: give --prometheus URL, --top FILE or --from-vpa")
	}
	rng, err := model.ParseDuration(o.rangeFlag)
	if err != nil || rng <= 0 {
		return usageErrorf("--range %q: want a positive Prometheus duration like 8d or 12h", o.rangeFlag)
	}
	if o.step <= 0 {
		return usageErrorf("--step %s: want a positive duration", o.step)
	}
	opt := recommend.DefaultOptions()
	band := lint.DefaultConfig().LimitRequestRatio
	opt.Band = recommend.Band{Min: band.Min, Max: band.Max}
	if o.limitRatio != "" {
		lo, hi, ok := strings.Cut(o.limitRatio, "-")
		a, err1 := strconv.ParseFloat(lo, 64)
		b, err2 := strconv.ParseFloat(hi, 64)
		if !ok || err1 != nil || err2 != nil || a <= 0 || b < a {
			return usageErrorf("--limit-ratio %q: want MIN-MAX with 0 < MIN <= MAX, e.g. 2-4", o.limitRatio)
		}
		opt.Band = recommend.Band{Min: a, Max: b}
	}

	src, err := source(o.dir)
	if err != nil {
		return err
	}
	set, err := src.EnvSet(o.env)
	if err != nil {
		return err
	}

	var sources []recommend.Source
	if o.prometheus != "" {
		sources = append(sources, recommend.Prometheus{URL: o.prometheus})
	}
	if len(o.top) > 0 {
		sources = append(sources, recommend.TopCaptures{Files: o.top})
	}
	var conn *cluster.Client
	if o.fromVPA {
		c, err := o.live.connect()
		if err != nil {
			return err
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.live.timeout)
		defer cancel()
		where := "server " + c.Host
		if c.Context != "" {
			where = "context " + c.Context
		}
		sources = append(sources, recommend.LiveVPAs{Client: c.Dynamic, Where: where})
		conn = c
	}
	scope := recommend.Scope{Namespaces: namespaces(set), End: time.Now(), Range: time.Duration(rng), Step: o.step}
	res, err := recommend.FromSources(ctx, set, sources, scope, opt)
	var ie *recommend.InputError
	if errors.As(err, &ie) {
		return &UsageError{Err: err}
	}
	if err != nil && conn != nil {
		return conn.Explain(err)
	}
	if err != nil {
		return err
	}
	res.Env = o.env

	if o.output == outputPatch || o.patchOut != "" {
		patches, err := recommend.Patches(res)
		if err != nil {
			return err
		}
		b, err := recommend.PatchFile(o.env, overlay, patches)
		if err != nil {
			return err
		}
		if o.patchOut != "" {
			if err := os.WriteFile(o.patchOut, b, 0o644); err != nil {
				return err
			}
		}
		if o.output == outputPatch {
			if _, err := streams.Out.Write(b); err != nil {
				return err
			}
		}
	}
	switch o.output {
	case outputJSON:
		err = recommend.WriteJSON(streams.Out, res)
	case outputYAML:
		err = recommend.WriteYAML(streams.Out, res)
	case outputText:
		err = recommend.WriteText(streams.Out, res)
	}
	if err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		if o.output == outputPatch {
			for _, p := range res.Problems {
				fmt.Fprintln(streams.Err, "problem:", p)
			}
		}
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

// namespaces are the namespaces of the environment's workloads.
func namespaces(set *kube.Set) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range set.Workloads() {
		if !seen[w.Namespace] {
			seen[w.Namespace] = true
			out = append(out, w.Namespace)
		}
	}
	return out
}
