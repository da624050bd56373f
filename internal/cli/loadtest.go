package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/loadtest"
	"github.com/voiceassist/autoscaling/internal/sim"
)

type loadtestOptions struct {
	target string
	flags  *genericclioptions.ConfigFlags

	url, via, service, port string
	gatewayDep, workerDep   string
	watchCluster, record    bool
	env                     string

	profile, trace        string
	rate, jobRate, factor float64
	burst, steps          int
	duration, start, rise time.Duration
	hold, stepLength      time.Duration
	mix                   string
	sampleRate            int
	slo                   []string
	cooldown              string
	poll, followTimeout   time.Duration
	requestTimeout        time.Duration
	maxInFlight           int
	disrupt               string
	disruptEvery          time.Duration
	disruptMax            int
	output, png           string
	apiKeyFile            string
	set                   map[string]bool // flags given
}

// Output formats of loadtest: the report for people, as data, as Markdown.
var loadtestOutputs = []string{outputText, outputJSON, outputYAML, outputMarkdown}

func newLoadtestCommand(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Drive the real gateway and workers with load and report what the autoscalers did",
		Long: `Load-test VoiceAssist with real work and report how it scaled.

  vactl loadtest api      POST /v1/analyze with generated WAVs (the gateway's
                          CPU work), at a TOTAL rate, never per worker
  vactl loadtest worker   real jobs through POST /v1/jobs at a total rate or
                          as a --burst, each followed to the end through
                          GET /v1/jobs/{id}
  vactl loadtest all      both at once

Run 'vactl loadtest api --help' for the flags; docs/loadtest.md has the details.`,
		Args: noArgs,
	}
	for _, t := range []struct{ name, short string }{
		{loadtest.TargetAPI, "Load the gateway: POST /v1/analyze with generated WAVs at a total rate"},
		{loadtest.TargetWorker, "Load the workers: real jobs through POST /v1/jobs, followed to completion"},
		{loadtest.TargetAll, "Load gateway and workers at once"},
	} {
		cmd.AddCommand(newLoadtestTargetCommand(streams, t.name, t.short))
	}
	return cmd
}

