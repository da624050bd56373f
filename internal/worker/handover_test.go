package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/worker"
)

// scriptCalls counts the Lua script calls (EVALSHA, EVAL) a client sends:
// every queue operation is one script, so this is the queue's round trips.
// A claim that found the queue empty (a nil reply) is not counted: how
// often an idle worker polls depends on how long the test waits, not on
// the jobs.
type scriptCalls struct{ n atomic.Int64 }

func (c *scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := strings.ToLower(cmd.Name()); (name == "evalsha" || name == "eval") && !errors.Is(err, redis.Nil) {
			c.n.Add(1)
		}
		return err
	}
}
func (c *scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A busy worker acks each job and claims the next in one call. Per job it
// then makes two queue calls — the lease check before the result is written
// (the fence against a stalled worker) and the ack-and-claim — instead of
// three (claim, lease check, ack); every job is still done exactly once.
func TestBacklogCostsOneQueueCallPerJob(t *testing.T) {
	e := newEnv(t)
	calls := &scriptCalls{}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(calls)

	const jobs = 30
	// No reaper or reconciler ticks during the run: only the consumer's calls count.
	cfg := worker.Config{Queue: uniqueQueue(), Concurrency: 1, ReapInterval: time.Hour, ReconcileInterval: time.Hour}
	w, err := worker.New(rdb, e.st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	clip := wav(t, 0.25)
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = newJob(t, e, w.Queue(), clip)
	}
	before := calls.n.Load() // none so far: jobs were enqueued through e.rdb
	r := start(t, rdb, e.st, cfg)
	for _, id := range ids {
		if j := waitStatus(t, e.st, id, store.StatusDone, 60*time.Second); j.Attempts != 1 {
			t.Errorf("job %s: %d attempts, want 1", id, j.Attempts)
		}
	}
	waitFor(t, 10*time.Second, "all acked", func() bool {
		s := stats(t, r.w.Queue())
		return s.Inflight == 0 && s.Depth == 0
	})
	used := calls.n.Load() - before
	// The first claim, two calls per job (and EVALs loading scripts); three
	// per job would be >= 90.
	if lo, hi := int64(2*jobs), int64(2*jobs+8); used < lo || used > hi {
		t.Fatalf("%d queue script calls for %d jobs, want two per job (%d..%d)", used, jobs, lo, hi)
	}
	t.Logf("%d queue script calls for %d jobs", used, jobs)
}
