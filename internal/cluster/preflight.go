package cluster

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/version"
)

// MinServerVersion is the oldest Kubernetes the manifests are written for
// (autoscaling/v2 behavior, PDB unhealthyPodEvictionPolicy).
var MinServerVersion = version.MustParseGeneric("1.27.0")

// componentGroups are the API groups of the optional components: objects of
// these groups are left out, with a warning, where the cluster lacks the CRD.
var componentGroups = map[string]string{
	"autoscaling.k8s.io":    "the VPA (VerticalPodAutoscaler CRDs: https://github.com/kubernetes/autoscaler/tree/master/vertical-pod-autoscaler)",
	"monitoring.coreos.com": "Prometheus Operator (ServiceMonitor CRD; kube-prometheus-stack installs it)",
}

// Check is one preflight line.
type Check struct {
	Name   string `json:"check"`
	Result string `json:"result"` // ok, warn, fail
	Detail string `json:"detail"`
}

// PreflightOptions say what setup is about to do.
type PreflightOptions struct {
	Objects []*unstructured.Unstructured
	// MetricsServer are the objects setup installs where metrics.k8s.io is
	// not served; NoInstallMetricsServer makes that a failure instead.
	MetricsServer          []*unstructured.Unstructured
	NoInstallMetricsServer bool
	RequireComponents      bool
	CreateSecrets          bool
	// DryRun: setup runs with --dry-run=server; the checks say what would
	// be done (a Secret would be created), not what is.
	DryRun bool
}

// Preflight is what the checks found and decided.
type Preflight struct {
	Checks []Check
	// Objects are the objects to apply: those of a missing optional
	// component are left out.
	Objects []*unstructured.Unstructured
	// InstallMetricsServer: metrics.k8s.io is not served, or vactl installed
	// it before (then it is kept up to date).
	InstallMetricsServer bool
	// AdapterMissing: custom/external metrics are not served; the HPAs
	// cannot know every metric, so setup waits for ScalingActive only.
	AdapterMissing bool
	// Secrets the workloads reference, that nothing renders and the cluster
	// lacks, to be created (--create-secrets).
	CreateSecrets []SecretRef
}

// Failed says whether any check failed.
func (p *Preflight) Failed() bool {
	return slices.ContainsFunc(p.Checks, func(c Check) bool { return c.Result == "fail" })
}

// Print writes one line per check.
func (p *Preflight) Print(w io.Writer) {
	for _, c := range p.Checks {
		fmt.Fprintf(w, "%-4s  %-28s %s\n", strings.ToUpper(c.Result), c.Name, c.Detail)
	}
}

func (p *Preflight) add(name, result, format string, args ...any) {
	p.Checks = append(p.Checks, Check{Name: name, Result: result, Detail: fmt.Sprintf(format, args...)})
}

// SecretRef is a Secret key a workload reads.
type SecretRef struct {
	Namespace, Name string
	Keys            []string
}

