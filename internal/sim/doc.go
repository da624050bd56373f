// Package sim is the discrete-time simulation behind `vactl simulate`: the
// HPAs of a rendered overlay (internal/kube) drive a seeded, second-by-second
// model of the VoiceAssist gateway (per-pod M/M/1 latency, CPU and memory per
// request), the workers and their job queue (log-normal service times),
// pod start-up, readiness and termination, and the metrics pipeline
// (metrics-server, Prometheus scrapes, the adapter's rate() window). Every HPA
// decision is made by internal/hpa, the port of the upstream controller.
//
// Files, one job each: params*.go (model parameters, strict YAML), scenario.go
// and trace.go (the load), random.go, queue.go, pods.go and deployment.go
// (pods, ReplicaSet, scrapes), gateway.go and worker.go (the workloads),
// autoscaler.go (HPA objects to internal/hpa), sim.go (the loop), track.go
// (summary and timeline), result.go, report_*.go and chart_*.go (output).
//
// docs/simulate.md describes the model, its defaults and what the tests
// guarantee. Same Config and seed, same Result.
package sim
