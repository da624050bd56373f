package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/voiceassist/autoscaling/internal/calibrate"
	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/loadtest"
	"github.com/voiceassist/autoscaling/internal/sim"
)

type calibrateOptions struct {
	flags *genericclioptions.ConfigFlags

	measure                    []string
	url, via, service, port    string
	apiKeyFile                 string
	gatewayMetrics             []string
	workerMetrics              []string
	metricsPort                string
	gatewayDep, workerDep      string
	gatewayCPU, workerCPU      string
	sloP95                     time.Duration
	startRate, maxRate         float64
	precision                  float64
	step, idle                 time.Duration
	mix, jobMix                string
	sampleRate, burst          int
	followTimeout, httpTimeout time.Duration
	params, writeParams, note  string
	output                     string
	set                        map[string]bool
}

const (
	measureGateway = "gateway"
	measureWorker  = "worker"
	measureStartup = "startup"
)

var calibrateOutputs = []string{outputText, outputJSON, outputYAML}

func newCalibrateCommand(streams IOStreams) *cobra.Command {
	o := &calibrateOptions{set: map[string]bool{}}
	def := sim.DefaultParams()
	cmd := &cobra.Command{
		Use:   "calibrate",
		Short: "Measure the real gateway and workers and write vactl simulate's parameter file",
		Long: `Measure a running VoiceAssist and turn it into the parameters of vactl simulate.

--measure picks what (default gateway,worker; add startup on a cluster):

  gateway  capacity at the latency SLO: constant loads of POST /v1/analyze
           (vactl loadtest's generated WAVs, --mix), --step each, from
           --start-rate doubling until p95 exceeds --slo-p95 (or fewer than
           95 % answered, or over 1 % errors), then bisecting to --precision.
           Around each step the gateways' /metrics are read: CPU per request
           from process_cpu_seconds_total (idle CPU subtracted), the
           latency-vs-utilization curve (utilization: over --gateway-cpu),
           memory idle and per request from process_resident_memory_bytes.
  worker   a --burst of real jobs through POST /v1/jobs (--job-mix WAVs),
           followed to completion; the workers' job_duration histogram
           (outcome done) gives the service-time mean, quantiles and
           spread, jobs_in_progress the concurrency, the process metrics
           CPU and memory per job.
  startup  the condition timestamps of every pod of --gateway-deployment
           and --worker-deployment: creation, PodScheduled, Initialized,
           container start, ContainersReady, Ready.

Where: --url and --gateway-metrics/--worker-metrics (repeatable: one per
process) for local processes; without --url, the cluster of the kubeconfig
flags: the gateway through port-forwards to the Service's ready pods (as
vactl loadtest), each pod's /metrics through the API server's pod proxy,
and the CPU of a pod from its Deployment's CPU request.

The requests carry the gateway API key as vactl loadtest's do:
--api-key-file, else $VOICEASSIST_API_KEY, else (on a cluster) the Secret
voiceassist-loadtest-key that setup --create-secrets makes.

The result goes to stdout (text, or -o json|yaml with every step); progress
to stderr. --write-params FILE writes a parameter file for
vactl simulate --params: --params FILE (default: the simulator's defaults)
with every measured value replaced, and a profile block naming the command,
machine and date. The measurements are per request and per job, so one
profile holds for every pod size. Exit 0 done, 1 a measurement failed, 2 bad
flags. docs/simulate.md, "Calibration", has the details.`,
		Example: `  # local processes (their CPU limited by a cgroup): gateway and worker
  vactl calibrate --url http://127.0.0.1:8000 --gateway-metrics http://127.0.0.1:8000/metrics \
      --worker-metrics http://127.0.0.1:9090/metrics --gateway-cpu 500m --worker-cpu 1000m \
      --write-params profile.yaml

  # on the cluster: start-up times and the workers' service time, merged into that profile
  vactl calibrate --context kind-e2e --measure worker,startup --params profile.yaml --write-params profile.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Flags().Visit(func(f *pflag.Flag) { o.set[f.Name] = true })
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, streams.Out, streams.Err, cmd.CommandPath()+" "+strings.Join(os.Args[min(len(os.Args), 2):], " "))
		},
	}
	f := cmd.Flags()
	o.flags = cluster.NewConfigFlags()
	o.flags.AddFlags(f)
	f.StringSliceVar(&o.measure, "measure", []string{measureGateway, measureWorker}, "what to measure: gateway, worker, startup (startup needs a cluster)")
	f.StringVar(&o.url, "url", "", "the gateway's base URL (local processes); without it, the cluster's Service through port-forwards")
	f.StringVar(&o.via, "via", "port-forward", "cluster: reach the pods by port-forward (the gateway through the API server, /metrics through its pod proxy) | endpoints (dial the pods' IPs directly: from inside the cluster network)")
	f.StringVar(&o.service, "service", "voiceassist-server", "cluster: the gateway's Service")
	f.StringVar(&o.apiKeyFile, "api-key-file", "", apiKeyFileHelp)
	f.StringVar(&o.port, "port", "http", "cluster: the Service port (name or number)")
	f.StringArrayVar(&o.gatewayMetrics, "gateway-metrics", nil, "a gateway process's /metrics URL, one per process (with --url)")
	f.StringArrayVar(&o.workerMetrics, "worker-metrics", nil, "a worker process's /metrics URL, one per process (with --url)")
	f.StringVar(&o.metricsPort, "metrics-port", "", "cluster: the pods' port (name or number) serving /metrics (default: the container port named \"metrics\" — the gateway's --metrics-listen — else \"http\")")
	f.StringVar(&o.gatewayDep, "gateway-deployment", "voiceassist-server", "cluster: the gateway's Deployment")
	f.StringVar(&o.workerDep, "worker-deployment", "voiceassist-worker", "cluster: the workers' Deployment")
	f.StringVar(&o.gatewayCPU, "gateway-cpu", "", "CPU of one gateway process (e.g. 500m: its cgroup quota); default on a cluster: the Deployment's CPU request")
	f.StringVar(&o.workerCPU, "worker-cpu", "", "CPU of one worker process (e.g. 1000m); default on a cluster: the Deployment's CPU request")
	f.DurationVar(&o.sloP95, "slo-p95", time.Duration(def.Gateway.P95TargetMs)*time.Millisecond, "the latency SLO a step must meet (p95)")
	f.Float64Var(&o.startRate, "start-rate", 5, "gateway: the first step's TOTAL rate (req/s)")
	f.Float64Var(&o.maxRate, "max-rate", 2000, "gateway: the highest rate tried (req/s)")
	f.Float64Var(&o.precision, "precision", 0.1, "gateway: bisect until the highest good and lowest bad rate are within this fraction")
	f.DurationVar(&o.step, "step", 20*time.Second, "gateway: how long each rate is held")
	f.DurationVar(&o.idle, "idle", 5*time.Second, "how long the idle CPU and memory are read before the load")
	f.StringVar(&o.mix, "mix", "4s", "gateway: WAV lengths and weights (vactl loadtest's --mix)")
	f.StringVar(&o.jobMix, "job-mix", "4s", "worker: WAV lengths and weights of the jobs")
	f.IntVar(&o.sampleRate, "sample-rate", 16000, "sample rate of the generated WAVs (Hz)")
	f.IntVar(&o.burst, "burst", 200, "worker: jobs submitted at once")
	f.DurationVar(&o.followTimeout, "follow-timeout", 5*time.Minute, "worker: how long the jobs are followed at most")
	f.DurationVar(&o.httpTimeout, "http-timeout", 30*time.Second, "timeout of each request")
	f.StringVar(&o.params, "params", "", "parameter file to start from (default: the simulator's defaults); it may be --write-params's own file")
	f.StringVar(&o.writeParams, "write-params", "", "write the simulator parameter file here")
	f.StringVar(&o.note, "note", "", "a note for the profile block (e.g. how the CPU was limited)")
	addOutputFlag(cmd, &o.output, outputText, calibrateOutputs...)
	_ = cmd.RegisterFlagCompletionFunc("measure", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return withPrefix([]string{measureGateway, measureWorker, measureStartup}, toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *calibrateOptions) run(ctx context.Context, out, errOut io.Writer, command string) error {
	if err := checkOutput(o.output, calibrateOutputs); err != nil {
		return err
	}
	for _, m := range o.measure {
		if m != measureGateway && m != measureWorker && m != measureStartup {
			return usageErrorf("--measure %q: want gateway, worker or startup", m)
		}
	}
	want := func(m string) bool { return slices.Contains(o.measure, m) }
	if len(o.measure) == 0 {
		return usageErrorf("--measure: name at least one of gateway, worker, startup")
	}
	if o.url != "" && want(measureStartup) && !o.set["context"] && !o.set["kubeconfig"] {
		return usageErrorf("--measure startup needs a cluster: give --context or --kubeconfig (with --url, the load goes to the URL and the pods are read from the cluster)")
	}
	base := sim.DefaultParams()
	if o.params != "" {
		if err := sim.LoadParams(&base, o.params); err != nil {
			return &UsageError{Err: fmt.Errorf("--params: %w", err)}
		}
	}
	clips, err := loadtest.ParseMix(o.mix, o.sampleRate)
	if err != nil {
		return &UsageError{Err: err}
	}
	jobClips, err := loadtest.ParseMix(o.jobMix, o.sampleRate)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--job-mix: %w", err)}
	}
	cpuFlag := func(name, v string) (float64, error) {
		if v == "" {
			return 0, nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return 0, usageErrorf("--%s %q: want a CPU quantity above 0, e.g. 500m or 1", name, v)
		}
		return float64(q.MilliValue()), nil
	}
	gwCPU, err := cpuFlag("gateway-cpu", o.gatewayCPU)
	if err != nil {
		return err
	}
	wkCPU, err := cpuFlag("worker-cpu", o.workerCPU)
	if err != nil {
		return err
	}
	if o.burst < 1 {
		return usageErrorf("--burst %d: want at least 1", o.burst)
	}

	// where: local URLs or the cluster
	var c *cluster.Client
	var gw loadtest.Gateway
	var gwScrape, wkScrape []calibrate.Scraper
	local := o.url != ""
	if local {
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("--url %q: want http(s)://host[:port]", o.url)
		}
		gw = loadtest.URLGateway(strings.TrimSuffix(o.url, "/"))
		for _, m := range o.gatewayMetrics {
			gwScrape = append(gwScrape, calibrate.HTTPScraper{URL: m})
		}
		for _, m := range o.workerMetrics {
			wkScrape = append(wkScrape, calibrate.HTTPScraper{URL: m})
		}
		if want(measureGateway) && len(gwScrape) == 0 {
			return usageErrorf("--measure gateway with --url needs --gateway-metrics URL (one per gateway process)")
		}
		if want(measureWorker) && len(wkScrape) == 0 {
			return usageErrorf("--measure worker with --url needs --worker-metrics URL (one per worker process)")
		}
	} else if len(o.gatewayMetrics)+len(o.workerMetrics) > 0 {
		return usageErrorf("--gateway-metrics and --worker-metrics go with --url; on a cluster the pods are scraped through the API server")
	}
	if !local || want(measureStartup) {
		if c, err = cluster.Connect(o.flags); err != nil {
			return &UsageError{Err: err}
		}
	}
	ns := cluster.Namespace
	if !local {
		if o.via != "port-forward" && o.via != "endpoints" {
			return usageErrorf("--via %q: want port-forward or endpoints", o.via)
		}
		if want(measureGateway) || want(measureWorker) {
			if o.via == "endpoints" {
				g, err := loadtest.NewEndpointsGateway(ctx, c.Kube, ns, o.service, o.port)
				if err != nil {
					return c.Explain(err)
				}
				defer g.Close()
				gw = g
			} else {
				g, err := loadtest.NewPortForwardGateway(ctx, c.Config, c.Kube, ns, o.service, o.port, errOut)
				if err != nil {
					return c.Explain(err)
				}
				defer g.Close()
				gw = g
			}
		}
		if want(measureGateway) {
			if gwScrape, gwCPU, err = o.podScrapers(ctx, c, o.gatewayDep, gwCPU); err != nil {
				return err
			}
		}
		if want(measureWorker) {
			if wkScrape, wkCPU, err = o.podScrapers(ctx, c, o.workerDep, wkCPU); err != nil {
				return err
			}
		}
	}

	var key string
	if want(measureGateway) || want(measureWorker) {
		if key, err = resolveLoadKey(ctx, errOut, c, ns, o.apiKeyFile); err != nil {
			return err
		}
	}

	res := &calibrate.Result{Command: command, Machine: calibrate.Machine(), Date: calibrate.Now()}
	fmt.Fprintf(errOut, "vactl calibrate: %s on %s\n", strings.Join(o.measure, ", "), res.Machine)
	if want(measureStartup) {
		res.Startup = map[string]*calibrate.StartupResult{}
		for _, d := range []string{o.gatewayDep, o.workerDep} {
			s, err := calibrate.MeasureStartup(ctx, c.Kube, ns, d)
			if err != nil {
				return failure(errOut, c.Explain(err))
			}
			res.Startup[d] = s
			fmt.Fprintf(errOut, "startup %s: %d pods, pending %.0f s (max %.0f), start-up to Ready %.0f s (max %.0f)\n",
				d, s.Measured, s.PendingSeconds, s.MaxPendingSeconds, s.StartupSeconds, s.MaxStartupSeconds)
		}
	}
	if want(measureWorker) {
		w, err := calibrate.MeasureWorker(ctx, calibrate.WorkerConfig{Gateway: gw, APIKey: key, Metrics: wkScrape, CPUMillicores: wkCPU, Clips: jobClips,
			Burst: o.burst, Idle: o.idle, FollowTimeout: o.followTimeout, RequestTimeout: o.httpTimeout, Progress: errOut})
		if err != nil {
			return failure(errOut, err)
		}
		res.Worker = w
	}
	if want(measureGateway) {
		g, err := calibrate.MeasureGateway(ctx, calibrate.GatewayConfig{Gateway: gw, APIKey: key, Metrics: gwScrape, CPUMillicores: gwCPU, Clips: clips,
			P95: o.sloP95, Start: o.startRate, MaxRate: o.maxRate, Step: o.step, Idle: o.idle, Precision: o.precision,
			RequestTimeout: o.httpTimeout, Progress: errOut})
		if err != nil {
			return failure(errOut, err)
		}
		res.Gateway = g
	}
	p := res.Apply(base, calibrate.Roles{Gateway: o.gatewayDep, Worker: o.workerDep}, o.note)
	if err := p.Validate(); err != nil {
		return failure(errOut, fmt.Errorf("the measured parameters are not valid: %w", err))
	}
	if o.writeParams != "" {
		f, err := os.Create(o.writeParams)
		if err != nil {
			return failure(errOut, err)
		}
		err = calibrate.WriteProfile(f, p, []string{"Simulator parameters measured by vactl calibrate (docs/simulate.md, \"Calibration\").",
			"command: " + command, "machine: " + res.Machine, "date:    " + res.Date})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return failure(errOut, err)
		}
		fmt.Fprintf(errOut, "wrote %s\n", o.writeParams)
	}
	if o.output != outputText {
		return writeData(out, res, o.output)
	}
	return writeCalibrateText(out, res)
}

// podScrapers scrapes every ready pod of a Deployment through the API
// server's proxy; cpu defaults to the pod template's CPU request.
func (o *calibrateOptions) podScrapers(ctx context.Context, c *cluster.Client, dep string, cpu float64) ([]calibrate.Scraper, float64, error) {
	d, err := c.Kube.AppsV1().Deployments(cluster.Namespace).Get(ctx, dep, metav1.GetOptions{})
	if err != nil {
		return nil, 0, c.Explain(err)
	}
	if cpu == 0 {
		for _, ct := range d.Spec.Template.Spec.Containers {
			cpu += float64(ct.Resources.Requests.Cpu().MilliValue())
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, 0, fmt.Errorf("deployment %s: spec.selector: %w", dep, err)
	}
	pods, err := c.Kube.CoreV1().Pods(cluster.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, 0, c.Explain(err)
	}
	var ss []calibrate.Scraper
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !podutils.IsPodReady(&p) {
			continue
		}
		name := o.metricsPort
		if name == "" {
			name = metricsPortName(&p)
		}
		if o.via != "endpoints" {
			ss = append(ss, calibrate.PodScraper{Kube: c.Kube, Namespace: cluster.Namespace, Pod: p.Name, Port: name})
			continue
		}
		port, err := podPort(&p, name)
		if err != nil {
			return nil, 0, err
		}
		ss = append(ss, calibrate.HTTPScraper{URL: fmt.Sprintf("http://%s/metrics", net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port))))})
	}
	if len(ss) == 0 {
		return nil, 0, fmt.Errorf("deployment %s/%s: no ready pod to scrape", cluster.Namespace, dep)
	}
	return ss, cpu, nil
}

// writeCalibrateText prints what was measured and the parameters it gives.
func writeCalibrateText(w io.Writer, r *calibrate.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Calibration %s\n  machine %s\n", r.Date, r.Machine)
	if g := r.Gateway; g != nil {
		fmt.Fprintf(&b, "\nGateway (%d process(es), %s CPU each, mix %s, SLO p95 %.0f ms)\n", g.Pods, cpuString(g.CPUMillicores), g.Mix, g.P95SLOMs)
		fmt.Fprintf(&b, "  %8s %8s %7s %7s %7s %8s %6s %9s %7s %9s\n", "req/s", "ok/s", "p50 ms", "p95 ms", "p99 ms", "CPU m", "util", "m·s/req", "MiB", "")
		for _, s := range g.Steps {
			verdict := "good"
			if !s.Good {
				verdict = s.Why
			}
			fmt.Fprintf(&b, "  %8.1f %8.1f %7.0f %7.0f %7.0f %8.0f %6s %9.2f %7.0f   %s\n", s.Rate, s.Achieved, s.P50Ms, s.P95Ms, s.P99Ms,
				s.CPUMillicores, utilString(s.Utilization), s.CPUPerRequest, s.MaxRSSMi, verdict)
		}
		fmt.Fprintf(&b, "  capacity at the SLO   %.1f req/s (%.1f per process); first over: %s\n", g.CapacityRPS, g.CapacityPerPodRPS, rateString(g.FirstBadRPS))
		fmt.Fprintf(&b, "  CPU                   idle %.1fm, %.2f millicore-seconds per request", g.IdleCPU, g.CPUPerRequest)
		if g.SaturationRPS > 0 {
			fmt.Fprintf(&b, " → saturates at %.1f req/s per process", g.SaturationRPS)
		}
		fmt.Fprintf(&b, "\n  latency               base %.1f ms (lightest p95 less the model's queueing)\n", g.BaseLatencyMs)
		fmt.Fprintf(&b, "  memory                idle %.0f MiB, %.3f MiB per req/s, %.2f MiB per request in flight\n", g.BaseMemoryMi, g.MemoryMiPerRPS, g.MemoryMiPerInFlight)
	}
	if wk := r.Worker; wk != nil {
		s := wk.Service
		fmt.Fprintf(&b, "\nWorker (%d process(es), %s CPU each, burst of %d, mix %s)\n", wk.Pods, cpuString(wk.CPUMillicores), wk.Burst, wk.Mix)
		fmt.Fprintf(&b, "  jobs                  %d done, %d failed, %d unfinished in %.0f s (%.2f jobs/s)\n", wk.Done, wk.Failed, wk.Unfinished, wk.DrainSeconds, wk.JobsPerSecond)
		fmt.Fprintf(&b, "  service time          mean %.3f s, p50 %.3f, p95 %.3f, p99 %.3f, CV %.2f (%.0f jobs)\n", s.Mean, s.P50, s.P95, s.P99, s.CV, s.Count)
		fmt.Fprintf(&b, "  concurrency           %d at most, %.1f busy on average\n", wk.Concurrency, wk.MeanBusy)
		fmt.Fprintf(&b, "  CPU                   idle %.1fm, busy %.0fm, %.4f CPU-seconds per job", wk.IdleCPU, wk.BusyCPU, wk.CPUSecondsPerJob)
		if wk.Saturated {
			b.WriteString(" (CPU-bound: the limit stretched the jobs)")
		}
		fmt.Fprintf(&b, "\n  at full speed         %.3f s a job, wanting %.0fm\n", wk.FullSpeedSeconds, wk.CPUPerJob)
		fmt.Fprintf(&b, "  memory                idle %.0f MiB, %.1f MiB per job in progress\n", wk.BaseMemoryMi, wk.MemoryMiPerJob)
	}
	if len(r.Startup) > 0 {
		b.WriteString("\nPod start-up (seconds from creation; condition times are whole seconds)\n")
		for _, d := range slices.Sorted(maps.Keys(r.Startup)) {
			s := r.Startup[d]
			fmt.Fprintf(&b, "  %s: pending (to container start) %.0f s, max %.0f; start-up to Ready %.0f s, max %.0f; %d pods\n",
				d, s.PendingSeconds, s.MaxPendingSeconds, s.StartupSeconds, s.MaxStartupSeconds, s.Measured)
			for _, p := range s.Pods {
				fmt.Fprintf(&b, "    %-48s scheduled %3.0f  initialized %3.0f  started %3.0f  containersReady %3.0f  ready %3.0f%s\n",
					p.Pod, p.Scheduled, p.Initialized, p.Started, p.ContainersReady, p.Ready, map[bool]string{true: "  (restarted)"}[p.Restarted])
			}
		}
	}
	fmt.Fprintf(&b, "\nProfile: %s\n", r.Params.Profile.Notes)
	_, err := io.WriteString(w, b.String())
	return err
}

func cpuString(m float64) string {
	if m <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0fm", m)
}

func utilString(u float64) string {
	if u <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*u)
}

func rateString(r float64) string {
	if r <= 0 {
		return "none up to --max-rate"
	}
	return fmt.Sprintf("%.1f req/s", r)
}

// podPort resolves a port name (or number) among the pod's container ports.
// metricsPortName is the port a pod serves /metrics on: the gateway has a
// port of its own for it ("metrics", --metrics-listen, which the clients'
// Service does not expose); the worker serves it on "http".
func metricsPortName(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == "metrics" {
				return cp.Name
			}
		}
	}
	return "http"
}

func podPort(p *corev1.Pod, port string) (int32, error) {
	if n, err := strconv.Atoi(port); err == nil {
		return int32(n), nil
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port {
				return cp.ContainerPort, nil
			}
		}
	}
	return 0, usageErrorf("--metrics-port %q: pod %s/%s has no container port of that name", port, p.Namespace, p.Name)
}
