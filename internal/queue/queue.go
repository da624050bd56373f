// Package queue is the VoiceAssist job queue: a reliable, at-least-once work
// queue of job ids in Redis.
//
// # Keys
//
// For a queue named N (default "voice-jobs") every key carries the hash tag
// {N}, so all of one queue's keys live in one Redis Cluster slot and the Lua
// scripts below may touch them together:
//
//	voiceassist:queue:{N}            list   ready job ids; LPUSH to enqueue, consumers take from the right (FIFO)
//	voiceassist:queue:{N}:inflight   zset   claimed ids, scored by lease deadline (unix ms)
//	voiceassist:queue:{N}:delayed    zset   ids waiting for a retry, scored by due time (unix ms)
//	voiceassist:queue:{N}:dead       list   dead-lettered ids, newest on the left
//	voiceassist:queue:{N}:attempts   hash   id -> number of claims so far
//	voiceassist:queue:{N}:errors     hash   id -> last failure reason (why it is dead or retried)
//	voiceassist:queue:{N}:claims     hash   id -> token of the current lease holder
//	voiceassist:queue:{N}:enqueued   zset   ready id -> unix ms it became ready (for the oldest-job age)
//
// A producer that cannot use this package may LPUSH a bare id onto the ready
// list (`redis-cli lpush 'voiceassist:queue:{voice-jobs}' job1`): it counts in
// the depth and is claimed like any other job. It has no enqueue time, so its
// age starts when the exporter or a consumer first sees it (see Stats).
//
// # Life of a job
//
// Claim atomically pops the oldest ready id, puts it in the in-flight set with
// a lease deadline and counts the attempt. The holder then Acks (done), Nacks
// (retry after exponential backoff, or dead-letter once MaxAttempts claims
// are used up), Fails (dead-letter now: the job can never succeed), Releases
// (give it back untried, e.g. on shutdown) or Extends the lease while it works.
// A consumer that dies holding a lease is covered by the reaper, which every
// worker runs: it returns expired leases to the list (or dead-letters them
// when out of attempts) and promotes due retries. So a job is delivered at
// least once; consumers make their processing idempotent.
//
// Each lease carries a token. Ack, Nack, Fail, Extend and Release check it and
// return ErrLeaseLost if the lease expired and the job went to someone else,
// so a consumer that was paused past its deadline cannot ack another's claim.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// KeyPrefix starts every key of every queue.
const KeyPrefix = "voiceassist:queue:"

// DefaultName is the queue the worker reads and the exporter watches by default.
const DefaultName = "voice-jobs"

// ErrLeaseLost means the caller no longer holds the job's lease: it expired
// and the reaper gave the job back (or to another consumer), or it was
// already acked. The caller must drop the job without touching the queue.
var ErrLeaseLost = errors.New("lease lost (expired and reclaimed, or already finished)")

// Keys are the Redis keys of one queue.
type Keys struct {
	Ready, Inflight, Delayed, Dead, Attempts, Errors, Claims, Enqueued string
}

// KeysFor returns the keys of queue name. It does not validate the name.
func KeysFor(name string) Keys {
	b := KeyPrefix + "{" + name + "}"
	return Keys{
		Ready:    b,
		Inflight: b + ":inflight",
		Delayed:  b + ":delayed",
		Dead:     b + ":dead",
		Attempts: b + ":attempts",
		Errors:   b + ":errors",
		Claims:   b + ":claims",
		Enqueued: b + ":enqueued",
	}
}

// ValidateName rejects names that would break the key layout: braces would
// change the Cluster hash tag, whitespace makes keys unusable from redis-cli.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("queue name is empty")
	}
	if strings.ContainsAny(name, "{} \t\r\n") {
		return fmt.Errorf("queue name %q: must not contain braces or whitespace", name)
	}
	return nil
}

