package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	pg := testenv.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, pg.DSN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s, pg.DSN
}

func TestJobLifecycle(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	audio := []byte("RIFF....WAVEfmt fake bytes \x00\x01\xff")
	before := time.Now().Add(-time.Minute) // tolerate clock skew between us and postgres
	id, err := s.Create(ctx, audio)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if !store.ValidID(id) {
		t.Fatalf("id %q is not 32 lowercase hex digits", id)
	}

	j, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if j.ID != id || j.Status != store.StatusQueued || j.Attempts != 0 || j.Error != "" || j.Result != nil {
		t.Fatalf("new job = %+v", j)
	}
	if !bytes.Equal(j.Audio, audio) {
		t.Fatalf("audio round trip: got %q want %q", j.Audio, audio)
	}
	if j.CreatedAt.Before(before) || j.UpdatedAt.Before(j.CreatedAt) {
		t.Fatalf("timestamps: created %v updated %v", j.CreatedAt, j.UpdatedAt)
	}

	meta, err := s.GetMeta(ctx, id)
	if err != nil {
		t.Fatalf("GetMeta: %v", err)
	}
	if meta.Audio != nil || meta.Status != store.StatusQueued {
		t.Fatalf("GetMeta = %+v, want no audio", meta)
	}

	if err := s.MarkProcessing(ctx, id, 1, "lease-1"); err != nil {
		t.Fatalf("MarkProcessing: %v", err)
	}
	j, err = s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.StatusProcessing || j.Attempts != 1 || j.Lease != "lease-1" {
		t.Fatalf("after MarkProcessing: %+v", j)
	}

	// The lease expired and a second claim took the job: the first holder
	// can no longer write, the second can, once.
	if err := s.MarkProcessing(ctx, id, 2, "lease-2"); err != nil {
		t.Fatalf("MarkProcessing 2: %v", err)
	}
	result := json.RawMessage(`{"duration_seconds": 1.5, "rms": 0.25, "tags": ["a", "b"]}`)
	if err := s.Complete(ctx, id, "lease-1", result); !errors.Is(err, store.ErrStale) {
		t.Fatalf("Complete under the replaced lease: %v, want ErrStale", err)
	}
	if err := s.FailLeased(ctx, id, "lease-1", "late"); !errors.Is(err, store.ErrStale) {
		t.Fatalf("FailLeased under the replaced lease: %v, want ErrStale", err)
	}
	if err := s.Complete(ctx, id, "lease-2", result); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	j, err = s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.StatusDone || j.Attempts != 2 || j.Error != "" || j.Completions != 1 {
		t.Fatalf("after Complete: %+v", j)
	}
	// Forward only: a finished row takes no other transition, and a second
	// Complete (a redelivery under the same lease) does not write again.
	if err := s.Complete(ctx, id, "lease-2", result); !errors.Is(err, store.ErrStale) {
		t.Errorf("second Complete: %v, want ErrStale", err)
	}
	if err := s.MarkProcessing(ctx, id, 3, "lease-3"); !errors.Is(err, store.ErrStale) {
		t.Errorf("MarkProcessing of a done job: %v, want ErrStale", err)
	}
	if err := s.Fail(ctx, id, "too late"); !errors.Is(err, store.ErrStale) {
		t.Errorf("Fail of a done job: %v, want ErrStale", err)
	}
	j, err = s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.StatusDone || j.Completions != 1 || j.Attempts != 2 {
		t.Fatalf("a refused transition changed the row: %+v", j)
	}
	var got, want any
	if err := json.Unmarshal(j.Result, &got); err != nil {
		t.Fatalf("stored result is not JSON: %v (%s)", err, j.Result)
	}
	if err := json.Unmarshal(result, &want); err != nil {
		t.Fatal(err)
	}
	gb, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		t.Fatalf("result: got %s want %s", j.Result, result)
	}
	if !j.UpdatedAt.After(j.CreatedAt) && !j.UpdatedAt.Equal(j.CreatedAt) {
		t.Fatalf("updated_at %v before created_at %v", j.UpdatedAt, j.CreatedAt)
	}
}

