package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/voiceassist/autoscaling/internal/queue"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func newRedis(tb testing.TB) (*testenv.Redis, *redis.Client) {
	tb.Helper()
	srv := testenv.StartRedis(tb)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
	tb.Cleanup(func() { rdb.Close() })
	return srv, rdb
}

func newQueue(tb testing.TB, rdb *redis.Client, opt queue.Options) *queue.Queue {
	tb.Helper()
	q, err := queue.New(rdb, queue.DefaultName, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

func enqueue(t *testing.T, q *queue.Queue, ids ...string) {
	t.Helper()
	if err := q.Enqueue(context.Background(), ids...); err != nil {
		t.Fatal(err)
	}
}

// claim is TryClaim failing the test on an error (nil: nothing ready).
func claim(t *testing.T, q *queue.Queue) *queue.Lease {
	t.Helper()
	l, err := q.TryClaim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func reap(t *testing.T, q *queue.Queue) queue.ReapResult {
	t.Helper()
	r, err := q.Reap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// redisNow is Redis's clock, the one leases and retries fall due by.
func redisNow(t *testing.T, rdb *redis.Client) time.Time {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// waitRedisTime polls Redis's clock until it reaches at: the event a lease
// expiry or a retry's due time is, observed rather than slept for.
func waitRedisTime(t *testing.T, rdb *redis.Client, at time.Time) {
	t.Helper()
	poll(t, 30*time.Second, "Redis's clock to reach "+at.Format(time.RFC3339Nano), func() bool {
		return !redisNow(t, rdb).Before(at)
	})
}

// poll checks cond every 5 ms until it holds, for at most timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func mustStats(t *testing.T, q *queue.Queue) queue.Stats {
	t.Helper()
	s, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The acceptance test: 8 concurrent consumers, 1,000 jobs, no
// failures — every job is processed exactly once and none is lost.
func TestClaimAtomicityConcurrentConsumers(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{})
	ctx := context.Background()
	const jobs, consumers = 1000, 8
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = fmt.Sprintf("job-%04d", i)
	}
	// Enqueue in chunks from several goroutines too, so producers and
	// consumers overlap.
	var prod sync.WaitGroup
	for c := 0; c < 4; c++ {
		prod.Add(1)
		go func(c int) {
			defer prod.Done()
			for i := c * 250; i < (c+1)*250; i += 10 {
				if err := q.Enqueue(ctx, ids[i:i+10]...); err != nil {
					t.Error(err)
					return
				}
			}
		}(c)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				l, err := q.Claim(cctx)
				if errors.Is(err, context.Canceled) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if l.Attempt != 1 {
					t.Errorf("job %s: attempt %d, want 1", l.ID, l.Attempt)
				}
				mu.Lock()
				seen[l.ID]++
				done := len(seen) == jobs
				mu.Unlock()
				if err := q.Ack(ctx, l); err != nil {
					t.Error(err)
				}
				if done {
					cancel()
				}
			}
		}()
	}
	prod.Wait()
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("consumers did not finish; processed %d of %d", len(seen), jobs)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("job %s processed %d times, want exactly 1", id, seen[id])
		}
	}
	s := mustStats(t, q)
	if s.Depth != 0 || s.Inflight != 0 || s.Delayed != 0 || s.Dead != 0 {
		t.Errorf("queue not empty after all acks: %+v", s)
	}
	// Acked jobs leave nothing behind in the bookkeeping hashes.
	k := q.Keys()
	for _, key := range []string{k.Attempts, k.Claims, k.Errors, k.Enqueued} {
		if n, err := rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
			t.Errorf("%s still exists after every job was acked (%v)", key, err)
		}
	}
}