// Options tune a Queue. Zero fields take the defaults shown.
type Options struct {
	// Lease is how long a claim lasts without Extend before the reaper may
	// hand the job to someone else. Default 30s.
	Lease time.Duration
	// MaxAttempts is the number of claims a job gets before a failure or an
	// expired lease dead-letters it. Default 5.
	MaxAttempts int
	// BackoffBase is the delay before the first retry; each later retry
	// doubles it, up to BackoffMax. Defaults 1s and 5m.
	BackoffBase, BackoffMax time.Duration
	// BackoffJitter in [0,1) shortens each delay by a random fraction of up
	// to this much, spreading retries of jobs that failed together. Default 0.
	BackoffJitter float64
	// PollMin and PollMax bound how long Claim sleeps between tries on an
	// empty queue; the sleep doubles while the queue stays empty.
	// Defaults 10ms and 500ms.
	PollMin, PollMax time.Duration
	// ReapBatch is how many jobs one reaper script run moves at most, so a
	// huge backlog of expired leases never blocks Redis for long. Default 500.
	ReapBatch int
	// ConsumerID names this process in lease tokens (visible in the claims
	// hash). Default host:pid:random.
	ConsumerID string
	// Logger receives reaper errors and moves. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	if o.BackoffJitter < 0 || o.BackoffJitter >= 1 {
		o.BackoffJitter = 0
	}
	if o.PollMin <= 0 {
		o.PollMin = 10 * time.Millisecond
	}
	if o.PollMax < o.PollMin {
		o.PollMax = max(500*time.Millisecond, o.PollMin)
	}
	if o.ReapBatch <= 0 {
		o.ReapBatch = 500
	}
	if o.ConsumerID == "" {
		host, _ := os.Hostname()
		o.ConsumerID = fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32())
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Client is what the queue needs from go-redis: a *redis.Client, a
// *redis.ClusterClient or a *redis.Ring all fit.
type Client interface {
	redis.Cmdable
	redis.Scripter
}

// Queue is one named queue. It is safe for concurrent use.
type Queue struct {
	rdb  Client
	name string
	keys Keys
	opt  Options
	seq  atomic.Uint64
}

// New returns the queue called name on rdb.
func New(rdb Client, name string, opt Options) (*Queue, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	opt.defaults()
	return &Queue{rdb: rdb, name: name, keys: KeysFor(name), opt: opt}, nil
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Keys are the queue's Redis keys.
func (q *Queue) Keys() Keys { return q.keys }

// Options are the queue's options with defaults filled in.
func (q *Queue) Options() Options { return q.opt }

// Lease is one claim of one job. It is a value: Extend does not change it.
type Lease struct {
	Queue string
	ID    string
	// Attempt counts claims of this job, this one included (1 on the first).
	Attempt int
	// Token identifies this claim; the queue refuses other tokens.
	Token    string
	Deadline time.Time
	// ReadySince is when the job became ready (enqueued, retried or returned);
	// zero for a hand-pushed item nobody had seen before this claim.
	ReadySince time.Time
	ClaimedAt  time.Time
}

// Wait is how long the job waited in the ready list before this claim.
func (l *Lease) Wait() time.Duration {
	if l.ReadySince.IsZero() {
		return 0
	}
	return l.ClaimedAt.Sub(l.ReadySince)
}

func (q *Queue) errorf(op, id string, err error) error {
	if id == "" {
		return fmt.Errorf("queue %q: %s: %w", q.name, op, err)
	}
	return fmt.Errorf("queue %q: %s job %q: %w", q.name, op, id, err)
}

// Enqueue appends job ids to the queue, recording when each became ready.
// All ids go in one atomic script, in order (the first is taken first).
func (q *Queue) Enqueue(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		if id == "" {
			return q.errorf("enqueue", "", errors.New("empty job id"))
		}
		args[i] = id
	}
	err := enqueueScript.Run(ctx, q.rdb, []string{q.keys.Ready, q.keys.Enqueued, q.keys.Attempts, q.keys.Errors}, args...).Err()
	if err != nil {
		return q.errorf("enqueue", ids[0], err)
	}
	return nil
}

