package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/render"
)

// renderFormats are the -o values of vactl render: its output is manifests,
// data only.
var renderFormats = []string{outputYAML, outputJSON}

type renderOptions struct {
	env           string
	metricsServer string
	output        string
	dir           string
}

func newRenderCommand(streams IOStreams) *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Build one environment's manifests with kustomize and print them",
		Long: `Build one environment of k8s/performance with the kustomize library (the
code behind 'kubectl kustomize') and print the result.

Environments: base (k8s/performance itself), dev, staging, prod (its overlays).
By default the manifests compiled into vactl are used; --dir builds a copy on
disk laid out the same way (a kustomization.yaml and overlays/<env>).`,
		Example: `  # What prod would apply
  vactl render --env prod

  # The same as a v1 List in JSON, from a working copy
  vactl render --env staging -o json --dir k8s/performance

  # metrics-server (in no environment; what vactl setup installs where
  # metrics.k8s.io is not served), the variant for kind and minikube
  vactl render --metrics-server local`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(streams.Out)
		},
	}
	cmd.Flags().StringVar(&o.env, "env", "base", "environment: "+strings.Join(render.Envs, "|"))
	cmd.Flags().StringVar(&o.metricsServer, "metrics-server", "", "render metrics-server instead of an environment: "+strings.Join(render.MetricsServerVariants, "|"))
	addOutputFlag(cmd, &o.output, outputYAML, renderFormats...)
	cmd.Flags().StringVar(&o.dir, "dir", "", "manifests directory laid out like k8s/performance (default: the embedded copy)")
	return cmd
}

func (o *renderOptions) run(out io.Writer) error {
	if _, err := render.EnvDir(o.env); err != nil {
		return &UsageError{Err: fmt.Errorf("--env: %w", err)}
	}
	if err := checkOutput(o.output, renderFormats); err != nil {
		return err
	}
	src, err := source(o.dir)
	if err != nil {
		return err
	}
	build := func() (resmap.ResMap, error) { return src.Env(o.env) }
	if o.metricsServer != "" {
		if _, err := render.MetricsServerDir(o.metricsServer); err != nil {
			return &UsageError{Err: fmt.Errorf("--metrics-server: %w", err)}
		}
		build = func() (resmap.ResMap, error) { return src.MetricsServer(o.metricsServer) }
	}
	m, err := build()
	if err != nil {
		return err
	}
	return writeResMap(out, m, o.output)
}

// source picks the embedded manifests or a directory on disk.
func source(dir string) (render.Source, error) {
	if dir == "" {
		return render.Embedded()
	}
	return render.Dir(dir)
}

// writeResMap prints a build as a YAML stream (what kubectl kustomize
// prints) or as one JSON v1 List (what kubectl get -o json prints).
func writeResMap(out io.Writer, m resmap.ResMap, format string) error {
	if format == outputYAML {
		y, err := m.AsYaml()
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	}
	items := make([]json.RawMessage, 0, m.Size())
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return err
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			return err
		}
		items = append(items, j)
	}
	list := struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}{"v1", "List", items}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}