// A consumer that claims and dies (kill -9: no ack, no release) loses
// nothing: once the lease expires the reaper returns the job, it is
// processed again, and the dead consumer's late ack is refused.
func TestLeaseExpiryReaperReturnsJob(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{Lease: 300 * time.Millisecond})
	ctx := context.Background()
	if err := q.Enqueue(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	dead, err := q.TryClaim(ctx) // the consumer that will "die"
	if err != nil || dead == nil || dead.ID != "a" {
		t.Fatalf("claim: %+v %v", dead, err)
	}
	if r, err := q.Reap(ctx); err != nil || r != (queue.ReapResult{}) {
		t.Fatalf("reap before the deadline moved %+v (%v), want nothing", r, err)
	}
	if s := mustStats(t, q); s.Inflight != 1 || s.Depth != 1 {
		t.Fatalf("stats %+v, want 1 in flight and 1 ready", s)
	}
	waitRedisTime(t, rdb, dead.Deadline.Add(time.Millisecond))
	r, err := q.Reap(ctx)
	if err != nil || r.Returned != 1 {
		t.Fatalf("reap after the deadline: %+v %v, want 1 returned", r, err)
	}
	// The returned job goes to the front: it was claimed before "b".
	again, err := q.TryClaim(ctx)
	if err != nil || again == nil || again.ID != "a" || again.Attempt != 2 {
		t.Fatalf("re-claim: %+v %v, want job a attempt 2", again, err)
	}
	if err := q.Ack(ctx, dead); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("late ack by the dead consumer: %v, want ErrLeaseLost", err)
	}
	if _, err := q.Extend(ctx, dead); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("late extend by the dead consumer: %v, want ErrLeaseLost", err)
	}
	if err := q.Ack(ctx, again); err != nil {
		t.Fatal(err)
	}
	if s := mustStats(t, q); s.Inflight != 0 || s.Depth != 1 {
		t.Fatalf("stats %+v, want 0 in flight and b ready", s)
	}
}

// Extend (the worker's heartbeat) keeps a long job's lease alive: renewed
// while Redis's clock passes the first deadline, the job is never reaped.
func TestExtendKeepsLease(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{Lease: time.Second})
	ctx := context.Background()
	enqueue(t, q, "long")
	l := claim(t, q)
	past := l.Deadline.Add(time.Second) // two leases after the claim
	for redisNow(t, rdb).Before(past) {
		d, err := q.Extend(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if !d.After(redisNow(t, rdb)) {
			t.Fatalf("extended deadline %v is not ahead", d)
		}
		if r := reap(t, q); r.Returned != 0 {
			t.Fatalf("reaper returned a job whose lease was extended")
		}
		waitRedisTime(t, rdb, redisNow(t, rdb).Add(100*time.Millisecond)) // a heartbeat's pace
	}
	if err := q.Ack(ctx, l); err != nil {
		t.Fatal(err)
	}
}

// A job that always fails transiently is retried with backoff and
// dead-lettered after MaxAttempts claims, with its reason kept.
func TestPoisonJobDeadLetteredAfterMaxAttempts(t *testing.T) {
	_, rdb := newRedis(t)
	const k = 3
	q := newQueue(t, rdb, queue.Options{MaxAttempts: k, BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	ctx := context.Background()
	enqueue(t, q, "poison")
	var lastNack time.Time
	for attempt := 1; attempt <= k; attempt++ {
		var l *queue.Lease
		poll(t, 5*time.Second, fmt.Sprintf("attempt %d back from the delayed set", attempt), func() bool {
			reap(t, q)
			l = claim(t, q)
			return l != nil
		})
		if l.Attempt != attempt {
			t.Fatalf("attempt %d: lease says %d", attempt, l.Attempt)
		}
		out, err := q.Nack(ctx, l, fmt.Sprintf("boom %d", attempt))
		if err != nil {
			t.Fatal(err)
		}
		lastNack = redisNow(t, rdb)
		if out.DeadLettered != (attempt == k) {
			t.Fatalf("attempt %d: outcome %+v", attempt, out)
		}
	}
	s := mustStats(t, q)
	if s.Dead != 1 || s.Depth != 0 || s.Delayed != 0 || s.Inflight != 0 {
		t.Fatalf("stats %+v, want only 1 dead", s)
	}
	dl, err := q.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || dl[0] != (queue.DeadLetter{ID: "poison", Reason: "boom 3", Attempts: k}) {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	// Never comes back, not even after the longest backoff.
	waitRedisTime(t, rdb, lastNack.Add(50*time.Millisecond))
	reap(t, q)
	if l := claim(t, q); l != nil {
		t.Fatalf("dead-lettered job claimed again: %+v", l)
	}
	// Re-enqueueing by hand (an operator's retry) starts a fresh job.
	enqueue(t, q, "poison")
	if l := claim(t, q); l == nil || l.Attempt != 1 {
		t.Fatalf("re-enqueued job: %+v, want attempt 1", l)
	}
}

// Fail dead-letters on the first attempt: retrying cannot help.
func TestFailDeadLettersAtOnce(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{MaxAttempts: 5})
	ctx := context.Background()
	enqueue(t, q, "bad-audio")
	l := claim(t, q)
	if err := q.Fail(ctx, l, "decode: not a WAV file"); err != nil {
		t.Fatal(err)
	}
	dl, err := q.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].Reason != "decode: not a WAV file" || dl[0].Attempts != 1 {
		t.Fatalf("dead letters %+v", dl)
	}
	if err := q.Ack(ctx, l); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("ack after fail: %v, want ErrLeaseLost", err)
	}
}

