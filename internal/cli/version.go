package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/cluster"
)

type versionOptions struct {
	live       liveOptions
	output     string
	clientOnly bool
}

type versionInfo struct {
	Client cluster.BuildInfo `json:"client"`
	Server *serverVersion    `json:"server,omitempty"`
	// ServerError says why the server's version is missing.
	ServerError string `json:"serverError,omitempty"`
}

type serverVersion struct {
	GitVersion string `json:"gitVersion"`
	Platform   string `json:"platform"`
}

func newVersionCommand(streams IOStreams) *cobra.Command {
	o := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print vactl's version and, when a cluster is reachable, the server's",
		Long: `Print the version of vactl (the module version and the VCS revision it was
built from, from the build information Go records in the binary) and the
Kubernetes version of the cluster the kubeconfig points at, when it answers.
An unreachable cluster is reported, not an error: the client part is still true.`,
		Example: `  vactl version
  vactl version --client -o json
  vactl version --context prod -o yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(streams.Out) },
	}
	o.live.addFlags(cmd, 10*time.Second, "how long to wait for the server's answer")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: json|yaml (default: text)")
	cmd.Flags().BoolVar(&o.clientOnly, "client", false, "only the client's version; do not contact a cluster")
	return cmd
}

func (o *versionOptions) run(out io.Writer) error {
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return usageErrorf("-o %q: want json or yaml", o.output)
	}
	v := versionInfo{Client: cluster.ReadBuildInfo()}
	if !o.clientOnly {
		if *o.live.flags.Timeout == "0" {
			*o.live.flags.Timeout = o.timeout()
		}
		c, err := o.live.connect()
		if err == nil {
			var sv *serverVersionInfo
			sv, err = serverVer(c)
			if err == nil {
				v.Server = &serverVersion{GitVersion: sv.GitVersion, Platform: sv.Platform}
			}
		}
		if err != nil {
			v.ServerError = err.Error()
		}
	}
	if o.output != "" {
		return writeData(out, v, o.output)
	}
	rev := v.Client.Revision
	if rev == "" {
		rev = "unknown"
	}
	if v.Client.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(out, "Client: vactl %s (%s), revision %s, %s\n", v.Client.Version, v.Client.Module, rev, v.Client.GoVersion)
	switch {
	case v.Server != nil:
		fmt.Fprintf(out, "Server: Kubernetes %s (%s)\n", v.Server.GitVersion, v.Server.Platform)
	case v.ServerError != "":
		fmt.Fprintf(out, "Server: not available: %s\n", v.ServerError)
	}
	return nil
}

func (o *versionOptions) timeout() string { return o.live.timeout.String() }

type serverVersionInfo struct{ GitVersion, Platform string }

func serverVer(c *cluster.Client) (*serverVersionInfo, error) {
	v, err := c.ServerVersion()
	if err != nil {
		return nil, err
	}
	return &serverVersionInfo{GitVersion: v.GitVersion, Platform: v.Platform}, nil
}
