package nodeagent

// No build tag: Binary and the image tables are shared with the unit test
// of ociimage.go, which runs in `make test`.

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// Binary is the local program an image maps to. There is no container
// runtime here: a container of that image runs as this program, with the
// pod's env, args and (rewritten) ports and paths.
type Binary struct {
	// Path is the executable; it stands for the image's entrypoint (and
	// for command[0] when a container sets a command). For an OCI image
	// (Image set) it is the image's own program, unpacked, and
	// Binary.ForContainer resolves it per container.
	Path string
	// Args come before the container's args, AppendArgs after them. Both
	// are $(VAR)-expanded against the container's environment (POD_IP is
	// always defined).
	Args, AppendArgs []string
	// Env is the image's own environment; the pod's env overrides it.
	Env map[string]string
	// User runs the program as this local account instead of the pod's
	// runAsUser (PostgreSQL needs an account that exists).
	User string
	// DropArgs are leading container args dropped when present: the
	// image's own command name, as in `args: [redis-server, ...]`, which
	// the image's entrypoint script would have consumed.
	DropArgs []string
	// ListenFlags name flags whose address without a host (":8000")
	// gets the pod's IP; ListenEnv the same for environment variables,
	// which are also set to <pod IP>:<first containerPort> when neither
	// they nor a listen flag are given. Every pod shares one network
	// namespace, so a program must bind its pod's IP, not all addresses.
	ListenFlags, ListenEnv []string
	// Image, when set, is the OCI image this Binary runs (ImageBinary):
	// its User is the process's identity unless the pod sets runAsUser,
	// and its digest is the containers' imageID.
	Image *OCIImage
}

// The VoiceAssist images (repository → image name of internal/imagebuild).
var voiceAssistImages = map[string]string{
	"voiceassist/voiceassist-server": "voiceassist-server",
	"voiceassist/voiceassist-worker": "voiceassist-worker",
	"voiceassist/queue-exporter":     "queue-exporter",
}

// Images maps the images of k8s/performance to local programs:
//
//   - voiceassist/voiceassist-server, voiceassist/voiceassist-worker and
//     voiceassist/queue-exporter (any tag) to the programs in bins
//     (command name → path), their --listen / LISTEN_ADDR bound to the
//     pod's IP. StartForCluster passes none: it runs these three from
//     their OCI images instead (BuildImages);
//   - redis (any tag) to Debian's redis-server, bound to the pod's IP,
//     protected mode off (there is no password; nothing outside the
//     namespace can reach it);
//   - postgres (any tag) to Debian's PostgreSQL run as the local postgres
//     account, through a small entrypoint that does what the official
//     image's does: initdb into $PGDATA on first start with
//     POSTGRES_USER/POSTGRES_PASSWORD (scram-sha-256), create POSTGRES_DB,
//     allow password logins from the pod network; then listen on the pod's
//     IP only. fsync is off: the data is thrown away with the cluster.
//
// Programs that are not installed are left out (their pods then wait with
// ErrImagePull, naming the image).
func Images(bins map[string]string) map[string]Binary {
	out := map[string]Binary{}
	for image, name := range voiceAssistImages {
		if p := bins[name]; p != "" {
			out[image] = Binary{Path: p, ListenFlags: []string{"listen", "metrics-listen"}, ListenEnv: []string{"LISTEN_ADDR"}}
		}
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		out["redis"] = Binary{
			Path:       p,
			DropArgs:   []string{"redis-server"},
			AppendArgs: []string{"--bind", "$(POD_IP)", "--protected-mode", "no", "--daemonize", "no"},
		}
	}
	if dir := postgresBinDir(); dir != "" {
		out["postgres"] = Binary{
			Path:     "/bin/sh",
			Args:     []string{"-c", postgresEntrypoint, "postgres-entrypoint"},
			DropArgs: []string{"postgres"},
			User:     "postgres",
			Env: map[string]string{
				"PATH":   dir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"PGDATA": "/var/lib/postgresql/data",
			},
		}
	}
	return out
}

// postgresEntrypoint is the official image's docker-entrypoint.sh reduced
// to what our manifests use. $@ holds the container's args (after a
// leading "postgres").
const postgresEntrypoint = `set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "postgres-entrypoint: POSTGRES_PASSWORD is not set" >&2
  exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  tmp="$(mktemp -d)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$tmp/pw"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$tmp/pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync
  rm -f "$tmp/pw"
  pg_ctl -D "$PGDATA" -w -t 60 -l "$tmp/init.log" start -o "-c listen_addresses='' -c unix_socket_directories=$tmp"
  if [ "$POSTGRES_DB" != postgres ]; then
    createdb -h "$tmp" -U "$POSTGRES_USER" "$POSTGRES_DB"
  fi
  pg_ctl -D "$PGDATA" -w -m fast stop
  rm -rf "$tmp"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "postgres-entrypoint: initialized $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
exec postgres -D "$PGDATA" -c listen_addresses="$POD_IP" -c unix_socket_directories= -c fsync=off "$@"
`

// postgresBinDir finds Debian's versioned PostgreSQL server binaries,
// newest first.
func postgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	return ""
}