// An expired lease on the last attempt is dead-lettered by the reaper, not
// returned forever (a job that crashes every worker it touches).
func TestReaperDeadLettersExhaustedLease(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{MaxAttempts: 2, Lease: 50 * time.Millisecond})
	ctx := context.Background()
	enqueue(t, q, "crasher")
	for i := 0; i < 2; i++ {
		l := claim(t, q)
		if l == nil {
			t.Fatalf("claim %d found nothing", i+1)
		}
		waitRedisTime(t, rdb, l.Deadline.Add(time.Millisecond))
		if r := reap(t, q); r.Returned+r.DeadLettered != 1 {
			t.Fatalf("reap after lease %d expired: %+v, want the job moved", i+1, r)
		}
	}
	dl, err := q.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || !strings.Contains(dl[0].Reason, "lease expired on attempt 2 of 2") {
		t.Fatalf("dead letters %+v", dl)
	}
}

// Retry delays double from BackoffBase up to BackoffMax, and retries are
// promoted in due order, never before they are due.
func TestBackoffOrdering(t *testing.T) {
	_, rdb := newRedis(t)
	base, maxd := 100*time.Millisecond, 400*time.Millisecond
	q := newQueue(t, rdb, queue.Options{MaxAttempts: 10, BackoffBase: base, BackoffMax: maxd})
	ctx := context.Background()

	// Delays for one job across attempts: 100, 200, 400, 400 ms.
	enqueue(t, q, "x")
	want := []time.Duration{100, 200, 400, 400}
	for i, w := range want {
		w *= time.Millisecond
		l, err := q.TryClaim(ctx)
		if err != nil || l == nil {
			t.Fatalf("attempt %d: claim %v %v", i+1, l, err)
		}
		out, err := q.Nack(ctx, l, "transient")
		if err != nil {
			t.Fatal(err)
		}
		if got := out.RetryAt.Sub(l.ClaimedAt); got < w || got > w+50*time.Millisecond {
			t.Fatalf("attempt %d: retry after %v, want %v", i+1, got, w)
		}
		// Not promoted before it is due (Nack and Reap run on Redis's
		// clock, so this holds unless 100 ms pass between the two calls).
		if now := redisNow(t, rdb); now.Before(out.RetryAt) {
			if r := reap(t, q); r.Promoted != 0 {
				t.Fatalf("attempt %d: promoted before due", i+1)
			}
		}
		waitRedisTime(t, rdb, out.RetryAt)
		if r := reap(t, q); r.Promoted != 1 {
			t.Fatalf("attempt %d: not promoted when due: %+v", i+1, r)
		}
	}
	if err := q.Ack(ctx, claim(t, q)); err != nil {
		t.Fatal(err)
	}

	// Two jobs: "late" fails first but on its 2nd attempt (200 ms), "early"
	// fails after it on its 1st (100 ms): "early" must come back first.
	enqueue(t, q, "late")
	out, err := q.Nack(ctx, claim(t, q), "t")
	if err != nil {
		t.Fatal(err)
	}
	waitRedisTime(t, rdb, out.RetryAt)
	reap(t, q)
	late := claim(t, q)
	if late == nil || late.ID != "late" {
		t.Fatalf("claim: %+v", late)
	}
	enqueue(t, q, "early")
	early := claim(t, q)
	outLate, err := q.Nack(ctx, late, "t") // due in 200 ms
	if err != nil {
		t.Fatal(err)
	}
	outEarly, err := q.Nack(ctx, early, "t") // due in 100 ms
	if err != nil {
		t.Fatal(err)
	}
	if !outEarly.RetryAt.Before(outLate.RetryAt) {
		t.Fatalf("early due %v, late due %v", outEarly.RetryAt, outLate.RetryAt)
	}
	waitRedisTime(t, rdb, outLate.RetryAt)
	if r := reap(t, q); r.Promoted != 2 {
		t.Fatalf("promoted %+v, want 2", r)
	}
	first, second := claim(t, q), claim(t, q)
	if first == nil || second == nil || first.ID != "early" || second.ID != "late" {
		t.Fatalf("order after promotion: %v then %v, want early then late", first, second)
	}
}

