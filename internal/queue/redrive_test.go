package queue_test

import (
	"context"
	"slices"
	"testing"

	"github.com/voiceassist/autoscaling/internal/queue"
)

// TestRedrive: ids the queue knows in any state are left alone; unknown ones
// are enqueued once, however often and from however many reconcilers the
// call is repeated.
func TestRedrive(t *testing.T) {
	_, rdb := newRedis(t)
	q := newQueue(t, rdb, queue.Options{MaxAttempts: 1})
	ctx := context.Background()
	if err := q.Enqueue(ctx, "claimed", "retry", "dead", "ready"); err != nil {
		t.Fatal(err)
	}
	claim := func(want string) *queue.Lease {
		t.Helper()
		l, err := q.TryClaim(ctx)
		if err != nil || l == nil || l.ID != want {
			t.Fatalf("TryClaim = %+v, %v; want %s", l, err, want)
		}
		return l
	}
	claim("claimed")
	r := claim("retry")
	if _, err := newQueue(t, rdb, queue.Options{MaxAttempts: 5}).Nack(ctx, r, "analysis failed"); err != nil {
		t.Fatal(err)
	}
	d := claim("dead")
	if err := q.Fail(ctx, d, "bad audio"); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(ctx, claim("ready")); err != nil { // claimed and given back: ready again
		t.Fatal(err)
	}

	ids := []string{"ready", "claimed", "retry", "dead", "lost-1", "lost-2"}
	got, err := q.Redrive(ctx, ids...)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got.Redriven)
	if !slices.Equal(got.Redriven, []string{"lost-1", "lost-2"}) {
		t.Fatalf("Redrive = %v, want the two lost ids", got.Redriven)
	}
	if len(got.Dead) != 1 || got.Dead[0] != (queue.DeadLetter{ID: "dead", Reason: "bad audio"}) {
		t.Fatalf("Redrive dead = %+v, want the dead-lettered job and its reason", got.Dead)
	}
	for range 3 {
		again, err := q.Redrive(ctx, ids...)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Redriven) != 0 {
			t.Fatalf("second Redrive enqueued %v again", again.Redriven)
		}
	}
	s := mustStats(t, q)
	if s.Depth != 3 || s.Inflight != 1 || s.Delayed != 1 || s.Dead != 1 {
		t.Fatalf("stats after redrive = %+v, want depth 3 (ready + 2 lost), 1 inflight, 1 delayed, 1 dead", s)
	}
	if _, err := q.Redrive(ctx, ""); err == nil {
		t.Error("Redrive accepted an empty id")
	}
}
