package cluster

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/engine"
	"sigs.k8s.io/cli-utils/pkg/kstatus/polling/statusreaders"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/voiceassist/autoscaling/internal/kube"
)

var hpaGK = schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}

// hpaStatusReader computes an HPA's readiness, which kstatus does not know
// (it would call every HPA Current at once): Current once the HPA
// controller has read its metrics (ScalingActive=True) and, when strict,
// knows the current value of every metric. An HPA whose metric stays
// <unknown> never scales down (upstream skips a scale-down while any metric
// is invalid), so "applied" is not "working" until then.
type hpaStatusReader struct {
	engine.StatusReader
}

func newHPAStatusReader(mapper meta.RESTMapper, strict bool) engine.StatusReader {
	return hpaStatusReader{statusreaders.NewGenericStatusReader(mapper, func(u *unstructured.Unstructured) (*status.Result, error) {
		return hpaStatus(u, strict)
	})}
}

func (hpaStatusReader) Supports(gk schema.GroupKind) bool { return gk == hpaGK }

func hpaStatus(u *unstructured.Unstructured, strict bool) (*status.Result, error) {
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &h); err != nil {
		return nil, err
	}
	// observedGeneration is optional: kube-controller-manager v1.34 does not
	// set it, so only a present, older one means "not read yet".
	if g := h.Status.ObservedGeneration; g != nil && *g < h.Generation {
		return &status.Result{Status: status.InProgressStatus, Message: "the HPA controller has not read this generation yet"}, nil
	}
	var active *autoscalingv2.HorizontalPodAutoscalerCondition
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == autoscalingv2.ScalingActive {
			active = &h.Status.Conditions[i]
		}
	}
	switch {
	case active == nil:
		return &status.Result{Status: status.InProgressStatus, Message: "no ScalingActive condition yet"}, nil
	case active.Status != "True":
		return &status.Result{Status: status.InProgressStatus, Message: fmt.Sprintf("ScalingActive=%s %s: %s", active.Status, active.Reason, active.Message)}, nil
	}
	if strict {
		if unknown := UnknownMetrics(&h); len(unknown) > 0 {
			return &status.Result{Status: status.InProgressStatus, Message: "metrics <unknown>: " + strings.Join(unknown, ", ")}, nil
		}
	}
	return &status.Result{Status: status.CurrentStatus, Message: "ScalingActive=True, every metric read"}, nil
}

// UnknownMetrics names the metrics of h whose current value the HPA
// controller could not read (what `kubectl get hpa` shows as <unknown>).
func UnknownMetrics(h *autoscalingv2.HorizontalPodAutoscaler) []string {
	var out []string
	for i, m := range h.Spec.Metrics {
		if i >= len(h.Status.CurrentMetrics) || kube.MetricCurrent(h.Status.CurrentMetrics[i]) == nil {
			out = append(out, kube.MetricKey(m))
		}
	}
	return out
}