// RunPreflight checks the cluster before setup. An error means the cluster
// could not be asked at all (unreachable server, rejected credentials);
// findings are in the checks.
func (c *Client) RunPreflight(ctx context.Context, o PreflightOptions) (*Preflight, error) {
	p := &Preflight{}
	c.FreshDiscovery()
	// 1. Server version.
	sv, err := c.ServerVersion()
	if err != nil {
		return nil, err
	}
	v, err := version.ParseGeneric(sv.GitVersion)
	switch {
	case err != nil:
		p.add("server version", "fail", "cannot parse %q: %v", sv.GitVersion, err)
	case v.LessThan(MinServerVersion):
		p.add("server version", "fail", "%s is older than %s, which the manifests need (autoscaling/v2 behavior, PDB unhealthyPodEvictionPolicy)", sv.GitVersion, MinServerVersion)
	default:
		p.add("server version", "ok", "%s (>= %s)", sv.GitVersion, MinServerVersion)
	}

	// 2. Kinds: every kind served; an optional component's missing CRD
	// leaves its objects out.
	kept, missing, err := c.ServedObjects(o.Objects)
	if err != nil {
		return nil, err
	}
	p.Objects = kept
	if len(missing) == 0 {
		p.add("kinds", "ok", "the server serves every kind of the environment")
	}
	for _, m := range missing {
		switch {
		case m.Component != "" && !o.RequireComponents:
			p.add("kind "+m.Kind(), "warn", "not served: leaving out %s (%s); install %s, or use --require-components to stop here", strings.Join(m.Names, ", "), m.Kind(), m.Component)
		case m.Component != "":
			p.add("kind "+m.Kind(), "fail", "not served (--require-components): %s needs %s", strings.Join(m.Names, ", "), m.Component)
		default:
			p.add("kind "+m.Kind(), "fail", "not served by this cluster: %s", strings.Join(m.Names, ", "))
		}
	}

	// 3. RBAC for the environment, the inventory and revisions, and what
	// the checks below read; without it nothing further can be asked.
	if denied, err := c.checkRBAC(ctx, p, p.Objects, true); err != nil || denied > 0 {
		return p, err
	}

	// 4. metrics.k8s.io.
	served, why, err := c.apiServiceAvailable(ctx, "v1beta1.metrics.k8s.io")
	if err != nil {
		return nil, err
	}
	ours, err := c.InventoryExists(ctx, MetricsServerInventory)
	if err != nil {
		return nil, err
	}
	switch {
	case served && !ours:
		p.add("metrics.k8s.io", "ok", "served (%s); vactl leaves this metrics-server alone", why)
	case served && ours:
		p.InstallMetricsServer = true
		p.add("metrics.k8s.io", "ok", "served by the metrics-server vactl installed; kept up to date")
	case o.NoInstallMetricsServer:
		p.add("metrics.k8s.io", "fail", "not served (%s): the HPAs cannot read CPU or memory. Install metrics-server (kubectl apply -k k8s/performance/metrics-server, or .../local on kind and minikube), or run setup without --no-install-metrics-server", why)
	default:
		p.InstallMetricsServer = true
		p.add("metrics.k8s.io", "ok", "not served (%s): setup installs metrics-server (%d objects, inventory %s/%s)", why, len(o.MetricsServer), MetricsServerInventory.Namespace, MetricsServerInventory.Name)
	}

	// 5. custom and external metrics, where the HPAs use them.
	for _, a := range []struct{ name, group, metrics string }{
		{"v1beta1.custom.metrics.k8s.io", "custom.metrics.k8s.io", "Pods"},
		{"v1beta1.external.metrics.k8s.io", "external.metrics.k8s.io", "External"},
	} {
		used := hpaMetricNames(p.Objects, a.metrics)
		if len(used) == 0 {
			continue
		}
		ok, why, err := c.apiServiceAvailable(ctx, a.name)
		if err != nil {
			return nil, err
		}
		if ok {
			p.add(a.group, "ok", "served (%s)", why)
			continue
		}
		p.AdapterMissing = true
		p.add(a.group, "warn", "not served (%s): the HPAs' %s will show <unknown> and never let them scale down; install the adapter with our rules: helm install prometheus-adapter prometheus-community/prometheus-adapter -n monitoring -f k8s/performance/prometheus-adapter-values.yaml", why, strings.Join(used, ", "))
	}

	// 6. Secrets the workloads read that nothing renders.
	for _, ref := range secretRefs(p.Objects) {
		_, err := c.Kube.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case err == nil:
			p.add("secret "+ref.Name, "ok", "Secret %s/%s exists", ref.Namespace, ref.Name)
		case !apierrors.IsNotFound(err):
			return nil, c.Explain(err)
		case o.CreateSecrets && o.DryRun:
			p.CreateSecrets = append(p.CreateSecrets, ref)
			p.add("secret "+ref.Name, "ok", "Secret %s/%s missing: would be created with a random %s (--create-secrets; dry run: not created)", ref.Namespace, ref.Name, strings.Join(ref.Keys, ", "))
		case o.CreateSecrets:
			p.CreateSecrets = append(p.CreateSecrets, ref)
			p.add("secret "+ref.Name, "ok", "Secret %s/%s missing: setup creates it with a random %s (--create-secrets)", ref.Namespace, ref.Name, strings.Join(ref.Keys, ", "))
		default:
			p.add("secret "+ref.Name, "fail", "Secret %s/%s (keys %s) does not exist: create it (k8s/performance/README.md, \"Database credentials\") or run with --create-secrets for a random one", ref.Namespace, ref.Name, strings.Join(ref.Keys, ", "))
		}
	}

	// 7. RBAC for metrics-server, where setup installs it.
	if p.InstallMetricsServer {
		if _, err := c.checkRBAC(ctx, p, o.MetricsServer, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// FreshDiscovery drops the cached discovery and REST mappings, so the next
// lookup asks the server: a kubeconfig's disk cache (as kubectl keeps it)
// can still list a CRD deleted since, or lack one installed since.
func (c *Client) FreshDiscovery() {
	if dc, err := c.Factory.ToDiscoveryClient(); err == nil {
		dc.Invalidate()
	}
	if r, ok := c.Mapper.(meta.ResettableRESTMapper); ok {
		r.Reset()
	}
}

// MissingKind is a kind among the objects that the cluster does not serve
// (its CRD is not installed), with the objects of that kind.
type MissingKind struct {
	GVK schema.GroupVersionKind
	// Names are the objects' names.
	Names []string
	// Component is what provides the kind when it belongs to an optional
	// component (the VPA, Prometheus Operator), "" otherwise.
	Component string
}

// Kind is "group/version Kind", as the preflight lines name it.
func (m MissingKind) Kind() string { return m.GVK.GroupVersion().String() + " " + m.GVK.Kind }

// Error says what is missing, for a command that cannot go on without it.
func (m MissingKind) Error() string {
	what := "no CRD of API group " + m.GVK.Group + " is installed"
	if m.GVK.Group == "" {
		what = "not a kind of the core API"
	}
	msg := fmt.Sprintf("kind %s is not served by the cluster (%s): %s", m.Kind(), what, strings.Join(m.Names, ", "))
	if m.Component != "" {
		msg += "; install " + m.Component
	}
	return msg
}

// ServedObjects splits objs into those whose kind the cluster serves and,
// per kind it does not serve, the objects of that kind. It reads the REST
// mapper as it is: call FreshDiscovery first for the server's current view.
func (c *Client) ServedObjects(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, []MissingKind, error) {
	var served []*unstructured.Unstructured
	missing := map[string]*MissingKind{}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		if _, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if !meta.IsNoMatchError(err) {
				return nil, nil, c.Explain(err)
			}
			k := gvk.String()
			if missing[k] == nil {
				missing[k] = &MissingKind{GVK: gvk, Component: componentGroups[gvk.Group]}
			}
			missing[k].Names = append(missing[k].Names, u.GetName())
			continue
		}
		served = append(served, u)
	}
	var out []MissingKind
	for _, k := range sortedKeys(missing) {
		out = append(out, *missing[k])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind() < out[j].Kind() })
	return served, out, nil
}

