package hpa

import (
	"errors"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Condition reasons reported by the controller (horizontal.go).
const (
	ReasonScaleUpStabilized   = "ScaleUpStabilized"
	ReasonScaleDownStabilized = "ScaleDownStabilized"
	ReasonReadyForNewScale    = "ReadyForNewScale"
	ReasonSucceededRescale    = "SucceededRescale"
	ReasonSucceededGetScale   = "SucceededGetScale"
	ReasonScaleUpLimit        = "ScaleUpLimit"
	ReasonScaleDownLimit      = "ScaleDownLimit"
	ReasonTooManyReplicas     = "TooManyReplicas"
	ReasonTooFewReplicas      = "TooFewReplicas"
	ReasonDesiredWithinRange  = "DesiredWithinRange"
	ReasonValidMetricFound    = "ValidMetricFound"
	ReasonScalingDisabled     = "ScalingDisabled"

	ReasonFailedGetResourceMetric          = "FailedGetResourceMetric"
	ReasonFailedGetContainerResourceMetric = "FailedGetContainerResourceMetric"
	ReasonFailedGetPodsMetric              = "FailedGetPodsMetric"
	ReasonFailedGetObjectMetric            = "FailedGetObjectMetric"
	ReasonFailedGetExternalMetric          = "FailedGetExternalMetric"
	ReasonInvalidMetricSourceType          = "InvalidMetricSourceType"
)

// Condition messages used by the controller.
const (
	msgScaleUpStabilized   = "recent recommendations were lower than current one, applying the lowest recent recommendation"
	msgScaleDownStabilized = "recent recommendations were higher than current one, applying the highest recent recommendation"
	msgReadyForNewScale    = "recommended size matches current size"
	msgScaleUpLimit        = "the desired replica count is increasing faster than the maximum scale rate"
	msgScaleDownLimit      = "the desired replica count is decreasing faster than the maximum scale rate"
	msgTooManyReplicas     = "the desired replica count is more than the maximum replica count"
	msgTooFewReplicas      = "the desired replica count is less than the minimum replica count"
	msgDesiredWithinRange  = "the desired count is within the acceptable range"
	msgScalingDisabled     = "scaling is disabled since the replica count of the target is zero"
	msgValidMetricFound    = "the HPA was able to successfully calculate a replica count"
)

// Controller holds the kube-controller-manager settings that shape a decision.
type Controller struct {
	Calculator
	// Tolerance is --horizontal-pod-autoscaler-tolerance.
	Tolerance float64
	// DownscaleStabilizationWindow is
	// --horizontal-pod-autoscaler-downscale-stabilization; it is the window of
	// the no-behavior path and of behavior.scaleDown when its
	// stabilizationWindowSeconds is unset.
	DownscaleStabilizationWindow time.Duration
	// ConfigurableTolerance is the HPAConfigurableTolerance feature gate
	// (alpha and off by default in v1.34, beta from v1.35): when true,
	// behavior.scaleUp/scaleDown.tolerance override Tolerance.
	ConfigurableTolerance bool

	// scaleUpLimitFactor overrides ScaleUpLimitFactor when non-zero; upstream's
	// horizontal_test.go sets the package variable to 8, the ported tests do too.
	scaleUpLimitFactor float64
}

// DefaultController returns a Controller with the kube-controller-manager
// defaults of v1.34.
func DefaultController() *Controller {
	return &Controller{
		Calculator:                   DefaultCalculator(),
		Tolerance:                    DefaultTolerance,
		DownscaleStabilizationWindow: DefaultDownscaleStabilizationWindow,
	}
}

// Tolerances mirrors tolerancesForHpa.
func (c *Controller) Tolerances(hpa *autoscalingv2.HorizontalPodAutoscaler) Tolerances {
	t := Tolerances{c.Tolerance, c.Tolerance}
	b := hpa.Spec.Behavior
	if b == nil || !c.ConfigurableTolerance {
		return t
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.ScaleDown = b.ScaleDown.Tolerance.AsApproximateFloat64()
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.ScaleUp = b.ScaleUp.Tolerance.AsApproximateFloat64()
	}
	return t
}

// Recommendation is one unstabilized recommendation (timestampedRecommendation).
type Recommendation struct {
	Time     time.Time
	Replicas int32
}

// ScaleEvent is one recorded rescale (timestampedScaleEvent). Change is the
// absolute number of replicas added (scale-up) or removed (scale-down).
// Outdated marks a slot older than the longest policy period, to be reused.
type ScaleEvent struct {
	Time     time.Time
	Change   int32
	Outdated bool
}

// State is the controller's memory for one HPA between syncs: its entries in
// the recommendations, scaleUpEvents and scaleDownEvents maps. The zero value
// is a freshly started controller. Decide updates it in place.
type State struct {
	Recommendations []Recommendation
	ScaleUpEvents   []ScaleEvent
	ScaleDownEvents []ScaleEvent
}

// MetricProposal is the outcome of one metric at one sync
// (computeReplicasForMetric).
type MetricProposal struct {
	// Metric names the metric, e.g. "cpu resource utilization (percentage of request)".
	Metric string
	// Replicas is the proposed replica count; ignored when Err is set.
	Replicas int32
	// Err is set when the metric could not be computed.
	Err error
	// Reason is the ScalingActive reason for a failure, e.g. FailedGetResourceMetric.
	Reason string
}

// Condition is the state of one HPA status condition after the decision.
// Set is false when the controller did not touch that condition this sync.
type Condition struct {
	Set     bool
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

// Decision is the result of one sync.
type Decision struct {
	// Current is the scale's spec.replicas at the sync.
	Current int32
	// Desired is the replica count the HPA sets (== Current when Rescale is false).
	Desired int32
	// Rescale is true when the controller updates the scale subresource.
	Rescale bool
	// Proposed is the max over metric proposals before normalization; -1 when
	// the metrics did not allow a decision; 0 when the metrics were not read.
	Proposed int32
	// Metric names the metric that gave Proposed.
	Metric string
	// Stabilized is the recommendation after the stabilization window.
	Stabilized int32
	// Reason summarises the decision: the ScalingLimited reason when a limit
	// applied (ScaleUpLimit, ScaleDownLimit, TooManyReplicas, TooFewReplicas),
	// else ScaleUpStabilized / ScaleDownStabilized when stabilization changed
	// the recommendation, else DesiredWithinRange; or ScalingDisabled, or the
	// metric failure reason, or TooManyReplicas/TooFewReplicas for the
	// out-of-range pre-checks.
	Reason  string
	Message string
	// RescaleReason is the text of the SuccessfulRescale event.
	RescaleReason string
	// The three HPA conditions as the controller leaves them.
	AbleToScale, ScalingActive, ScalingLimited Condition
	// Err reports invalid metrics. With Proposed == -1 nothing was scaled;
	// otherwise the HPA scaled (up) on the valid metrics and upstream returns
	// this error from the sync.
	Err error
}

// Decide runs one HPA sync, given the proposals of all its metrics (one per
// spec.metrics entry, in order), the scale's current spec.replicas and the
// time. It mirrors reconcileAutoscaler after the scale has been read, and
// assumes the scale update succeeds: the scale event is recorded in st.
// hpa.Spec.Behavior may be partially set; unset fields take the API defaults
// (DefaultBehavior), without modifying hpa.
func (c *Controller) Decide(hpa *autoscalingv2.HorizontalPodAutoscaler, currentReplicas int32, proposals []MetricProposal, now time.Time, st *State) Decision {
	// recordInitialRecommendation
	if st.Recommendations == nil {
		st.Recommendations = append(make([]Recommendation, 0, 24), Recommendation{now, currentReplicas})
	}
	d := Decision{Current: currentReplicas}
	d.AbleToScale = Condition{true, corev1.ConditionTrue, ReasonSucceededGetScale, "the HPA controller was able to get the target's current scale"}

	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	maxReplicas := hpa.Spec.MaxReplicas
	desired := int32(0)
	rescale := true

	switch {
	case currentReplicas == 0 && minReplicas != 0:
		// autoscaling is disabled for this resource
		rescale = false
		d.ScalingActive = Condition{true, corev1.ConditionFalse, ReasonScalingDisabled, msgScalingDisabled}
		d.Reason, d.Message = ReasonScalingDisabled, msgScalingDisabled
	case currentReplicas > maxReplicas:
		d.RescaleReason = "Current number of replicas above Spec.MaxReplicas"
		desired = maxReplicas
		d.Reason, d.Message = ReasonTooManyReplicas, d.RescaleReason
	case currentReplicas < minReplicas:
		d.RescaleReason = "Current number of replicas below Spec.MinReplicas"
		desired = minReplicas
		d.Reason, d.Message = ReasonTooFewReplicas, d.RescaleReason
	default:
		metricDesired, metric, err, failed := combineProposals(proposals, currentReplicas)
		d.Proposed, d.Metric, d.Err = metricDesired, metric, err
		if failed.Err != nil || metricDesired == -1 {
			// all metrics invalid, or some invalid and the rest would scale down
			d.ScalingActive = Condition{true, corev1.ConditionFalse, failed.Reason, "the HPA was unable to compute the replica count: " + errString(failed.Err)}
			d.Reason, d.Message = failed.Reason, d.ScalingActive.Message
			d.Desired = currentReplicas
			d.Stabilized = currentReplicas
			return d
		}
		d.ScalingActive = Condition{true, corev1.ConditionTrue, ReasonValidMetricFound, msgValidMetricFound}
		rescaleMetric := ""
		if metricDesired > desired {
			desired = metricDesired
			rescaleMetric = metric
		}
		if desired > currentReplicas {
			d.RescaleReason = rescaleMetric + " above target"
		}
		if desired < currentReplicas {
			d.RescaleReason = "All metrics below target"
		}
		if hpa.Spec.Behavior == nil {
			desired = c.normalizeDesiredReplicas(&d, hpa, st, currentReplicas, desired, minReplicas, now)
		} else {
			desired = c.normalizeDesiredReplicasWithBehaviors(&d, hpa, st, currentReplicas, desired, minReplicas, now)
		}
		rescale = desired != currentReplicas
	}

	if rescale {
		d.AbleToScale = Condition{true, corev1.ConditionTrue, ReasonSucceededRescale, "the HPA controller was able to update the target scale"}
		c.storeScaleEvent(hpa.Spec.Behavior, st, currentReplicas, desired, now)
		d.Desired = desired
	} else {
		d.Desired = currentReplicas
	}
	d.Rescale = rescale
	return d
}

// Decide runs Controller.Decide with DefaultController settings.
func Decide(hpa *autoscalingv2.HorizontalPodAutoscaler, currentReplicas int32, proposals []MetricProposal, now time.Time, st *State) Decision {
	c := Controller{
		Calculator:                   DefaultCalculator(),
		Tolerance:                    DefaultTolerance,
		DownscaleStabilizationWindow: DefaultDownscaleStabilizationWindow,
	}
	return c.Decide(hpa, currentReplicas, proposals, now, st)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errNoMetrics is reported for an HPA without any metric proposal.
var errNoMetrics = errors.New("no metrics to compute a replica count from")

// combineProposals mirrors computeReplicasForMetrics after each metric has
// been computed: the max proposal wins; if every metric failed, or some failed
// and the max is below the current replicas, the result is -1 and failed holds
// the first failure. Otherwise err (if any) reports the invalid metrics while
// scaling proceeds.
func combineProposals(proposals []MetricProposal, specReplicas int32) (replicas int32, metric string, err error, failed MetricProposal) {
	if len(proposals) == 0 {
		// Upstream never sees this (the API defaults a CPU metric).
		return -1, "", errNoMetrics, MetricProposal{Err: errNoMetrics, Reason: ReasonInvalidMetricSourceType}
	}
	invalid := 0
	var first MetricProposal
	for i := range proposals {
		p := &proposals[i]
		if p.Err != nil {
			if invalid == 0 {
				first = *p
			}
			invalid++
			continue
		}
		if replicas == 0 || p.Replicas > replicas {
			replicas = p.Replicas
			metric = p.Metric
		}
	}
	if invalid > 0 {
		err = fmt.Errorf("invalid metrics (%v invalid out of %v), first error is: %v", invalid, len(proposals), first.Err)
	}
	if invalid >= len(proposals) || (invalid > 0 && replicas < specReplicas) {
		return -1, "", err, first
	}
	return replicas, metric, err, MetricProposal{}
}

// stabilizeRecommendation mirrors the no-behavior stabilizeRecommendation:
// it stores the new recommendation (reusing one slot older than the window)
// and returns the max over the window.
func (c *Controller) stabilizeRecommendation(st *State, prenormalized int32, now time.Time) int32 {
	maxRecommendation := prenormalized
	foundOld := false
	oldIndex := 0
	cutoff := now.Add(-c.DownscaleStabilizationWindow)
	for i, rec := range st.Recommendations {
		if rec.Time.Before(cutoff) {
			foundOld = true
			oldIndex = i
		} else if rec.Replicas > maxRecommendation {
			maxRecommendation = rec.Replicas
		}
	}
	if foundOld {
		st.Recommendations[oldIndex] = Recommendation{now, prenormalized}
	} else {
		st.Recommendations = append(st.Recommendations, Recommendation{now, prenormalized})
	}
	return maxRecommendation
}

func (c *Controller) upLimitFactor() float64 {
	if c.scaleUpLimitFactor != 0 {
		return c.scaleUpLimitFactor
	}
	return ScaleUpLimitFactor
}

// normalizeDesiredReplicas mirrors the no-behavior normalizeDesiredReplicas.
func (c *Controller) normalizeDesiredReplicas(d *Decision, hpa *autoscalingv2.HorizontalPodAutoscaler, st *State, current, prenormalized, minReplicas int32, now time.Time) int32 {
	stabilized := c.stabilizeRecommendation(st, prenormalized, now)
	d.Stabilized = stabilized
	stabReason, stabMsg := ReasonReadyForNewScale, msgReadyForNewScale
	if stabilized != prenormalized {
		stabReason, stabMsg = ReasonScaleDownStabilized, msgScaleDownStabilized
	}
	d.AbleToScale = Condition{true, corev1.ConditionTrue, stabReason, stabMsg}
	desired, reason, message := convertDesiredReplicasWithRules(current, stabilized, minReplicas, hpa.Spec.MaxReplicas, c.upLimitFactor())
	d.ScalingLimited = Condition{true, corev1.ConditionFalse, reason, message}
	if desired != stabilized {
		d.ScalingLimited.Status = corev1.ConditionTrue
	}
	d.setSummary(stabReason, stabMsg)
	return desired
}

func (d *Decision) setSummary(stabReason, stabMsg string) {
	switch {
	case d.ScalingLimited.Status == corev1.ConditionTrue:
		d.Reason, d.Message = d.ScalingLimited.Reason, d.ScalingLimited.Message
	case stabReason != ReasonReadyForNewScale:
		d.Reason, d.Message = stabReason, stabMsg
	default:
		d.Reason, d.Message = ReasonDesiredWithinRange, msgDesiredWithinRange
	}
}

// CalculateScaleUpLimit is the no-behavior scale-up cap max(2*current, 4).
func CalculateScaleUpLimit(currentReplicas int32) int32 {
	return calculateScaleUpLimit(currentReplicas, ScaleUpLimitFactor)
}

func calculateScaleUpLimit(currentReplicas int32, factor float64) int32 {
	return int32(math.Max(factor*float64(currentReplicas), ScaleUpLimitMinimum))
}

// ConvertDesiredReplicasWithRules mirrors convertDesiredReplicasWithRules:
// clamp to [min, min(max, scaleUpLimit)] and return the ScalingLimited reason
// and message.
func ConvertDesiredReplicasWithRules(currentReplicas, desiredReplicas, hpaMinReplicas, hpaMaxReplicas int32) (int32, string, string) {
	return convertDesiredReplicasWithRules(currentReplicas, desiredReplicas, hpaMinReplicas, hpaMaxReplicas, ScaleUpLimitFactor)
}

func convertDesiredReplicasWithRules(currentReplicas, desiredReplicas, hpaMinReplicas, hpaMaxReplicas int32, factor float64) (int32, string, string) {
	minimumAllowed := hpaMinReplicas
	var maximumAllowed int32
	var reason, message string
	scaleUpLimit := calculateScaleUpLimit(currentReplicas, factor)
	if hpaMaxReplicas > scaleUpLimit {
		maximumAllowed = scaleUpLimit
		reason, message = ReasonScaleUpLimit, msgScaleUpLimit
	} else {
		maximumAllowed = hpaMaxReplicas
		reason, message = ReasonTooManyReplicas, msgTooManyReplicas
	}
	if desiredReplicas < minimumAllowed {
		return minimumAllowed, ReasonTooFewReplicas, msgTooFewReplicas
	} else if desiredReplicas > maximumAllowed {
		return maximumAllowed, reason, message
	}
	return desiredReplicas, ReasonDesiredWithinRange, msgDesiredWithinRange
}

// BehaviorRules resolves a (possibly partial) behavior like the API server
// defaulting (GenerateHPAScaleUpRules, GenerateHPAScaleDownRules) plus the
// controller's maybeInitScaleDownStabilizationWindow: an unset scale-down
// window is c.DownscaleStabilizationWindow. A nil behavior resolves as if
// it were empty; the controller then takes the no-behavior path, which has
// no policies but the same scale-down window.
func (c *Controller) BehaviorRules(b *autoscalingv2.HorizontalPodAutoscalerBehavior) (up, down ScalingRules) {
	var upSpec, downSpec *autoscalingv2.HPAScalingRules
	if b != nil {
		upSpec, downSpec = b.ScaleUp, b.ScaleDown
	}
	up = resolveRules(upSpec, DefaultScaleUpStabilizationSeconds, defaultScaleUpPolicies)
	down = resolveRules(downSpec, int32(c.DownscaleStabilizationWindow.Seconds()), defaultScaleDownPolicies)
	return up, down
}

// normalizeDesiredReplicasWithBehaviors mirrors the upstream function of the
// same name.
func (c *Controller) normalizeDesiredReplicasWithBehaviors(d *Decision, hpa *autoscalingv2.HorizontalPodAutoscaler, st *State, current, prenormalized, minReplicas int32, now time.Time) int32 {
	up, down := c.BehaviorRules(hpa.Spec.Behavior)
	stabilized, reason, message := stabilizeRecommendationWithBehaviors(st, current, prenormalized, up.WindowSeconds, down.WindowSeconds, now)
	d.Stabilized = stabilized
	stabReason, stabMsg := ReasonReadyForNewScale, msgReadyForNewScale
	if stabilized != prenormalized {
		stabReason, stabMsg = reason, message
	}
	d.AbleToScale = Condition{true, corev1.ConditionTrue, stabReason, stabMsg}
	desired, reason, message := convertDesiredReplicasWithBehaviorRate(st, current, stabilized, minReplicas, hpa.Spec.MaxReplicas, &up, &down, now)
	d.ScalingLimited = Condition{true, corev1.ConditionFalse, reason, message}
	if desired != stabilized {
		d.ScalingLimited.Status = corev1.ConditionTrue
	}
	d.setSummary(stabReason, stabMsg)
	return desired
}

// stabilizeRecommendationWithBehaviors mirrors the upstream function: the
// scale-up window yields the min of its recommendations, the scale-down
// window the max of its; the result is min(max(current, upMin), downMax).
// The new recommendation replaces one slot older than both windows, or is
// appended.
func stabilizeRecommendationWithBehaviors(st *State, current, desired int32, upWindowSeconds, downWindowSeconds int32, now time.Time) (int32, string, string) {
	foundOld := false
	oldIndex := 0
	upRecommendation := desired
	upCutoff := now.Add(-time.Second * time.Duration(upWindowSeconds))
	downRecommendation := desired
	downCutoff := now.Add(-time.Second * time.Duration(downWindowSeconds))
	for i, rec := range st.Recommendations {
		if rec.Time.After(upCutoff) {
			upRecommendation = min(rec.Replicas, upRecommendation)
		}
		if rec.Time.After(downCutoff) {
			downRecommendation = max(rec.Replicas, downRecommendation)
		}
		if rec.Time.Before(upCutoff) && rec.Time.Before(downCutoff) {
			foundOld = true
			oldIndex = i
		}
	}
	recommendation := current
	if recommendation < upRecommendation {
		recommendation = upRecommendation
	}
	if recommendation > downRecommendation {
		recommendation = downRecommendation
	}
	if foundOld {
		st.Recommendations[oldIndex] = Recommendation{now, desired}
	} else {
		st.Recommendations = append(st.Recommendations, Recommendation{now, desired})
	}
	if desired >= current {
		return recommendation, ReasonScaleUpStabilized, msgScaleUpStabilized
	}
	return recommendation, ReasonScaleDownStabilized, msgScaleDownStabilized
}

// convertDesiredReplicasWithBehaviorRate mirrors the upstream function: the
// rate limits of the policies, then [minReplicas, maxReplicas].
func convertDesiredReplicasWithBehaviorRate(st *State, current, desired, minReplicas, maxReplicas int32, up, down *ScalingRules, now time.Time) (int32, string, string) {
	if desired > current {
		scaleUpLimit := calculateScaleUpLimitWithScalingRules(current, st.ScaleUpEvents, st.ScaleDownEvents, up, now)
		if scaleUpLimit < current {
			// no further scale-up until the scale-up events age out
			scaleUpLimit = current
		}
		maximumAllowed := maxReplicas
		reason, message := ReasonTooManyReplicas, msgTooManyReplicas
		if maximumAllowed > scaleUpLimit {
			maximumAllowed = scaleUpLimit
			reason, message = ReasonScaleUpLimit, msgScaleUpLimit
		}
		if desired > maximumAllowed {
			return maximumAllowed, reason, message
		}
	} else if desired < current {
		scaleDownLimit := calculateScaleDownLimitWithBehaviors(current, st.ScaleUpEvents, st.ScaleDownEvents, down, now)
		if scaleDownLimit > current {
			// no further scale-down until the scale-down events age out
			scaleDownLimit = current
		}
		minimumAllowed := minReplicas
		reason, message := ReasonTooFewReplicas, msgTooFewReplicas
		if minimumAllowed < scaleDownLimit {
			minimumAllowed = scaleDownLimit
			reason, message = ReasonScaleDownLimit, msgScaleDownLimit
		}
		if desired < minimumAllowed {
			return minimumAllowed, reason, message
		}
	}
	return desired, ReasonDesiredWithinRange, msgDesiredWithinRange
}

// replicasChangePerPeriod mirrors getReplicasChangePerPeriod: the sum of
// changes of events strictly newer than now-period.
func replicasChangePerPeriod(periodSeconds int32, events []ScaleEvent, now time.Time) int32 {
	cutoff := now.Add(-time.Second * time.Duration(periodSeconds))
	var replicas int32
	for _, e := range events {
		if e.Time.After(cutoff) {
			replicas += e.Change
		}
	}
	return replicas
}

// ScaleUpPolicyLimit is the replica count one scale-up policy allows when its
// period started at periodStart replicas: the per-policy step of
// calculateScaleUpLimitWithScalingRules. Pods adds its value; Percent is
// rounded up, so that a small percentage still adds a pod.
func ScaleUpPolicyLimit(p autoscalingv2.HPAScalingPolicy, periodStart int32) int32 {
	switch p.Type {
	case autoscalingv2.PodsScalingPolicy:
		return periodStart + p.Value
	case autoscalingv2.PercentScalingPolicy:
		return int32(math.Ceil(float64(periodStart) * (1 + float64(p.Value)/100)))
	}
	return 0 // upstream's zero value for an unknown type
}

// ScaleDownPolicyLimit is the replica count one scale-down policy allows
// when its period started at periodStart replicas: the per-policy step of
// calculateScaleDownLimitWithBehaviors. Pods removes its value; Percent is
// truncated toward zero (int32 conversion), as upstream does.
func ScaleDownPolicyLimit(p autoscalingv2.HPAScalingPolicy, periodStart int32) int32 {
	switch p.Type {
	case autoscalingv2.PodsScalingPolicy:
		return periodStart - p.Value
	case autoscalingv2.PercentScalingPolicy:
		return int32(float64(periodStart) * (1 - float64(p.Value)/100))
	}
	return 0
}

// calculateScaleUpLimitWithScalingRules mirrors the upstream function.
func calculateScaleUpLimitWithScalingRules(current int32, upEvents, downEvents []ScaleEvent, r *ScalingRules, now time.Time) int32 {
	var result int32
	var useMin bool
	switch r.SelectPolicy {
	case autoscalingv2.DisabledPolicySelect:
		return current
	case autoscalingv2.MinChangePolicySelect:
		result, useMin = math.MaxInt32, true // the smallest change is the lowest limit
	default:
		result = math.MinInt32
	}
	for _, p := range r.Policies {
		added := replicasChangePerPeriod(p.PeriodSeconds, upEvents, now)
		deleted := replicasChangePerPeriod(p.PeriodSeconds, downEvents, now)
		periodStart := current - added + deleted
		proposed := ScaleUpPolicyLimit(p, periodStart)
		if useMin {
			result = min(result, proposed)
		} else {
			result = max(result, proposed)
		}
	}
	return result
}

// calculateScaleDownLimitWithBehaviors mirrors the upstream function.
func calculateScaleDownLimitWithBehaviors(current int32, upEvents, downEvents []ScaleEvent, r *ScalingRules, now time.Time) int32 {
	var result int32
	var useMax bool
	switch r.SelectPolicy {
	case autoscalingv2.DisabledPolicySelect:
		return current
	case autoscalingv2.MinChangePolicySelect:
		result, useMax = math.MinInt32, true // the smallest change is the highest limit
	default:
		result = math.MaxInt32
	}
	for _, p := range r.Policies {
		added := replicasChangePerPeriod(p.PeriodSeconds, upEvents, now)
		deleted := replicasChangePerPeriod(p.PeriodSeconds, downEvents, now)
		periodStart := current - added + deleted
		proposed := ScaleDownPolicyLimit(p, periodStart)
		if useMax {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// storeScaleEvent mirrors the upstream function: without behavior nothing is
// stored; otherwise events older than the direction's longest policy period
// are marked outdated and the last outdated slot is reused for the new event.
func (c *Controller) storeScaleEvent(b *autoscalingv2.HorizontalPodAutoscalerBehavior, st *State, prev, next int32, now time.Time) {
	if b == nil {
		return
	}
	up, down := c.BehaviorRules(b)
	if next > prev {
		st.ScaleUpEvents = storeEvent(st.ScaleUpEvents, up.longestPeriod(), next-prev, now)
	} else {
		st.ScaleDownEvents = storeEvent(st.ScaleDownEvents, down.longestPeriod(), prev-next, now)
	}
}

func storeEvent(events []ScaleEvent, longestPeriod, change int32, now time.Time) []ScaleEvent {
	cutoff := now.Add(-time.Second * time.Duration(longestPeriod))
	oldIndex := -1
	for i := range events {
		// markScaleEventsOutdated
		if events[i].Time.Before(cutoff) {
			events[i].Outdated = true
		}
		if events[i].Outdated {
			oldIndex = i
		}
	}
	e := ScaleEvent{Time: now, Change: change}
	if oldIndex >= 0 {
		events[oldIndex] = e
		return events
	}
	return append(events, e)
}
