package cli

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/adapter"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
)

type simulateOptions struct {
	env, dir            string
	scenario, trace     string
	duration            string
	seed                uint64
	seeds               int
	params              string
	set                 []string
	output, png         string
	compare, compareDir []string
	slo                 []string
	failOn              string
	scenarioSet         bool
	against, filename   string
}

// wholeValue is a pflag.Value for a whole number within [min, max] whose
// parse error says what it wants instead of strconv's message.
type wholeValue[T uint64 | int] struct {
	p        *T
	min, max uint64
}

func (v wholeValue[T]) String() string { return strconv.FormatUint(uint64(*v.p), 10) }
func (v wholeValue[T]) Type() string   { return "int" }
func (v wholeValue[T]) Set(s string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || n < v.min || n > v.max {
		if v.max == math.MaxUint64 {
			return fmt.Errorf("want a whole number %d or more", v.min)
		}
		return fmt.Errorf("want a whole number from %d to %d", v.min, v.max)
	}
	*v.p = T(n)
	return nil
}

// maxSeeds bounds --seeds: 1000 spike runs take a few seconds.
const maxSeeds = 1000

func newSimulateCommand(streams IOStreams) *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "What-if autoscaling: run an environment's HPAs against a load scenario, no cluster needed",
		Long:  simulateLong(),
		Example: `  # The 5x spike against prod: summary table and terminal chart
  vactl simulate --env prod --scenario spike

  # Staging next to prod on a day of traffic, with a PNG chart
  vactl simulate --env prod --compare staging --scenario diurnal --png day.png

  # A working copy against the committed manifests, replaying a recorded trace
  vactl simulate --dir k8s/performance --compare-dir /tmp/old/k8s/performance --trace load.csv

  # Slower pods, as CSV for a spreadsheet
  vactl simulate --scenario ramp --set gateway.startupSeconds=60 -o csv > ramp.csv

  # Gate CI: ten seeds, fail (exit 1) when any seed misses a threshold
  vactl simulate --scenario spike --seeds 10 --slo gateway.catchUpSeconds=180 \
      --slo worker.queuedAtEnd=0 --fail-on slo

  # Four configurations side by side
  vactl simulate --env prod --compare staging --compare dev --compare-dir ../old/k8s/performance

  # Did the simulator predict what the cluster did? (exit 1 when not)
  vactl loadtest worker --burst 700 -o json > burst.json
  vactl simulate --env dev --params measured.yaml --against burst.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.scenarioSet = cmd.Flags().Changed("scenario")
			return o.run(streams.Out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "prod", "environment: "+strings.Join(render.Envs, "|"))
	f.StringVar(&o.dir, "dir", "", "manifests directory laid out like k8s/performance (default: the embedded copy)")
	f.StringVar(&o.scenario, "scenario", "steady", "load scenario: "+strings.Join(sim.ScenarioNames(), "|"))
	f.StringVar(&o.trace, "trace", "", "replay a CSV trace (time s, req/s, jobs/s) instead of a scenario")
	f.StringVar(&o.duration, "duration", "", "simulated time, e.g. 90m, 24h, 30d (default: the scenario's)")
	o.seed, o.seeds = 1, 1
	f.Var(wholeValue[uint64]{&o.seed, 0, math.MaxUint64}, "seed", "random seed: the same seed gives the same run")
	f.Var(wholeValue[int]{&o.seeds, 1, maxSeeds}, "seeds", "run seeds seed … seed+N-1 and give each summary figure's mean and 95 % interval")
	f.StringVar(&o.params, "params", "", "YAML file of model parameters (see docs/simulate.md); unknown fields are errors")
	f.StringArrayVar(&o.set, "set", nil, "override one model parameter, e.g. --set gateway.cpuPerRPS=4 (repeatable, after --params)")
	addOutputFlag(cmd, &o.output, outputText, simulateOutputs...)
	f.StringVar(&o.png, "png", "", "also write a chart to this PNG file")
	f.StringArrayVar(&o.compare, "compare", nil, "also simulate this environment (of --dir) side by side; repeatable")
	f.StringArrayVar(&o.compareDir, "compare-dir", nil, "also simulate the manifests in this directory (same --env) side by side; repeatable")
	f.StringArrayVar(&o.slo, "slo", nil, "threshold deployment.figure<=max, e.g. gateway.sloViolationSeconds<=60 (repeatable; figures in docs/simulate.md)")
	f.StringVar(&o.failOn, "fail-on", "none", "exit 1 when: slo (an --slo threshold failed in any seed) | none")
	f.StringVar(&o.against, "against", "", "replay the load of `FILE`, a vactl loadtest -o json report, and compare the scale events (exit 1 when they disagree)")
	f.StringVarP(&o.filename, "filename", "f", "", "with --against: `FILE` of the rendered objects that were deployed (YAML) instead of --env/--dir")
	return cmd
}

func simulateLong() string {
	var b strings.Builder
	b.WriteString(`Simulate VoiceAssist's autoscaling second by second, deterministically under a
