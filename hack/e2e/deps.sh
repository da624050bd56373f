#!/usr/bin/env bash
# Installs, only where missing, the Debian packages the local e2e cluster
# needs: etcd (etcd-server), Prometheus and promtool (prometheus: the
# scenarios scrape with it), iproute2 (ip netns), and what the node agent
# runs the manifests' database pods with: Redis (redis-server) and
# PostgreSQL (postgresql). Keys and certificates are made in Go
# (test/e2e/cluster), so openssl is not needed. Idempotent; needs root.
set -euo pipefail

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v prometheus >/dev/null || need+=(prometheus)
command -v ip >/dev/null || need+=(iproute2)
command -v redis-server >/dev/null || need+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)

if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "e2e deps: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Debian's packages start their services where an init system runs; the
# harness starts its own inside a network namespace, so stop these.
for svc in etcd prometheus; do
  if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then
    service "$svc" stop >/dev/null 2>&1 || true
  fi
done
