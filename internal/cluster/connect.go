// Package cluster is vactl's side of a live cluster: the connection (as
// kubectl makes it, from k8s.io/cli-runtime's ConfigFlags), apply with an
// inventory, prune and status wait (sigs.k8s.io/cli-utils, kpt's applier),
// the revisions recorded in the cluster, the server-side diff, and the
// preflight checks that run before anything is applied.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// Namespace is where VoiceAssist runs: every manifest names it, so vactl
// keeps its inventory and revisions there too.
const Namespace = "voiceassist"

// FieldManager is the server-side-apply field manager of everything vactl
// applies (`kubectl apply --server-side --field-manager=vactl` is the same
// owner).
const FieldManager = "vactl"

// NewConfigFlags returns kubectl's connection flags (--kubeconfig,
// --context, -n/--namespace, --request-timeout, --server, --token, …) with
// the namespace defaulting to VoiceAssist's.
func NewConfigFlags() *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	ns := Namespace
	f.Namespace = &ns
	// Preflight asks one SelfSubjectAccessReview per kind and verb, and the
	// status wait watches every kind: client-go's default 5 requests/s
	// would throttle them (kubectl raises it the same way).
	f.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.QPS, c.Burst = 50, 100
		return c
	}
	return f
}

// Client holds the clients of one connection.
type Client struct {
	Factory cmdutil.Factory
	Config  *rest.Config
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// Host is the API server's URL, for messages.
	Host string
	// Context is the kubeconfig context in use, for messages.
	Context string
}

// Connect builds the clients from the flags as kubectl does. It does not
// contact the server; the first request does (see Explain for its errors).
func Connect(flags *genericclioptions.ConfigFlags) (*Client, error) {
	if ns := *flags.Namespace; ns != Namespace {
		return nil, fmt.Errorf("--namespace %q: the manifests put every VoiceAssist object in namespace %q (each environment is its own cluster or context)", ns, Namespace)
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	f := cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(flags))
	kc, err := f.KubernetesClientSet()
	if err != nil {
		return nil, err
	}
	dc, err := f.DynamicClient()
	if err != nil {
		return nil, err
	}
	m, err := f.ToRESTMapper()
	if err != nil {
		return nil, err
	}
	c := &Client{Factory: f, Config: cfg, Kube: kc, Dynamic: dc, Mapper: m, Host: cfg.Host}
	if raw, err := flags.ToRawKubeConfigLoader().RawConfig(); err == nil {
		c.Context = raw.CurrentContext
		if flags.Context != nil && *flags.Context != "" {
			c.Context = *flags.Context
		}
	}
	return c, nil
}

// Explain turns a client error into what the operator can act on: an
// unreachable server, rejected credentials or missing rights are named as
// such, with the server and context; other errors pass through.
func (c *Client) Explain(err error) error {
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("API server %s", c.Host)
	if c.Context != "" {
		where += fmt.Sprintf(" (context %q)", c.Context)
	}
	var uerr *url.Error
	var operr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s did not answer in time (--request-timeout, or the server is down): %w", where, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &operr), isDNS(err):
		return fmt.Errorf("cannot reach the %s: %w; check --kubeconfig/--context and that the cluster is up", where, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the %s rejected the credentials (401 Unauthorized): the token or certificate is invalid or has expired; log in again or pick another --context: %w", where, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("the %s refused: %w", where, err)
	case errors.As(err, &uerr) && strings.Contains(uerr.Err.Error(), "certificate"):
		return fmt.Errorf("cannot verify the %s's certificate: %w", where, err)
	}
	return err
}

func isDNS(err error) bool {
	var d *net.DNSError
	return errors.As(err, &d)
}
