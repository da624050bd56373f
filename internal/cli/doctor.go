package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/doctor"
)

type doctorOptions struct {
	live       liveOptions
	envOptions envOptions
	output     string
}

func newDoctorCommand(streams IOStreams) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [--env ENV]",
		Short: "Diagnose the live autoscaling: why an HPA does not scale, what it does next, evictions, OOM kills, VPAs, drains, thrashing",
		Long: `Read the namespace's autoscalers, their pods and the metrics APIs, and report
what is wrong, each finding with its severity, the evidence, the kubectl
command that confirms it and the fix. It automates the Troubleshooting section
of the original README:

  HPA not scaling     which metrics APIService is missing or unavailable and
                      whether the pod behind it is ready; which pods lack a
                      request for a Resource metric; which custom or external
                      metric the API does not serve for the HPA's selector
                      (queried as the HPA controller queries it);
                      FailedGetScale; and upstream's rule that an HPA does not
                      scale down while one of its metrics is invalid.
  explain             every HPA's next decision, replayed with the upstream
                      algorithm (internal/hpa) on the pods and the metric
                      values of now: which metric proposes how many replicas,
                      which policy or stabilization window holds it back
                      ("+2 pods per 30 s allows 4 → 6"), when the next step is
                      allowed, and whether that disagrees with the HPA's status.
  pods                evicted pods and OOMKilled containers: use against the
                      limit, the VPA's upper bound, and whether a higher limit
                      would break the LimitRange's ratio or the ResourceQuota.
  VPA                 no recommendation: CRD, recommender, targetRef, age < 24 h.
  drain               PDBs that allow no disruption, with their pods, and the
                      safe procedure (never delete the PDB first).
  thrashing           rescales and direction changes in the last hour.

With --env, the environment's HPAs, PDBs and VPAs that the cluster lacks are
findings too. Nothing in the cluster changes.

Exit codes: 0 no error-level finding, 1 error-level findings (or doctor could
not read the cluster), 2 usage error.`,
		Example: `  vactl doctor --env prod --context prod
  vactl doctor -o json | jq '.explanations[] | {hpa, summary}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams) },
	}
	o.live.addFlags(cmd, time.Minute, "how long reading the cluster may take")
	cmd.Flags().StringVar(&o.envOptions.env, "env", "", "environment whose objects the namespace should hold: dev|staging|prod (optional)")
	cmd.Flags().StringVar(&o.envOptions.dir, "dir", "", "manifests directory laid out like k8s/performance (default: the embedded copy; needs --env)")
	addOutputFlag(cmd, &o.output, outputText, outputText, outputJSON)
	return cmd
}

func (o *doctorOptions) run(streams IOStreams) error {
	if err := checkOutput(o.output, []string{outputText, outputJSON}); err != nil {
		return err
	}
	if o.envOptions.dir != "" && o.envOptions.env == "" {
		return usageErrorf("--dir %s: needs --env (the environment of that directory whose objects the namespace should hold)", o.envOptions.dir)
	}
	var expected []doctor.ObjectRef
	if o.envOptions.env != "" {
		if err := o.envOptions.validate(); err != nil {
			return err
		}
		objs, err := o.envOptions.objects()
		if err != nil {
			return err
		}
		for _, u := range objs {
			expected = append(expected, doctor.ObjectRef{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()})
		}
	}
	c, err := o.live.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.live.timeout)
	defer cancel()
	snap, err := doctor.Gather(ctx, doctor.Clients{Kube: c.Kube, Dynamic: c.Dynamic, Config: c.Config, Mapper: c.Mapper}, cluster.Namespace)
	if err != nil {
		return failure(streams.Err, c.Explain(err))
	}
	r := doctor.Diagnose(snap)
	if o.envOptions.env != "" {
		r.AddExpected(o.envOptions.env, snap, expected)
	}
	if o.output == outputJSON {
		err = writeData(streams.Out, r, outputJSON)
	} else {
		err = doctor.WriteText(streams.Out, r)
	}
	if err != nil {
		return err
	}
	if r.HasErrors() {
		fmt.Fprintf(streams.Err, "doctor: %d error-level finding(s)\n", r.Summary.Errors)
		return &ExitError{Code: ExitFailure}
	}
	return nil
}