func newLoadtestTargetCommand(streams IOStreams, target, short string) *cobra.Command {
	o := &loadtestOptions{target: target, set: map[string]bool{}}
	cmd := &cobra.Command{
		Use:     target,
		Short:   short,
		Long:    loadtestLong(target),
		Example: loadtestExample(target),
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Flags().Visit(func(f *pflag.Flag) { o.set[f.Name] = true })
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, streams.Out, streams.Err)
		},
	}
	f := cmd.Flags()
	o.flags = cluster.NewConfigFlags()
	o.flags.AddFlags(f)
	f.StringVar(&o.url, "url", "", "send to this base URL (e.g. https://api.example/ or http://127.0.0.1:8000) instead of the cluster's Service")
	f.StringVar(&o.via, "via", "port-forward", "reach the Service's pods by: port-forward (through the API server, as kubectl port-forward; to every ready pod) | endpoints (dial the ready endpoints directly: from inside the cluster network)")
	f.StringVar(&o.service, "service", "voiceassist-server", "the gateway's Service")
	f.StringVar(&o.port, "port", "http", "the Service port (name or number)")
	f.StringVar(&o.gatewayDep, "gateway-deployment", "voiceassist-server", "the gateway's Deployment (disruptions of api, the chart)")
	f.StringVar(&o.workerDep, "worker-deployment", "voiceassist-worker", "the workers' Deployment (disruptions of worker, the chart)")
	f.BoolVar(&o.watchCluster, "watch", true, "watch the cluster (HPAs, replicas, External metrics), cool down, record the result; default false with --url")
	f.BoolVar(&o.record, "record", true, "record the report's time and verdict on the namespace (annotation "+cluster.LoadtestAnnotation+", read by vactl check)")
	f.StringVar(&o.env, "env", "", "the environment under test, for the record vactl check reads: "+strings.Join(liveEnvs(), "|")+" (a record without one passes no environment's check)")

	f.StringVar(&o.profile, "profile", loadtest.ProfileConstant, "load profile: "+strings.Join(loadtest.ProfileNames(), "|"))
	f.StringVar(&o.trace, "trace", "", "replay a CSV trace instead of a profile: time,rps,jobs_per_s, the format of vactl simulate --trace")
	def := loadtest.DefaultShape(loadtest.ProfileConstant)
	f.Float64Var(&o.rate, "rate", 20, "base TOTAL request rate of /v1/analyze (req/s) the profile multiplies")
	f.Float64Var(&o.jobRate, "job-rate", 1, "base TOTAL job rate of /v1/jobs (jobs/s) the profile multiplies")
	f.IntVar(&o.burst, "burst", 0, "worker: submit N jobs at once instead of --job-rate")
	f.DurationVar(&o.duration, "duration", 0, "how long load is offered (default: the profile's shape plus 1m; a trace: its last time)")
	f.DurationVar(&o.start, "start", def.Start, "ramp, step, spike: when the change begins")
	f.DurationVar(&o.rise, "rise", def.Rise, "spike: rise and fall time; ramp: its length")
	f.DurationVar(&o.hold, "hold", def.Hold, "spike: how long the peak holds")
	f.Float64Var(&o.factor, "factor", def.Factor, "ramp, step, spike: the peak as a multiple of the base rate")
	f.IntVar(&o.steps, "steps", def.Steps, "step: number of equal steps up to --factor")
	f.DurationVar(&o.stepLength, "step-length", def.StepLength, "step: length of each step")
	f.StringVar(&o.mix, "mix", "4s", "WAV lengths and weights, e.g. 4s or 1s=3,4s=1,20s=1 (api: at most the gateway's --max-analyze-duration)")
	f.IntVar(&o.sampleRate, "sample-rate", 16000, "sample rate of the generated WAVs (Hz, mono 16-bit)")
	f.StringArrayVar(&o.slo, "slo", nil, "threshold KEY=VALUE: p50|p95|p99=DURATION (api latency), job-p50|job-p95|job-p99=DURATION, errors=SHARE (default errors=1%); repeatable")
	f.StringVar(&o.cooldown, "cooldown", "auto", "after the load, watch scale-down this long: auto (the live HPAs' scale-down window plus the periods back to minReplicas from the peak), a duration, or 0 to skip; ends early once every HPA is at its minimum")
	f.DurationVar(&o.poll, "poll", time.Second, "how often an unfinished job is read again")
	f.DurationVar(&o.followTimeout, "follow-timeout", 10*time.Minute, "how long jobs are followed after the load at most")
	f.DurationVar(&o.requestTimeout, "http-timeout", 30*time.Second, "timeout of each request")
	f.StringVar(&o.apiKeyFile, "api-key-file", "", apiKeyFileHelp)
	f.IntVar(&o.maxInFlight, "max-in-flight", 512, "requests in flight at most per load (an open loop: beyond it requests are late, and the report shows it)")
	f.StringVar(&o.disrupt, "disrupt", "", "during the load, disrupt a pod through the Eviction API (PodDisruptionBudgets respected): evict-one | kill-pod (grace period 0)")
	f.DurationVar(&o.disruptEvery, "disrupt-every", time.Minute, "time between disruptions (at least 10s)")
	f.IntVar(&o.disruptMax, "disrupt-max", 3, "disruptions at most")
	addOutputFlag(cmd, &o.output, outputText, loadtestOutputs...)
	f.StringVar(&o.png, "png", "", "also write a chart to this PNG file (vactl simulate's style); created before the run, drawn after the report")
	for name, values := range map[string][]string{
		"profile": loadtest.ProfileNames(),
		"via":     {"port-forward", "endpoints"},
		"disrupt": {loadtest.DisruptEvictOne, loadtest.DisruptKillPod},
		"slo":     {"p50=", "p95=", "p99=", "job-p50=", "job-p95=", "job-p99=", "errors="},
	} {
		_ = cmd.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return withPrefix(values, toComplete), cobra.ShellCompDirectiveNoFileComp
		})
	}
	return cmd
}