// TryClaim claims the oldest ready job, or returns (nil, nil) if none is ready.
func (q *Queue) TryClaim(ctx context.Context) (*Lease, error) {
	token := q.newToken()
	keys := []string{q.keys.Ready, q.keys.Inflight, q.keys.Attempts, q.keys.Enqueued, q.keys.Claims}
	v, err := claimScript.Run(ctx, q.rdb, keys, q.opt.Lease.Milliseconds(), token).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, q.errorf("claim", "", err)
	}
	l, err := q.lease(v, token)
	if err != nil {
		return nil, q.errorf("claim", "", err)
	}
	return l, nil
}

// lease builds a Lease from a claim reply {id, attempt, deadline_ms,
// ready_since_ms, now_ms}.
func (q *Queue) lease(v []any, token string) (*Lease, error) {
	if len(v) != 5 {
		return nil, fmt.Errorf("unexpected script reply %v", v)
	}
	id, _ := v[0].(string)
	l := &Lease{
		Queue:     q.name,
		ID:        id,
		Attempt:   int(toInt(v[1])),
		Token:     token,
		Deadline:  time.UnixMilli(toInt(v[2])),
		ClaimedAt: time.UnixMilli(toInt(v[4])),
	}
	if since := toInt(v[3]); since >= 0 {
		l.ReadySince = time.UnixMilli(since)
	}
	return l, nil
}

// newToken names one claim: the consumer and a sequence number.
func (q *Queue) newToken() string {
	return q.opt.ConsumerID + ":" + strconv.FormatUint(q.seq.Add(1), 36)
}

// Claim waits until it can claim a job or ctx is done. It polls: the sleep
// between tries on an empty queue grows from PollMin to PollMax, so an idle
// worker costs Redis a few cheap calls a second and a busy one none extra.
//
// ctx only interrupts the waiting, never a claim already sent to Redis: if
// the script ran, its lease is returned even when ctx was cancelled meanwhile,
// so a shutdown does not strand a job until its lease expires.
func (q *Queue) Claim(ctx context.Context) (*Lease, error) {
	wait := q.opt.PollMin
	var t *time.Timer
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := q.TryClaim(context.WithoutCancel(ctx))
		if err != nil || l != nil {
			return l, err
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, q.opt.PollMax)
	}
}

// Ack marks the job done and forgets it.
func (q *Queue) Ack(ctx context.Context, l *Lease) error {
	n, err := ackScript.Run(ctx, q.rdb, []string{q.keys.Inflight, q.keys.Attempts, q.keys.Claims, q.keys.Errors}, l.ID, l.Token).Int64()
	if err != nil {
		return q.errorf("ack", l.ID, err)
	}
	if n == 0 {
		return q.errorf("ack", l.ID, ErrLeaseLost)
	}
	return nil
}

// AckAndClaim acknowledges l as Ack does and, in the same round trip,
// claims the oldest ready job as TryClaim does. next is nil when no job was
// ready. A lost lease on l is reported as ErrLeaseLost together with next:
// the claim happened regardless and must be processed (or released) by the
// caller, so a job is never stranded by a failed ack.
func (q *Queue) AckAndClaim(ctx context.Context, l *Lease) (next *Lease, err error) {
	token := q.newToken()
	keys := []string{q.keys.Inflight, q.keys.Attempts, q.keys.Claims, q.keys.Errors, q.keys.Ready, q.keys.Enqueued}
	v, err := ackClaimScript.Run(ctx, q.rdb, keys, l.ID, l.Token, q.opt.Lease.Milliseconds(), token).Slice()
	if err != nil {
		return nil, q.errorf("ack", l.ID, err)
	}
	if len(v) != 1 && len(v) != 6 {
		return nil, q.errorf("ack", l.ID, fmt.Errorf("unexpected script reply %v", v))
	}
	if len(v) == 6 {
		if next, err = q.lease(v[1:], token); err != nil {
			return nil, q.errorf("claim", "", err)
		}
	}
	if toInt(v[0]) == 0 {
		return next, q.errorf("ack", l.ID, ErrLeaseLost)
	}
	return next, nil
}

