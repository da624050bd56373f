//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// TestPDBEviction asks the Eviction API (what `kubectl drain` uses) to
// evict pods protected by the PodDisruptionBudgets, with the real
// disruption controller computing the budgets from the pods the node runs:
//
//   - voiceassist-postgres-0 and voiceassist-redis-0: refused with 429
//     TooManyRequests (minAvailable 1 = replicas: a database pod is never
//     evicted voluntarily, README "Draining a node that runs a database");
//   - with 2 gateway replicas (HPA minReplicas raised to 2 for the test),
//     under dev's PDB (maxUnavailable 1) and then under the base's, staging's
//     and prod's (minAvailable 1, applied over it by server-side apply as
//     vactl would): one gateway pod is evicted (201), and a second eviction
//     right after it, while the replacement is not Ready, is refused (429).
func TestPDBEviction(t *testing.T) {
	ctx := scenario(t, 6*time.Minute)
	r := renderEnv(t, "dev")
	gwHPA := findObj(t, r.objs, "HorizontalPodAutoscaler", "voiceassist", "voiceassist-server-hpa")
	must(t, unstructured.SetNestedField(gwHPA.Object, int64(2), "spec", "minReplicas"))
	deploy(ctx, t, r.objs, r.set)
	setReplicas(ctx, t, r, "voiceassist-server", 2)

	for _, db := range []string{"voiceassist-postgres", "voiceassist-redis"} {
		t.Run(db+" refused", func(t *testing.T) {
			waitPDB(ctx, t, db+"-pdb", func(p *policyv1.PodDisruptionBudget) error {
				if p.Status.CurrentHealthy != 1 || p.Status.DisruptionsAllowed != 0 {
					return fmt.Errorf("currentHealthy %d disruptionsAllowed %d, want 1 and 0", p.Status.CurrentHealthy, p.Status.DisruptionsAllowed)
				}
				return nil
			})
			err := evict(ctx, db+"-0")
			if !apierrors.IsTooManyRequests(err) {
				t.Fatalf("evict %s-0: want 429 TooManyRequests, got %v", db, err)
			}
			t.Logf("evict %s-0: refused as expected: %v", db, err)
			p, err := cs.CoreV1().Pods("voiceassist").Get(ctx, db+"-0", metav1.GetOptions{})
			if err != nil || p.DeletionTimestamp != nil {
				t.Errorf("%s-0 after the refused eviction: err %v, deletionTimestamp %v", db, err, p.DeletionTimestamp)
			}
		})
	}

	gateway := func(t *testing.T, pdb string) {
		w, _ := r.set.Workload("Deployment", "voiceassist", "voiceassist-server")
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := waitWorkloadReady(wctx, w); err != nil {
			t.Fatalf("gateway not at 2 Ready pods: %v", err)
		}
		waitPDB(ctx, t, "voiceassist-server-pdb", func(p *policyv1.PodDisruptionBudget) error {
			if p.Status.CurrentHealthy != 2 || p.Status.DisruptionsAllowed != 1 {
				return fmt.Errorf("currentHealthy %d disruptionsAllowed %d, want 2 and 1", p.Status.CurrentHealthy, p.Status.DisruptionsAllowed)
			}
			return nil
		})
		pods, err := cs.CoreV1().Pods("voiceassist").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(w.Selector.MatchLabels).String()})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		if len(names) != 2 {
			t.Fatalf("want 2 gateway pods, have %v", names)
		}
		if err := evict(ctx, names[0]); err != nil {
			t.Fatalf("evict %s under %s: want it allowed, got %v", names[0], pdb, err)
		}
		t.Logf("evict %s under %s: allowed", names[0], pdb)
		err = evict(ctx, names[1])
		if !apierrors.IsTooManyRequests(err) {
			t.Fatalf("evict %s right after: want 429 (one pod already disrupted), got %v", names[1], err)
		}
		t.Logf("evict %s right after: refused as expected: %v", names[1], err)
		// The Deployment replaces the evicted pod; the budget recovers.
		if err := waitWorkloadReady(wctx, w); err != nil {
			t.Fatalf("gateway did not get back to 2 Ready pods: %v", err)
		}
	}
	t.Run("gateway under dev's PDB", func(t *testing.T) { gateway(t, "maxUnavailable: 1") })
	t.Run("gateway under prod's PDB", func(t *testing.T) {
		prod := renderEnv(t, "prod")
		pdb := findObj(t, prod.objs, "PodDisruptionBudget", "voiceassist", "voiceassist-server-pdb")
		if _, err := apply(ctx, pdb, false); err != nil {
			t.Fatalf("apply prod's gateway PDB over dev's: %v", err)
		}
		p, err := cs.PolicyV1().PodDisruptionBudgets("voiceassist").Get(ctx, "voiceassist-server-pdb", metav1.GetOptions{})
		if err != nil || p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 1 || p.Spec.MaxUnavailable != nil {
			t.Fatalf("gateway PDB after applying prod's: %+v (err %v), want minAvailable 1 only", p.Spec, err)
		}
		gateway(t, "minAvailable: 1")
	})
}

// evict asks the Eviction API to evict a voiceassist pod.
func evict(ctx context.Context, pod string) error {
	return cs.PolicyV1().Evictions("voiceassist").Evict(ctx, &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "voiceassist"},
	})
}

// waitPDB waits until the disruption controller has observed the PDB's
// current generation and ok accepts its status.
func waitPDB(ctx context.Context, t *testing.T, name string, ok func(*policyv1.PodDisruptionBudget) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := eventually(ctx, func(ctx context.Context) error {
		p, err := cs.PolicyV1().PodDisruptionBudgets("voiceassist").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration < p.Generation {
			return fmt.Errorf("generation %d not observed yet (%d)", p.Generation, p.Status.ObservedGeneration)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == policyv1.DisruptionAllowedCondition && c.Reason == policyv1.SyncFailedReason {
				return fmt.Errorf("%s: %s", c.Reason, c.Message)
			}
		}
		return ok(p)
	})
	if err != nil {
		t.Fatalf("PDB %s: %v", name, err)
	}
}
