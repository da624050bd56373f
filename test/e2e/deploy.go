//go:build e2e

package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voiceassist/autoscaling/internal/kube"
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
