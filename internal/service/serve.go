package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Serving is how a service's HTTP server runs and drains.
type Serving struct {
	// ReadTimeout and WriteTimeout are http.Server's; 0 means none (the
	// probes-only services answer in milliseconds; ReadHeaderTimeout always
	// guards against slowloris).
	ReadTimeout, WriteTimeout time.Duration
	// PreStopDelay: after SIGTERM, keep serving this long with /ready
	// failing, so endpoint controllers stop routing here first.
	PreStopDelay time.Duration
	// ShutdownGrace: the whole drain, from SIGTERM to exit, pre-stop delay
	// and background work included; in-flight requests still running then
	// are cut off. Keep it below terminationGracePeriodSeconds.
	ShutdownGrace time.Duration
	// MaxConns caps the open connections (golang.org/x/net/netutil's
	// LimitListener: further ones wait in the listen backlog); 0: no cap.
	MaxConns int
}

// HTTPServer is an http.Server serving on a listener, with the drain
// sequence every service shares (Drain).
type HTTPServer struct {
	srv  *http.Server
	errc chan error
	log  *slog.Logger
	addr string
}

// StartHTTP starts serving h on ln.
func StartHTTP(ln net.Listener, h http.Handler, s Serving, log *slog.Logger) *HTTPServer {
	if s.MaxConns > 0 {
		ln = netutil.LimitListener(ln, s.MaxConns)
	}
	hs := &HTTPServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second, // slowloris
			ReadTimeout:       s.ReadTimeout,
			WriteTimeout:      s.WriteTimeout,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			// Request contexts must not derive from the signal context:
			// SIGTERM means "drain", and in-flight requests are supposed
			// to finish.
			BaseContext: func(net.Listener) context.Context { return context.Background() },
		},
		errc: make(chan error, 1),
		log:  log,
		addr: ln.Addr().String(),
	}
	go func() { hs.errc <- hs.srv.Serve(ln) }()
	return hs
}

// Addr is the address served.
func (hs *HTTPServer) Addr() string { return hs.addr }

// Close stops serving at once (start-up failed).
func (hs *HTTPServer) Close() {
	_ = hs.srv.Close()
	<-hs.errc
}

// Drain serves until ctx is cancelled (SIGTERM), running work (if not nil)
// beside the server on ctx, then shuts down the way a Kubernetes pod must:
//
//  1. /ready fails at once (probes.SetDraining), so the endpoints controller
//     takes the pod out of its Services. That takes a few seconds to reach
//     every kube-proxy and ingress, and meanwhile they still send new
//     requests here, so
//  2. the server keeps serving everything for PreStopDelay (keep-alives off,
//     so clients re-dial and land on other pods), while work, whose context
//     is cancelled too, finishes its own drain (the worker's jobs); then
//  3. http.Server.Shutdown closes the listener and waits for in-flight
//     requests until ShutdownGrace (counted from the signal) runs out, when
//     the remaining connections are closed.
//
// It returns nil after a clean drain, or an error if the listener failed,
// work failed, or in-flight requests had to be cut off. If the listener or
// work fails first, the other is stopped the same way.
func (hs *HTTPServer) Drain(ctx context.Context, probes *Probes, s Serving, work func(context.Context) error) error {
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workDone := make(chan error, 1)
	if work != nil {
		go func() { workDone <- work(workCtx) }()
	}
	var failed error
	select {
	case err := <-hs.errc:
		hs.errc <- err // for the wait at the end
		failed = fmt.Errorf("http server: %w", err)
	case err := <-workDone:
		workDone <- err
		if err == nil {
			err = errors.New("stopped by itself")
		}
		failed = fmt.Errorf("background work: %w", err)
	case <-ctx.Done():
	}
	signalled := time.Now()
	if probes != nil {
		probes.SetDraining()
	}
	hs.srv.SetKeepAlivesEnabled(false)
	stopWork()
	if failed != nil {
		hs.log.Error("stopping", KeyErr, failed)
	} else {
		hs.log.Info("draining: /ready now fails; still serving during the pre-stop delay", "pre_stop_delay", s.PreStopDelay.String())
		select {
		case <-time.After(s.PreStopDelay):
		case err := <-hs.errc:
			hs.errc <- err
			failed = fmt.Errorf("http server: %w", err)
		}
	}
	if work != nil {
		if err := <-workDone; err != nil && failed == nil {
			failed = fmt.Errorf("background work: %w", err)
		}
	}

	sctx, cancel := context.WithDeadline(context.Background(), signalled.Add(s.ShutdownGrace))
	defer cancel()
	hs.log.Info("shutting down: listener closed, waiting for in-flight requests")
	err := hs.srv.Shutdown(sctx)
	if err != nil {
		// Grace period exhausted: cut the stragglers off so the process
		// exits before the kubelet's SIGKILL, and say so.
		_ = hs.srv.Close()
		err = fmt.Errorf("shutdown after %s: in-flight requests cut off: %w", time.Since(signalled).Round(time.Millisecond), err)
		hs.log.Error("shutdown incomplete", KeyErr, err)
	} else if failed == nil {
		hs.log.Info("shutdown complete", "after", time.Since(signalled).Round(time.Millisecond).String())
	}
	if serr := <-hs.errc; !errors.Is(serr, http.ErrServerClosed) && failed == nil {
		failed = fmt.Errorf("http server: %w", serr)
	}
	return errors.Join(failed, err)
}

// Serve is StartHTTP and Drain in one call, for a handler that needs no
// start-up phase.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, probes *Probes, s Serving, log *slog.Logger, work func(context.Context) error) error {
	return StartHTTP(ln, h, s, log).Drain(ctx, probes, s, work)
}