// Extend renews the lease for another Lease duration from now (a heartbeat)
// and returns the new deadline.
func (q *Queue) Extend(ctx context.Context, l *Lease) (time.Time, error) {
	ms, err := extendScript.Run(ctx, q.rdb, []string{q.keys.Inflight, q.keys.Claims}, l.ID, l.Token, q.opt.Lease.Milliseconds()).Int64()
	if err != nil {
		return time.Time{}, q.errorf("extend lease of", l.ID, err)
	}
	if ms < 0 {
		return time.Time{}, q.errorf("extend lease of", l.ID, ErrLeaseLost)
	}
	return time.UnixMilli(ms), nil
}

// Outcome is what Nack did with a job.
type Outcome struct {
	// DeadLettered is true when the job went to the dead list (out of attempts).
	DeadLettered bool
	// Attempt is the number of claims the job has had.
	Attempt int
	// RetryAt is when the job becomes ready again (zero if dead-lettered).
	RetryAt time.Time
}

// Nack reports a failure that may pass (the database was down, a timeout):
// the job is retried after BackoffBase*2^(attempt-1) (capped at BackoffMax),
// or dead-lettered with reason if this was its MaxAttempts-th claim.
func (q *Queue) Nack(ctx context.Context, l *Lease, reason string) (Outcome, error) {
	return q.nack(ctx, "nack", l, reason, false)
}

// Fail dead-letters the job at once with reason: it can never succeed
// (undecodable audio, no such job), so retrying only wastes attempts.
func (q *Queue) Fail(ctx context.Context, l *Lease, reason string) error {
	_, err := q.nack(ctx, "fail", l, reason, true)
	return err
}

func (q *Queue) nack(ctx context.Context, op string, l *Lease, reason string, permanent bool) (Outcome, error) {
	perm := "0"
	if permanent {
		perm = "1"
	}
	jitter := 1.0
	if q.opt.BackoffJitter > 0 {
		jitter = 1 - q.opt.BackoffJitter*rand.Float64()
	}
	keys := []string{q.keys.Inflight, q.keys.Attempts, q.keys.Claims, q.keys.Errors, q.keys.Delayed, q.keys.Dead}
	v, err := nackScript.Run(ctx, q.rdb, keys, l.ID, l.Token, reason, perm, q.opt.MaxAttempts,
		q.opt.BackoffBase.Milliseconds(), q.opt.BackoffMax.Milliseconds(), strconv.FormatFloat(jitter, 'f', 6, 64)).Slice()
	if err != nil {
		return Outcome{}, q.errorf(op, l.ID, err)
	}
	switch toInt(v[0]) {
	case -1:
		return Outcome{}, q.errorf(op, l.ID, ErrLeaseLost)
	case 0:
		return Outcome{DeadLettered: true, Attempt: int(toInt(v[1]))}, nil
	default:
		return Outcome{Attempt: int(toInt(v[1])), RetryAt: time.UnixMilli(toInt(v[2]))}, nil
	}
}

// Release gives the job back to the front of the queue without counting the
// attempt: for a consumer that stops (SIGTERM) before it could finish.
func (q *Queue) Release(ctx context.Context, l *Lease) error {
	keys := []string{q.keys.Ready, q.keys.Inflight, q.keys.Attempts, q.keys.Claims, q.keys.Enqueued}
	n, err := releaseScript.Run(ctx, q.rdb, keys, l.ID, l.Token).Int64()
	if err != nil {
		return q.errorf("release", l.ID, err)
	}
	if n == 0 {
		return q.errorf("release", l.ID, ErrLeaseLost)
	}
	return nil
}

