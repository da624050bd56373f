#!/usr/bin/env bash
# Runs VoiceAssist locally: its own redis-server and PostgreSQL in a fresh
# directory, then voiceassist-server, voiceassist-worker and queue-exporter
# built from this checkout, optionally scraped by Prometheus. Everything
# listens on 127.0.0.1 only. Ctrl-C stops it all.
#
#   scripts/run-local.sh [--with-prometheus] [--no-worker] [--dir DIR] [--keep]
#                        [--server-port 8000] [--server-metrics-port 9091] [--worker-port 9090] [--exporter-port 9121]
#                        [--redis-port 16379] [--postgres-port 15432] [--prometheus-port 19090]
#
# Needs what scripts/setup-debian.sh installs (redis-server, PostgreSQL,
# Prometheus for --with-prometheus) plus go and curl. docs/running-locally.md
# describes the services' flags and how to submit a job.
set -euo pipefail

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'

Options:
  --with-prometheus     also run Prometheus, scraping the three services every 5 s
                        with the namespace/pod labels Kubernetes would give them
  --no-worker           do not start the worker (jobs pile up in the queue; watch
                        voiceassist_queue_depth grow on the exporter)
  --dir DIR             put data and logs in DIR (default: a new /tmp/voiceassist-local.XXXXXX)
  --keep                keep the data directories on exit (logs are always kept)
  --server-port N       API gateway (default 8000)
  --server-metrics-port N  the gateway's /metrics (default 9091)
  --worker-port N       worker /health, /ready, /metrics (default 9090)
  --exporter-port N     queue-exporter /metrics (default 9121)
  --redis-port N        redis-server (default 16379, not 6379: a system Redis may hold that)
  --postgres-port N     PostgreSQL (default 15432, not 5432, for the same reason)
  --prometheus-port N   Prometheus with --with-prometheus (default 19090; 9090 is the worker's)
  -h, --help            this text
EOF
}

server_port=8000 server_metrics_port=9091 worker_port=9090 exporter_port=9121
redis_port=16379 pg_port=15432 prom_port=19090
with_prom=0 with_worker=1 keep=0 dir=""

die() { echo "run-local: $*" >&2; exit 1; }
port_arg() { [[ ${2-} =~ ^[0-9]+$ ]] && ((${2} > 0 && ${2} < 65536)) || die "$1 needs a port number, got '${2-}'"; }

while (($#)); do
  case $1 in
    --with-prometheus) with_prom=1 ;;
    --no-worker) with_worker=0 ;;
    --keep) keep=1 ;;
    --dir) [[ -n ${2-} ]] || die "--dir needs a directory"; dir=$2; shift ;;
    --server-port) port_arg "$@"; server_port=$2; shift ;;
    --server-metrics-port) port_arg "$@"; server_metrics_port=$2; shift ;;
    --worker-port) port_arg "$@"; worker_port=$2; shift ;;
    --exporter-port) port_arg "$@"; exporter_port=$2; shift ;;
    --redis-port) port_arg "$@"; redis_port=$2; shift ;;
    --postgres-port) port_arg "$@"; pg_port=$2; shift ;;
    --prometheus-port) port_arg "$@"; prom_port=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- prerequisites ---------------------------------------------------------
need() { command -v "$1" >/dev/null || die "$1 not found: $2"; }
need go "install Go (see go.mod for the version)"
need curl "apt-get install curl"
need redis-server "run scripts/setup-debian.sh"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -1 || true)
if [[ -z $pg_bin || ! -x $pg_bin/initdb ]]; then
  command -v initdb >/dev/null || die "PostgreSQL (initdb) not found: run scripts/setup-debian.sh"
  pg_bin=$(dirname "$(readlink -f "$(command -v initdb)")")
fi
((with_prom)) && need prometheus "run scripts/setup-debian.sh (Debian's prometheus package)"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports=("$server_port" "$server_metrics_port" "$exporter_port" "$redis_port" "$pg_port")
((with_worker)) && ports+=("$worker_port")
((with_prom)) && ports+=("$prom_port")
for p in "${ports[@]}"; do
  listening "$p" && die "127.0.0.1:$p is already in use; pick another port (--help)"
done
[[ $(printf '%s\n' "${ports[@]}" | sort | uniq -d) == "" ]] || die "two services on one port: ${ports[*]}"

