//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/voiceassist/autoscaling/internal/kube"
)

// eventually polls f every second until it returns nil or ctx ends, and
// returns f's last error then.
func eventually(ctx context.Context, f func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		last = f(ctx)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// waitWorkloadsReady waits for all workloads at once (waitWorkloadReady)
// and returns the error of each that did not get ready, by Ref.
func waitWorkloadsReady(ctx context.Context, ws []kube.Workload) map[string]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitWorkloadReady(ctx, w); err != nil {
				mu.Lock()
				errs[w.Ref()] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// waitWorkloadReady waits until the live workload has as many pods as its
// spec.replicas (which the HPA may have set), each bound to the node,
// Running and Ready, not terminating.
func waitWorkloadReady(ctx context.Context, w kube.Workload) error {
	sel := labels.SelectorFromSet(w.Selector.MatchLabels).String()
	return eventually(ctx, func(ctx context.Context) error {
		var want int32
		switch w.Kind {
		case "Deployment":
			d, err := cs.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			want = ptr.Deref(d.Spec.Replicas, 1)
			if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.Replicas != want {
				return fmt.Errorf("rollout in progress: generation %d observed %d, replicas %d updated %d of %d",
					d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas, want)
			}
		case "StatefulSet":
			s, err := cs.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			want = ptr.Deref(s.Spec.Replicas, 1)
		default:
			return fmt.Errorf("unknown workload kind %s", w.Kind)
		}
		pods, err := cs.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		var ready int32
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			c := podCondition(&p, corev1.PodReady)
			if p.Spec.NodeName != agent.NodeName || p.Status.Phase != corev1.PodRunning || c == nil || c.Status != corev1.ConditionTrue {
				return fmt.Errorf("pod %s: node %q, phase %s, Ready %v, containers %s; events: %s",
					p.Name, p.Spec.NodeName, p.Status.Phase, condStatus(c), containerStates(&p), events(ctx, w.Namespace, p.Name))
			}
			ready++
		}
		if ready != want {
			return fmt.Errorf("%d pods Ready, spec.replicas %d", ready, want)
		}
		return nil
	})
}

func condStatus(c *corev1.PodCondition) string {
	if c == nil {
		return "none"
	}
	return string(c.Status)
}

func containerStates(p *corev1.Pod) string {
	var out []string
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			out = append(out, fmt.Sprintf("%s waiting %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message))
		case s.State.Terminated != nil:
			out = append(out, fmt.Sprintf("%s terminated %s (%d)", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode))
		case s.State.Running != nil:
			out = append(out, fmt.Sprintf("%s running ready=%v restarts=%d", s.Name, s.Ready, s.RestartCount))
		}
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// apiServiceAvailable is nil when the APIService is Available.
func apiServiceAvailable(ctx context.Context, name string) error {
	u, err := dyn.Resource(apiServiceGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		if m, _ := x.(map[string]any); m["type"] == "Available" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("APIService %s not Available: %v", name, conds)
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
