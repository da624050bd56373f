// Package testenv starts the real services that tests need — redis-server and
// PostgreSQL — from the binaries Debian installs (scripts/setup-debian.sh), each
// in its own temporary directory on a free loopback port, and stops them when
// the test ends. A missing binary fails the test: it never skips, so a CI
// machine without the services cannot pass by running nothing.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/test/e2e/supervise"
)

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until addr accepts connections or the timeout passes,
// trying every 20 ms.
func WaitTCP(addr string, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			last = err
			return false, nil
		}
		return true, c.Close()
	})
	if err != nil && last != nil {
		return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, last)
	}
	return err
}

// Redis is a redis-server process owned by one test, run by the shared
// test supervisor (test/e2e/supervise: own process group, killed with the
// test process, SIGTERM then SIGKILL on Stop).
type Redis struct {
	Addr string
	dir  string
	bin  string
	proc *supervise.Process
	tb   testing.TB
}

// StartRedis starts redis-server with the settings our manifests give the
// queue's Redis (noeviction, append-only persistence) and returns it running.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(tb)), dir: tb.TempDir(), bin: lookPath(tb, "redis-server"), tb: tb}
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

func (r *Redis) running() bool { return r.proc != nil && r.proc.Running() }

// Start (re)starts the server on the same address and data directory, so a
// test can stop Redis and bring it back with its data.
func (r *Redis) Start() {
	r.tb.Helper()
	if r.running() {
		r.tb.Fatal("testenv: redis-server is already running")
	}
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command(r.bin,
		"--bind", "127.0.0.1", "--port", port, "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--maxmemory-policy", "noeviction",
		"--protected-mode", "no", "--daemonize", "no")
	log := filepath.Join(r.dir, "redis.log")
	proc, err := supervise.Start(supervise.Spec{Name: "redis-server", Cmd: cmd, Log: log})
	if err != nil {
		r.tb.Fatalf("testenv: %v", err)
	}
	r.proc = proc
	if err := WaitTCP(r.Addr, 10*time.Second); err != nil {
		r.tb.Fatalf("testenv: redis-server: %v\n%s", err, readFile(log))
	}
}

// Stop terminates the server (SIGTERM, SIGKILL after 10 s) and waits for
// it; safe to call twice.
func (r *Redis) Stop() {
	if r.proc != nil {
		r.proc.Stop(10 * time.Second)
	}
}

// Kill SIGKILLs the server — no shutdown, no last write of its data — and
// waits for it; safe to call when it is not running.
func (r *Redis) Kill() {
	if r.proc != nil {
		r.proc.Kill()
	}
}

// RemoveData deletes what the stopped server persisted (append-only files,
// RDB snapshot), so the next Start comes up empty, as after losing its
// volume. The log stays.
func (r *Redis) RemoveData() {
	r.tb.Helper()
	if r.running() {
		r.tb.Fatal("testenv: RemoveData on a running redis-server; Stop or Kill it first")
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		r.tb.Fatalf("testenv: %v", err)
	}
	for _, e := range entries {
		if e.Name() == "redis.log" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.dir, e.Name())); err != nil {
			r.tb.Fatalf("testenv: remove redis data: %v", err)
		}
	}
}

// Postgres is a PostgreSQL cluster owned by one test.
type Postgres struct {
	// DSN is a libpq/pgx connection string for database "voiceassist".
	DSN  string
	Port int
	dir  string
	bin  string
	tb   testing.TB
}

// StartPostgres runs initdb and postgres in a fresh directory and creates the
// database "voiceassist". PostgreSQL refuses to run as root, so as root the
// server runs as the "postgres" user that Debian's package creates.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	bin := postgresBinDir(tb)
	dir, err := os.MkdirTemp("", "va-pg-")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	p := &Postgres{Port: FreePort(tb), dir: dir, bin: bin, tb: tb}
	tb.Cleanup(func() {
		p.Stop()
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("testenv: running as root and no postgres user to run PostgreSQL as (install Debian's postgresql): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	p.run(tb, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	p.Start()
	p.run(tb, "createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", "voiceassist")
	p.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/voiceassist?sslmode=disable", p.Port)
	return p
}

// Start starts the server (again, after Stop) on the same port and data.
func (p *Postgres) Start() {
	p.tb.Helper()
	p.run(p.tb, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", "30", "start", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off -c max_connections=200", p.Port, p.dir))
}

// Stop shuts the server down fast; safe to call twice.
func (p *Postgres) Stop() {
	if _, err := os.Stat(filepath.Join(p.dir, "data", "postmaster.pid")); err != nil {
		return
	}
	cmd := p.command("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "stop")
	_ = cmd.Run()
}

func (p *Postgres) run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := p.command(name, args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testenv: %s: %v\n%s\n%s", name, err, out, readFile(filepath.Join(p.dir, "postgres.log")))
	}
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// postgresBinDir finds Debian's versioned server binaries, newest first,
// falling back to an initdb on PATH.
func postgresBinDir(tb testing.TB) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	initdb := lookPath(tb, "initdb")
	real, err := filepath.EvalSymlinks(initdb)
	if err != nil {
		real = initdb
	}
	return filepath.Dir(real)
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("testenv: %s not found on PATH; run scripts/setup-debian.sh (it installs the services the tests use)", name)
	}
	return p
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
