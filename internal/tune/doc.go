// Package tune searches the HPA settings of a rendered environment against
// a load history on internal/sim, the simulator that runs the upstream HPA
// algorithm (internal/hpa): per-metric targets, min/max replicas (within
// the ResourceQuota), the scale-up and scale-down policies and their
// stabilization windows. The objectives are SLO-violating seconds and
// pod-hours, each the mean over several seeds; the result is their Pareto
// front, a pick (by preference or budget), the JSON 6902 patch that sets
// it in the environment's overlay, and the pick's figures against the
// current settings, with 95 % intervals over the seeds.
//
// The search (search.go): a seeded Latin-hypercube sample of the settings'
// box, then rounds of local refinement — Gaussian steps, halving each
// round, around the points of the current non-dominated front (the
// non-dominated sorting of NSGA-II, without its genetic operators). It
// exploits the simulator's per-deployment independence: the gateway and
// the workers have their own random streams and, while no ResourceQuota
// holds pods back, one's HPA does not move a single figure of the other.
// So each run evaluates one gateway setting and one worker setting at once,
// and the front over whole configurations is the non-dominated set of the
// sums of the two deployments' own fronts (exact: a configuration with a
// dominated part is dominated by the one with that part replaced).
//
// docs/tune.md describes the command, the search and its guarantees.
package tune
