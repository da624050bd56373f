package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/store"
)

// StartupBackoff is the one start-up retry policy: 250 ms, doubling, capped
// at 5 s, with up to 20 % jitter so the replicas of a rollout do not retry
// in step. The overall bound is the caller's context (--startup-timeout).
var StartupBackoff = wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: math.MaxInt32, Cap: 5 * time.Second}

// attemptTimeout bounds one connection attempt, so a black-holed address
// (no RST, just silence) is retried rather than waited on for the whole
// start-up timeout.
const attemptTimeout = 5 * time.Second

// Retry calls try until it succeeds or ctx ends, waiting StartupBackoff
// between attempts and logging each failure with what it waits for. On
// giving up it returns an error naming what, how many attempts, and the
// last failure. state, if not nil, holds the last failure meanwhile (for
// /ready during start-up).
func Retry(ctx context.Context, log *slog.Logger, what string, state *atomic.Value, try func(context.Context) error) error {
	attempt := 0
	var last error
	err := StartupBackoff.DelayFunc().Until(ctx, true, false, func(ctx context.Context) (bool, error) {
		attempt++
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		if last = try(actx); last == nil {
			return true, nil
		}
		if state != nil {
			state.Store(what + ": " + last.Error())
		}
		log.Warn(what+" not ready; retrying", "attempt", attempt, KeyErr, last)
		return false, nil
	})
	if err == nil {
		return nil
	}
	if last == nil {
		last = err
	}
	return fmt.Errorf("%s: gave up after %d attempts (%v): %w", what, attempt, context.Cause(ctx), last)
}

// OpenPostgres opens the job store, migrating the schema, retrying as Retry
// does.
func OpenPostgres(ctx context.Context, log *slog.Logger, dsn string, state *atomic.Value) (*store.Store, error) {
	var st *store.Store
	err := Retry(ctx, log, "PostgreSQL", state, func(ctx context.Context) error {
		s, err := store.Open(ctx, dsn)
		st = s
		return err
	})
	return st, err
}

// WaitRedis pings rdb until it answers, retrying as Retry does.
func WaitRedis(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, state *atomic.Value) error {
	return Retry(ctx, log, "Redis", state, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
}

// errStartupTimeout is the cause of the start-up context's deadline.
var errStartupTimeout = errors.New("--startup-timeout reached")
