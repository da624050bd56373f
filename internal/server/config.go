package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is everything the gateway process can be told. Every field has a
// flag and an environment variable; the flag wins, so a Deployment can set
// env vars from a ConfigMap and an operator can still override one by hand.
type Config struct {
	Listen        string
	RedisAddr     string
	RedisPassword string // env only: flags show up in ps and in the pod spec
	RedisDB       int
	DatabaseURL   string // env only for the same reason when it holds a password; a flag is accepted too
	Queue         string

	MaxUploadBytes     int64
	MaxAnalyzeDuration time.Duration
	DecodeMemoryBytes  int64

	PreStopDelay   time.Duration
	ShutdownGrace  time.Duration
	ReadyTimeout   time.Duration
	StartupTimeout time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration

	LogLevel slog.Level
}

// DefaultConfig holds the values used when neither flag nor env var is set.
// The addresses are the in-cluster Service names from DESIGN.md.
func DefaultConfig() Config {
	return Config{
		Listen:             ":8000",
		RedisAddr:          "voiceassist-redis:6379",
		DatabaseURL:        "",
		Queue:              "voice-jobs",
		MaxUploadBytes:     25 << 20,
		MaxAnalyzeDuration: 30 * time.Second,
		DecodeMemoryBytes:  512 << 20,
		PreStopDelay:       5 * time.Second,
		ShutdownGrace:      25 * time.Second,
		ReadyTimeout:       time.Second,
		StartupTimeout:     60 * time.Second,
		ReadTimeout:        2 * time.Minute,
		WriteTimeout:       2 * time.Minute,
		LogLevel:           slog.LevelInfo,
	}
}

// ErrHelp is returned by ParseConfig when -h/--help was asked for; the usage
// text has already been written.
var ErrHelp = flag.ErrHelp

