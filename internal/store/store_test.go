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

	if err := s.MarkProcessing(ctx, id, 1); err != nil {
		t.Fatalf("MarkProcessing: %v", err)
	}
	j, _ = s.Get(ctx, id)
	if j.Status != store.StatusProcessing || j.Attempts != 1 {
		t.Fatalf("after MarkProcessing: %+v", j)
	}

	// A failed attempt, then a retry that succeeds: the error must be cleared.
	if err := s.Fail(ctx, id, "decoder exploded"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	j, _ = s.Get(ctx, id)
	if j.Status != store.StatusFailed || j.Error != "decoder exploded" {
		t.Fatalf("after Fail: %+v", j)
	}
	if err := s.MarkProcessing(ctx, id, 2); err != nil {
		t.Fatalf("MarkProcessing 2: %v", err)
	}
	result := json.RawMessage(`{"duration_seconds": 1.5, "rms": 0.25, "tags": ["a", "b"]}`)
	if err := s.Complete(ctx, id, result); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	j, _ = s.Get(ctx, id)
	if j.Status != store.StatusDone || j.Attempts != 2 || j.Error != "" {
		t.Fatalf("after Complete: %+v", j)
	}
	var got, want any
	if err := json.Unmarshal(j.Result, &got); err != nil {
		t.Fatalf("stored result is not JSON: %v (%s)", err, j.Result)
	}
	_ = json.Unmarshal(result, &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
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
	if err := s.Complete(ctx, id, json.RawMessage(`{not json`)); err == nil {
		t.Fatal("Complete accepted invalid JSON")
	}
	j, _ := s.Get(ctx, id)
	if j.Status != store.StatusQueued {
		t.Fatalf("status changed to %q by a rejected Complete", j.Status)
	}
}

func TestNotFound(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	missing, _ := store.NewID()
	if _, err := s.Get(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if _, err := s.GetMeta(ctx, "not-even-hex"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMeta: %v, want ErrNotFound", err)
	}
	if err := s.MarkProcessing(ctx, missing, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkProcessing: %v, want ErrNotFound", err)
	}
	if err := s.Complete(ctx, missing, json.RawMessage(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Complete: %v, want ErrNotFound", err)
	}
	if err := s.Fail(ctx, missing, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Fail: %v, want ErrNotFound", err)
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
	if n != 1 {
		t.Fatalf("schema_migrations has %d rows, want 1 (each migration applied once)", n)
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
