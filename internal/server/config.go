package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/auth"
	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/service"
)

// listen is the gateway's default --listen; metricsListen its default
// --metrics-listen.
const (
	listen        = ":8000"
	metricsListen = ":9091"
)

// Command is the voiceassist-server binary: cmd/voiceassist-server runs it
// with service.Main.
var Command = service.Command{
	Name: "voiceassist-server",
	Summary: `voiceassist-server is the VoiceAssist API gateway. It accepts WAV uploads
(POST /v1/jobs), stores each as a job in PostgreSQL and queues its id in Redis
for voiceassist-worker; GET /v1/jobs/{id} reports the job, DELETE deletes it.
POST /v1/analyze analyses a short clip synchronously. /health is liveness (no
dependencies), /ready checks PostgreSQL and Redis and fails while draining;
/metrics (http_requests_total, http_request_duration_seconds) is on
--metrics-listen only.

Every /v1 request authenticates with "Authorization: Bearer <key or token>"
(or "X-API-Key: <key>"): API keys whose SHA-256 hashes are in --api-keys-file
(re-read when it changes), and OIDC tokens of --oidc-issuer. A job is visible
only to the client that created it. With neither method configured the
gateway refuses to start, unless --allow-unauthenticated (local runs only).
Create a key with "vactl apikey new --client NAME".

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

	// MetricsListen serves /metrics; the public --listen does not.
	MetricsListen string

	// Authentication (see internal/auth).
	APIKeysFile          string
	OIDCIssuer           string
	OIDCAudience         string
	OIDCClientClaim      string
	AllowUnauthenticated bool

	// RetainAudio keeps a job's audio this long after it finished; 0
	// deletes it as the job finishes.
	RetainAudio time.Duration
	// AudioSweepInterval overrides how often expired audio is deleted
	// (tests; 0: derived from RetainAudio, see sweepInterval).
	AudioSweepInterval time.Duration

	// LogClientIP puts the client's address in the access log.
	LogClientIP bool
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
		MetricsListen:      metricsListen,
		OIDCClientClaim:    "sub",
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
		"analyses (/v1/analyze) running at once; beyond it 503 + Retry-After at once instead of queueing. Reading an upload does not count, nor do job submissions and reads (a burst of jobs is what the queue is for; the audio memory budget bounds them). 0: 2 per core (GOMAXPROCS), at least 4")
	s.Int(&c.cfg.ClientRate, "client-rate", "CLIENT_RATE", d.ClientRate,
		"/v1 requests per second each client may make to this replica (the authenticated client id, else the remote IP); over it 429 + Retry-After. 0: no per-client limit")
	s.Int(&c.cfg.ClientBurst, "client-burst", "CLIENT_BURST", d.ClientBurst,
		"requests a client may make at once above --client-rate (token bucket size). 0: the same as --client-rate")
	s.Duration(&c.cfg.MaxAnalyzeDuration, "max-analyze-duration", "MAX_ANALYZE_DURATION", d.MaxAnalyzeDuration, "longest clip POST /v1/analyze analyses synchronously; longer gets 413 (submit a job instead)")
	s.Duration(&c.cfg.PreStopDelay, "pre-stop-delay", "PRE_STOP_DELAY", d.PreStopDelay, "after SIGTERM, keep serving this long with /ready failing so endpoint controllers stop routing here")
	s.Duration(&c.cfg.ShutdownGrace, "shutdown-grace", "SHUTDOWN_GRACE", d.ShutdownGrace, "total time from SIGTERM to exit, pre-stop delay included; keep it below the pod's terminationGracePeriodSeconds")
	s.Duration(&c.cfg.ReadTimeout, "read-timeout", "READ_TIMEOUT", d.ReadTimeout, "http.Server ReadTimeout: the whole request, upload included")
	s.Duration(&c.cfg.WriteTimeout, "write-timeout", "WRITE_TIMEOUT", d.WriteTimeout, "http.Server WriteTimeout: from end of request headers to end of response")
	s.String(&c.cfg.MetricsListen, "metrics-listen", "METRICS_LISTEN", d.MetricsListen,
		"address serving /metrics (and nothing else); --listen does not serve it, so the clients' Service need not expose it")
	s.String(&c.cfg.APIKeysFile, "api-keys-file", "API_KEYS_FILE", "",
		"file of accepted API keys, one <client-id>:<lowercase hex sha256 of the key> per line (# comments); re-read when it changes, no restart (a mounted Secret)")
	s.String(&c.cfg.OIDCIssuer, "oidc-issuer", "OIDC_ISSUER", "", "OpenID Connect issuer URL whose bearer tokens are accepted (discovery at <issuer>/.well-known/openid-configuration)")
	s.String(&c.cfg.OIDCAudience, "oidc-audience", "OIDC_AUDIENCE", "", "audience (aud) an OIDC token must carry; required with --oidc-issuer")
	s.String(&c.cfg.OIDCClientClaim, "oidc-client-claim", "OIDC_CLIENT_CLAIM", d.OIDCClientClaim, "token claim naming the client (who owns the jobs it creates)")
	s.Bool(&c.cfg.AllowUnauthenticated, "allow-unauthenticated", "ALLOW_UNAUTHENTICATED", false,
		"serve /v1 without credentials, every request as client \"anonymous\" (local runs and tests only; never in a cluster)")
	s.Duration(&c.cfg.RetainAudio, "retain-audio", "RETAIN_AUDIO", 0,
		"how long a job's audio is kept after the job finished (done or dead-lettered); 0 deletes it as the job finishes")
	s.Bool(&c.cfg.LogClientIP, "log-client-ip", "LOG_CLIENT_IP", false, "include the client's IP address in access logs (off: an address can identify a patient)")
}

func (c *component) Setup(common *service.Common) (service.Setup, error) {
	c.cfg.Common = *common
	return service.Setup{
		Serving:       c.cfg.serving(),
		MetricsListen: c.cfg.MetricsListen,
		WaitRedis:     true,
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
	a, work, err := c.cfg.authenticator(d.Log)
	if err != nil {
		return nil, service.UsageError(err)
	}
	srv := New(c.cfg, Deps{Jobs: d.Store, Queue: q, Redis: d.Redis, Logger: d.Log, Auth: a})
	lim := srv.cfg // with the derived limits
	d.Log.Info("gateway configured", service.KeyQueue, c.cfg.Queue, "max_upload_bytes", c.cfg.MaxUploadBytes,
		"pre_stop_delay", c.cfg.PreStopDelay.String(), "shutdown_grace", c.cfg.ShutdownGrace.String(),
		"memory_limit", memoryLimit(), "decode_memory_bytes", lim.DecodeMemoryBytes, "max_connections", lim.MaxConnections,
		"max_in_flight", lim.MaxInFlight, "client_rate", lim.ClientRate, "client_burst", lim.ClientBurst,
		"api_keys_file", c.cfg.APIKeysFile, "oidc_issuer", c.cfg.OIDCIssuer, "allow_unauthenticated", c.cfg.AllowUnauthenticated,
		"retain_audio", c.cfg.RetainAudio.String(), "metrics_listen", c.cfg.MetricsListen)
	return &service.Unit{Handler: srv.Handler(), Probes: srv.probes, Metrics: srv.Metrics(),
		Work: func(ctx context.Context) error {
			var wg sync.WaitGroup
			for _, w := range work {
				wg.Go(func() { _ = w(ctx) })
			}
			err := srv.SweepAudio(ctx)
			wg.Wait()
			return err
		}}, nil
}

// authenticator builds the configured methods: the keys file is read now
// (a bad one stops start-up, naming the line), and work holds what keeps
// them current — watching the file, discovering the OIDC issuer.
func (c Config) authenticator(log *slog.Logger) (*auth.Authenticator, []func(context.Context) error, error) {
	a := &auth.Authenticator{AllowUnauthenticated: c.AllowUnauthenticated}
	var work []func(context.Context) error
	if c.APIKeysFile != "" {
		kf, err := auth.LoadKeyFile(c.APIKeysFile, log)
		if err != nil {
			return nil, nil, err
		}
		if kf.Keys().Len() == 0 {
			log.Warn("the api keys file holds no keys: no API key is accepted until one is added", "file", c.APIKeysFile)
		}
		a.Keys = kf
		work = append(work, kf.Watch)
	}
	if c.OIDCIssuer != "" {
		o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: c.OIDCIssuer, Audience: c.OIDCAudience, ClientClaim: c.OIDCClientClaim}, log)
		if err != nil {
			return nil, nil, err
		}
		a.OIDC = o
		work = append(work, o.Discover)
	}
	if a.Keys == nil && a.OIDC == nil {
		log.Warn("authentication is off (--allow-unauthenticated): every request is client " + auth.Anonymous)
	}
	return a, work, nil
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
	if c.APIKeysFile == "" && c.OIDCIssuer == "" && !c.AllowUnauthenticated {
		errs = append(errs, errors.New("no authentication configured: set --api-keys-file (API_KEYS_FILE) and/or --oidc-issuer (OIDC_ISSUER) with --oidc-audience; --allow-unauthenticated only for local runs"))
	}
	if c.OIDCIssuer != "" {
		if err := (auth.OIDCConfig{Issuer: c.OIDCIssuer, Audience: c.OIDCAudience}).Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.OIDCClientClaim == "" {
			errs = append(errs, errors.New("--oidc-client-claim is empty"))
		}
	} else if c.OIDCAudience != "" {
		errs = append(errs, errors.New("--oidc-audience without --oidc-issuer"))
	}
	if c.RetainAudio < 0 {
		errs = append(errs, fmt.Errorf("--retain-audio must be 0 or positive, got %s", c.RetainAudio))
	}
	if c.MetricsListen != "" && c.MetricsListen == c.Listen {
		errs = append(errs, fmt.Errorf("--metrics-listen %s is --listen's address: /metrics must be on a port of its own", c.MetricsListen))
	}
	return errors.Join(errs...)
}
