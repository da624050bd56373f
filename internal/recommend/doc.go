// Package recommend right-sizes container requests and limits the way the
// Kubernetes Vertical Pod Autoscaler's recommender does, by running its own
// code (k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender: decaying
// histograms, percentile estimators, safety margin, pod minimums, OOM bump,
// confidence-scaled bounds) over usage history from a Source, then fitting
// the result into an environment's rules: limits inside the limit/request
// band, the namespace's LimitRange and its ResourceQuota at the HPAs' maxima.
//
// It also computes krr's "simple" strategy on the same samples, so the two
// can be compared (docs/recommend.md), and writes the result as JSON 6902
// patches for the environment's kustomize overlay.
package recommend
