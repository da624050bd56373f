package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/voiceassist/autoscaling/internal/auth"
)

type apikeyNewOptions struct {
	client string
	output string
}

type newAPIKey struct {
	Client string `json:"client"`
	// Key goes to the client; Line into the gateway's keys file (the
	// Secret voiceassist-api-keys, key api-keys).
	Key  string `json:"key"`
	Hash string `json:"sha256"`
	Line string `json:"line"`
}

func newAPIKeyCommand(streams IOStreams) *cobra.Command {
	group := &cobra.Command{
		Use:   "apikey",
		Short: "Make API keys for the gateway",
		Long: `The gateway (voiceassist-server) accepts API keys whose SHA-256 hashes are in
its --api-keys-file, one "<client-id>:<sha256 hex>" per line; in a cluster that
file is the Secret voiceassist-api-keys (key api-keys), and the gateway re-reads
it when the Secret changes, so adding or rotating a key needs no restart.`,
	}
	o := &apikeyNewOptions{}
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Print a new random API key and the keys-file line that accepts it",
		Long: `Print a new API key (256 random bits) for a client and the line of the keys
file that accepts it. Only the line goes into the Secret; the key goes to the
client and is not stored anywhere else, so keep it when it is printed.

A client may have several lines (rotation: add the new key, move the client
over, remove the old line). Jobs belong to the client id, not to the key.`,
		Example: `  vactl apikey new --client clinic-a
  # append the line to the Secret's keys (kubectl edits it in place)
  vactl apikey new --client clinic-a -o json | jq -r .line >> api-keys
  kubectl -n voiceassist create secret generic voiceassist-api-keys --from-file=api-keys --dry-run=client -o yaml | kubectl apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "" && o.output != "json" && o.output != "yaml" {
				return usageErrorf("-o %q: want json or yaml", o.output)
			}
			if o.client == "" {
				return usageErrorf("--client is required: the client id the key authenticates as")
			}
			key, line, err := auth.NewKey(o.client)
			if err != nil {
				return usageErrorf("--client: %v", err)
			}
			k := newAPIKey{Client: o.client, Key: key, Hash: auth.HashKey(key), Line: line}
			if o.output != "" {
				return writeData(streams.Out, k, o.output)
			}
			_, err = fmt.Fprintf(streams.Out, "key (give it to %s; it is not shown again):\n  %s\nline for the keys file (Secret voiceassist-api-keys, key api-keys):\n  %s\n", o.client, key, line)
			return err
		},
	}
	cmd.Flags().StringVar(&o.client, "client", "", "the client id the key authenticates as (owner of the jobs it creates)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: json|yaml (default: text)")
	group.AddCommand(cmd)
	return group
}