seed, with the HPA objects of the rendered environment and the upstream HPA
algorithm (internal/hpa, a port of k8s.io/kubernetes pkg/controller/podautoscaler):
every metric of both HPAs, tolerance, behavior policies and stabilization,
missing and unready pods, the CPU initialization period, a sync every 15 s.

The model (docs/simulate.md has every parameter and its default):
  gateway   Poisson request arrivals shared by the ready pods; each pod an M/M/1
            queue (p95 = base + ln 20 / (mu (1 - rho))), overload
            waits in a backlog and times out; CPU and memory per request.
  worker    Poisson job arrivals into a FIFO queue; each worker runs
            'concurrency' jobs with log-normal service times; CPU and memory
            per job in progress; a deleted worker finishes its jobs within
            terminationGracePeriodSeconds or hands them back.
  pods      Pending, then starting (no traffic), then ready at the first
            readiness probe that passes; deleted pods drain, then exit.
  capacity  a pod gets its CPU request (plus run.cpuBurst of the room to its
            limit): a gateway pod serves (CPU - idleCPU) / cpuPerRPS req/s, a
            worker's jobs slow down when its slots want more; a container over
            its memory limit is OOM-restarted. ResourceQuotas hold pod creation.
  metrics   read from the manifests: metrics-server every --metric-resolution
            (CPU rate between two scrapes); Prometheus every ServiceMonitor
            interval; the adapter serves http_requests_per_second as the rate()
            of its rule in prometheus-adapter-values.yaml, the queue metrics as
            the last scrape.
  HPA       every 15 s: ComputeReplicasForMetric for each metric, then Decide.

Scenarios (the base load is gateway.baseRPS and worker.baseJobsPerSecond):
`)
	for _, s := range sim.Scenarios() {
		fmt.Fprintf(&b, "  %-12s %s\n", s.Name, s.Help)
	}
	b.WriteString(`  --trace F    replay F: CSV rows time,rps,jobs_per_s (seconds, rising; columns
               by position or by a header naming them; Unix times or a late
               start are rebased to 0), linear between rows; runs to the last time.

Output: a table per deployment — peak replicas; catch-up, the longest stretch in
which the load exceeded the ready pods' capacity; SLO-violating seconds (gateway
p95 over gateway.p95TargetMs, oldest job over worker.waitSLOSeconds); pod-hours
and those of a perfect-foresight oracle; scale events; direction changes — and a
terminal chart. The header gives the parameters, pod capacity and metrics
pipeline in effect. --seeds N: mean and 95 % interval of each figure. --slo and
--fail-on slo turn it into a CI gate (exit 1). -o json|yaml|csv print the timelines
instead; --png draws them.

