package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
	"github.com/voiceassist/autoscaling/internal/sim"
)

type simulateOptions struct {
	env, dir            string
	scenario, trace     string
	duration            string
	seed                uint64
	params              string
	set                 []string
	output, png         string
	compare, compareDir string
	scenarioSet         bool
}

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
  vactl simulate --scenario ramp --set gateway.startupSeconds=60 -o csv > ramp.csv`,
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
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same run")
	f.StringVar(&o.params, "params", "", "YAML file of model parameters (see docs/simulate.md); unknown fields are errors")
	f.StringArrayVar(&o.set, "set", nil, "override one model parameter, e.g. --set gateway.capacityRPS=120 (repeatable, after --params)")
	f.StringVarP(&o.output, "output", "o", "text", "output: text (summary and chart) | json | csv (timelines)")
	f.StringVar(&o.png, "png", "", "also write a chart to this PNG file")
	f.StringVar(&o.compare, "compare", "", "also simulate this environment and show both side by side")
	f.StringVar(&o.compareDir, "compare-dir", "", "also simulate the manifests in this directory and show both side by side")
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
            queue of capacityRPS (p95 = base + ln 20 / (mu (1 - rho))), overload
            waits in a backlog and times out; CPU and memory per request.
  worker    Poisson job arrivals into a FIFO queue; each worker runs
            'concurrency' jobs with log-normal service times; CPU and memory
            per job in progress; a deleted worker finishes its jobs within
            terminationGracePeriodSeconds or hands them back.
  pods      Pending, then starting (no traffic), then ready at the first
            readiness probe that passes; deleted pods drain, then exit.
  metrics   metrics-server scrapes every --metric-resolution (CPU rate between
            two scrapes); Prometheus scrapes every 15 s; the adapter serves
            http_requests_per_second as rate()[2m] and the queue metrics as the
            last scrape.
  HPA       every 15 s: ComputeReplicasForMetric for each metric, then Decide.

Scenarios (the base load is gateway.baseRPS and worker.baseJobsPerSecond):
`)
	for _, s := range sim.Scenarios() {
		fmt.Fprintf(&b, "  %-12s %s\n", s.Name, s.Help)
	}
	b.WriteString(`  --trace F    replay F: CSV rows "time,req/s,jobs/s" (seconds from 0, rising;
               an optional header), linear between rows; runs to the last time.

Output: a table per deployment — peak replicas; catch-up, the longest stretch in
which the load exceeded the ready pods' capacity; SLO-violating seconds (gateway
p95 over gateway.p95TargetMs, oldest job over worker.waitSLOSeconds); pod-hours
and those of a perfect-foresight oracle; scale events; direction changes — and a
terminal chart. -o json|csv print the timelines instead; --png draws them.
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
	if o.compare != "" {
		if _, err := render.EnvDir(o.compare); err != nil {
			return &UsageError{Err: fmt.Errorf("--compare: %w", err)}
		}
	}
	switch o.output {
	case "text", "json", "csv":
	default:
		return usageErrorf("-o %q: want text, json or csv", o.output)
	}
	cfg := sim.Config{Seed: o.seed, Params: sim.DefaultParams()}
	if o.params != "" {
		if err := sim.LoadParams(&cfg.Params, o.params); err != nil {
			return &UsageError{Err: fmt.Errorf("--params: %w", err)}
		}
	}
	for _, s := range o.set {
		if err := sim.SetParam(&cfg.Params, s); err != nil {
			return &UsageError{Err: err}
		}
	}
	if err := cfg.Params.Validate(); err != nil {
		return &UsageError{Err: fmt.Errorf("model parameters: %w", err)}
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
	if o.compare != "" || o.compareDir != "" {
		t := target{o.dir, o.env}
		if o.compareDir != "" {
			t.dir = o.compareDir
		}
		if o.compare != "" {
			t.env = o.compare
		}
		targets = append(targets, t)
	}
	var runs []*sim.Result
	for _, t := range targets {
		set, err := loadSet(t.dir, t.env)
		if err != nil {
			return err
		}
		c := cfg
		c.Set = set
		c.Label = t.env
		if t.dir != "" {
			c.Label = t.dir + ":" + t.env
		}
		r, err := sim.Simulate(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Label, err)
		}
		runs = append(runs, r)
	}

	if o.png != "" {
		if err := writePNGFile(o.png, runs); err != nil {
			return err
		}
	}
	switch o.output {
	case "json":
		return sim.WriteJSON(out, runs)
	case "csv":
		return sim.WriteCSV(out, runs)
	default:
		return sim.WriteText(out, runs)
	}
}

// loadSet renders one environment of the embedded manifests or a directory
// and decodes it strictly.
func loadSet(dir, env string) (*kube.Set, error) {
	src, err := source(dir)
	if err != nil {
		return nil, err
	}
	m, err := src.Env(env)
	if err != nil {
		return nil, err
	}
	return kube.FromResMap(m)
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