// ReapResult counts what one Reap moved.
type ReapResult struct {
	Returned     int // expired leases put back in the list
	DeadLettered int // expired leases that were out of attempts
	Promoted     int // due retries moved from the delayed set to the list
}

// Reap returns expired leases and promotes due retries until none is left.
// It is safe to run from many processes at once.
func (q *Queue) Reap(ctx context.Context) (ReapResult, error) {
	var total ReapResult
	keys := []string{q.keys.Ready, q.keys.Inflight, q.keys.Attempts, q.keys.Claims, q.keys.Enqueued, q.keys.Delayed, q.keys.Dead, q.keys.Errors}
	for {
		v, err := reapScript.Run(ctx, q.rdb, keys, q.opt.MaxAttempts, q.opt.ReapBatch).Slice()
		if err != nil {
			return total, q.errorf("reap", "", err)
		}
		r := ReapResult{int(toInt(v[0])), int(toInt(v[1])), int(toInt(v[2]))}
		total.Returned += r.Returned
		total.DeadLettered += r.DeadLettered
		total.Promoted += r.Promoted
		// A full batch of either kind means there may be more.
		if r.Returned+r.DeadLettered < q.opt.ReapBatch && r.Promoted < q.opt.ReapBatch {
			return total, nil
		}
	}
}

// RunReaper calls Reap every interval until ctx is done. Errors are logged,
// not returned: a Redis outage must not stop the reaper for good.
func (q *Queue) RunReaper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r, err := q.Reap(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			q.opt.Logger.Warn("queue reaper failed", "queue", q.name, "err", err)
		case r != ReapResult{}:
			q.opt.Logger.Info("queue reaper moved jobs", "queue", q.name,
				"returned", r.Returned, "dead_lettered", r.DeadLettered, "promoted", r.Promoted)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RedriveResult is what Redrive found.
type RedriveResult struct {
	// Redriven are the ids the queue did not know, now enqueued.
	Redriven []string
	// Dead are the ids the queue holds only as dead-lettered, with the
	// reason (Attempts is not filled in).
	Dead []DeadLetter
}

// Redrive enqueues those of ids the queue does not know — not ready, not
// claimed, not waiting for a retry, not dead-lettered — and reports them and
// the dead-lettered ones. It is what the reconciler calls with the jobs
// PostgreSQL holds as accepted and unfinished; it is idempotent and safe to
// run from many processes at once.
//
// A ready id counts as known by its enqueue time, so an id pushed by hand
// (no enqueue time) and not yet seen by Stats may be enqueued a second time:
// the second delivery finds the job done and is acked.
func (q *Queue) Redrive(ctx context.Context, ids ...string) (RedriveResult, error) {
	if len(ids) == 0 {
		return RedriveResult{}, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		if id == "" {
			return RedriveResult{}, q.errorf("redrive", "", errors.New("empty job id"))
		}
		args[i] = id
	}
	keys := []string{q.keys.Ready, q.keys.Enqueued, q.keys.Inflight, q.keys.Delayed, q.keys.Errors, q.keys.Attempts}
	v, err := redriveScript.Run(ctx, q.rdb, keys, args...).Slice()
	if err != nil {
		return RedriveResult{}, q.errorf("redrive", ids[0], err)
	}
	var r RedriveResult
	if len(v) != 2 {
		return r, q.errorf("redrive", ids[0], fmt.Errorf("unexpected script reply %v", v))
	}
	redriven, _ := v[0].([]any)
	for _, id := range redriven {
		s, _ := id.(string)
		r.Redriven = append(r.Redriven, s)
	}
	dead, _ := v[1].([]any)
	for i := 0; i+1 < len(dead); i += 2 {
		id, _ := dead[i].(string)
		reason, _ := dead[i+1].(string)
		r.Dead = append(r.Dead, DeadLetter{ID: id, Reason: reason})
	}
	return r, nil
}

// DeadLetter is one dead-lettered job.
type DeadLetter struct {
	ID       string
	Reason   string
	Attempts int
}

// DeadLetters lists up to limit dead-lettered jobs, newest first, with the
// reason and the number of claims each had.
func (q *Queue) DeadLetters(ctx context.Context, limit int64) ([]DeadLetter, error) {
	if limit <= 0 {
		return nil, nil
	}
	ids, err := q.rdb.LRange(ctx, q.keys.Dead, 0, limit-1).Result()
	if err != nil || len(ids) == 0 {
		if err != nil {
			return nil, q.errorf("list dead letters", "", err)
		}
		return nil, nil
	}
	pipe := q.rdb.Pipeline()
	reasons := pipe.HMGet(ctx, q.keys.Errors, ids...)
	attempts := pipe.HMGet(ctx, q.keys.Attempts, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, q.errorf("list dead letters", "", err)
	}
	out := make([]DeadLetter, len(ids))
	for i, id := range ids {
		out[i].ID = id
		out[i].Reason, _ = reasons.Val()[i].(string)
		if s, ok := attempts.Val()[i].(string); ok {
			out[i].Attempts, _ = strconv.Atoi(s)
		}
	}
	return out, nil
}

// Stats is a snapshot of one queue, read in one atomic script.
type Stats struct {
	Queue    string
	Depth    int64 // ready jobs (LLEN), hand-pushed ones included
	Inflight int64 // claimed, not yet acked
	Delayed  int64 // waiting for a retry
	Dead     int64 // dead-lettered
	// Oldest is when the oldest ready job became ready; zero if none is.
	// For a hand-pushed item it is when it was first seen (see package doc).
	Oldest time.Time
	// Now is Redis's clock at the snapshot: ages are measured against it so
	// that the exporter's clock does not matter.
	Now time.Time
}

// OldestAge is how long the oldest ready job has waited; 0 if none waits.
func (s Stats) OldestAge() time.Duration {
	if s.Oldest.IsZero() || s.Now.Before(s.Oldest) {
		return 0
	}
	return s.Now.Sub(s.Oldest)
}

// Stats reads the queue's snapshot.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	s, err := CollectStats(ctx, q.rdb, []string{q.name})
	if err != nil {
		return Stats{}, err
	}
	return s[0], nil
}

