package hpa

import (
	"reflect"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Ported from k8s.io/kubernetes v1.34.4 pkg/apis/autoscaling/v2/defaults_test.go.

func i32(v int32) *int32 { return &v }

type rulesCase struct {
	name                             string
	pods, podsPeriod, pct, pctPeriod int32
	stabilization                    *int32
	selectPolicy                     *autoscalingv2.ScalingPolicySelect
	tolerance                        *resource.Quantity
	wantPolicies                     []autoscalingv2.HPAScalingPolicy
	wantStabilization                *int32
	wantSelect                       autoscalingv2.ScalingPolicySelect
	wantTolerance                    *resource.Quantity
	generate                         func(*autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules
}

func (tc *rulesCase) run(t *testing.T) {
	in := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: tc.stabilization, SelectPolicy: tc.selectPolicy, Tolerance: tc.tolerance}
	if tc.pods != 0 || tc.podsPeriod != 0 {
		in.Policies = append(in.Policies, autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: tc.pods, PeriodSeconds: tc.podsPeriod})
	}
	if tc.pct != 0 || tc.pctPeriod != 0 {
		in.Policies = append(in.Policies, autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: tc.pct, PeriodSeconds: tc.pctPeriod})
	}
	got := tc.generate(in)
	if !reflect.DeepEqual(got.Policies, tc.wantPolicies) {
		t.Errorf("policies = %+v, want %+v", got.Policies, tc.wantPolicies)
	}
	if (got.StabilizationWindowSeconds == nil) != (tc.wantStabilization == nil) ||
		(got.StabilizationWindowSeconds != nil && *got.StabilizationWindowSeconds != *tc.wantStabilization) {
		t.Errorf("stabilization = %v, want %v", got.StabilizationWindowSeconds, tc.wantStabilization)
	}
	if got.SelectPolicy == nil || *got.SelectPolicy != tc.wantSelect {
		t.Errorf("selectPolicy = %v, want %v", got.SelectPolicy, tc.wantSelect)
	}
	if got.Tolerance != tc.wantTolerance {
		t.Errorf("tolerance = %v, want %v", got.Tolerance, tc.wantTolerance)
	}
}

func TestGenerateScaleRules(t *testing.T) {
	maxP := autoscalingv2.MaxChangePolicySelect
	minP := autoscalingv2.MinChangePolicySelect
	pods := func(v, p int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: v, PeriodSeconds: p}
	}
	pct := func(v, p int32) autoscalingv2.HPAScalingPolicy {
		return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: v, PeriodSeconds: p}
	}
	pol := func(p ...autoscalingv2.HPAScalingPolicy) []autoscalingv2.HPAScalingPolicy { return p }
	sampleTolerance := resource.MustParse("0.5")
	down := []rulesCase{
		{name: "Default values", wantPolicies: pol(pct(100, 15)), wantSelect: maxP},
		{name: "All parameters are specified", pods: 1, podsPeriod: 2, pct: 3, pctPeriod: 4, stabilization: i32(25), selectPolicy: &maxP,
			wantPolicies: pol(pods(1, 2), pct(3, 4)), wantStabilization: i32(25), wantSelect: maxP},
		{name: "Percent policy is specified", pct: 1, pctPeriod: 2, selectPolicy: &minP, wantPolicies: pol(pct(1, 2)), wantSelect: minP},
		{name: "Pods policy is specified", pods: 3, podsPeriod: 4, wantPolicies: pol(pods(3, 4)), wantSelect: maxP},
	}
	up := []rulesCase{
		{name: "Default values", wantPolicies: pol(pods(4, 15), pct(100, 15)), wantStabilization: i32(0), wantSelect: maxP},
		{name: "All parameters are specified", pods: 1, podsPeriod: 2, pct: 3, pctPeriod: 4, stabilization: i32(25), selectPolicy: &maxP,
			wantPolicies: pol(pods(1, 2), pct(3, 4)), wantStabilization: i32(25), wantSelect: maxP},
		{name: "Pod policy is specified", pods: 1, podsPeriod: 2, selectPolicy: &minP, wantPolicies: pol(pods(1, 2)), wantStabilization: i32(0), wantSelect: minP},
		{name: "Percent policy is specified", pct: 7, pctPeriod: 10, wantPolicies: pol(pct(7, 10)), wantStabilization: i32(0), wantSelect: maxP},
		{name: "Pod policy and stabilization window are specified", pods: 4, podsPeriod: 2, stabilization: i32(25), wantPolicies: pol(pods(4, 2)), wantStabilization: i32(25), wantSelect: maxP},
		{name: "Percent policy and stabilization window are specified", pct: 7, pctPeriod: 60, stabilization: i32(25), wantPolicies: pol(pct(7, 60)), wantStabilization: i32(25), wantSelect: maxP},
		{name: "Percent policy and tolerance is specified", pct: 7, pctPeriod: 10, tolerance: &sampleTolerance, wantPolicies: pol(pct(7, 10)), wantStabilization: i32(0), wantSelect: maxP, wantTolerance: &sampleTolerance},
	}
	for _, tc := range down {
		tc.generate = GenerateScaleDownRules
		t.Run(tc.name+" (TestGenerateScaleDownRules, defaults_test.go)", tc.run)
	}
	for _, tc := range up {
		tc.generate = GenerateScaleUpRules
		t.Run(tc.name+" (TestGenerateScaleUpRules, defaults_test.go)", tc.run)
	}
}

func TestDefaultBehavior(t *testing.T) {
	sampleTolerance := resource.MustParse("0.5")
	maxP := autoscalingv2.MaxChangePolicySelect
	policies := []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 7, PeriodSeconds: 10}}
	defaultUp := []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	}
	defaultDown := []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
	tests := []struct {
		name     string
		in, want *autoscalingv2.HorizontalPodAutoscalerBehavior
	}{
		{name: "Nil behavior"},
		{name: "Behavior with stabilizationWindowSeconds and tolerance",
			in: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(100), Tolerance: &sampleTolerance}},
			want: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{SelectPolicy: &maxP, Policies: defaultDown},
				ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(100), SelectPolicy: &maxP, Policies: defaultUp, Tolerance: &sampleTolerance},
			}},
		{name: "Behavior with policy, without tolerance",
			in: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{Policies: policies}},
			want: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{SelectPolicy: &maxP, Policies: policies},
				ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(0), SelectPolicy: &maxP, Policies: defaultUp},
			}},
		// TestSetBehaviorDefaultsConfigurableToleranceEnabled: tolerance stays unset.
		{name: "ConfigurableToleranceEnabled: tolerance left unset",
			in: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(100)}},
			want: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{SelectPolicy: &maxP, Policies: defaultDown},
				ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: i32(100), SelectPolicy: &maxP, Policies: defaultUp},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name+" (TestSetBehaviorDefaults, defaults_test.go)", func(t *testing.T) {
			got := DefaultBehavior(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DefaultBehavior = %+v, want %+v", got, tc.want)
			}
		})
	}

	t.Run("SetDefaults fills minReplicas, the CPU 80% metric and behavior", func(t *testing.T) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			MaxReplicas: 5, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{}}}
		SetDefaults(hpa)
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 {
			t.Errorf("minReplicas = %v, want 1", hpa.Spec.MinReplicas)
		}
		if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 {
			t.Errorf("metrics = %+v, want one cpu 80%% metric", hpa.Spec.Metrics)
		}
		if hpa.Spec.Behavior.ScaleUp == nil || hpa.Spec.Behavior.ScaleDown == nil || hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != nil {
			t.Errorf("behavior = %+v", hpa.Spec.Behavior)
		}
	})
}
