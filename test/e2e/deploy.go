//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

// deploy applies objs (a rendered overlay, in renderEnv's order, possibly
// changed by a test overlay) as vactl does and waits until every workload of set has all its
// pods Running and Ready on the node, its rollout done.
func deploy(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured, set *kube.Set) {
	t.Helper()
	ensureMetricsServer(ctx, t)
	applyAll(ctx, t, objs, false)
	if t.Failed() {
		t.FailNow()
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	errs := waitWorkloadsReady(wctx, set.Workloads())
	for _, w := range set.Workloads() {
		if err := errs[w.Ref()]; err != nil {
			t.Errorf("%s: %v", w.Ref(), err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// ensureMetricsServer installs metrics-server as the README's step 1 does
// (it is in no environment): applied with vactl's field manager, then its
// Deployment waited for and the APIService v1beta1.metrics.k8s.io
// Available. Scenarios that need CPU and memory metrics call it; a
// metrics-server already there (vactl's, or an earlier scenario's) is
// re-applied unchanged.
func ensureMetricsServer(ctx context.Context, t *testing.T) {
	t.Helper()
	objs, set, err := renderMetricsServer()
	if err != nil {
		t.Fatal(err)
	}
	applyAll(ctx, t, applyOrder(objs), false)
	if t.Failed() {
		t.FailNow()
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for ref, err := range waitWorkloadsReady(wctx, set.Workloads()) {
		t.Fatalf("metrics-server %s: %v", ref, err)
	}
	if err := eventually(wctx, func(ctx context.Context) error { return apiServiceAvailable(ctx, "v1beta1.metrics.k8s.io") }); err != nil {
		t.Fatalf("metrics-server: %v", err)
	}
}

// applyOrder sorts objects as `kubectl apply -k` sends them (kustomize's
// legacy order): namespaces and CRDs first, then everything a pod may
// reference (ServiceAccounts, RBAC, ConfigMaps, Secrets, Services,
// LimitRanges, quotas, claims), then the workloads, then what refers to
// workloads (HPAs, PDBs) and the aggregation layer's APIServices. The node
// agent resolves a Service name in a container's env only if the Service
// exists when the container starts (docs/node-agent.md), as a program
// resolving DNS at start-up would.
func applyOrder(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	rank := func(u *unstructured.Unstructured) int {
		switch u.GetKind() {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		case "ResourceQuota", "LimitRange", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
			"ConfigMap", "Secret", "Service", "PersistentVolumeClaim", "PriorityClass":
			return 2
		case "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod":
			return 3
		}
		return 4
	}
	out := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// deleteRendered removes from the cluster every object that any
// environment renders, except Namespaces and CRDs, and waits until each is
// gone: a cluster "without VoiceAssist" for scenarios that start from one,
// whatever ran before them.
func deleteRendered(ctx context.Context, t *testing.T) {
	t.Helper()
	deleteRenderedExcept(ctx, t, "")
}

// deleteRenderedExcept is deleteRendered keeping the objects env renders
// (by kind, namespace and name; "" keeps none): for a scenario that starts
// from env set up by vactl, whose setup then takes over what an earlier
// scenario left of env (server-side apply as vactl, adopted into the
// inventory) instead of waiting for every pod to start again. Objects of
// the other environments are gone, so nothing but env's is there.
func deleteRenderedExcept(ctx context.Context, t *testing.T, env string) {
	t.Helper()
	keep := map[string]bool{}
	if env != "" {
		for _, u := range renderEnv(t, env).objs {
			keep[ref(u)] = true
		}
	}
	seen := map[string]*unstructured.Unstructured{}
	var order []string
	for _, env := range render.Envs {
		for _, u := range renderEnv(t, env).objs {
			if k := u.GetKind(); k == "Namespace" || k == "CustomResourceDefinition" || keep[ref(u)] {
				continue
			}
			if _, ok := seen[ref(u)]; !ok {
				seen[ref(u)] = u
				order = append(order, ref(u))
			}
		}
	}
	bg := metav1.DeletePropagationBackground
	for _, k := range order {
		u := seen[k]
		ri, err := resourceFor(u)
		if meta.IsNoMatchError(err) {
			continue // its CRD is not installed: nothing of the kind exists
		}
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		err = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete %s: %v", k, err)
		}
	}
	err := eventually(ctx, func(ctx context.Context) error {
		for _, k := range order {
			got, err := get(ctx, seen[k])
			if meta.IsNoMatchError(err) {
				continue
			}
			if err != nil {
				return err
			}
			if got != nil {
				return fmt.Errorf("%s still exists", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("deleting the rendered objects: %v", err)
	}
}
