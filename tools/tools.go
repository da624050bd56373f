//go:build tools

// Package tools records the commands hack/e2e/build.sh builds, so that
// `go mod tidy` in this module keeps their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
