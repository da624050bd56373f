package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/envflag"
	"github.com/voiceassist/autoscaling/internal/store"
)

// Command is one service binary.
type Command struct {
	// Name is the program name, in --help and in errors.
	Name string
	// Summary is the --help text between the usage line and the flags:
	// what the service does and how it stops.
	Summary string
	// Listen is the default --listen address.
	Listen string
	// Postgres: the service uses the job store, so --database-url is
	// declared and required and start-up opens the store.
	Postgres bool
	// New returns a fresh Component to declare its flags on.
	New func() Component
}

// Component is a service's own part: its knobs and how to build it.
type Component interface {
	// Flags declares the service's own flags (the common ones are declared
	// already).
	Flags(s *envflag.Set)
	// Setup validates the parsed flags, given the common ones, and says how
	// the runtime must serve and connect.
	Setup(c *Common) (Setup, error)
	// Start builds the running service on its open dependencies.
	Start(d Deps) (*Unit, error)
}

// Setup is what a component asks of the runtime.
type Setup struct {
	Serving
	// WaitRedis: start-up waits until Redis answers. The exporter does not:
	// with Redis down it must serve voiceassist_queue_exporter_up 0.
	WaitRedis bool
	// Redis adjusts the client's options (pool size, timeouts); may be nil.
	Redis func(*redis.Options)
	// MetricsListen, if not empty, is a second address that serves only
	// Unit.Metrics (/metrics), so the port clients reach need not expose
	// it; the gateway's --metrics-listen.
	MetricsListen string
}

// Deps are the open dependencies a component starts on.
type Deps struct {
	Common *Common
	Log    *slog.Logger
	Redis  *redis.Client
	Store  *store.Store // nil unless Command.Postgres
}

// Unit is a running service.
type Unit struct {
	// Handler serves everything on --listen, probes included (Probes.Handler,
	// or Probes.Health/Ready/Metrics mounted in the service's own routes).
	Handler http.Handler
	// Probes fail /ready from SIGTERM on.
	Probes *Probes
	// Work, if not nil, runs beside the HTTP server until its context is
	// cancelled (SIGTERM) and returns once its own drain is done.
	Work func(context.Context) error
	// Metrics serves Setup.MetricsListen (used only when that is set).
	Metrics http.Handler
}

// Exit codes, as every command of this repository uses them.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Parsed is a command line parsed into the common settings and the
// component's.
type Parsed struct {
	Common    Common
	Component Component
	Setup     Setup

	commonVars int // how many of the set's Vars are the common ones
}

// Vars lists cmd's settings with their built-in defaults: the common ones
// and the service's own (for the generated reference in
// docs/running-locally.md).
func Vars(cmd Command) (common, own []envflag.Var) {
	s, p := FlagSet(cmd, func(string) string { return "" }, io.Discard)
	return s.Vars[:p.commonVars], s.Vars[p.commonVars:]
}

// FlagSet declares cmd's flags (common ones first) on a new flag set with
// its --help text, returning the set, the envflag records and where the
// values go. Parse uses it; so does the documentation generator.
func FlagSet(cmd Command, getenv func(string) string, out io.Writer) (*envflag.Set, *Parsed) {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	s := &envflag.Set{FS: fs, Getenv: getenv}
	p := &Parsed{Component: cmd.New()}
	p.Common.declare(s, cmd.Listen, cmd.Postgres)
	p.commonVars = len(s.Vars)
	p.Component.Flags(s)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: %s [flags]\n\n%s\n\nFlags (environment variable in brackets; a flag given on the command line wins over its variable):\n", cmd.Name, cmd.Summary)
		fs.PrintDefaults()
	}
	return s, p
}

// Parse parses args with defaults from getenv. --help writes the usage to
// out and returns flag.ErrHelp.
func Parse(cmd Command, args []string, getenv func(string) string, out io.Writer) (*Parsed, error) {
	s, p := FlagSet(cmd, getenv, out)
	if s.Err != nil {
		return p, s.Err
	}
	if err := s.FS.Parse(args); err != nil {
		return p, err
	}
	if s.FS.NArg() > 0 {
		return p, fmt.Errorf("unexpected arguments %q", s.FS.Args())
	}
	errs := []error{p.Common.validate(cmd.Postgres)}
	if cmd.Postgres && p.Common.DatabaseURL != "" {
		if _, err := pgxpool.ParseConfig(p.Common.DatabaseURL); err != nil {
			errs = append(errs, fmt.Errorf("--database-url: %w", err))
		}
	}
	setup, err := p.Component.Setup(&p.Common)
	p.Setup = setup
	if err = errors.Join(append(errs, err)...); err != nil {
		return p, err
	}
	return p, nil
}

// Main runs cmd as the process: os.Args, os.Getenv, stdout and stderr, and
// SIGTERM/SIGINT to drain (a second signal kills at once). It returns the
// exit code for os.Exit.
func Main(cmd Command, args []string, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	return run(ctx, cmd, args, getenv, os.Stderr, true)
}

