package exporter

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/voiceassist/autoscaling/internal/queue"
)

// Config is the queue-exporter's command line. Each flag has an environment
// variable (shown in --help); a flag given on the command line wins.
type Config struct {
	RedisAddr     string
	RedisPassword string
	RedisDB       int
	Queues        []string
	Listen        string
	ScrapeTimeout time.Duration
	LogLevel      slog.Level
}

// ParseConfig parses args (without the program name) with defaults from
// getenv. Usage and errors go to out. flag.ErrHelp is returned for --help.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("queue-exporter", flag.ContinueOnError)
	fs.SetOutput(out)
	e := envFlags{fs: fs, getenv: getenv}
	var queues, level string
	e.str(&c.RedisAddr, "redis-addr", "REDIS_ADDR", "localhost:6379", "Redis holding the queues: host:port or redis://[:password@]host:port/db")
	c.RedisPassword = getenv("REDIS_PASSWORD") // deliberately no flag: flags show in ps
	e.int(&c.RedisDB, "redis-db", "REDIS_DB", 0, "Redis database number (the password comes only from $REDIS_PASSWORD)")
	e.str(&queues, "queues", "QUEUES", queue.DefaultName, "comma-separated queue names to export (keys voiceassist:queue:{name}...)")
	e.str(&c.Listen, "listen", "LISTEN_ADDR", ":9121", "address serving /metrics and /health")
	e.dur(&c.ScrapeTimeout, "scrape-timeout", "SCRAPE_TIMEOUT", 5*time.Second, "Redis time budget of one scrape; keep below Prometheus's scrape_timeout")
	e.str(&level, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error (JSON logs on stderr)")
	fs.Usage = func() {
		fmt.Fprintf(out, "queue-exporter exports the VoiceAssist job queues' depth and oldest-job age to Prometheus.\n\nUsage: queue-exporter [flags]\n\nFlags (environment variable in brackets; a flag wins over its variable):\n")
		fs.PrintDefaults()
	}
	if err := e.err; err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, q := range strings.Split(queues, ",") {
		if q = strings.TrimSpace(q); q != "" {
			if err := queue.ValidateName(q); err != nil {
				return c, fmt.Errorf("--queues: %w", err)
			}
			c.Queues = append(c.Queues, q)
		}
	}
	if len(c.Queues) == 0 {
		return c, errors.New("--queues: no queue named")
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("--log-level %q: %w", level, err)
	}
	if c.ScrapeTimeout <= 0 {
		return c, fmt.Errorf("--scrape-timeout %s: must be positive", c.ScrapeTimeout)
	}
	return c, nil
}

// envFlags declares flags whose defaults come from environment variables.
// A malformed variable is an error naming it, never silently the default.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	err    error
}

func (e *envFlags) usage(env, usage string) string { return usage + " [$" + env + "]" }

func (e *envFlags) str(p *string, name, env, def, usage string) {
	if v := e.getenv(env); v != "" {
		def = v
	}
	e.fs.StringVar(p, name, def, e.usage(env, usage))
}

func (e *envFlags) int(p *int, name, env string, def int, usage string) {
	if v := e.getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("$%s=%q: not an integer", env, v)
		}
		def = n
	}
	e.fs.IntVar(p, name, def, e.usage(env, usage))
}

func (e *envFlags) dur(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v := e.getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("$%s=%q: not a duration (e.g. 5s, 1m30s)", env, v)
		}
		def = d
	}
	e.fs.DurationVar(p, name, def, e.usage(env, usage))
}
