package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/check"
	"github.com/voiceassist/autoscaling/internal/lint"
	"github.com/voiceassist/autoscaling/internal/render"
)

type lintOptions struct {
	env          string
	files        []string
	output       string
	disable      []string
	config       string
	limitRatio   string
	failOn       string
	listRules    bool
	showAccepted bool
	live         bool
	conn         liveOptions
}

// lintFormats are the -o values of vactl lint.
var lintFormats = []string{outputText, outputJSON, outputYAML, outputSARIF}

// defaultConfigFile is read from the working directory when --config is not given.
const defaultConfigFile = ".vactl.yaml"

func newLintCommand(streams IOStreams) *cobra.Command {
	o := &lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint",
		Short: "Find what makes autoscaling fail, before it reaches a cluster",
		Long: `Check manifests for what makes autoscaling fail: HPA targets, bounds,
requests and behavior policies; metric types; PDBs that block drains; VPAs
that fight HPAs; quotas, LimitRanges and limit/request ratios; cluster
components moved out of kube-system; probes; Redis queues that evict jobs;
overlays that drop HPA metrics; Pod Security "restricted".

Without -f, vactl lints the environments compiled into it (all of them, or
--env one), comparing each overlay with the base. With -f it lints files:
YAML or JSON streams, directories of them, kustomization directories (built
with the kustomize library; an overlay is compared with the bases its
kustomization lists), or - for stdin. -f may be repeated; plain files are
linted together.

Disable a rule with --disable ID or in .vactl.yaml:

  lint:
    disable: [resources-missing]
    limitRequestRatio: {min: 2, max: 4}
    shellessImages: ["voiceassist/"]

Accept one finding on one object with an annotation that gives the reason:

  metadata:
    annotations:
      accept.lint.voiceassist.io/<rule-id>: "why this is fine here"

With --live, vactl lints what the cluster holds instead: the objects vactl
setup applied (its inventory; without one, the objects --env renders), read
live, so hand edits (kubectl edit, patch, scale of a field the manifests set)
are caught. Only what someone set on an object is linted — the fields a field
manager owns — not what the API server defaulted or controllers wrote (status,
the replicas an HPA sets). --env defaults to the environment of the last
revision setup recorded. It connects as kubectl does (--kubeconfig, --context,
...); those connection flags and --timeout apply to --live only and are
ignored without it, as kubectl's global flags are by its offline commands
(so a script may pass --kubeconfig to every vactl command).

Exit codes: 0 nothing at the --fail-on severity (default error) or worse,
1 findings at it, 2 usage or input error (malformed YAML names the file
and line; an input with no Kubernetes object is an input error too).`,
		Example: `  # Every embedded environment
  vactl lint

  # One environment, as SARIF for code scanning
  vactl lint --env prod -o sarif > vactl.sarif

  # Your own overlay and a rendered stream
  vactl lint -f k8s/performance/overlays/prod
  kustomize build overlays/prod | vactl lint -f -

  # In CI: warnings fail the job too
  vactl lint -f k8s/performance/overlays/prod --fail-on warning

  # What the cluster runs, hand edits included
  vactl lint --live --context prod

  # The rules
  vactl lint --list-rules`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "lint one embedded environment: "+strings.Join(render.Envs, "|")+" (default: all)")
	f.StringArrayVarP(&o.files, "filename", "f", nil, "file, directory, kustomization directory, or - for stdin (repeatable)")
	addOutputFlag(cmd, &o.output, outputText, lintFormats...)
	f.StringVar(&o.failOn, "fail-on", string(lint.Error), "exit 1 on unaccepted findings of this severity or worse: error|warning|info")
	f.StringSliceVar(&o.disable, "disable", nil, "rule IDs to skip (repeatable, comma-separated)")
	f.StringVar(&o.config, "config", "", "configuration file (default: "+defaultConfigFile+" in the working directory, if present)")
	f.StringVar(&o.limitRatio, "limit-ratio", "", "allowed limit/request band as MIN-MAX, e.g. 2-4 (default 2-4)")
	f.BoolVar(&o.listRules, "list-rules", false, "print the rules and exit")
	f.BoolVar(&o.showAccepted, "show-accepted", false, "list accepted findings in text output too")
	f.BoolVar(&o.live, "live", false, "lint the objects in the cluster (what vactl setup applied) instead of manifests")
	before := map[string]bool{}
	f.VisitAll(func(fl *pflag.Flag) { before[fl.Name] = true })
	o.conn.addFlags(cmd, time.Minute, "with --live: how long reading the cluster may take")
	// kubectl's flags say so in --help: without --live they are ignored
	f.VisitAll(func(fl *pflag.Flag) {
		if !before[fl.Name] && !strings.HasPrefix(fl.Usage, "with --live: ") {
			fl.Usage = "with --live: " + fl.Usage
		}
	})
	return cmd
}