// ParseConfig reads flags from args, falling back to environment variables
// (through getenv) and then to DefaultConfig. Usage and errors go to out.
func ParseConfig(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	var envErrs []error

	str := func(p *string, flagName, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, flagName, *p, usage+" (env "+env+")")
	}
	dur := func(p *time.Duration, flagName, env, usage string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", env, v, err))
			} else {
				*p = d
			}
		}
		fs.DurationVar(p, flagName, *p, usage+" (env "+env+")")
	}

	str(&c.Listen, "listen", "LISTEN_ADDR", "address to serve HTTP on: the API, /health, /ready and /metrics")
	str(&c.RedisAddr, "redis-addr", "REDIS_ADDR", "Redis holding the job queue: host:port or redis://[:password@]host:port[/db]")
	if v := getenv("REDIS_PASSWORD"); v != "" {
		c.RedisPassword = v // deliberately no flag
	}
	if v := getenv("REDIS_DB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("REDIS_DB=%q: %w", v, err))
		}
		c.RedisDB = n
	}
	fs.IntVar(&c.RedisDB, "redis-db", c.RedisDB, "Redis database number (env REDIS_DB; password only from env REDIS_PASSWORD)")
	str(&c.DatabaseURL, "database-url", "DATABASE_URL",
		"PostgreSQL URL, e.g. postgres://user:pass@voiceassist-postgres:5432/voiceassist?sslmode=disable; prefer the env var, it keeps the password out of ps")
	str(&c.Queue, "queue", "QUEUE_NAME", "name of the Redis queue the workers read")

	size := func(p *int64, flagName, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := parseBytes(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", env, v, err))
			} else {
				*p = n
			}
		}
		fs.Func(flagName, fmt.Sprintf("%s; bytes or with a KiB/MiB/GiB suffix (env %s) (default %s)", usage, env, formatBytes(*p)),
			func(v string) error {
				n, err := parseBytes(v)
				*p = n
				return err
			})
	}
	size(&c.MaxUploadBytes, "max-upload-bytes", "MAX_UPLOAD_BYTES",
		"largest request body accepted by POST /v1/jobs and /v1/analyze; larger gets 413")
	size(&c.DecodeMemoryBytes, "decode-memory-bytes", "DECODE_MEMORY_BYTES",
		"memory budget shared by concurrent WAV decodes (decoded audio is up to 8x the upload); requests beyond it wait. Keep it well under the container memory limit")
	dur(&c.MaxAnalyzeDuration, "max-analyze-duration", "MAX_ANALYZE_DURATION", "longest clip POST /v1/analyze analyses synchronously; longer gets 413 (submit a job instead)")
	dur(&c.PreStopDelay, "pre-stop-delay", "PRE_STOP_DELAY", "after SIGTERM, keep serving this long with /ready failing so endpoint controllers stop routing here")
	dur(&c.ShutdownGrace, "shutdown-grace", "SHUTDOWN_GRACE", "total time from SIGTERM to exit, pre-stop delay included; keep it below the pod's terminationGracePeriodSeconds")
	dur(&c.ReadyTimeout, "ready-timeout", "READY_TIMEOUT", "timeout for each dependency check of /ready")
	dur(&c.StartupTimeout, "startup-timeout", "STARTUP_TIMEOUT", "how long to keep retrying PostgreSQL at startup before exiting")
	dur(&c.ReadTimeout, "read-timeout", "READ_TIMEOUT", "http.Server ReadTimeout: the whole request, upload included")
	dur(&c.WriteTimeout, "write-timeout", "WRITE_TIMEOUT", "http.Server WriteTimeout: from end of request headers to end of response")

	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			envErrs = append(envErrs, fmt.Errorf("LOG_LEVEL=%q: %w", v, err))
		}
	}
	fs.TextVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error; probes and scrapes are logged at debug (env LOG_LEVEL)")

	fs.Usage = func() {
		fmt.Fprintf(out, `Usage: %s [flags]

voiceassist-server is the VoiceAssist API gateway. It accepts WAV uploads
(POST /v1/jobs), stores each as a job in PostgreSQL and queues its id in Redis
for voiceassist-worker; GET /v1/jobs/{id} reports the job. POST /v1/analyze
analyses a short clip synchronously. /health is liveness (no dependencies),
/ready checks PostgreSQL and Redis and fails while draining, /metrics is
Prometheus (http_requests_total, http_request_duration_seconds).

On SIGTERM it fails /ready at once, keeps serving for --pre-stop-delay, then
stops accepting connections and lets in-flight requests finish, exiting within
--shutdown-grace.

Every flag can also be set by the environment variable named in its help; a
flag given on the command line wins.

Flags:
`, name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if len(envErrs) > 0 {
		return c, errors.Join(envErrs...)
	}
	return c, c.Validate()
}

// Validate reports settings that cannot work together.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is empty"))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url (env DATABASE_URL) is required"))
	}
	if c.RedisAddr == "" {
		errs = append(errs, errors.New("--redis-addr is empty"))
	}
	if c.Queue == "" {
		errs = append(errs, errors.New("--queue is empty"))
	}
	if c.MaxUploadBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-upload-bytes must be positive, got %d", c.MaxUploadBytes))
	}
	if c.DecodeMemoryBytes <= 0 {
		errs = append(errs, fmt.Errorf("--decode-memory-bytes must be positive, got %d", c.DecodeMemoryBytes))
	}
	if c.MaxAnalyzeDuration <= 0 {
		errs = append(errs, fmt.Errorf("--max-analyze-duration must be positive, got %s", c.MaxAnalyzeDuration))
	}
	if c.PreStopDelay < 0 {
		errs = append(errs, fmt.Errorf("--pre-stop-delay must not be negative, got %s", c.PreStopDelay))
	}
	// Shutdown needs some of the grace period after the pre-stop delay, or
	// every in-flight request is cut off the moment draining starts.
	if c.ShutdownGrace <= c.PreStopDelay {
		errs = append(errs, fmt.Errorf("--shutdown-grace (%s) must be longer than --pre-stop-delay (%s)", c.ShutdownGrace, c.PreStopDelay))
	}
	if c.ReadyTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--ready-timeout must be positive, got %s", c.ReadyTimeout))
	}
	return errors.Join(errs...)
}

// parseBytes accepts a plain byte count or one with a KiB/MiB/GiB (or K/M/G,
// KB/MB/GB meaning the same binary units) suffix.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	upper := strings.ToUpper(t)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a byte size: %q", s)
	}
	if n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("byte size out of range: %q", s)
	}
	return n * mult, nil
}

// formatBytes prints n in the largest binary unit that divides it exactly.
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