// Jitter only ever shortens a delay, by at most the given fraction.
func TestBackoffJitterBounds(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{BackoffBase: time.Second, BackoffJitter: 0.5})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		id := fmt.Sprint("j", i)
		enqueue(t, q, id)
		l := claim(t, q)
		out, err := q.Nack(ctx, l, "t")
		if err != nil {
			t.Fatal(err)
		}
		if d := out.RetryAt.Sub(l.ClaimedAt); d < 500*time.Millisecond-5*time.Millisecond || d > time.Second+5*time.Millisecond {
			t.Fatalf("jittered delay %v outside [0.5s, 1s]", d)
		}
	}
}

// The spec's worker test pushes bare ids by hand. They count in the depth,
// get an age from when they were first seen, and are claimed in FIFO order.
func TestPlainLPushedItems(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{})
	ctx := context.Background()
	if err := rdb.LPush(ctx, "voiceassist:queue:{voice-jobs}", "job1", "job2", "job3").Err(); err != nil {
		t.Fatal(err)
	}
	s := mustStats(t, q)
	if s.Depth != 3 {
		t.Fatalf("depth %d, want 3", s.Depth)
	}
	if s.Oldest.IsZero() || s.OldestAge() > time.Second {
		t.Fatalf("first sight of a hand-pushed head: oldest %v age %v, want ~now", s.Oldest, s.OldestAge())
	}
	waitRedisTime(t, rdb, s.Oldest.Add(time.Second))
	if s2 := mustStats(t, q); s2.OldestAge() < time.Second || !s2.Oldest.Equal(s.Oldest) {
		t.Fatalf("age did not grow from first sight: %+v then %+v", s, s2)
	}
	for _, want := range []string{"job1", "job2", "job3"} {
		l, err := q.TryClaim(ctx)
		if err != nil || l == nil || l.ID != want {
			t.Fatalf("claim: %+v %v, want %s", l, err, want)
		}
		if err := q.Ack(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if s := mustStats(t, q); s.Depth != 0 || s.Inflight != 0 || !s.Oldest.IsZero() {
		t.Fatalf("stats after processing: %+v", s)
	}
}

// Age of the oldest ready job comes from the enqueue time, on Redis's clock.
func TestStatsOldestAge(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{})
	ctx := context.Background()
	enqueue(t, q, "old")
	enqueue(t, q, "new")
	// Backdate "old" by 90 s, as if enqueued then.
	now := redisNow(t, rdb)
	if err := rdb.ZAdd(ctx, q.Keys().Enqueued, redis.Z{Score: float64(now.Add(-90 * time.Second).UnixMilli()), Member: "old"}).Err(); err != nil {
		t.Fatal(err)
	}
	s := mustStats(t, q)
	if age := s.OldestAge(); age < 90*time.Second || age > 91*time.Second {
		t.Fatalf("oldest age %v, want ~90s", age)
	}
	l := claim(t, q)
	if l == nil || l.ID != "old" || l.Wait() < 90*time.Second {
		t.Fatalf("lease %+v wait %v", l, l.Wait())
	}
	if age := mustStats(t, q).OldestAge(); age > time.Second {
		t.Fatalf("after claiming the old job the oldest age is %v, want ~0", age)
	}
	// A hand-deleted list leaves no phantom age behind.
	if err := rdb.Del(ctx, q.Keys().Ready).Err(); err != nil {
		t.Fatal(err)
	}
	if s := mustStats(t, q); s.Depth != 0 || !s.Oldest.IsZero() {
		t.Fatalf("stats after DEL: %+v", s)
	}
	if n, err := rdb.Exists(ctx, q.Keys().Enqueued).Result(); err != nil || n != 0 {
		t.Fatalf("stale enqueue times kept after the list was deleted (%v)", err)
	}
}

