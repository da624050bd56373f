package hpa

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// API defaults of pkg/apis/autoscaling/v2/defaults.go (v1.34).
const (
	DefaultScaleUpLimitPercent         int32 = 100
	DefaultScaleUpLimitMinimumPods     int32 = 4
	DefaultScaleUpPeriodSeconds        int32 = 15
	DefaultScaleUpStabilizationSeconds int32 = 0
	DefaultScaleDownLimitPercent       int32 = 100
	DefaultScaleDownPeriodSeconds      int32 = 15
)

// Read-only default policy lists; resolved rules point at them without copying.
var (
	defaultScaleUpPolicies = []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: DefaultScaleUpLimitMinimumPods, PeriodSeconds: DefaultScaleUpPeriodSeconds},
		{Type: autoscalingv2.PercentScalingPolicy, Value: DefaultScaleUpLimitPercent, PeriodSeconds: DefaultScaleUpPeriodSeconds},
	}
	defaultScaleDownPolicies = []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PercentScalingPolicy, Value: DefaultScaleDownLimitPercent, PeriodSeconds: DefaultScaleDownPeriodSeconds},
	}
)

func ptrTo[T any](v T) *T { return &v }

func copyPolicies(p []autoscalingv2.HPAScalingPolicy) []autoscalingv2.HPAScalingPolicy {
	return append([]autoscalingv2.HPAScalingPolicy(nil), p...)
}

// GenerateScaleUpRules mirrors GenerateHPAScaleUpRules: every unset field of
// rules is filled from the scale-up default (window 0, selectPolicy Max,
// policies [Pods 4 per 15 s, Percent 100 per 15 s]). rules is not modified;
// set fields are shared with the result, like upstream.
func GenerateScaleUpRules(rules *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	to := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptrTo(DefaultScaleUpStabilizationSeconds),
		SelectPolicy:               ptrTo(autoscalingv2.MaxChangePolicySelect),
		Policies:                   copyPolicies(defaultScaleUpPolicies),
	}
	return copyScalingRules(rules, to)
}

// GenerateScaleDownRules mirrors GenerateHPAScaleDownRules: selectPolicy Max,
// policies [Percent 100 per 15 s]. The stabilization window stays nil when
// unset: the controller fills it from its --horizontal-pod-autoscaler-
// downscale-stabilization flag (300 s by default) at every sync.
func GenerateScaleDownRules(rules *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	to := &autoscalingv2.HPAScalingRules{
		SelectPolicy: ptrTo(autoscalingv2.MaxChangePolicySelect),
		Policies:     copyPolicies(defaultScaleDownPolicies),
	}
	return copyScalingRules(rules, to)
}

// copyScalingRules mirrors copyHPAScalingRules.
func copyScalingRules(from, to *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if from == nil {
		return to
	}
	if from.SelectPolicy != nil {
		to.SelectPolicy = from.SelectPolicy
	}
	if from.StabilizationWindowSeconds != nil {
		to.StabilizationWindowSeconds = from.StabilizationWindowSeconds
	}
	if from.Policies != nil {
		to.Policies = from.Policies
	}
	if from.Tolerance != nil {
		to.Tolerance = from.Tolerance
	}
	return to
}

// DefaultBehavior mirrors SetDefaults_HorizontalPodAutoscalerBehavior: a nil
// behavior stays nil (the HPA uses the legacy no-behavior path); otherwise
// both directions are filled with GenerateScaleUpRules/GenerateScaleDownRules.
// The argument is not modified.
func DefaultBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	if b == nil {
		return nil
	}
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   GenerateScaleUpRules(b.ScaleUp),
		ScaleDown: GenerateScaleDownRules(b.ScaleDown),
	}
}

// SetDefaults mirrors SetDefaults_HorizontalPodAutoscaler, in place:
// minReplicas 1, a CPU 80% utilization metric when none is listed, and
// DefaultBehavior.
func SetDefaults(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	if hpa.Spec.MinReplicas == nil {
		hpa.Spec.MinReplicas = ptrTo(MinReplicas(hpa))
	}
	if len(hpa.Spec.Metrics) == 0 {
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: ptrTo(DefaultCPUUtilization),
				},
			},
		}}
	}
	hpa.Spec.Behavior = DefaultBehavior(hpa.Spec.Behavior)
}

// ScalingRules is one direction of an HPA's behavior with every default
// resolved, as the controller applies it at a sync. Policies point at the
// spec's slice or at read-only defaults: do not modify them.
type ScalingRules struct {
	WindowSeconds int32
	SelectPolicy  autoscalingv2.ScalingPolicySelect
	Policies      []autoscalingv2.HPAScalingPolicy
}

func resolveRules(r *autoscalingv2.HPAScalingRules, defaultWindow int32, defaultPolicies []autoscalingv2.HPAScalingPolicy) ScalingRules {
	out := ScalingRules{WindowSeconds: defaultWindow, SelectPolicy: autoscalingv2.MaxChangePolicySelect, Policies: defaultPolicies}
	if r == nil {
		return out
	}
	if r.StabilizationWindowSeconds != nil {
		out.WindowSeconds = *r.StabilizationWindowSeconds
	}
	if r.SelectPolicy != nil {
		out.SelectPolicy = *r.SelectPolicy
	}
	if r.Policies != nil {
		out.Policies = r.Policies
	}
	return out
}

// longestPeriod mirrors getLongestPolicyPeriod.
func (r *ScalingRules) longestPeriod() int32 {
	var longest int32
	for _, p := range r.Policies {
		if p.PeriodSeconds > longest {
			longest = p.PeriodSeconds
		}
	}
	return longest
}

// MinReplicas is spec.minReplicas with the API default (1) applied.
func MinReplicas(hpa *autoscalingv2.HorizontalPodAutoscaler) int32 {
	if hpa.Spec.MinReplicas == nil {
		return 1
	}
	return *hpa.Spec.MinReplicas
}
