package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voiceassist/autoscaling/internal/queue"
)

// AckAndClaim is Ack then TryClaim in one script: the acked job is gone, the
// next one is in flight under a fresh lease, exactly as with two calls.
func TestAckAndClaimHandsOverTheNextJob(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{})
	ctx := context.Background()
	enqueue(t, q, "a", "b")
	a := claim(t, q)
	if a == nil || a.ID != "a" {
		t.Fatalf("claim: %+v, want a", a)
	}
	b, err := q.AckAndClaim(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if b == nil || b.ID != "b" || b.Attempt != 1 || b.Token == a.Token || b.ReadySince.IsZero() ||
		!b.Deadline.After(b.ClaimedAt) {
		t.Fatalf("next lease %+v (after %+v), want b, attempt 1, its own token, a deadline and a ready time", b, a)
	}
	if s := mustStats(t, q); s.Inflight != 1 || s.Depth != 0 {
		t.Fatalf("stats %+v, want only b in flight", s)
	}
	// a is forgotten: acking it again is refused, and b's lease is live.
	if err := q.Ack(ctx, a); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("second ack of a: %v, want ErrLeaseLost", err)
	}
	if _, err := q.Extend(ctx, b); err != nil {
		t.Fatalf("extend b: %v", err)
	}
	// Nothing left: the ack still happens, no lease comes back.
	none, err := q.AckAndClaim(ctx, b)
	if err != nil || none != nil {
		t.Fatalf("ack of the last job: next %+v, err %v; want nil, nil", none, err)
	}
	if s := mustStats(t, q); s.Inflight != 0 || s.Depth != 0 || s.Delayed != 0 || s.Dead != 0 {
		t.Fatalf("stats %+v, want an empty queue", s)
	}
}

// A consumer whose lease was lost must not ack the job its new holder is
// processing; the claim half still happens, and that job is reported so the
// caller processes it: nothing is stranded by the failed ack.
func TestAckAndClaimWithALostLease(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{Lease: 300 * time.Millisecond})
	ctx := context.Background()
	enqueue(t, q, "a", "b")
	stale := claim(t, q)
	waitRedisTime(t, rdb, stale.Deadline.Add(time.Millisecond))
	if r := reap(t, q); r.Returned != 1 {
		t.Fatalf("reap: %+v, want a returned", r)
	}
	holder := claim(t, q)
	if holder == nil || holder.ID != "a" || holder.Attempt != 2 {
		t.Fatalf("re-claim: %+v, want a attempt 2", holder)
	}
	next, err := q.AckAndClaim(ctx, stale)
	if !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("ack with a lost lease: %v, want ErrLeaseLost", err)
	}
	if next == nil || next.ID != "b" {
		t.Fatalf("next lease %+v, want b claimed despite the failed ack", next)
	}
	// The holder's lease is untouched: it can still extend and ack.
	if _, err := q.Extend(ctx, holder); err != nil {
		t.Fatalf("holder's extend after the stale ack: %v", err)
	}
	if s := mustStats(t, q); s.Inflight != 2 {
		t.Fatalf("stats %+v, want a (holder) and b in flight", s)
	}
}