// Release (shutdown before the job is done) puts the job back at the front
// and does not spend an attempt.
func TestReleaseRefundsAttempt(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{MaxAttempts: 1})
	ctx := context.Background()
	enqueue(t, q, "a", "b")
	l := claim(t, q)
	if err := q.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	again := claim(t, q)
	if again == nil || again.ID != "a" || again.Attempt != 1 {
		t.Fatalf("after release: %+v, want a on attempt 1", again)
	}
	if err := q.Release(ctx, l); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("second release with the old token: %v", err)
	}
}

// Errors name the queue and the job.
func TestErrorsNameQueueAndJob(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{})
	err := q.Ack(context.Background(), &queue.Lease{ID: "job-42", Token: "nope"})
	if err == nil || !strings.Contains(err.Error(), `"voice-jobs"`) || !strings.Contains(err.Error(), `"job-42"`) {
		t.Fatalf("error %q does not name queue and job", err)
	}
	if _, err := queue.New(rdb, "bad{name}", queue.Options{}); err == nil {
		t.Fatal("a name with braces was accepted")
	}
}

// Several reapers at once (every worker runs one) never duplicate a job.
func TestConcurrentReapers(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{Lease: 20 * time.Millisecond, ReapBatch: 7})
	ctx := context.Background()
	const n = 200
	for i := 0; i < n; i++ {
		enqueue(t, q, fmt.Sprint("r", i))
	}
	var last *queue.Lease
	for i := 0; i < n; i++ {
		if last = claim(t, q); last == nil {
			t.Fatal("claim found nothing")
		}
	}
	waitRedisTime(t, rdb, last.Deadline.Add(time.Millisecond)) // every lease expired
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := q.Reap(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += r.Returned
			mu.Unlock()
		}()
	}
	wg.Wait()
	s := mustStats(t, q)
	if total != n || s.Depth != n || s.Inflight != 0 {
		t.Fatalf("reapers returned %d, stats %+v; want %d back in the list once each", total, s, n)
	}
}

// After a Redis restart (script cache empty) every operation still works.
func TestScriptsSurviveRedisRestart(t *testing.T) {
	srv, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{})
	ctx := context.Background()
	enqueue(t, q, "before")
	mustStats(t, q) // loads the stats script
	srv.Stop()
	srv.Start()
	poll(t, 10*time.Second, "stats after the restart", func() bool { // the pool's old connections fail once
		_, err := q.Stats(ctx)
		return err == nil
	})
	if s := mustStats(t, q); s.Depth != 1 {
		t.Fatalf("after restart (appendonly): depth %d, want 1", s.Depth)
	}
	l, err := q.TryClaim(ctx)
	if err != nil || l == nil || l.ID != "before" {
		t.Fatalf("claim after restart: %+v %v", l, err)
	}
}