// CollectStats reads the snapshots of the named queues in one pipeline: one
// EVALSHA per queue, a constant amount of Redis work per queue whatever its
// length. It is what the exporter runs on every scrape.
func CollectStats(ctx context.Context, rdb Client, names []string) ([]Stats, error) {
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			return nil, err
		}
	}
	run := func() ([]*redis.Cmd, error) {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(names))
		for i, n := range names {
			k := KeysFor(n)
			cmds[i] = statsScript.EvalSha(ctx, pipe, []string{k.Ready, k.Inflight, k.Delayed, k.Dead, k.Enqueued})
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := run()
	// After a Redis restart or SCRIPT FLUSH the script is gone: load it and
	// try once more. (Script.Run does this for single calls, not in pipelines.)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if lerr := statsScript.Load(ctx, rdb).Err(); lerr != nil {
			return nil, fmt.Errorf("queue stats: load script: %w", lerr)
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, fmt.Errorf("queue stats %v: %w", names, err)
	}
	out := make([]Stats, len(names))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 6 {
			return nil, fmt.Errorf("queue %q: stats: %v (reply %v)", names[i], err, v)
		}
		s := Stats{Queue: names[i], Depth: toInt(v[0]), Inflight: toInt(v[1]), Delayed: toInt(v[2]), Dead: toInt(v[3]),
			Now: time.UnixMilli(toInt(v[5]))}
		if o := toInt(v[4]); o >= 0 {
			s.Oldest = time.UnixMilli(o)
		}
		out[i] = s
	}
	return out, nil
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	case float64:
		return int64(x)
	}
	return 0
}