func loadtestLong(target string) string {
	what := map[string]string{
		loadtest.TargetAPI: `Send POST /v1/analyze with generated speech-like WAVs (--mix) at a TOTAL rate
(--rate, req/s, multiplied by the profile): an open loop, vegeta's, so a
slow gateway does not slow the offered load down. A success is a 200 whose
body is the analysis of the clip sent.`,
		loadtest.TargetWorker: `Submit real jobs through POST /v1/jobs (--mix WAVs) at a TOTAL rate (--job-rate,
jobs/s, multiplied by the profile) or as a --burst of N at once, and follow
each accepted job through GET /v1/jobs/{id} until it is done or failed.`,
		loadtest.TargetAll: `The api and worker loads at once, with the same profile: --rate req/s of
POST /v1/analyze and --job-rate jobs/s (or a --burst) of POST /v1/jobs.`,
	}[target]
	return what + `

Profiles (the shapes of vactl simulate's scenarios, shortened for a cluster):
  constant  --rate for --duration (default 5m)
  ramp      --rate, from --start up to --factor times it over --rise, held
  step      --rate, from --start --steps equal steps up to --factor, --step-length each
  spike     --rate, at --start up to --factor within --rise, held --hold, down within --rise
  --trace F the rps (api) and jobs_per_s (worker) columns of a vactl simulate trace

Reaching the gateway: --url, or the Service (--service, --port) of the
namespace: --via port-forward (through the API server, to every ready pod,
following the endpoints as pods come and go) or --via endpoints (dial the
ready endpoints directly, from inside the cluster network).

While it runs, one line a second on stderr: offered and achieved rate,
latency p50/p95/p99, errors by status and, with a cluster, every HPA's
ready/current→desired replicas with each metric's current value
(status.currentMetrics) against its target, and the External metrics (queue
depth and age) from external.metrics.k8s.io. After the load a cool-down
(--cooldown) watches the scale-down. Ctrl-C stops the load and the
cool-down and still writes the report (marked interrupted, verdict fail).

The report: requests and errors, time to the first scale-up, time until
capacity met demand, peak replicas, SLO violations (--slo), time back to
minReplicas; text, -o json|yaml|markdown, --png. With a cluster the time and
verdict are recorded on the namespace (annotation ` + cluster.LoadtestAnnotation + `),
which vactl check reads. Exit 0 when the verdict is pass, 1 when fail, 2 on
bad flags or input.`
}

func loadtestExample(target string) string {
	switch target {
	case loadtest.TargetWorker:
		return `  # 700 jobs at once, each followed to done; cool down until the workers are back at min
  vactl loadtest worker --burst 700

  # 5 jobs/s of 20 s recordings for 10 minutes against a local gateway
  vactl loadtest worker --url http://127.0.0.1:8000 --job-rate 5 --duration 10m --mix 20s`
	case loadtest.TargetAll:
		return `  # A spike on both: 40 req/s and 2 jobs/s, 5x for 5 minutes, a pod evicted every 2 minutes
  vactl loadtest all --profile spike --rate 40 --job-rate 2 --disrupt evict-one --disrupt-every 2m`
	}
	return `  # The gateway at 40 req/s for 5 minutes, through port-forwards to its pods
  vactl loadtest api --rate 40

  # simulate's spike (5x within 30 s) against prod, with SLOs, a Markdown report and a chart
  vactl loadtest api --context prod --env prod --profile spike --rate 50 --slo p99=1s --slo errors=0.5% -o markdown --png spike.png

  # Replay a recorded trace against an Ingress; no cluster watched
  vactl loadtest api --url https://voice.example.com --trace day.csv

  # Skip the cool-down
  vactl loadtest api --rate 40 --duration 2m --cooldown 0`
}

