#!/usr/bin/env bash
# Installs what vactl's tests and the local services need on a fresh Debian
# machine: Redis, PostgreSQL, Prometheus (with promtool), wrk, the CA
# bundle `make images` puts into the images (ca-certificates), and git
# (`make images` reads the commit and its time with it). Go itself
# comes with the machine; Go modules come through the module proxy.
# Idempotent: a second run installs nothing new.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v promtool >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)
command -v runuser >/dev/null || need+=(util-linux)
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)

if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Debian's packages start their services where an init system runs; the
# tests start their own on free ports, so stop the system-wide ones if any.
for svc in redis-server postgresql prometheus; do
  if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then
    service "$svc" stop >/dev/null 2>&1 || true
  fi
done
go version >&2