# --- directory and cleanup -------------------------------------------------
if [[ -z $dir ]]; then
  dir=$(mktemp -d /tmp/voiceassist-local.XXXXXX)
else
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ -z $(ls -A "$dir") ]] || die "--dir $dir is not empty"
fi
chmod 755 "$dir" # PostgreSQL's user must reach $dir/postgres when we are root
mkdir -p "$dir/logs" "$dir/bin" "$dir/redis" "$dir/postgres"
logs=$dir/logs

# as_pg runs a PostgreSQL tool; PostgreSQL refuses to run as root, so as root
# it runs as Debian's postgres user (like internal/testenv).
as_pg() {
  if (($(id -u) == 0)); then
    runuser -u postgres -- "$pg_bin/$1" "${@:2}"
  else
    "$pg_bin/$1" "${@:2}"
  fi
}
if (($(id -u) == 0)); then
  id postgres >/dev/null 2>&1 || die "running as root and there is no postgres user (install Debian's postgresql)"
  chown postgres: "$dir/postgres"
fi

pids=() names=() pg_started=0 stopping=0
cleanup() {
  local rc=$?
  ((stopping)) && return
  stopping=1
  trap '' INT TERM
  echo
  echo "run-local: stopping..." >&2
  # Services first (newest first), then the databases.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    local waited=0
    while kill -0 "${pids[i]}" 2>/dev/null && ((waited < 150)); do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run-local: ${names[i]} did not stop in 15 s; killing it" >&2
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
    wait "${pids[i]}" 2>/dev/null || true
  done
  if ((pg_started)); then
    as_pg pg_ctl -D "$dir/postgres/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if ((keep)); then
    echo "run-local: data and logs kept in $dir" >&2
  else
    rm -rf "$dir/redis" "$dir/postgres" "$dir/prometheus" "$dir/bin"
    echo "run-local: logs kept in $logs" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background, output to $logs/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

wait_port() { # NAME PORT SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    listening "$2" && return 0
    local j
    for j in "${!pids[@]}"; do
      kill -0 "${pids[j]}" 2>/dev/null || {
        tail -n 20 "$logs/${names[j]}.log" >&2
        die "${names[j]} exited (log: $logs/${names[j]}.log)"
      }
    done
    sleep 0.1
  done
  die "$1 not listening on 127.0.0.1:$2 after $3 s (log: $logs/$1.log)"
}

# --- build -----------------------------------------------------------------
echo "run-local: building into $dir/bin" >&2
(cd "$root" && go build -o "$dir/bin/" ./cmd/voiceassist-server ./cmd/voiceassist-worker ./cmd/queue-exporter)

# --- Redis and PostgreSQL --------------------------------------------------
echo "run-local: starting redis-server on 127.0.0.1:$redis_port" >&2
start redis redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" \
  --save "" --appendonly yes --maxmemory-policy noeviction --protected-mode no --daemonize no
wait_port redis "$redis_port" 10

echo "run-local: starting PostgreSQL ($pg_bin) on 127.0.0.1:$pg_port" >&2
as_pg initdb -D "$dir/postgres/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$logs/initdb.log" 2>&1 ||
  { cat "$logs/initdb.log" >&2; die "initdb failed"; }
pg_started=1
as_pg pg_ctl -D "$dir/postgres/data" -l "$dir/postgres/postgres.log" -w -t 30 start \
  -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$dir/postgres" >/dev/null ||
  { cat "$dir/postgres/postgres.log" >&2; die "PostgreSQL did not start"; }
as_pg createdb -h 127.0.0.1 -p "$pg_port" -U postgres voiceassist
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/voiceassist?sslmode=disable"
export REDIS_ADDR="127.0.0.1:$redis_port"

# --- the services ----------------------------------------------------------
echo "run-local: starting the services" >&2
start queue-exporter "$dir/bin/queue-exporter" --listen "127.0.0.1:$exporter_port"
# One API key for the local client (the gateway accepts only keys whose
# SHA-256 is in its keys file; `vactl apikey new` makes them too).
api_key="vak_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
printf 'local:%s\n' "$(printf %s "$api_key" | sha256sum | cut -d' ' -f1)" >"$dir/api-keys"
printf '%s\n' "$api_key" >"$dir/api-key"
# No load balancer to drain locally, so no pre-stop delay: Ctrl-C is quick.
start voiceassist-server "$dir/bin/voiceassist-server" --listen "127.0.0.1:$server_port" \
  --metrics-listen "127.0.0.1:$server_metrics_port" --api-keys-file "$dir/api-keys" \
  --pre-stop-delay 0s --shutdown-grace 10s
((with_worker)) && start voiceassist-worker "$dir/bin/voiceassist-worker" --listen "127.0.0.1:$worker_port"
wait_port queue-exporter "$exporter_port" 30
wait_port voiceassist-server "$server_port" 60
((with_worker)) && wait_port voiceassist-worker "$worker_port" 60

if ((with_prom)); then
  mkdir -p "$dir/prometheus"
  target() { # JOB ADDR POD CONTAINER
    cat <<EOF
  - job_name: $1
    static_configs:
      - targets: ['$2']
        labels: {__meta_kubernetes_namespace: voiceassist, __meta_kubernetes_pod_name: $3, __meta_kubernetes_pod_container_name: $4}
    relabel_configs:
      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
      - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
EOF
  }
  {
    printf 'global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\nscrape_configs:\n'
    target voiceassist-server "127.0.0.1:$server_metrics_port" voiceassist-server-local server
    target queue-exporter "127.0.0.1:$exporter_port" queue-exporter-local exporter
    ((with_worker)) && target voiceassist-worker "127.0.0.1:$worker_port" voiceassist-worker-local worker
    true
  } >"$dir/prometheus/prometheus.yml"
  start prometheus prometheus --config.file="$dir/prometheus/prometheus.yml" \
    --storage.tsdb.path="$dir/prometheus/data" --web.listen-address="127.0.0.1:$prom_port"
  wait_port prometheus "$prom_port" 30
fi

curl -fsS "http://127.0.0.1:$server_port/ready" >/dev/null ||
  echo "run-local: warning: the gateway's /ready fails: curl http://127.0.0.1:$server_port/ready" >&2

cat <<EOF

VoiceAssist is running (Ctrl-C stops everything):

  API gateway     http://127.0.0.1:$server_port      (/health /ready, POST /v1/jobs, GET|DELETE /v1/jobs/{id}, POST /v1/analyze)
                  http://127.0.0.1:$server_metrics_port/metrics
  API key         $api_key   (also in $dir/api-key; client id "local")
EOF
((with_worker)) && echo "  worker          http://127.0.0.1:$worker_port/metrics   (/health /ready)"
echo "  queue-exporter  http://127.0.0.1:$exporter_port/metrics"
((with_prom)) && echo "  Prometheus      http://127.0.0.1:$prom_port           (pods voiceassist-server-local, queue-exporter-local, voiceassist-worker-local)"
cat <<EOF
  Redis           $REDIS_ADDR
  PostgreSQL      $DATABASE_URL
  logs            $logs/

Submit a job (a WAV file; docs/running-locally.md shows how to make one):
  export VOICEASSIST_API_KEY=$api_key
  curl -sS -H "Authorization: Bearer \$VOICEASSIST_API_KEY" -H 'Content-Type: audio/wav' --data-binary @tone.wav http://127.0.0.1:$server_port/v1/jobs
  curl -sS -H "Authorization: Bearer \$VOICEASSIST_API_KEY" http://127.0.0.1:$server_port/v1/jobs/<id>
EOF
if ((with_prom)); then
  cat <<EOF
The queries Prometheus Adapter sends for the HPAs:
  curl -sS http://127.0.0.1:$prom_port/api/v1/query --data-urlencode 'query=sum(rate(http_requests_total{namespace="voiceassist",pod=~"voiceassist-server-local"}[2m])) by (pod)'
  curl -sS http://127.0.0.1:$prom_port/api/v1/query --data-urlencode 'query=max(voiceassist_queue_depth{namespace="voiceassist",queue="voice-jobs"}) by ()'
EOF
fi
echo

# Run until Ctrl-C, or until a service dies (then stop the rest and say why).
while true; do
  set +e
  wait -n "${pids[@]}"
  set -e
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[i]}" 2>/dev/null; then
      echo "run-local: ${names[i]} exited; last lines of $logs/${names[i]}.log:" >&2
      tail -n 20 "$logs/${names[i]}.log" >&2
      exit 1
    fi
  done
done
