// Package loadtest drives VoiceAssist with real load and records what the
// autoscalers did about it (`vactl loadtest`).
//
// The api load is POST /v1/analyze with generated WAVs at a TOTAL rate
// (vegeta as a library, open loop: a slow gateway does not slow the
// offered load down); the worker load is POST /v1/jobs, each job then
// followed through GET /v1/jobs/{id} until it is done or failed. The load
// follows a profile (constant, ramp, step, spike, or a trace in the CSV
// format of `vactl simulate --trace`). Every second it records the offered
// and achieved rates, latency quantiles and errors by status and, when a
// cluster is watched, every HPA's replicas and metrics and the External
// metrics (queue depth and age). After the load a cool-down watches the
// scale-down. The Report is computed from that timeline alone.
package loadtest
