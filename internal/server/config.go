package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/service"
)

// listen is the gateway's default --listen.
const listen = ":8000"

// Command is the voiceassist-server binary: cmd/voiceassist-server runs it
// with service.Main.
var Command = service.Command{
	Name: "voiceassist-server",
	Summary: `voiceassist-server is the VoiceAssist API gateway. It accepts WAV uploads
(POST /v1/jobs), stores each as a job in PostgreSQL and queues its id in Redis
for voiceassist-worker; GET /v1/jobs/{id} reports the job. POST /v1/analyze
analyses a short clip synchronously. /health is liveness (no dependencies),
/ready checks PostgreSQL and Redis and fails while draining, /metrics is
Prometheus (http_requests_total, http_request_duration_seconds).

On SIGTERM it fails /ready at once, keeps serving for --pre-stop-delay, then
stops accepting connections and lets in-flight requests finish, exiting within
--shutdown-grace.`,
	Listen:   listen,
	Postgres: true,
	New:      func() service.Component { return &component{cfg: DefaultConfig()} },
}

// Config is everything the gateway process can be told: the settings every
// service has and the gateway's own.
type Config struct {
	service.Common
	Queue string

	MaxUploadBytes     int64
	MaxAnalyzeDuration time.Duration

	// Limits (limits.go); 0 means derived from the memory limit and
	// GOMAXPROCS when the server is built (Config.derivedLimits).
	DecodeMemoryBytes int64 // budget for upload buffers, decoded audio and analysis
	MaxConnections    int
	MaxInFlight       int
	ClientRate        int // requests per second per client; 0: no per-client limit
	ClientBurst       int

	PreStopDelay  time.Duration
	ShutdownGrace time.Duration
	ReadTimeout   time.Duration
	WriteTimeout  time.Duration
}

// DefaultConfig holds the values used when neither flag nor env var is set.
func DefaultConfig() Config {
	return Config{
		Common: service.Common{
			Listen:         listen,
			RedisAddr:      service.DefaultRedisAddr,
			ReadyTimeout:   service.DefaultReadyTimeout,
			StartupTimeout: service.DefaultStartupTimeout,
			LogLevel:       slog.LevelInfo,
		},
		Queue:              queue.DefaultName,
		MaxUploadBytes:     25 << 20,
		MaxAnalyzeDuration: 30 * time.Second,
		PreStopDelay:       5 * time.Second,
		ShutdownGrace:      25 * time.Second,
		ReadTimeout:        2 * time.Minute,
		WriteTimeout:       2 * time.Minute,
	}
}

type component struct{ cfg Config }

func (c *component) Flags(s *envflag.Set) {
	d := DefaultConfig()
	s.String(&c.cfg.Queue, "queue", "QUEUE_NAME", d.Queue, "name of the Redis queue the workers read")
	s.Bytes(&c.cfg.MaxUploadBytes, "max-upload-bytes", "MAX_UPLOAD_BYTES", d.MaxUploadBytes,
		"largest request body accepted by POST /v1/jobs and /v1/analyze; larger gets 413")
	s.Bytes(&c.cfg.DecodeMemoryBytes, "decode-memory-bytes", "DECODE_MEMORY_BYTES", d.DecodeMemoryBytes,
		"memory budget shared by the audio of concurrent requests: upload buffers as they fill, decoded samples and the analysis, each given back only once the GC has freed it; a request that does not fit gets 503 + Retry-After. 0: a quarter of the memory limit (GOMEMLIMIT, else the cgroup's; 2GiB if none)")
	s.Int(&c.cfg.MaxConnections, "max-connections", "MAX_CONNECTIONS", d.MaxConnections,
		"open client connections at most; more wait in the listen backlog. 0: one per MiB of the memory limit, at least 64")
	s.Int(&c.cfg.MaxInFlight, "max-in-flight", "MAX_IN_FLIGHT", d.MaxInFlight,
		"/v1 requests doing work (decode, analysis, store) at once; beyond it 503 + Retry-After at once instead of queueing. Reading an upload does not count. 0: 2 per core (GOMAXPROCS), at least 4")
	s.Int(&c.cfg.ClientRate, "client-rate", "CLIENT_RATE", d.ClientRate,
		"/v1 requests per second each client may make to this replica (the authenticated client id, else the remote IP); over it 429 + Retry-After. 0: no per-client limit")
	s.Int(&c.cfg.ClientBurst, "client-burst", "CLIENT_BURST", d.ClientBurst,
		"requests a client may make at once above --client-rate (token bucket size). 0: the same as --client-rate")
	s.Duration(&c.cfg.MaxAnalyzeDuration, "max-analyze-duration", "MAX_ANALYZE_DURATION", d.MaxAnalyzeDuration, "longest clip POST /v1/analyze analyses synchronously; longer gets 413 (submit a job instead)")
	s.Duration(&c.cfg.PreStopDelay, "pre-stop-delay", "PRE_STOP_DELAY", d.PreStopDelay, "after SIGTERM, keep serving this long with /ready failing so endpoint controllers stop routing here")
	s.Duration(&c.cfg.ShutdownGrace, "shutdown-grace", "SHUTDOWN_GRACE", d.ShutdownGrace, "total time from SIGTERM to exit, pre-stop delay included; keep it below the pod's terminationGracePeriodSeconds")
	s.Duration(&c.cfg.ReadTimeout, "read-timeout", "READ_TIMEOUT", d.ReadTimeout, "http.Server ReadTimeout: the whole request, upload included")
	s.Duration(&c.cfg.WriteTimeout, "write-timeout", "WRITE_TIMEOUT", d.WriteTimeout, "http.Server WriteTimeout: from end of request headers to end of response")
}

