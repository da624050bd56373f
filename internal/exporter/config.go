package exporter

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/voiceassist/autoscaling/internal/envflag"
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
	e := envflag.Set{FS: fs, Getenv: getenv}
	var queues, level string
	e.String(&c.RedisAddr, "redis-addr", "REDIS_ADDR", "localhost:6379", "Redis holding the queues: host:port or redis://[:password@]host:port/db")
	c.RedisPassword = getenv("REDIS_PASSWORD") // deliberately no flag: flags show in ps
	e.Int(&c.RedisDB, "redis-db", "REDIS_DB", 0, "Redis database number (the password comes only from $REDIS_PASSWORD)")
	e.String(&queues, "queues", "QUEUES", queue.DefaultName, "comma-separated queue names to export (keys voiceassist:queue:{name}...)")
	e.String(&c.Listen, "listen", "LISTEN_ADDR", ":9121", "address serving /metrics and /health")
	e.Duration(&c.ScrapeTimeout, "scrape-timeout", "SCRAPE_TIMEOUT", 5*time.Second, "Redis time budget of one scrape; keep below Prometheus's scrape_timeout")
	e.String(&level, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error (JSON logs on stderr)")
	fs.Usage = func() {
		fmt.Fprintf(out, "queue-exporter exports the VoiceAssist job queues' depth and oldest-job age to Prometheus.\n\nUsage: queue-exporter [flags]\n\nFlags (environment variable in brackets; a flag wins over its variable):\n")
		fs.PrintDefaults()
	}
	if err := e.Err; err != nil {
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