Fidelity: --against REPORT.json replays the requests and jobs a
'vactl loadtest -o json' run sent, second by second, through the manifests
(--env/--dir, or -f the rendered objects that were deployed) with the HPA sync
and scrape phases measured from the report, and compares the HPAs' scale
events: each measured event must have a simulated one with the same from → to
within one HPA sync period (controller.syncPeriodSeconds), none extra, and the
same peak replicas. Exit 0 when they agree, 1 when not.
`)
	return b.String()
}

// parseDuration accepts Go durations plus a "d" (day) suffix.
func parseDuration(s string) (int64, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("--duration %q: want e.g. 90m, 24h or 30d", s)
		}
		return int64(n * 86400), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("--duration %q: want at least 1s, e.g. 90m, 24h or 30d", s)
	}
	return int64(d / time.Second), nil
}

func (o *simulateOptions) run(out io.Writer) error {
	if _, err := render.EnvDir(o.env); err != nil {
		return &UsageError{Err: fmt.Errorf("--env: %w", err)}
	}
	for _, c := range o.compare {
		if _, err := render.EnvDir(c); err != nil {
			return &UsageError{Err: fmt.Errorf("--compare: %w", err)}
		}
	}
	if err := checkOutput(o.output, simulateOutputs); err != nil {
		return err
	}
	switch o.failOn {
	case "none", "slo":
	default:
		return usageErrorf("--fail-on %q: want slo or none", o.failOn)
	}
	if o.seed > math.MaxUint64-uint64(o.seeds) {
		return usageErrorf("--seed %d with --seeds %d: the seeds would wrap around", o.seed, o.seeds)
	}
	var slos []sim.SLO
	for _, s := range o.slo {
		v, err := sim.ParseSLO(s)
		if err != nil {
			return &UsageError{Err: err}
		}
		slos = append(slos, v)
	}
	if o.failOn == "slo" && len(slos) == 0 {
		return usageErrorf("--fail-on slo: give at least one --slo threshold")
	}
	rep := &sim.Report{Inputs: []string{"defaults"}}
	cfg := sim.Config{Params: sim.DefaultParams()}
	if o.params != "" {
		if err := sim.LoadParams(&cfg.Params, o.params); err != nil {
			return &UsageError{Err: fmt.Errorf("--params: %w", err)}
		}
		rep.Inputs = append(rep.Inputs, o.params)
	}
	for _, s := range o.set {
		if err := sim.SetParam(&cfg.Params, s); err != nil {
			return &UsageError{Err: err}
		}
		rep.Inputs = append(rep.Inputs, "--set "+s)
	}
	if err := cfg.Params.Validate(); err != nil {
		return &UsageError{Err: fmt.Errorf("model parameters: %w", err)}
	}
	if o.filename != "" && o.against == "" {
		return usageErrorf("-f %s: give it with --against", o.filename)
	}
	if o.against != "" {
		switch {
		case o.trace != "" || o.scenarioSet || o.duration != "":
			return usageErrorf("--against replays the report's load: drop --scenario, --trace and --duration")
		case len(o.compare) > 0 || len(o.compareDir) > 0 || o.seeds > 1 || len(slos) > 0 || o.png != "":
			return usageErrorf("--against compares one configuration with one run: drop --compare, --compare-dir, --seeds, --slo and --png")
		case o.output == outputCSV:
			return usageErrorf("-o csv: --against writes text, json or yaml")
		}
		return o.runAgainst(out, cfg, rep.Inputs)
	}
	switch {
	case o.trace != "" && o.scenarioSet:
		return usageErrorf("--trace and --scenario: give one")
	case o.trace != "":
		tr, err := sim.LoadTrace(o.trace)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--trace: %w", err)}
		}
		cfg.Scenario = sim.TraceScenario(tr)
	default:
		sc, err := sim.LookupScenario(o.scenario)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--scenario: %w", err)}
		}
		cfg.Scenario = sc
	}
	if o.duration != "" {
		d, err := parseDuration(o.duration)
		if err != nil {
			return &UsageError{Err: err}
		}
		cfg.Duration = d
	}

	type target struct{ dir, env string }
	targets := []target{{o.dir, o.env}}
	for _, c := range o.compare {
		targets = append(targets, target{o.dir, c})
	}
	for _, d := range o.compareDir {
		targets = append(targets, target{d, o.env})
	}
	for _, t := range targets {
		in, err := loadSimInput(t.dir, t.env)
		if err != nil {
			return err
		}
		c := cfg
		c.Set, c.Adapter, c.AdapterFile = in.set, in.values, in.valuesFile
		c.Label = t.env
		if t.dir != "" {
			c.Label = t.dir + ":" + t.env
		}
		var runs []*sim.Result
		for k := 0; k < o.seeds; k++ {
			c.Seed = o.seed + uint64(k)
			r, err := sim.Simulate(c)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Label, err)
			}
			runs = append(runs, r)
		}
		rep.Configs = append(rep.Configs, runs)
	}
	rep.SLOs = sim.CheckSLOs(slos, rep.Configs)

	if o.png != "" {
		if err := writePNGFile(o.png, rep.First()); err != nil {
			return err
		}
	}
	var err error
	switch o.output {
	case outputJSON:
		err = sim.WriteJSON(out, rep)
	case outputYAML:
		// The same document as -o json, as YAML.
		var buf bytes.Buffer
		if err = sim.WriteJSON(&buf, rep); err == nil {
			var y []byte
			if y, err = yaml.JSONToYAML(buf.Bytes()); err == nil {
				_, err = out.Write(y)
			}
		}
	case outputCSV:
		err = sim.WriteCSV(out, rep.First())
	default:
		err = sim.WriteText(out, rep)
	}
	if err != nil {
		return err
	}
	if o.failOn == "slo" && rep.SLOFailed() {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

// simulateOutputs: text is the summary and chart, json and yaml the report
// with its timelines, csv the timelines of the first configuration.
var simulateOutputs = []string{outputText, outputJSON, outputYAML, outputCSV}

// simInput is what one configuration is simulated from: the rendered
// environment with the cluster's metrics-server, and the Prometheus Adapter
// values next to it.
type simInput struct {
	set        *kube.Set
	values     *adapter.Values
	valuesFile string
}

// adapterValuesFile is the Prometheus Adapter values file, at the root of
// the manifests (k8s/performance).
const adapterValuesFile = "prometheus-adapter-values.yaml"

func loadSimInput(dir, env string) (simInput, error) {
	var in simInput
	src, err := source(dir)
	if err != nil {
		return in, err
	}
	m, err := src.EnvOnCluster(env)
	if err != nil {
		return in, err
	}
	if in.set, err = kube.FromResMap(m); err != nil {
		return in, err
	}
	p := path.Join(src.Root, adapterValuesFile)
	if src.FS.Exists(p) {
		b, err := src.FS.ReadFile(p)
		if err != nil {
			return in, err
		}
		in.valuesFile = adapterValuesFile
		if dir != "" {
			in.valuesFile = filepath.Join(dir, adapterValuesFile)
		}
		if in.values, err = adapter.Parse(in.valuesFile, b); err != nil {
			return in, err
		}
	}
	return in, nil
}

func writePNGFile(path string, runs []*sim.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := sim.WritePNG(f, runs); err != nil {
		f.Close()
		return fmt.Errorf("--png %s: %w", path, err)
	}
	return f.Close()
}