// apiServiceAvailable reports whether the APIService exists with
// Available=True, and why not.
func (c *Client) apiServiceAvailable(ctx context.Context, name string) (bool, string, error) {
	a, err := GetAPIService(ctx, c.Dynamic, name)
	if apierrors.IsNotFound(err) {
		return false, "no APIService " + name, nil
	}
	if err != nil {
		return false, "", c.Explain(err)
	}
	cond := AvailableCondition(a)
	switch {
	case cond == nil:
		return false, "APIService " + name + " has no Available condition", nil
	case cond.Status == apiregistrationv1.ConditionTrue:
		return true, "APIService " + name + " Available", nil
	}
	return false, fmt.Sprintf("APIService %s Available=%s %s: %s", name, cond.Status, cond.Reason, cond.Message), nil
}

// hpaMetricNames lists the metric names of the given type (Pods, External)
// the HPAs among objs use.
func hpaMetricNames(objs []*unstructured.Unstructured, typ string) []string {
	var out []string
	for _, u := range objs {
		if u.GetKind() != "HorizontalPodAutoscaler" {
			continue
		}
		ms, _, _ := unstructured.NestedSlice(u.Object, "spec", "metrics")
		for _, x := range ms {
			m, _ := x.(map[string]any)
			if m["type"] != typ {
				continue
			}
			src, _ := m[strings.ToLower(typ)].(map[string]any)
			metric, _ := src["metric"].(map[string]any)
			if n, _ := metric["name"].(string); n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// secretRefs lists the Secrets the workloads' containers read
// (env[].valueFrom.secretKeyRef, secret volumes) that objs do not contain.
func secretRefs(objs []*unstructured.Unstructured) []SecretRef {
	rendered := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() == "Secret" {
			rendered[u.GetNamespace()+"/"+u.GetName()] = true
		}
	}
	keys := map[string][]string{}
	for _, u := range objs {
		var walk func(v any)
		walk = func(v any) {
			switch t := v.(type) {
			case map[string]any:
				// A Secret volume: the keys its items name (or, with
				// none, the ones withKnownKeys adds).
				if vol, ok := t["secret"].(map[string]any); ok {
					if name, _ := vol["secretName"].(string); name != "" && !rendered[u.GetNamespace()+"/"+name] {
						k := u.GetNamespace() + "/" + name
						keys[k] = append(keys[k], volumeItemKeys(vol, keys[k])...)
					}
				}
				if ref, ok := t["secretKeyRef"].(map[string]any); ok {
					name, _ := ref["name"].(string)
					key, _ := ref["key"].(string)
					k := u.GetNamespace() + "/" + name
					if name != "" && !rendered[k] && !slices.Contains(keys[k], key) {
						keys[k] = append(keys[k], key)
					}
				}
				for _, x := range t {
					walk(x)
				}
			case []any:
				for _, x := range t {
					walk(x)
				}
			}
		}
		walk(u.Object["spec"])
	}
	var out []SecretRef
	for _, k := range sortedKeys(keys) {
		ns, name, _ := strings.Cut(k, "/")
		sort.Strings(keys[k])
		out = append(out, withKnownKeys(SecretRef{Namespace: ns, Name: name, Keys: keys[k]}))
	}
	return out
}

// rbacVerbs are what apply, prune, the status wait and teardown need.
var rbacVerbs = []string{"get", "list", "watch", "create", "patch", "delete"}

// checkRBAC asks, with one SelfSubjectAccessReview per kind and verb,
// whether the user may do what setup does to objs (and, with own, to
// vactl's own records and what preflight reads), adds a check line per kind
// that is denied, and returns how many are.
func (c *Client) checkRBAC(ctx context.Context, p *Preflight, objs []*unstructured.Unstructured, own bool) (int, error) {
	type target struct {
		gr        schema.GroupResource
		kind, ns  string
		verbs     []string
		denied    []string
		reason    string
		callError error
	}
	byKey := map[string]*target{}
	var order []string
	addTarget := func(gr schema.GroupResource, kind, ns string, verbs []string) {
		k := gr.String() + "|" + ns
		if byKey[k] == nil {
			byKey[k] = &target{gr: gr, kind: kind, ns: ns, verbs: verbs}
			order = append(order, k)
		}
	}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue // reported as a missing kind
		}
		ns := u.GetNamespace()
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ns = ""
		}
		addTarget(m.Resource.GroupResource(), gvk.Kind, ns, rbacVerbs)
	}
	if own {
		// The inventories (ConfigMaps), the revisions (Secrets), the APIServices.
		addTarget(schema.GroupResource{Resource: "configmaps"}, "ConfigMap (inventory)", Namespace, []string{"get", "list", "create", "update", "delete"})
		addTarget(schema.GroupResource{Resource: "configmaps"}, "ConfigMap (metrics-server inventory)", MetricsServerInventory.Namespace, []string{"get"})
		addTarget(schema.GroupResource{Resource: "secrets"}, "Secret (revisions)", Namespace, []string{"get", "list", "create", "delete"})
		addTarget(schema.GroupResource{Group: "apiregistration.k8s.io", Resource: "apiservices"}, "APIService", "", []string{"get"})
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, k := range order {
		t := byKey[k]
		for _, verb := range t.verbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
					Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: t.ns, Verb: verb, Group: t.gr.Group, Resource: t.gr.Resource,
					}},
				}, metav1.CreateOptions{})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.callError = err
				case !r.Status.Allowed:
					t.denied = append(t.denied, verb)
					if r.Status.Reason != "" {
						t.reason = r.Status.Reason
					}
				}
			}()
		}
	}
	wg.Wait()
	var denied int
	for _, k := range order {
		t := byKey[k]
		if t.callError != nil {
			return 0, c.Explain(t.callError)
		}
		if len(t.denied) == 0 {
			continue
		}
		denied++
		where := "cluster-wide"
		if t.ns != "" {
			where = "in namespace " + t.ns
		}
		slices.SortFunc(t.denied, func(a, b string) int { return slices.Index(rbacVerbs, a) - slices.Index(rbacVerbs, b) })
		detail := fmt.Sprintf("%s (%s) %s: not allowed to %s", t.kind, t.gr, where, strings.Join(t.denied, ", "))
		if t.reason != "" {
			detail += " (" + t.reason + ")"
		}
		p.add("rbac "+t.gr.String(), "fail", "%s", detail)
	}
	if denied == 0 {
		p.add("rbac", "ok", "allowed: %s on %d kinds (SelfSubjectAccessReview)", strings.Join(rbacVerbs, ", "), len(order))
	}
	return denied, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
