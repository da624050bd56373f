// Package integration is tests only: end-to-end tests that run the service
// binaries built from this repository (voiceassist-server, voiceassist-worker,
// queue-exporter) as real processes against real Redis and PostgreSQL
// (internal/testenv), scraped by a real Prometheus (Debian's `prometheus`
// binary), and evaluate the PromQL that Prometheus Adapter renders from
// k8s/performance/prometheus-adapter-values.yaml for the metrics the HPAs in
// k8s/performance/base read.
//
// It has no non-test code beyond this comment; `go test ./internal/integration/`
// runs everything (docs/running-locally.md, "What the integration test checks").
package integration
