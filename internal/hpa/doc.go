// Package hpa is a deterministic, dependency-light port of the Kubernetes
// HorizontalPodAutoscaler decision, as implemented by k8s.io/kubernetes v1.34.4
// in pkg/controller/podautoscaler. It has no informers, listers, clients or
// clocks: every input (pods, metric samples, the current time, the per-HPA
// memory kept between syncs) is passed in explicitly, so the same inputs always
// give the same decision. It is meant for simulators and linters that must
// agree with what a real cluster would do.
//
// What mirrors what upstream (file: function):
//
//   - [Calculator.ResourceReplicas]: replica_calculator.go GetResourceReplicas
//     (Resource / ContainerResource metric, Utilization target), using
//     metrics/utilization.go GetResourceUtilizationRatio.
//   - [Calculator.RawResourceReplicas]: GetRawResourceReplicas (Resource metric,
//     AverageValue target) via calcPlainMetricReplicas.
//   - [Calculator.PodsMetricReplicas]: GetMetricReplicas (Pods metric,
//     AverageValue target) via calcPlainMetricReplicas and
//     metrics/utilization.go GetMetricUsageRatio.
//   - [Calculator.ObjectMetricReplicas]: GetObjectMetricReplicas and
//     getUsageRatioReplicaCount (Object metric, Value target).
//   - [Calculator.ObjectPerPodMetricReplicas]: GetObjectPerPodMetricReplicas
//     (Object metric, AverageValue target).
//   - [Calculator.ExternalMetricReplicas]: GetExternalMetricReplicas
//     (External metric, Value target).
//   - [Calculator.ExternalPerPodMetricReplicas]: GetExternalPerPodMetricReplicas
//     (External metric, AverageValue target).
//   - [ErrNoExternalMetrics], [ErrNoCustomMetrics], [ErrNoResourceMetrics]:
//     the empty-list errors of metrics/client.go (GetExternalMetric,
//     GetRawMetric, GetResourceMetric). An External metric whose API answers
//     with no series for the selector fails (FailedGetExternalMetric), so with
//     the partial-failure rule of computeReplicasForMetrics the HPA does not
//     scale down; it is never read as zero.
//   - [Calculator.GroupPods]: groupPods (ready / unready / missing / ignored pods, the CPU
//     initialization period and the initial readiness delay).
//   - [PodRequest]: calculateRequests, calculatePodLevelRequests and
//     calculatePodRequestsFromContainers ("missing request for cpu ...").
//   - [Controller.ComputeReplicasForMetric]: horizontal.go computeReplicasForMetric
//     and the computeStatusFor*Metric functions (which calculator a MetricSpec
//     uses, spec vs. status replicas, condition reasons such as
//     FailedGetResourceMetric).
//   - [Controller.Decide]: horizontal.go reconcileAutoscaler from the moment the
//     scale has been read: computeReplicasForMetrics (max over metrics and the
//     partial-failure rule), the min/max/zero pre-checks, normalizeDesiredReplicas
//     with stabilizeRecommendation and convertDesiredReplicasWithRules (no
//     behavior), normalizeDesiredReplicasWithBehaviors with
//     stabilizeRecommendationWithBehaviors and convertDesiredReplicasWithBehaviorRate
//     (behavior), and storeScaleEvent.
//   - [State]: the controller's recommendations / scaleUpEvents / scaleDownEvents
//     maps, for one HPA.
//   - [Controller.Tolerances]: tolerancesForHpa (HPAConfigurableTolerance).
//   - [Controller.BehaviorRules]: the per-direction rules the controller applies
//     ([ScalingRules]): defaults.go GenerateHPAScaleUpRules and
//     GenerateHPAScaleDownRules plus horizontal.go
//     maybeInitScaleDownStabilizationWindow (an unset scale-down window is the
//     controller's --horizontal-pod-autoscaler-downscale-stabilization).
//   - [ScaleUpPolicyLimit], [ScaleDownPolicyLimit]: the per-policy step (the
//     limit from the replica count at the start of the period, with upstream's
//     rounding) of horizontal.go calculateScaleUpLimitWithScalingRules and
//     calculateScaleDownLimitWithBehaviors, which Decide uses too.
//   - [DefaultBehavior], [GenerateScaleUpRules], [GenerateScaleDownRules],
//     [SetDefaults], [MinReplicas]: pkg/apis/autoscaling/v2/defaults.go.
//
// Quantities are int64 milli-units throughout (resource.Quantity.MilliValue()),
// as upstream uses them.
//
// Time: every function takes now explicitly. [Pod].StartTime zero means
// "status.startTime not set". [State] must be kept per HPA and passed to every
// [Controller.Decide] call, in time order; Decide assumes the scale update it
// asks for succeeds and records the scale event.
//
// Not ported (client-side or reporting concerns): reading/updating the scale
// subresource and its conflict retries, selector validation and the
// ambiguous-selector condition, events, controller metrics (monitor),
// LastScaleTime and the metric status values written to the HPA status, metric
// timestamps. Feature gates are fixed to their v1.34 defaults except
// HPAConfigurableTolerance, which is [Controller].ConfigurableTolerance (off by
// default, as in v1.34). See docs/hpa.md.
package hpa
