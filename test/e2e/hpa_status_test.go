//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHPAStatus applies the dev overlay as it is and checks what the
// README's monitoring step checks by eye (`kubectl get hpa`: no
// <unknown>): for both HPAs, status.currentMetrics has a value for every
// metric of the spec, in the spec's order and of its type: CPU and memory
// utilization from metrics-server, the gateway's http_requests_per_second
// (Pods) and the worker's queue depth and oldest-job age (External) from
// Prometheus through the metrics provider and our Prometheus Adapter
// rules; AbleToScale and ScalingActive are True.
func TestHPAStatus(t *testing.T) {
	ctx := scenario(t, 6*time.Minute)
	r := renderEnv(t, "dev")
	deploy(ctx, t, r.objs, r.set)
	for _, want := range r.set.HPAs {
		t.Run(want.Name, func(t *testing.T) {
			// Prometheus scrapes every 15 s and the request rate is a
			// rate() over 2 minutes (two samples needed); the HPA syncs
			// every 15 s.
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			var h *autoscalingv2.HorizontalPodAutoscaler
			err := eventually(ctx, func(ctx context.Context) error {
				var err error
				if h, err = cs.AutoscalingV2().HorizontalPodAutoscalers(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
					return err
				}
				if u := unknownMetrics(h); len(u) > 0 {
					return fmt.Errorf("<unknown>: %v; %s; conditions: %s", u, describeCurrentMetrics(h), describeConditions(h))
				}
				for _, c := range []autoscalingv2.HorizontalPodAutoscalerConditionType{autoscalingv2.AbleToScale, autoscalingv2.ScalingActive} {
					if cond := hpaCondition(h, c); cond == nil || cond.Status != corev1.ConditionTrue {
						return fmt.Errorf("%s not True: %s", c, describeConditions(h))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("HPA %s: %v", want.Name, err)
			}
			if len(h.Status.CurrentMetrics) != len(h.Spec.Metrics) {
				t.Errorf("%d current metrics for %d spec metrics", len(h.Status.CurrentMetrics), len(h.Spec.Metrics))
			}
			for i, m := range h.Spec.Metrics {
				if i < len(h.Status.CurrentMetrics) && h.Status.CurrentMetrics[i].Type != m.Type {
					t.Errorf("metric %d: spec %s, status %s", i, m.Type, h.Status.CurrentMetrics[i].Type)
				}
			}
			t.Logf("HPA %s: %s (replicas %d); %s", h.Name, describeCurrentMetrics(h), h.Status.CurrentReplicas, describeConditions(h))
		})
	}
}
