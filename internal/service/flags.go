package service

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/envflag"
)

// Defaults of the common flags, the same in every service (only --listen
// differs, see Command.Listen).
const (
	DefaultRedisAddr = "localhost:6379"
	// DefaultStartupTimeout bounds the wait for PostgreSQL and Redis at
	// start-up (see the package doc for why it gives up).
	DefaultStartupTimeout = time.Minute
	// DefaultReadyTimeout is below the kubelet's default probe timeout
	// (timeoutSeconds: 1), so a slow dependency is reported in /ready's body
	// and our log rather than as a bare probe timeout.
	DefaultReadyTimeout = 800 * time.Millisecond
)

// Common are the settings every service has, with the same flag, variable,
// default and help text everywhere.
type Common struct {
	Listen         string
	RedisAddr      string
	RedisPassword  string // only from $REDIS_PASSWORD: flags show in ps and in the pod spec
	RedisDB        int
	DatabaseURL    string // "" for a service without PostgreSQL
	LogLevel       slog.Level
	StartupTimeout time.Duration
	ReadyTimeout   time.Duration
}

// declare registers the common flags; postgres adds --database-url.
func (c *Common) declare(s *envflag.Set, listen string, postgres bool) {
	s.String(&c.Listen, "listen", "LISTEN_ADDR", listen, "address serving HTTP: the service's endpoints, /health, /ready and /metrics (the gateway serves /metrics on --metrics-listen instead)")
	s.String(&c.RedisAddr, "redis-addr", "REDIS_ADDR", DefaultRedisAddr, "Redis holding the job queue: host:port or redis://[:password@]host:port[/db]")
	s.EnvOnly(&c.RedisPassword, "REDIS_PASSWORD", "Redis password; deliberately no flag (flags show in ps and in the pod spec)")
	s.Int(&c.RedisDB, "redis-db", "REDIS_DB", 0, "Redis database number (the password comes only from $REDIS_PASSWORD)")
	if postgres {
		s.String(&c.DatabaseURL, "database-url", "DATABASE_URL", "",
			"PostgreSQL URL holding the jobs table, e.g. postgres://user:pass@voiceassist-postgres:5432/voiceassist?sslmode=disable (required; prefer the variable, it keeps the password out of ps; libpq's PGPASSWORD etc. apply too)")
	}
	c.LogLevel = slog.LevelInfo
	s.Text(&c.LogLevel, "log-level", "LOG_LEVEL", "debug, info, warn or error (JSON logs on stderr); probes and scrapes are logged at debug")
	s.Duration(&c.StartupTimeout, "startup-timeout", "STARTUP_TIMEOUT", DefaultStartupTimeout,
		"how long start-up retries PostgreSQL and Redis before exiting 1 (meanwhile /health is 200 and /ready 503)")
	s.Duration(&c.ReadyTimeout, "ready-timeout", "READY_TIMEOUT", DefaultReadyTimeout, "timeout of each dependency check of /ready (they run in parallel)")
}

func (c *Common) validate(postgres bool) error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is empty"))
	}
	if _, err := c.RedisOptions(); err != nil {
		errs = append(errs, fmt.Errorf("--redis-addr: %w", err))
	}
	if postgres && c.DatabaseURL == "" {
		errs = append(errs, errors.New("no PostgreSQL URL: set DATABASE_URL or --database-url"))
	}
	if c.StartupTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--startup-timeout %s: must be positive", c.StartupTimeout))
	}
	if c.ReadyTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--ready-timeout %s: must be positive", c.ReadyTimeout))
	}
	return errors.Join(errs...)
}

// RedisOptions turns --redis-addr (host:port or a redis:// URL),
// $REDIS_PASSWORD and --redis-db into go-redis options; the password and
// database override those of a URL when set.
func (c *Common) RedisOptions() (*redis.Options, error) {
	var opt *redis.Options
	switch {
	case c.RedisAddr == "":
		return nil, errors.New("redis address is empty")
	case strings.Contains(c.RedisAddr, "://"):
		o, err := redis.ParseURL(c.RedisAddr)
		if err != nil {
			return nil, fmt.Errorf("redis address %q: %w", c.RedisAddr, err)
		}
		opt = o
	default:
		opt = &redis.Options{Addr: c.RedisAddr}
	}
	if c.RedisPassword != "" {
		opt.Password = c.RedisPassword
	}
	if c.RedisDB != 0 {
		opt.DB = c.RedisDB
	}
	return opt, nil
}