func (o *lintOptions) run(streams IOStreams) error {
	if o.listRules {
		return writeRules(streams.Out)
	}
	if err := checkOutput(o.output, lintFormats); err != nil {
		return err
	}
	failOn, err := lint.ParseSeverity(o.failOn)
	if err != nil {
		return usageErrorf("--fail-on: %v", err)
	}
	if o.env != "" && len(o.files) > 0 {
		return usageErrorf("--env lints the embedded manifests and -f your files: give one of them")
	}
	cfg, err := o.configuration()
	if err != nil {
		return err
	}
	if o.live {
		return o.runLive(streams, cfg, failOn)
	}

	var inputs []*lint.Input
	if len(o.files) > 0 {
		inputs, err = lint.Paths(o.files, streams.In)
	} else {
		envs := render.Envs
		if o.env != "" {
			if _, err := render.EnvDir(o.env); err != nil {
				return &UsageError{Err: fmt.Errorf("--env: %w", err)}
			}
			envs = []string{o.env}
		}
		inputs, err = lint.Embedded(envs)
	}
	var ie *lint.InputError
	if errors.As(err, &ie) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return err
	}

	return o.write(streams, lint.Lint(inputs, cfg), failOn)
}

// write prints the report in the -o format; findings at failOn or worse
// exit 1.
func (o *lintOptions) write(streams IOStreams, rep *lint.Report, failOn lint.Severity) error {
	var err error
	switch o.output {
	case outputJSON:
		err = lint.WriteJSON(streams.Out, rep)
	case outputYAML:
		err = lint.WriteYAML(streams.Out, rep)
	case outputSARIF:
		err = lint.WriteSARIF(streams.Out, rep)
	default:
		err = lint.WriteText(streams.Out, rep, lint.TextOptions{Color: colorOK(streams.Out), ShowAccepted: o.showAccepted})
	}
	if err != nil {
		return err
	}
	if rep.FailsAt(failOn) {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

// runLive lints the live objects of what vactl applied (vactl lint --live).
func (o *lintOptions) runLive(streams IOStreams, cfg lint.Config, failOn lint.Severity) error {
	if len(o.files) > 0 {
		return usageErrorf("--live lints the cluster and -f your files: give one of them")
	}
	if o.env != "" {
		if err := (&envOptions{env: o.env}).validate(); err != nil {
			return err
		}
	}
	c, err := o.conn.connect()
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(o.conn.timeout)
	defer cancel()
	env := o.env
	if env == "" {
		revs, err := c.Revisions(ctx)
		if err != nil {
			return failure(streams.Err, err)
		}
		if len(revs) == 0 {
			return usageErrorf("--live without --env: no revision recorded in the cluster (vactl setup has not deployed here), so give --env %s", strings.Join(liveEnvs(), "|"))
		}
		env = revs[len(revs)-1].Env
	}
	objs, err := (&envOptions{env: env}).objects()
	if err != nil {
		return err
	}
	bases, err := embeddedBases(env)
	if err != nil {
		return err
	}
	l, err := check.Lint(ctx, c, liveInputName(c, env), objs, cfg, bases...)
	if err != nil {
		return failure(streams.Err, err)
	}
	for _, m := range l.Missing {
		fmt.Fprintf(streams.Err, "note: %s is not in the cluster (vactl diff --env %s shows what setup would change)\n", m, env)
	}
	return o.write(streams, l.Report, failOn)
}

// configuration merges the defaults, the config file and the flags.
func (o *lintOptions) configuration() (lint.Config, error) {
	cfg := lint.DefaultConfig()
	path, must := o.config, true
	if path == "" {
		path, must = defaultConfigFile, false
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := parseConfig(path, data, &cfg); err != nil {
			return cfg, &UsageError{Err: err}
		}
	case must || !errors.Is(err, os.ErrNotExist):
		return cfg, &UsageError{Err: fmt.Errorf("--config: %w", err)}
	}
	cfg.Disable = append(cfg.Disable, o.disable...)
	if o.limitRatio != "" {
		lo, hi, ok := strings.Cut(o.limitRatio, "-")
		a, err1 := strconv.ParseFloat(lo, 64)
		b, err2 := strconv.ParseFloat(hi, 64)
		if !ok || err1 != nil || err2 != nil {
			return cfg, usageErrorf("--limit-ratio %q: want MIN-MAX, e.g. 2-4", o.limitRatio)
		}
		cfg.LimitRequestRatio = lint.RatioBand{Min: a, Max: b}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &UsageError{Err: err}
	}
	return cfg, nil
}

// parseConfig reads the lint section of a .vactl.yaml strictly; other
// sections belong to other commands.
func parseConfig(path string, data []byte, cfg *lint.Config) error {
	var top map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	raw, ok := top["lint"]
	if !ok {
		return nil
	}
	if err := yaml.UnmarshalStrict(raw, cfg); err != nil {
		return fmt.Errorf("%s: lint: %w", path, err)
	}
	return nil
}

// colorOK: colour only on a terminal, and never when NO_COLOR is set.
func colorOK(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func writeRules(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tWHY")
	for _, r := range lint.Rules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Severity, r.Summary)
	}
	return tw.Flush()
}