// Run is Main without the process: cancelling ctx is SIGTERM; usage, errors
// and the JSON logs go to stderr. It returns the exit code.
func Run(ctx context.Context, cmd Command, args []string, getenv func(string) string, stderr io.Writer) int {
	return run(ctx, cmd, args, getenv, stderr, false)
}

func run(ctx context.Context, cmd Command, args []string, getenv func(string) string, stderr io.Writer, process bool) int {
	p, err := Parse(cmd, args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.Name, err)
		return ExitUsage
	}
	log := NewLogger(stderr, p.Common.LogLevel)
	if process {
		SetProcessLogger(log)
	}
	if err := start(ctx, cmd, p, log); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			log.Error("bad configuration", KeyErr, err)
			return ExitUsage
		}
		log.Error(cmd.Name+" failed", KeyErr, err)
		return ExitFailure
	}
	log.Info(cmd.Name + " stopped")
	return ExitOK
}

// usageError is a configuration the component rejected at Start.
type usageError struct{ error }

// UsageError marks an error of Component.Start as the configuration's
// fault (exit 2), not the environment's.
func UsageError(err error) error { return usageError{err} }

func start(ctx context.Context, cmd Command, p *Parsed, log *slog.Logger) error {
	c := &p.Common
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	// Until the dependencies are open the probes say so: alive, not ready.
	var waiting atomic.Value
	waiting.Store("starting")
	startup := &Probes{Checks: []Check{{"startup", func(context.Context) error {
		return errors.New(waiting.Load().(string))
	}}}}
	gate := newGate(startupHandler(startup))
	var metrics *metricsServer
	if p.Setup.MetricsListen != "" {
		if metrics, err = startMetrics(p.Setup.MetricsListen, log); err != nil {
			ln.Close()
			return err
		}
	}
	hs := StartHTTP(ln, gate, p.Setup.Serving, log)
	log.Info("listening; opening dependencies", "addr", hs.Addr(), "startup_timeout", c.StartupTimeout.String())
	closeAll := func() {
		hs.Close()
		metrics.close()
	}

	d, err := open(ctx, cmd, p, log, &waiting)
	if err != nil {
		closeAll()
		if ctx.Err() != nil {
			log.Info("stopped during start-up", KeyErr, err)
			return nil
		}
		return err
	}
	defer d.Redis.Close()
	if d.Store != nil {
		defer d.Store.Close()
	}
	u, err := p.Component.Start(d)
	if err != nil {
		closeAll()
		return err
	}
	gate.set(u.Handler)
	metrics.set(u.Metrics)
	log.Info("serving", "addr", hs.Addr())
	err = hs.Drain(ctx, u.Probes, p.Setup.Serving, u.Work)
	// Scraped to the end: the drain's own metrics are worth having.
	metrics.close()
	return err
}

// metricsServer is the --metrics-listen listener: /metrics only, 503 until
// the service has started.
type metricsServer struct {
	hs   *HTTPServer
	gate *gate
}

func startMetrics(addr string, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (--metrics-listen): %w", addr, err)
	}
	g := newGate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusServiceUnavailable, "starting", "no metrics before the service has started")
	}))
	m := &metricsServer{gate: g,
		hs: StartHTTP(ln, g, Serving{ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}, log)}
	log.Info("serving metrics", "addr", m.hs.Addr())
	return m, nil
}

func (m *metricsServer) set(h http.Handler) {
	if m != nil && h != nil {
		m.gate.set(h)
	}
}

func (m *metricsServer) close() {
	if m != nil {
		m.hs.Close()
	}
}

func open(ctx context.Context, cmd Command, p *Parsed, log *slog.Logger, waiting *atomic.Value) (Deps, error) {
	c := &p.Common
	d := Deps{Common: c, Log: log}
	sctx, cancel := context.WithTimeoutCause(ctx, c.StartupTimeout, errStartupTimeout)
	defer cancel()
	ropt, err := c.RedisOptions()
	if err != nil {
		return d, UsageError(err) // validated already; kept for safety
	}
	if p.Setup.Redis != nil {
		p.Setup.Redis(ropt)
	}
	d.Redis = redis.NewClient(ropt)
	if p.Setup.WaitRedis {
		if err := WaitRedis(sctx, log, d.Redis, waiting); err != nil {
			d.Redis.Close()
			return d, err
		}
	}
	if cmd.Postgres {
		st, err := OpenPostgres(sctx, log, c.DatabaseURL, waiting)
		if err != nil {
			d.Redis.Close()
			return d, err
		}
		d.Store = st
	}
	return d, nil
}

// gate serves the start-up handler until the service's is set.
type gate struct {
	startup http.Handler
	h       atomic.Pointer[http.Handler]
}

func newGate(startup http.Handler) *gate { return &gate{startup: startup} }

func (g *gate) set(h http.Handler) { g.h.Store(&h) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	g.startup.ServeHTTP(w, r)
}

// startupHandler answers /health 200, /ready 503 with what start-up waits
// for, and everything else 503.
func startupHandler(p *Probes) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", p.Health)
	mux.HandleFunc("GET /ready", p.Ready)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusServiceUnavailable, "starting", "the service is still connecting to its dependencies; see /ready")
	})
	return mux
}
