package exporter

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/service"
)

// Command is the queue-exporter binary: cmd/queue-exporter runs it with
// service.Main.
var Command = service.Command{
	Name: "queue-exporter",
	Summary: `queue-exporter exports the VoiceAssist job queues' depth and oldest-job age
to Prometheus (voiceassist_queue_depth, voiceassist_queue_oldest_job_age_seconds:
what the worker HPA scales on), reading Redis when scraped. With Redis down it
keeps serving, with voiceassist_queue_exporter_up 0 and no queue series.`,
	Listen: ":9121",
	New:    func() service.Component { return &component{} },
}

// Config is the queue-exporter's command line.
type Config struct {
	service.Common
	Queues        []string
	ScrapeTimeout time.Duration
}

type component struct {
	cfg    Config
	queues string
}

func (c *component) Flags(s *envflag.Set) {
	s.String(&c.queues, "queues", "QUEUES", queue.DefaultName, "comma-separated queue names to export (keys voiceassist:queue:{name}...)")
	s.Duration(&c.cfg.ScrapeTimeout, "scrape-timeout", "SCRAPE_TIMEOUT", 5*time.Second, "Redis time budget of one scrape; keep below Prometheus's scrape_timeout")
}

func (c *component) Setup(common *service.Common) (service.Setup, error) {
	c.cfg.Common = *common
	setup := service.Setup{
		Serving: service.Serving{ShutdownGrace: 5 * time.Second},
		// No waiting for Redis: an outage at start-up must show as
		// voiceassist_queue_exporter_up 0, like one later.
		WaitRedis: false,
		// Scrapes are serial and small: a couple of connections are plenty.
		Redis: func(o *redis.Options) { o.PoolSize = 4 },
	}
	for _, q := range strings.Split(c.queues, ",") {
		if q = strings.TrimSpace(q); q != "" {
			if err := queue.ValidateName(q); err != nil {
				return setup, fmt.Errorf("--queues: %w", err)
			}
			c.cfg.Queues = append(c.cfg.Queues, q)
		}
	}
	if len(c.cfg.Queues) == 0 {
		return setup, errors.New("--queues: no queue named")
	}
	if c.cfg.ScrapeTimeout <= 0 {
		return setup, fmt.Errorf("--scrape-timeout %s: must be positive", c.cfg.ScrapeTimeout)
	}
	return setup, nil
}

func (c *component) Start(d service.Deps) (*service.Unit, error) {
	col, err := New(d.Redis, Options{Queues: c.cfg.Queues, Timeout: c.cfg.ScrapeTimeout, Logger: d.Log})
	if err != nil {
		return nil, service.UsageError(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	probes := &service.Probes{Timeout: d.Common.ReadyTimeout, Registry: reg, Log: d.Log}
	d.Log.Info("exporting", service.KeyQueue, c.cfg.Queues)
	return &service.Unit{Handler: probes.Handler(), Probes: probes}, nil
}

// ParseConfig parses args (without the program name) with defaults from
// getenv, as the binary does. Usage and errors go to out; flag.ErrHelp is
// returned for --help.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	p, err := service.Parse(Command, args, getenv, out)
	cfg := p.Component.(*component).cfg
	cfg.Common = p.Common
	return cfg, err
}

// Handler serves /metrics from reg, /health and /ready (no dependency
// checks: restarting or unrouting the exporter cannot fix Redis; the outage
// shows as voiceassist_queue_exporter_up 0 instead).
func Handler(reg *prometheus.Registry) http.Handler {
	return (&service.Probes{Registry: reg}).Handler()
}
