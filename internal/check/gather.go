package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/voiceassist/autoscaling/docs"
	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/lint"
)

// Options say what to check against.
type Options struct {
	Env string
	// Rendered is the environment as setup applies it (vactl render, with
	// the same --dir; the images do not matter to any item).
	Rendered []*unstructured.Unstructured
	// Lint configures the rules of the limits item; Bases are the
	// environment's kustomize bases for the overlay rules (may be nil).
	Lint      lint.Config
	Bases     []*lint.Input
	LintInput string
	// PrometheusURL, when set, is asked which rules it has loaded.
	PrometheusURL string
}

var (
	vpaGK  = schema.GroupKind{Group: "autoscaling.k8s.io", Kind: "VerticalPodAutoscaler"}
	ruleGK = schema.GroupKind{Group: "monitoring.coreos.com", Kind: "PrometheusRule"}
)

// Gather reads everything the items need. It fails only when the cluster
// cannot be reached at all, with the error already explained
// (cluster.Client.Explain, as status.Gather's: the caller prints it as it
// is); a piece it cannot read makes its item unknown.
func Gather(ctx context.Context, c *cluster.Client, o Options) (*Inputs, error) {
	in := &Inputs{Env: o.Env, RunbookAnchors: docs.Anchors(docs.Runbook)}
	// The Namespace is cluster-scoped: a user bound to a Role in it alone
	// is Forbidden to get it, and only the load-test item needs it.
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, cluster.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		if rec, ok, err := cluster.LoadtestOf(ns); err != nil {
			in.LoadtestBad = err
		} else if ok {
			in.Loadtest = &rec
		}
	case apierrors.IsNotFound(err):
		in.LoadtestBad = fmt.Errorf("namespace %s: not found: nothing records a load test", cluster.Namespace)
	case apierrors.IsForbidden(err):
		in.LoadtestErr = c.Explain(err)
	default:
		return nil, c.Explain(err)
	}
	for _, u := range o.Rendered {
		switch u.GroupVersionKind().GroupKind() {
		case schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:
			in.RenderedHPAs = append(in.RenderedHPAs, "HorizontalPodAutoscaler "+u.GetNamespace()+"/"+u.GetName())
		case schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}:
			in.RenderedPDBs = append(in.RenderedPDBs, u.GetName())
		case vpaGK:
			in.RenderedVPAs = append(in.RenderedVPAs, u.GetName())
		case ruleGK:
			in.RenderedRules = append(in.RenderedRules, u.GetName())
		}
	}

	gatherMetrics(ctx, c, in)
	in.Lint, in.LintErr = Lint(ctx, c, o.LintInput, o.Rendered, o.Lint, o.Bases...)
	gatherHPAs(ctx, c, o, in)
	if l, err := c.Kube.PolicyV1().PodDisruptionBudgets(cluster.Namespace).List(ctx, metav1.ListOptions{}); err != nil {
		in.PDBsErr = c.Explain(err)
	} else {
		in.LivePDBs = l.Items
	}
	in.VPAsServed, in.VPAsErr = listCR(ctx, c, vpaGK, &in.LiveVPAs)
	in.RulesServed, in.RulesErr = listCR(ctx, c, ruleGK, &in.LiveRules)
	if o.PrometheusURL != "" {
		in.Prometheus = loadedRules(ctx, o.PrometheusURL)
	}
	in.Revisions, in.RevisionsErr = c.Revisions(ctx)
	return in, nil
}

func gatherMetrics(ctx context.Context, c *cluster.Client, in *Inputs) {
	in.MetricsAPIAvailable, in.MetricsAPIWhy, in.MetricsAPIErr = c.APIServiceAvailable(ctx, MetricsAPI)
	if in.MetricsAPIErr != nil || !in.MetricsAPIAvailable {
		return
	}
	pods, err := c.Kube.CoreV1().Pods(cluster.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		in.PodsErr = c.Explain(err)
		return
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			in.RunningPods = append(in.RunningPods, p.Name)
		}
	}
	mc, err := metricsclient.NewForConfig(c.Config)
	if err != nil {
		in.PodsErr = err
		return
	}
	pm, err := mc.MetricsV1beta1().PodMetricses(cluster.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		in.PodsErr = fmt.Errorf("PodMetrics: %w", c.Explain(err))
		return
	}
	in.PodMetrics = map[string]bool{}
	for _, m := range pm.Items {
		in.PodMetrics[m.Name] = true
	}
}

func gatherHPAs(ctx context.Context, c *cluster.Client, o Options, in *Inputs) {
	var objs []*unstructured.Unstructured
	for _, u := range o.Rendered {
		if u.GetKind() == "HorizontalPodAutoscaler" {
			objs = append(objs, u)
		}
	}
	if len(objs) == 0 {
		return
	}
	// The diff of `vactl diff`, of the HPAs alone: its prune list then
	// holds every other inventory object too, of which only HPAs count.
	// Forced, as `setup --force-conflicts` applies: a field a hand edit
	// took over would otherwise fail the dry run with a conflict instead
	// of showing as the difference it is.
	changes, err := c.Diff(ctx, objs, cluster.AppInventory, true)
	if err != nil {
		in.DiffErr = err
	}
	for _, ch := range changes {
		if strings.HasPrefix(ch.Ref, "HorizontalPodAutoscaler ") {
			in.HPAChanges = append(in.HPAChanges, ch)
		}
	}
	l, err := c.Kube.AutoscalingV2().HorizontalPodAutoscalers(cluster.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		in.HPAsErr = c.Explain(err)
		return
	}
	in.LiveHPAs = l.Items
}

// listCR lists a custom resource kind in the namespace into out (a pointer
// to a slice of its Go type); served is false when the API does not serve
// the kind (no CRD).
func listCR[T any](ctx context.Context, c *cluster.Client, gk schema.GroupKind, out *[]T) (served bool, err error) {
	m, err := c.Mapper.RESTMapping(gk)
	if meta.IsNoMatchError(err) {
		return false, nil
	} else if err != nil {
		return false, c.Explain(err)
	}
	l, err := c.Dynamic.Resource(m.Resource).Namespace(cluster.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return true, c.Explain(err)
	}
	for _, u := range l.Items {
		var v T
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
			return true, fmt.Errorf("%s %s/%s: %w", gk.Kind, u.GetNamespace(), u.GetName(), err)
		}
		*out = append(*out, v)
	}
	return true, nil
}

// loadedRules asks Prometheus's rules API which alerting rules it has
// loaded, with client_golang's API client.
func loadedRules(ctx context.Context, url string) *PrometheusRules {
	p := &PrometheusRules{URL: url}
	client, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		p.Err = err
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res, err := promv1.NewAPI(client).Rules(ctx, nil)
	if err != nil {
		p.Err = err
		return p
	}
	p.Alerts = map[string]string{}
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			if a, ok := r.(promv1.AlertingRule); ok {
				h := string(a.Health)
				if a.LastError != "" {
					h += ": " + a.LastError
				}
				p.Alerts[a.Name] = h
			}
		}
	}
	return p
}
