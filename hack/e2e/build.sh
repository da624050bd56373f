#!/usr/bin/env bash
# Builds the Kubernetes components the local e2e cluster runs (test/e2e) from
# the separate Go module in tools/, and our own test infrastructure modules
# under test/e2e (see local_modules below), into a cache keyed by component
# and version (a source hash for our own):
#   ${XDG_CACHE_HOME:-$HOME/.cache}/voiceassist-e2e/<component>-<version>
# A component already in the cache is not rebuilt. Prints what it does and how
# long each build took (on stderr), then one "<component>=<path>" line per
# component on stdout, which test/e2e reads. Usage: hack/e2e/build.sh [component...]
#   VA_E2E_BIN_DIR   overrides the cache directory
#   VA_E2E_REBUILD=1 rebuilds even what is cached
#   VA_E2E_NO_BUILD=1 builds nothing: fails if a component is not cached
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="$root/tools"
cache="${VA_E2E_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voiceassist-e2e}"
mkdir -p "$cache"

export GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly"
export CGO_ENABLED="${CGO_ENABLED:-0}"

modversion() { (cd "$tools" && go list -m -f '{{.Version}}' "$1"); }
k8s_version="$(modversion k8s.io/kubernetes)"
ms_version="$(modversion sigs.k8s.io/metrics-server)"

# ldflags like upstream's hack/lib/version.sh, so /version and the components'
# own version checks see a real release rather than v0.0.0-master.
k8s_ldflags() { # $1 = version like v1.34.4
  local v="$1" major minor
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

# component  package  version  ldflags-version
# metrics-server first: it is the most likely to meet an API change of the
# shared k8s.io libraries, and kube-apiserver reuses the packages it compiles.
components=(
  "metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server $ms_version"
  "kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver $k8s_version"
  "kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager $k8s_version"
  "kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler $k8s_version"
  "kubectl k8s.io/kubernetes/cmd/kubectl $k8s_version"
)

want=("$@")
selected() { [ ${#want[@]} -eq 0 ] && return 0; local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

total_start=$(date +%s)
built=()
echo "e2e build: go $(go env GOVERSION), cache $cache" >&2
for c in "${components[@]}"; do
  read -r name pkg version <<<"$c"
  selected "$name" || continue
  out="$cache/$name-$version"
  if [ -x "$out" ] && [ "${VA_E2E_REBUILD:-0}" != 1 ]; then
    echo "  $name $version: cached ($out)" >&2
    built+=("$name=$out")
    continue
  fi
  if [ "${VA_E2E_NO_BUILD:-0}" = 1 ]; then
    echo "  $name $version: not in $cache and VA_E2E_NO_BUILD=1" >&2
    exit 1
  fi
  echo "  $name $version: building $pkg ..." >&2
  start=$(date +%s)
  tmp="$out.tmp.$$"
  (cd "$tools" && go build -trimpath -ldflags "$(k8s_ldflags "$version")" -o "$tmp" "$pkg")
  mv -f "$tmp" "$out"
  echo "  $name $version: built in $(( $(date +%s) - start ))s -> $out" >&2
  built+=("$name=$out")
done
# Test infrastructure of our own, each a Go module of its own under test/e2e
# (so its dependencies never enter the main go.mod): cached by a hash of the
# module's sources, go.mod and go.sum (and of the main module's packages it
# imports through its `replace`), and the Go version. A module not in the
# tree yet is skipped (no line printed).
#   kubernetes-sd                 test/e2e/kubesd: upstream Prometheus's Kubernetes
#                                 service discovery, served to Debian's Prometheus as HTTP SD
#   voiceassist-metrics-provider  test/e2e/metricsprovider (docs/metrics-provider.md):
#                                 custom/external metrics from our Prometheus Adapter rules
# name  module dir  [other hashed dirs...]
local_modules=(
  "kubernetes-sd test/e2e/kubesd"
  "voiceassist-metrics-provider test/e2e/metricsprovider internal/adapter"
)
for c in "${local_modules[@]}"; do
  read -r name dir extra <<<"$c"
  selected "$name" || continue
  [ -f "$root/$dir/go.mod" ] || { echo "  $name: $dir not in the tree, skipped" >&2; continue; }
  # shellcheck disable=SC2086 # $extra is a list of directories
  hash="$(cd "$root" && { go env GOVERSION; find "$dir" $extra -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) \
    ! -name '*_test.go' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-12)"
  out="$cache/$name-$hash"
  if [ -x "$out" ] && [ "${VA_E2E_REBUILD:-0}" != 1 ]; then
    echo "  $name $hash: cached ($out)" >&2
    built+=("$name=$out")
    continue
  fi
  if [ "${VA_E2E_NO_BUILD:-0}" = 1 ]; then
    echo "  $name $hash: not in $cache and VA_E2E_NO_BUILD=1" >&2
    exit 1
  fi
  echo "  $name $hash: building $dir ..." >&2
  start=$(date +%s)
  tmp="$out.tmp.$$"
  (cd "$root/$dir" && go build -trimpath -ldflags "-s -w" -o "$tmp" .)
  mv -f "$tmp" "$out"
  echo "  $name $hash: built in $(( $(date +%s) - start ))s -> $out" >&2
  built+=("$name=$out")
done

echo "e2e build: done in $(( $(date +%s) - total_start ))s" >&2
printf '%s\n' "${built[@]}"
