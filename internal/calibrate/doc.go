// Package calibrate measures the real workload and turns it into the
// parameters of the simulator (internal/sim, `vactl calibrate`).
//
// It measures what the simulator's model needs, per request and per job so
// that one profile holds for every pod size:
//   - the gateway: the highest TOTAL rate of POST /v1/analyze whose p95
//     latency meets the SLO (a doubling, then bisecting, search of constant
//     loads sent by internal/loadtest), the CPU one request costs (the
//     process's process_cpu_seconds_total over each step, idle CPU
//     subtracted), the latency-vs-utilization curve, and its memory with no
//     load and per request served and per request in flight
//     (process_resident_memory_bytes);
//   - the worker: the service time of a job (the delta of its
//     voiceassist_worker_job_duration_seconds histogram, outcome done, over
//     a burst of real jobs submitted through POST /v1/jobs and followed to
//     completion by internal/loadtest), its concurrency (the most
//     voiceassist_worker_jobs_in_progress seen), CPU and memory per job;
//   - on a cluster, pod start-up: the times between a pod's creation,
//     PodScheduled, Initialized, its containers' start, ContainersReady and
//     Ready, for every pod of a Deployment.
//
// A scrape is a Scraper: an HTTP GET of /metrics (a local process), or the
// API server's proxy to a pod's port (a cluster).
package calibrate