func (o *loadtestOptions) run(ctx context.Context, out, errOut io.Writer) error {
	if err := checkOutput(o.output, loadtestOutputs); err != nil {
		return err
	}
	cfg := loadtest.Config{Target: o.target, APIRate: o.rate, JobRate: o.jobRate, Burst: o.burst,
		RequestTimeout: o.requestTimeout, Poll: o.poll, FollowTimeout: o.followTimeout, Progress: errOut}
	if o.maxInFlight < 1 {
		return usageErrorf("--max-in-flight %d: want at least 1", o.maxInFlight)
	}
	cfg.MaxWorkers = uint64(o.maxInFlight)
	if o.env != "" {
		if err := (&envOptions{env: o.env}).validate(); err != nil {
			return err
		}
	}
	if o.burst > 0 && o.target == loadtest.TargetAPI {
		return usageErrorf("--burst: only for worker and all (api takes --rate)")
	}
	// the profile
	if o.trace != "" && o.set["profile"] {
		return usageErrorf("--trace and --profile: give one")
	}
	shape := loadtest.DefaultShape(o.profile)
	shape.Start, shape.Rise, shape.Hold, shape.Factor, shape.Steps, shape.StepLength = o.start, o.rise, o.hold, o.factor, o.steps, o.stepLength
	if o.trace != "" {
		tr, err := sim.LoadTrace(o.trace)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--trace: %w", err)}
		}
		for _, n := range tr.Notes {
			fmt.Fprintln(errOut, "note:", n)
		}
		shape.Trace = tr
	}
	shape.Duration = o.duration
	if shape.Duration == 0 {
		shape.Duration = shape.DefaultDuration()
	}
	cfg.Shape = shape
	for _, s := range o.slo {
		v, err := loadtest.ParseSLO(s)
		if err != nil {
			return &UsageError{Err: err}
		}
		cfg.SLOs = append(cfg.SLOs, v)
	}
	switch o.cooldown {
	case "auto":
		cfg.Cooldown = -1
	default:
		d, err := time.ParseDuration(o.cooldown)
		if o.cooldown == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return usageErrorf("--cooldown %q: want auto, a duration such as 15m, or 0", o.cooldown)
		}
		cfg.Cooldown = d
	}
	clips, err := loadtest.ParseMix(o.mix, o.sampleRate)
	if err != nil {
		return &UsageError{Err: err}
	}
	cfg.Clips = clips
	if err := cfg.Shape.Validate(); err != nil {
		return &UsageError{Err: err}
	}

	// where the load goes, and the cluster
	watch := o.watchCluster
	if o.url != "" && !o.set["watch"] {
		watch = false
	}
	if o.url == "" && !watch {
		return usageErrorf("--watch=false needs --url: without a cluster there is no Service to reach")
	}
	if o.disrupt != "" && !watch {
		return usageErrorf("--disrupt needs a cluster (drop --watch=false)")
	}
	var c *cluster.Client
	ns := cluster.Namespace
	if watch {
		if c, err = cluster.Connect(o.flags); err != nil {
			return &UsageError{Err: err}
		}
		if err := probeNamespace(ctx, c, ns, errOut); err != nil {
			return err
		}
		em, err := external_metrics.NewForConfig(c.Config)
		if err != nil {
			return err
		}
		cfg.Watcher = &loadtest.Watcher{Kube: c.Kube, External: em, Namespace: ns}
		if o.disrupt != "" {
			dep := o.gatewayDep
			if o.target == loadtest.TargetWorker {
				dep = o.workerDep
			}
			cfg.Disrupt = &loadtest.Disruptor{Kube: c.Kube, Namespace: ns, Deployment: dep, Mode: o.disrupt, Every: o.disruptEvery, Max: o.disruptMax}
			if err := cfg.Disrupt.Validate(); err != nil {
				return &UsageError{Err: err}
			}
		}
	}
	switch {
	case o.url != "":
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("--url %q: want http(s)://host[:port][/prefix]", o.url)
		}
		cfg.Gateway = loadtest.URLGateway(strings.TrimSuffix(o.url, "/"))
	case o.via == "port-forward":
		g, err := loadtest.NewPortForwardGateway(ctx, c.Config, c.Kube, ns, o.service, o.port, errOut)
		if err != nil {
			return c.Explain(err)
		}
		defer g.Close()
		cfg.Gateway = g
	case o.via == "endpoints":
		g, err := loadtest.NewEndpointsGateway(ctx, c.Kube, ns, o.service, o.port)
		if err != nil {
			return c.Explain(err)
		}
		defer g.Close()
		cfg.Gateway = g
	default:
		return usageErrorf("--via %q: want port-forward or endpoints", o.via)
	}
	if err := cfg.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	key, err := resolveLoadKey(ctx, errOut, c, ns, o.apiKeyFile)
	if err != nil {
		return err
	}
	cfg.APIKey = key

	// --png is opened before the run: a bad path must not cost the run
	var pngFile *os.File
	if o.png != "" {
		f, err := os.Create(o.png)
		if err != nil {
			return usageErrorf("--png: %v", err)
		}
		pngFile = f
		// not reached the chart (usage error, Ctrl-C before the report):
		// no empty file left behind
		defer func() {
			if pngFile != nil {
				pngFile.Close()
				os.Remove(o.png)
			}
		}()
	}
	fmt.Fprintf(errOut, "vactl loadtest %s: %s; gateway %s\n", o.target, cfg.Shape.Describe(), cfg.Gateway.Describe())
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	// the record and the files use a fresh context: Ctrl-C ended ctx, and
	// the report must still be written
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c != nil && o.record {
		rec := cluster.LoadtestRecord{Time: rep.End.UTC().Truncate(time.Second), Env: o.env, Target: o.target, Profile: rep.Profile,
			Verdict: rep.Verdict, Summary: rep.Summary(), VactlVersion: cluster.ReadBuildInfo().Version}
		if err := c.RecordLoadtest(wctx, ns, rec); err != nil {
			fmt.Fprintf(errOut, "warning: the record was NOT written (vactl check will not see this run; patch on namespace %s is needed): %v\n", ns, c.Explain(err))
		} else {
			fmt.Fprintf(errOut, "recorded on namespace %s (%s): %s\n", ns, cluster.LoadtestAnnotation, rep.Verdict)
		}
	}
	switch o.output {
	case outputJSON, outputYAML:
		err = writeData(out, rep, o.output)
	case outputMarkdown:
		err = loadtest.WriteMarkdown(out, rep)
	default:
		err = loadtest.WriteText(out, rep)
	}
	if err != nil {
		return err
	}
	// the chart after the report: a failure here costs the chart only
	if pngFile != nil {
		f := pngFile
		pngFile = nil
		if err := writeLoadtestPNG(f, rep, o.gatewayDep, o.workerDep); err != nil {
			return err
		}
	}
	if rep.Verdict != "pass" {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

// probeNamespace reads the Namespace before any load is sent: a cluster
// that cannot be reached ends the run here. The Namespace is cluster-scoped,
// so a user bound to a Role in it alone is Forbidden to get it: that only
// means the record may not be written at the end, not that the load test
// cannot run.
func probeNamespace(ctx context.Context, c *cluster.Client, ns string, errOut io.Writer) error {
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsForbidden(err) {
		fmt.Fprintf(errOut, "warning: %v; running anyway (recording the verdict on the namespace may fail)\n", c.Explain(err))
		return nil
	}
	return c.Explain(err)
}

// writeLoadtestPNG writes the chart to f, opened before the run.
func writeLoadtestPNG(f *os.File, rep *loadtest.Report, gw, worker string) error {
	if err := loadtest.WritePNG(f, rep, gw, worker); err != nil {
		f.Close()
		return fmt.Errorf("--png %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--png %s: %w", f.Name(), err)
	}
	return nil
}

// apiKeyFileHelp is --api-key-file's help, for every command that sends
// the load test's requests (loadtest, calibrate).
const apiKeyFileHelp = "file holding the gateway API key sent as Authorization: Bearer (default: $" + loadtest.APIKeyEnv + ", else the Secret " + cluster.LoadtestKeySecret + " that setup --create-secrets makes, when there is a cluster)"

// resolveLoadKey finds the API key the generated requests carry
// (loadtest.ResolveAPIKey: --api-key-file, $VOICEASSIST_API_KEY, the
// cluster's Secret) and says on errOut where it came from. A key file that
// cannot be read is a usage error; no key at all is a warning, not an
// error: a gateway that allows unauthenticated requests needs none.
func resolveLoadKey(ctx context.Context, errOut io.Writer, c *cluster.Client, ns, file string) (string, error) {
	var secret loadtest.SecretKey
	if c != nil {
		secret = func(ctx context.Context) (string, bool, error) { return c.LoadtestKey(ctx, ns) }
	}
	key, from, err := loadtest.ResolveAPIKey(ctx, file, os.Getenv, secret, "Secret "+ns+"/"+cluster.LoadtestKeySecret)
	switch {
	case err != nil && file != "":
		return "", &UsageError{Err: err}
	case err != nil:
		fmt.Fprintf(errOut, "warning: no API key (%v): requests carry no credentials\n", err)
	case key == "":
		fmt.Fprintf(errOut, "note: no API key (--api-key-file, $%s, Secret %s/%s): requests carry no credentials\n", loadtest.APIKeyEnv, ns, cluster.LoadtestKeySecret)
	default:
		fmt.Fprintf(errOut, "API key: from %s\n", from)
	}
	return key, nil
}
