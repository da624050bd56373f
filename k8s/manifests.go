// Package k8s embeds the VoiceAssist manifests (k8s/performance) so that
// vactl renders and checks them without a checkout of this repository.
//
// The spec's file names at the top of k8s/performance are symlinks into
// base/ and components/vpa/ (for `kubectl apply -f`); they are not embedded,
// the files they point at are.
package k8s

import "embed"

// FS holds k8s/performance: the top-level kustomization, base/,
// components/, overlays/, metrics-server/ (cluster infrastructure, in no
// overlay) and the Prometheus Adapter values file.
//
//go:embed performance/kustomization.yaml performance/prometheus-adapter-values.yaml
//go:embed performance/base performance/components performance/overlays performance/metrics-server
var FS embed.FS

// Root is the directory inside FS that holds the manifests.
const Root = "performance"
