package lint

// registry lists every rule, grouped by what it checks. IDs are stable.
var registry = []*Rule{
	// HorizontalPodAutoscaler
	{ID: "hpa-target-missing", Severity: Error, Check: checkHPATargetMissing,
		Summary: "An HPA whose scaleTargetRef names no workload never scales anything.",
		Help:    "Point spec.scaleTargetRef at an existing Deployment or StatefulSet (name, kind and namespace)."},
	{ID: "hpa-target-kind", Severity: Error, Check: checkHPATargetKind,
		Summary: "An HPA can only scale a kind with a scale subresource, found under the right apiVersion.",
		Help:    "Target a Deployment, StatefulSet or ReplicaSet with apiVersion apps/v1 (or a custom resource with /scale)."},
	{ID: "hpa-replica-bounds", Severity: Error, Check: checkHPAReplicaBounds,
		Summary: "minReplicas above maxReplicas, or below 1, makes the API reject the HPA.",
		Help:    "Keep 1 ≤ minReplicas ≤ maxReplicas in every overlay."},
	{ID: "hpa-target-sets-replicas", Severity: Error, Check: checkHPATargetReplicas,
		Summary: "A workload that sets replicas while an HPA scales it is reset on every apply.",
		Help:    "Remove spec.replicas from workloads an HPA owns."},
	{ID: "hpa-missing-request", Severity: Error, Check: checkHPAMissingRequest,
		Summary: "A Resource metric fails when any container of the target lacks a request for that resource.",
		Help:    "Set the request on every container, restartable init containers included."},
	{ID: "hpa-conflicting-autoscalers", Severity: Error, Check: checkConflictingAutoscalers,
		Summary: "Two autoscalers (HPA + HPA, HPA + KEDA ScaledObject) on one workload overwrite each other.",
		Help:    "Keep one autoscaler per workload; merge the metrics into it."},

	// spec.behavior
	{ID: "behavior-dead-policy", Severity: Error, Check: checkDeadPolicy,
		Summary: "A scaling policy that never limits the scale at any replica count, because another always allows as much (Max) or as little (Min), ties included, does not do what it says (under Max a cap that never binds).",
		Help:    "Under Max the HPA takes the biggest change, under Min the smallest; use Min for a cap, or remove the dead policy."},
	{ID: "behavior-window-period", Severity: Warning, Check: checkWindowPeriod,
		Summary: "A scale-down stabilization window shorter than a policy's period lets short dips remove pods.",
		Help:    "Make scaleDown.stabilizationWindowSeconds at least the longest policy period."},
	{ID: "behavior-window-grace", Severity: Warning, Check: checkWindowGrace,
		Summary: "A scale-down window shorter than the pods' termination grace period removes pods again before the last ones have drained.",
		Help:    "Make scaleDown.stabilizationWindowSeconds at least terminationGracePeriodSeconds."},

	// metric semantics
	{ID: "metric-global-as-pods", Severity: Error, Check: checkGlobalAsPods,
		Summary: "A queue depth/length/lag/age/backlog is one global value; as a Pods metric every pod reports all of it and the HPA runs to max.",
		Help:    "Make it an External metric (AverageValue for counts, Value for ages)."},
	{ID: "metric-target-type", Severity: Error, Check: checkMetricTargetType,
		Summary: "A depth-like External metric needs an AverageValue target and an age-like one a Value target, or the replica math is wrong.",
		Help:    "Depth: AverageValue = items per pod. Age: Value = acceptable age."},
	{ID: "metric-not-served", Severity: Error, Check: checkMetricNotServed,
		Summary: "A custom or external metric that no Prometheus Adapter rule serves, or whose series no scraped pod exports, stays <unknown>: the HPA scales up on its other metrics but never scales down.",
		Help:    "Serve the metric with an adapter rule and scrape the workload exporting its series (ServiceMonitor, or prometheus.io/* pod annotations), or drop the metric."},

	// PodDisruptionBudget
	{ID: "pdb-selector-matches-nothing", Severity: Error, Check: checkPDBSelector,
		Summary: "A PDB whose selector matches no pod protects nothing.",
		Help:    "Match the workload's pod template labels, in the same namespace."},
	{ID: "pdb-blocks-eviction", Severity: Error, Check: checkPDBBlocksEviction,
		Summary: "A PDB that allows no voluntary disruption makes kubectl drain and node upgrades hang.",
		Help:    "Keep minAvailable below the smallest replica count (HPA minReplicas) or maxUnavailable ≥ 1; if intended, annotate voiceassist.io/blocks-eviction: \"intended: …\"."},
	{ID: "pdb-unhealthy-eviction-policy", Severity: Warning, Check: checkPDBUnhealthyPolicy,
		Summary: "Without unhealthyPodEvictionPolicy, crash-looping pods can block every drain.",
		Help:    "Set spec.unhealthyPodEvictionPolicy: AlwaysAllow."},

	// VerticalPodAutoscaler
	{ID: "vpa-conflicts-hpa", Severity: Error, Check: checkVPAConflictsHPA,
		Summary: "An active VPA on the cpu/memory an HPA scales on fights the HPA.",
		Help:    "Use updateMode \"Off\" (recommendations), or scale the HPA on other metrics."},
	{ID: "vpa-target-missing", Severity: Error, Check: checkVPATargetMissing,
		Summary: "A VPA whose targetRef names no workload recommends nothing.",
		Help:    "Point spec.targetRef at an existing workload."},

	// resources
	{ID: "resources-missing", Severity: Warning, Check: checkResourcesMissing,
		Summary: "Containers without requests or limits give the scheduler and the HPA no baseline, or can starve a node.",
		Help:    "Set requests and limits for cpu and memory on every container (or a LimitRange default)."},
	{ID: "resources-limit-ratio", Severity: Warning, Check: checkLimitRatio,
		Summary: "Limits far from requests (outside 2–4× by default) either throttle and OOM-kill or overcommit nodes.",
		Help:    "Keep limits within the configured multiple of requests (--limit-ratio, .vactl.yaml)."},
	{ID: "quota-below-maxima", Severity: Error, Check: checkQuota,
		Summary: "A ResourceQuota smaller than Σ maxReplicas × per-pod resources stops the HPAs before their maxima.",
		Help:    "Size the quota for every workload at its HPA's maxReplicas (plus surge)."},
	{ID: "limitrange-max-below-limits", Severity: Error, Check: checkLimitRange,
		Summary: "A container whose limits exceed the LimitRange max (or break its min or ratio) is rejected, so no pod starts.",
		Help:    "Keep containers inside the namespace's LimitRange, or widen it."},

	// placement
	{ID: "placement-component-moved", Severity: Error, Check: checkComponentMoved,
		Summary: "A global namespace: that moves a cluster component (metrics-server) out of kube-system breaks it.",
		Help:    "Drop the global namespace:; set metadata.namespace in each file."},
	{ID: "apiservice-service-missing", Severity: Error, Check: checkAPIServiceService,
		Summary: "An APIService pointing at a Service that is not there makes its API group (metrics) unavailable.",
		Help:    "Point spec.service at the Service that exists, in its namespace and port."},

	// probes
	{ID: "probe-port-undeclared", Severity: Error, Check: checkProbePorts,
		Summary: "A probe on a port the container does not declare cannot resolve (named) or may hit nothing (number).",
		Help:    "Probe a declared port by name."},
	{ID: "probe-exec-no-shell", Severity: Error, Check: checkExecNoShell,
		Summary: "Exec probes and hooks on our images (voiceassist/*) cannot run: the images have no shell or tools.",
		Help:    "Use httpGet, tcpSocket or grpc probes."},

	// Redis
	{ID: "redis-queue-eviction", Severity: Error, Check: checkRedisEviction,
		Summary: "A Redis that holds a queue with an evicting maxmemory-policy silently drops jobs.",
		Help:    "Run the queue's Redis with maxmemory-policy noeviction."},
	{ID: "redis-maxmemory-unit", Severity: Error, Check: checkRedisMaxmemoryUnit,
		Summary: "Redis refuses to start on a maxmemory it cannot parse (it takes b, k, kb, m, mb, g, gb; not Mi/Gi).",
		Help:    "Write maxmemory in Redis units: 768mb, 1gb."},

	// NetworkPolicy
	{ID: "networkpolicy-missing", Severity: Warning, Check: checkNetworkPolicyMissing,
		Summary: "A pod no NetworkPolicy selects accepts connections from any pod and opens any (kube-linter's non-isolated-pod); a namespace without a default deny leaves every new workload open.",
		Help:    "Add a default-deny NetworkPolicy (podSelector: {}, policyTypes: [Ingress, Egress], no rules) to the namespace, then allow each workload's traffic."},

	// overlays
	{ID: "overlay-drops-metric", Severity: Error, Check: checkOverlayDropsMetric,
		Summary: "An overlay that loses an HPA metric of its base (a strategic-merge patch replaces the list) stops scaling on it.",
		Help:    "Patch HPAs with JSON 6902 patches that touch only the fields they change."},

	// objects and pods
	{ID: "object-invalid", Severity: Error, Check: checkObjectInvalid,
		Summary: "An unknown or duplicate field is rejected by the API server (or silently dropped).",
		Help:    "Fix the field name; kubectl explain lists the valid ones."},
	{ID: "workload-incomplete", Severity: Error, Check: checkWorkloadIncomplete,
		Summary: "A workload without a selector, pod labels matching it, or an image cannot run, and nothing can select its pods.",
		Help:    "Set spec.selector, matching spec.template.metadata.labels, and every container's image."},
	{ID: "pod-security-restricted", Severity: Error, Check: checkPodSecurity,
		Summary: "Pods that break the Pod Security \"restricted\" standard are rejected where it is enforced (error there, warning elsewhere).",
		Help:    "Run as non-root with RuntimeDefault seccomp, no privilege escalation and all capabilities dropped."},
}

// Rules returns every rule in registry order.
func Rules() []*Rule { return registry }

// RuleByID returns the rule with id, or nil.
func RuleByID(id string) *Rule {
	for _, r := range registry {
		if r.ID == id {
			return r
		}
	}
	return nil
}