func (c *component) Setup(common *service.Common) (service.Setup, error) {
	c.cfg.Common = *common
	return service.Setup{
		Serving:   c.cfg.serving(),
		WaitRedis: true,
		// Fail fast: an upload waits for Redis at most this long before the
		// client gets 503, instead of hanging on a dead connection.
		Redis: func(o *redis.Options) {
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		},
	}, c.cfg.Validate()
}

func (c *component) Start(d service.Deps) (*service.Unit, error) {
	q, err := queue.New(d.Redis, c.cfg.Queue, queue.Options{Logger: d.Log})
	if err != nil {
		return nil, service.UsageError(err)
	}
	srv := New(c.cfg, Deps{Jobs: d.Store, Queue: q, Redis: d.Redis, Logger: d.Log})
	lim := srv.cfg // with the derived limits
	d.Log.Info("gateway configured", service.KeyQueue, c.cfg.Queue, "max_upload_bytes", c.cfg.MaxUploadBytes,
		"pre_stop_delay", c.cfg.PreStopDelay.String(), "shutdown_grace", c.cfg.ShutdownGrace.String(),
		"memory_limit", memoryLimit(), "decode_memory_bytes", lim.DecodeMemoryBytes, "max_connections", lim.MaxConnections,
		"max_in_flight", lim.MaxInFlight, "client_rate", lim.ClientRate, "client_burst", lim.ClientBurst)
	return &service.Unit{Handler: srv.Handler(), Probes: srv.probes}, nil
}

func (c Config) serving() service.Serving {
	if c.MaxConnections <= 0 {
		c.derivedLimits(memoryLimit())
	}
	return service.Serving{ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout, PreStopDelay: c.PreStopDelay, ShutdownGrace: c.ShutdownGrace,
		MaxConns: c.MaxConnections}
}

// ParseConfig reads flags from args, falling back to environment variables
// (through getenv) and then to DefaultConfig, as the binary does. Usage and
// errors go to out; flag.ErrHelp is returned for --help.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	p, err := service.Parse(Command, args, getenv, out)
	cfg := p.Component.(*component).cfg
	cfg.Common = p.Common
	return cfg, err
}

// Validate reports gateway settings that cannot work together (the common
// ones are checked by service.Parse).
func (c Config) Validate() error {
	var errs []error
	if err := queue.ValidateName(c.Queue); err != nil {
		errs = append(errs, fmt.Errorf("--queue: %w", err))
	}
	if c.MaxUploadBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-upload-bytes must be positive, got %d", c.MaxUploadBytes))
	}
	if c.DecodeMemoryBytes < 0 {
		errs = append(errs, fmt.Errorf("--decode-memory-bytes must not be negative, got %d", c.DecodeMemoryBytes))
	}
	for _, v := range []struct {
		flag string
		v    int
	}{{"--max-connections", c.MaxConnections}, {"--max-in-flight", c.MaxInFlight}, {"--client-rate", c.ClientRate}, {"--client-burst", c.ClientBurst}} {
		if v.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", v.flag, v.v))
		}
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
	return errors.Join(errs...)
}
