package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
	"github.com/voiceassist/autoscaling/internal/tune"
)

// tuneFormats: the report as text, JSON or YAML, or the overlay patch.
var tuneFormats = []string{outputText, outputJSON, outputYAML, outputPatch}

type tuneOptions struct {
	env, dir             string
	trace                string
	fromPrometheus       string
	prometheus           string
	seed, searchSeed     uint64
	seeds, candidates    int
	workers              int
	prefer               string
	maxPodHours, maxSLO  float64
	maxStep              string
	holdout              string
	params               string
	set                  []string
	output, png          string
	timelinePNG          string
	patchOut             string
	maxPodSet, maxSLOSet bool
}

func newTuneCommand(streams IOStreams) *cobra.Command {
	o := &tuneOptions{}
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Search an environment's HPA settings against a traffic history on the simulator",
		Long: `Search the HPA settings of one environment — each metric's target, minReplicas
and maxReplicas (the maxima within the namespace's ResourceQuota), the scale-up
and scale-down policies (value, period) and stabilization windows — against a
traffic history, with the simulator of 'vactl simulate' (the upstream HPA
algorithm, the metrics pipeline of the manifests, the model parameters of
--params) under several seeds. The objectives are SLO-violating seconds and
pod-hours (both deployments, mean over the seeds).

The search: a seeded Latin-hypercube sample of the settings' box (half of
--candidates), then three rounds of Gaussian local refinement around the
non-dominated front. The gateway and the workers have their own random
streams in the simulator, so one run scores a gateway setting and a worker
setting at once and the front combines the two deployments' own fronts.

Output: the searched fields, the Pareto front (table; --png draws it), the
pick and what each change is for in the spec's terms (flapping, slow response
to spikes, idle pods), those symptoms measured before and after, and a
simulate comparison of the current settings against the pick with 95 %
intervals over the seeds. -o patch (or --patch-out) writes JSON 6902 patches
for the environment's overlay (they pass 'vactl lint').

The pick: --prefer cost (fewest pod-hours), slo (fewest SLO seconds) or
balanced (the knee of the front), within the bounds --max-pod-hours and
--max-slo-seconds, each defaulting to the current settings' figure: without
a budget the pick is never worse than the current settings on either.
--max-step 5% keeps every field within 5 % of its current value (the spec's
"start with 5 % changes"). --holdout 0.25 or 2d tunes on the history before
its last quarter (or 2 days) and reports the pick on that later part too.

Exit codes: 0 done; 1 the manifests have no model or nothing on the front
meets the budget; 2 usage or input error (the trace's file and line).`,
		Example: `  # A week of traffic from a CSV trace, prod, the spec's 5 % steps
  vactl tune --env prod --trace week.csv --max-step 5% --patch-out tuned.yaml

  # The last 7 days from Prometheus, the cheapest setting within 60 SLO seconds
  vactl tune --env prod --prometheus http://prometheus.monitoring:9090 --from-prometheus 7d \
      --prefer cost --max-slo-seconds 60

  # Honest evaluation: tune on the first 5 days, report the last 2 too
  vactl tune --env staging --trace week.csv --holdout 2d --png front.png -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.maxPodSet, o.maxSLOSet = cmd.Flags().Changed("max-pod-hours"), cmd.Flags().Changed("max-slo-seconds")
			return o.run(cmd.Context(), streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment to tune: "+strings.Join(render.Envs, "|")+" (required)")
	f.StringVar(&o.dir, "dir", "", "manifests directory laid out like k8s/performance (default: the embedded copy)")
	f.StringVar(&o.trace, "trace", "", "the traffic history: a CSV trace (time s, req/s, jobs/s), as vactl simulate --trace reads")
	f.StringVar(&o.fromPrometheus, "from-prometheus", "", "the traffic history: the last RANGE (e.g. 7d) of the gateway's request and job rates from --prometheus")
	f.StringVar(&o.prometheus, "prometheus", "", "Prometheus URL for --from-prometheus, e.g. http://prometheus.monitoring:9090")
	o.seed, o.seeds, o.searchSeed, o.candidates = 1, 5, 1, 200
	f.Var(wholeValue[uint64]{&o.seed, 0, math.MaxUint64}, "seed", "first simulator seed")
	f.Var(wholeValue[int]{&o.seeds, 1, 100}, "seeds", "simulator seeds seed … seed+N-1 every candidate runs under")
	f.Var(wholeValue[int]{&o.candidates, 1, 100000}, "candidates", "settings to simulate, the current one included")
	f.Var(wholeValue[uint64]{&o.searchSeed, 0, math.MaxUint64}, "search-seed", "seed of the search's sampler: the same seed, the same search")
	f.IntVar(&o.workers, "workers", 0, "simulations at once (default: GOMAXPROCS, every core)")
	f.StringVar(&o.prefer, "prefer", "balanced", "pick from the front: cost|slo|balanced")
	f.Float64Var(&o.maxPodHours, "max-pod-hours", 0, "budget: at most this many pod-hours (default: the current settings')")
	f.Float64Var(&o.maxSLO, "max-slo-seconds", 0, "budget: at most this many SLO-violating seconds (default: the current settings')")
	f.StringVar(&o.maxStep, "max-step", "", "keep each field within this change of its current value, e.g. 5% (default: the wide box of docs/tune.md)")
	f.StringVar(&o.holdout, "holdout", "", "hold out the end of the history: a fraction (0.25) or a duration (2d); tune on the rest, report both")
	f.StringVar(&o.params, "params", "", "YAML file of model parameters (a calibrated profile; see docs/simulate.md)")
	f.StringArrayVar(&o.set, "set", nil, "override one model parameter, e.g. --set gateway.cpuPerRPS=4 (repeatable, after --params)")
	addOutputFlag(cmd, &o.output, outputText, tuneFormats...)
	f.StringVar(&o.png, "png", "", "also draw the Pareto front to this PNG file")
	f.StringVar(&o.timelinePNG, "timeline-png", "", "also draw current against pick (first seed) as vactl simulate --png does")
	f.StringVar(&o.patchOut, "patch-out", "", "also write the overlay's JSON 6902 patches to this file")
	return cmd
}

func parseStep(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pc := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err == nil && pc {
		v /= 100
	}
	if err != nil || !(v > 0 && v < 1) {
		return 0, fmt.Errorf("--max-step %q: want a percentage above 0 and below 100, e.g. 5%%", s)
	}
	return v, nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (o *tuneOptions) run(ctx context.Context, streams IOStreams) error {
	if o.env == "" {
		return usageErrorf("--env is required (%s)", strings.Join(render.Envs, ", "))
	}
	overlay, err := render.EnvDir(o.env)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--env: %w", err)}
	}
	if err := checkOutput(o.output, tuneFormats); err != nil {
		return err
	}
	prefer, err := tune.ParsePrefer(o.prefer)
	if err != nil {
		return &UsageError{Err: err}
	}
	if o.seed > math.MaxUint64-uint64(o.seeds) {
		return usageErrorf("--seed %d with --seeds %d: the seeds would wrap around", o.seed, o.seeds)
	}
	if o.workers < 0 {
		return usageErrorf("--workers %d: want 0 (every core) or more", o.workers)
	}
	var budget tune.Budget
	if o.maxPodSet {
		if !(o.maxPodHours > 0) {
			return usageErrorf("--max-pod-hours %v: want a positive number", o.maxPodHours)
		}
		budget.MaxPodHours = &o.maxPodHours
	}
	if o.maxSLOSet {
		if !(o.maxSLO >= 0) {
			return usageErrorf("--max-slo-seconds %v: want 0 or more", o.maxSLO)
		}
		budget.MaxSLOSeconds = &o.maxSLO
	}
	step := 0.0
	if o.maxStep != "" {
		if step, err = parseStep(o.maxStep); err != nil {
			return &UsageError{Err: err}
		}
	}
	base := sim.Config{Params: sim.DefaultParams()}
	inputs := []string{"defaults"}
	if o.params != "" {
		if err := sim.LoadParams(&base.Params, o.params); err != nil {
			return &UsageError{Err: fmt.Errorf("--params: %w", err)}
		}
		inputs = append(inputs, o.params)
	}
	for _, s := range o.set {
		if err := sim.SetParam(&base.Params, s); err != nil {
			return &UsageError{Err: err}
		}
		inputs = append(inputs, "--set "+s)
	}
	if err := base.Params.Validate(); err != nil {
		return &UsageError{Err: fmt.Errorf("model parameters: %w", err)}
	}
	var tr *sim.Trace
	switch {
	case (o.trace == "") == (o.fromPrometheus == ""):
		return usageErrorf("give the history: --trace FILE or --from-prometheus RANGE (one of them)")
	case o.trace != "":
		if tr, err = sim.LoadTrace(o.trace); err != nil {
			return &UsageError{Err: fmt.Errorf("--trace: %w", err)}
		}
	default:
		if o.prometheus == "" {
			return usageErrorf("--from-prometheus needs --prometheus URL")
		}
		rng, err := model.ParseDuration(o.fromPrometheus)
		if err != nil || rng <= 0 {
			return usageErrorf("--from-prometheus %q: want a positive Prometheus duration like 7d or 36h", o.fromPrometheus)
		}
		if tr, err = tune.PrometheusTrace(ctx, o.prometheus, "voiceassist", time.Duration(rng), time.Now(), nil); err != nil {
			return err
		}
	}
	history := tr.Name
	train, test := tr, (*sim.Trace)(nil)
	var split float64
	if o.holdout != "" {
		if split, err = tune.ParseHoldout(o.holdout, tr.End()); err != nil {
			return &UsageError{Err: err}
		}
		train, test = tune.SplitTrace(tr, split)
	}

	in, err := loadSimInput(o.dir, o.env)
	if err != nil {
		return err
	}
	base.Adapter, base.AdapterFile, base.Label = in.values, in.valuesFile, o.env
	space, err := tune.NewSpace(in.set, step)
	if err != nil {
		return err
	}
	seeds := make([]uint64, o.seeds)
	for k := range seeds {
		seeds[k] = o.seed + uint64(k)
	}
	workers := o.workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	base.Scenario = sim.TraceScenario(train)
	startWall, startCPU := time.Now(), processCPU()
	s, err := tune.Run(ctx, tune.Options{Space: space, Base: base, Seeds: seeds, Candidates: o.candidates, SearchSeed: o.searchSeed, Workers: workers})
	if err != nil {
		return err
	}
	wall, cpu := time.Since(startWall), processCPU()-startCPU
	pick, err := s.Pick(prefer, budget)
	if err != nil {
		return err
	}
	rep := &tune.Report{Env: o.env, History: history, Duration: base.Scenario.Duration, Seeds: seeds, SearchSeed: o.searchSeed,
		Candidates: len(s.Evaluated), Runs: s.Runs, Workers: workers, WallSeconds: wall.Seconds(), CPUSeconds: cpu.Seconds(),
		Method: tune.Method, Params: inputs, Space: space, Current: s.RowOf(s.Current), Prefer: prefer, Budget: budget, Pick: s.RowOf(pick)}
	rep.Notes = append(rep.Notes, train.Notes...)
	for _, f := range s.Front {
		rep.Front = append(rep.Front, s.RowOf(f))
	}
	rep.Changes = space.Changes(rep.Current.Setting, rep.Pick.Setting)
	cmp, err := tune.Simulate(ctx, space, base, seeds, workers, []string{o.env + " (current)", o.env + " (tuned)"}, rep.Current.Setting, rep.Pick.Setting)
	if err != nil {
		return err
	}
	rep.Comparison = [2]sim.RunStats{sim.Stats(cmp[0]), sim.Stats(cmp[1])}
	rep.Symptoms = tune.Symptoms(cmp[0], cmp[1])
	if test != nil {
		hb := base
		hb.Scenario = sim.TraceScenario(test)
		hr, err := tune.Simulate(ctx, space, hb, seeds, workers, []string{o.env + " (current, holdout)", o.env + " (tuned, holdout)"}, rep.Current.Setting, rep.Pick.Setting)
		if err != nil {
			return err
		}
		rep.Holdout = &tune.Holdout{From: int64(split), To: int64(math.Ceil(tr.End())),
			Current: tune.RowOfRuns(hr[0], rep.Current.Setting), Pick: tune.RowOfRuns(hr[1], rep.Pick.Setting),
			Comparison: [2]sim.RunStats{sim.Stats(hr[0]), sim.Stats(hr[1])}}
	}
	patches, err := space.Patches(rep.Pick.Setting)
	if err != nil {
		return err
	}
	pf, err := tune.PatchFile(o.env, overlay, patches)
	if err != nil {
		return err
	}
	rep.Patch = string(pf)
	if o.patchOut != "" {
		if err := os.WriteFile(o.patchOut, pf, 0o644); err != nil {
			return err
		}
	}
	if o.png != "" {
		if err := writeFile(o.png, func(w io.Writer) error { return tune.WritePNG(w, s, pick) }); err != nil {
			return err
		}
	}
	if o.timelinePNG != "" {
		if err := writeFile(o.timelinePNG, func(w io.Writer) error { return sim.WritePNG(w, []*sim.Result{cmp[0][0], cmp[1][0]}) }); err != nil {
			return err
		}
	}
	switch o.output {
	case outputPatch:
		_, err = streams.Out.Write(pf)
	case outputJSON:
		err = tune.WriteJSON(streams.Out, rep)
	case outputYAML:
		var buf bytes.Buffer
		if err = tune.WriteJSON(&buf, rep); err == nil {
			var y []byte
			if y, err = yaml.JSONToYAML(buf.Bytes()); err == nil {
				_, err = streams.Out.Write(y)
			}
		}
	default:
		err = tune.WriteText(streams.Out, rep)
	}
	return err
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