func TestCompleteRejectsInvalidJSON(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	id, err := s.Create(ctx, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkProcessing(ctx, id, 1, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, id, "l", json.RawMessage(`{not json`)); err == nil {
		t.Fatal("Complete accepted invalid JSON")
	}
	j, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != store.StatusProcessing {
		t.Fatalf("status changed to %q by a rejected Complete", j.Status)
	}
}

func TestNotFound(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	missing, err := store.NewID()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if _, err := s.GetMeta(ctx, "not-even-hex"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMeta: %v, want ErrNotFound", err)
	}
	if err := s.MarkProcessing(ctx, missing, 1, "l"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkProcessing: %v, want ErrNotFound", err)
	}
	if err := s.Complete(ctx, missing, "l", json.RawMessage(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Complete: %v, want ErrNotFound", err)
	}
	if err := s.Fail(ctx, missing, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Fail: %v, want ErrNotFound", err)
	}
	if err := s.FailLeased(ctx, missing, "l", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FailLeased: %v, want ErrNotFound", err)
	}
}

// TestListPending: the reconciler's view — unfinished jobs older than the
// grace period, paged in (updated_at, id) order — and the pending summary.
func TestListPending(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	var ids []string
	for range 5 {
		id, err := s.Create(ctx, []byte("a"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := s.MarkProcessing(ctx, ids[1], 1, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkProcessing(ctx, ids[2], 1, "l"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, ids[2], "l", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, ids[3], "x"); err != nil {
		t.Fatal(err)
	}
	// A grace period longer than the rows' age hides them all.
	got, err := s.ListPending(ctx, time.Hour, store.Pending{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("ListPending(1h) = %v, want none", got)
	}
	want := map[string]string{ids[0]: store.StatusQueued, ids[1]: store.StatusProcessing, ids[4]: store.StatusQueued}
	var (
		pages  int
		cursor store.Pending
		seen   = map[string]string{}
	)
	for {
		page, err := s.ListPending(ctx, 0, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		for _, p := range page {
			if _, dup := seen[p.ID]; dup {
				t.Fatalf("job %s listed twice", p.ID)
			}
			seen[p.ID] = p.Status
		}
		cursor = page[len(page)-1]
	}
	if len(seen) != len(want) || pages != 2 {
		t.Fatalf("listed %v in %d pages, want %v in 2", seen, pages, want)
	}
	for id, st := range want {
		if seen[id] != st {
			t.Errorf("job %s listed as %q, want %q", id, seen[id], st)
		}
	}
	n, oldest, err := s.PendingSummary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || oldest <= 0 || oldest > time.Minute {
		t.Fatalf("PendingSummary = %d, %s; want 3 and a small positive age", n, oldest)
	}
}

func TestCreateEmptyAudioAndUniqueIDs(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		id, err := s.Create(ctx, nil)
		if err != nil {
			t.Fatalf("Create(nil): %v", err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

// TestConcurrentOpen starts many "replicas" against an empty database at
// once. Without the advisory lock, concurrent CREATE TABLE IF NOT EXISTS
// fails with a duplicate key on pg_type for some of them.
func TestConcurrentOpen(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const replicas = 12
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		errs   = make([]error, replicas)
		stores = make([]*store.Store, replicas)
	)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = store.Open(ctx, pg.DSN)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Open: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	// Every replica sees the same, single schema.
	id, err := stores[0].Create(ctx, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stores[replicas-1].Get(ctx, id); err != nil {
		t.Fatalf("other replica Get: %v", err)
	}
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != store.SchemaVersion() {
		t.Fatalf("schema_migrations has %d rows, want %d (each migration applied once)", n, store.SchemaVersion())
	}

	// Re-opening an up-to-date database is a no-op.
	s, err := store.Open(ctx, pg.DSN)
	if err != nil {
		t.Fatalf("re-Open: %v", err)
	}
	s.Close()
	if _, err := stores[1].Get(ctx, id); err != nil {
		t.Fatalf("data lost after re-Open: %v", err)
	}
}

func TestOpenBadDSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := store.Open(ctx, "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"); err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if _, err := store.Open(ctx, "::not a url::"); err == nil {
		t.Fatal("Open accepted a malformed DSN")
	}
}
