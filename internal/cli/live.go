package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/render"
)

// liveOptions are the flags every command that talks to a cluster shares:
// kubectl's connection flags (k8s.io/cli-runtime) and a timeout.
type liveOptions struct {
	flags   *genericclioptions.ConfigFlags
	timeout time.Duration
}

func (o *liveOptions) addFlags(cmd *cobra.Command, timeout time.Duration, what string) {
	o.flags = cluster.NewConfigFlags()
	o.flags.AddFlags(cmd.Flags())
	cmd.Flags().DurationVar(&o.timeout, "timeout", timeout, what)
}

func (o *liveOptions) connect() (*cluster.Client, error) {
	c, err := cluster.Connect(o.flags)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return c, nil
}

// envOptions select and render an environment as setup and diff apply it.
type envOptions struct {
	env, dir              string
	imageRegistry, imgTag string
}

func (o *envOptions) addFlags(cmd *cobra.Command) {
	o.addSourceFlags(cmd)
	cmd.Flags().StringVar(&o.imageRegistry, "image-registry", "", "pull VoiceAssist's images from this registry/path (e.g. registry.example/acme: registry.example/acme/voiceassist-server)")
	cmd.Flags().StringVar(&o.imgTag, "image-tag", "", "use this tag of VoiceAssist's images")
}

// addSourceFlags registers --env and --dir alone, for a command to which
// the images do not matter (check compares HPAs, PDBs, VPAs and rules).
func (o *envOptions) addSourceFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.env, "env", "", "environment: "+strings.Join(liveEnvs(), "|")+" (required)")
	cmd.Flags().StringVar(&o.dir, "dir", "", "manifests directory laid out like k8s/performance (default: the embedded copy)")
}

// liveEnvs are the environments setup deploys: the overlays (the base has
// no database credentials of its own and is not an environment).
func liveEnvs() []string { return []string{"dev", "staging", "prod"} }

func (o *envOptions) validate() error {
	if o.env == "" {
		return usageErrorf("--env is required (%s)", strings.Join(liveEnvs(), ", "))
	}
	for _, e := range liveEnvs() {
		if e == o.env {
			return nil
		}
	}
	return usageErrorf("--env %q: want one of %s", o.env, strings.Join(liveEnvs(), ", "))
}

// objects renders the environment, retargets the images, and marks the
// Namespace to be kept by prune and teardown.
func (o *envOptions) objects() ([]*unstructured.Unstructured, error) {
	src, err := source(o.dir)
	if err != nil {
		return nil, err
	}
	m, err := src.Env(o.env)
	if err != nil {
		return nil, err
	}
	if m, err = render.Retarget(m, o.imageRegistry, o.imgTag); err != nil {
		return nil, &UsageError{Err: err}
	}
	objs, err := cluster.Objects(m)
	if err != nil {
		return nil, err
	}
	cluster.KeepNamespace(objs)
	return objs, nil
}

// metricsServerObjects renders the metrics-server variant setup installs.
func metricsServerObjects(dir, variant string) ([]*unstructured.Unstructured, error) {
	src, err := source(dir)
	if err != nil {
		return nil, err
	}
	if _, err := render.MetricsServerDir(variant); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("--metrics-server-variant: %w", err)}
	}
	m, err := src.MetricsServer(variant)
	if err != nil {
		return nil, err
	}
	return cluster.Objects(m)
}

// failure reports err as a failure (exit 1) after the command's output.
func failure(w io.Writer, err error) error {
	fmt.Fprintf(w, "error: %v\n", err)
	return &ExitError{Code: ExitFailure}
}

// writeData prints v as JSON or YAML (-o).
func writeData(w io.Writer, v any, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return usageErrorf("-o %q: want json or yaml", format)
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	// The command's own bound: the wait's timeout plus time to report.
	return context.WithTimeout(context.Background(), d+2*time.Minute)
}
