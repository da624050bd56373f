#!/usr/bin/env bash
# Removes what an e2e run that could not clean up after itself (SIGKILL, a
# `go test -timeout` panic) left behind: network namespaces named
# va-e2e-<pid> whose <pid> no longer runs, the processes still inside them,
# their etcd data in /dev/shm, and the metrics-server files of the harness
# (/var/tmp/va-e2e-<pid>-metrics-server-*: a copy of the binary and an admin
# kubeconfig). A live run's namespace and files are left alone.
set -euo pipefail

for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^va-e2e-[0-9]*$' || true); do
  pid="${ns#va-e2e-}"
  if kill -0 "$pid" 2>/dev/null; then
    continue
  fi
  for p in $(ip netns pids "$ns" 2>/dev/null); do
    kill -9 "$p" 2>/dev/null || true
  done
  ip netns del "$ns" && echo "e2e cleanup: removed leftover network namespace $ns" >&2
  rm -rf /dev/shm/"$ns"-etcd-* 2>/dev/null || true
done

for d in /var/tmp/va-e2e-*-metrics-server-*; do
  [ -d "$d" ] || continue
  pid="${d#/var/tmp/va-e2e-}"; pid="${pid%%-*}"
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  kill -0 "$pid" 2>/dev/null && continue
  rm -rf "$d" && echo "e2e cleanup: removed leftover $d" >&2
done
