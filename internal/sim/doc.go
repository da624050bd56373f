// Package sim is the discrete-time simulation behind `vactl simulate`: the
// HPAs of a rendered overlay (internal/kube) drive a seeded, second-by-second
// model of the VoiceAssist gateway (per-pod M/M/1 latency at the capacity
// its CPU gives, CPU and memory per request), the workers and their job
// queue (log-normal service times, slowed when the pod's CPU is short), pod
// start-up, readiness, OOM restarts and termination, the namespace's
// ResourceQuotas, and the metrics pipeline as the manifests configure it
// (metrics-server's resolution, the ServiceMonitor intervals, the adapter
// rule's rate() window). Every HPA decision is made by internal/hpa, the port
// of the upstream controller.
//
// Files, one job each: params*.go (model parameters, strict YAML), scenario.go
// and trace.go (the load), random.go, queue.go, pods.go and deployment.go
// (pods, ReplicaSet, scrapes), quota.go (ResourceQuota admission),
// pipeline.go (the metrics pipeline read from the manifests), gateway.go and
// worker.go (the workloads), autoscaler.go (HPA objects to internal/hpa),
// sim.go (the loop), track.go (summary and timeline), result.go, stats.go
// (seeds and --slo), report_*.go and chart_*.go (output).
//
// docs/simulate.md describes the model, its defaults and what the tests
// guarantee. Same Config and seed, same Result.
package sim
