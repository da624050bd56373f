package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	. "github.com/voiceassist/autoscaling/internal/store"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestMigration3KeepsRowsValid: a database at schema 2 with rows in every
// state is migrated; the rows stay readable and processable, belong to no
// client, and the audio of the finished ones is due for the first sweep
// (the old code kept it for ever) while the unfinished ones keep theirs.
func TestMigration3KeepsRowsValid(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	for v := 1; v <= 2 && err == nil; v++ {
		if _, err = conn.Exec(ctx, MigrationSQL(v)); err == nil {
			_, err = conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	audio := []byte("RIFF-old")
	for _, row := range []struct{ id, status string }{
		{"00000000000000000000000000000001", "queued"},
		{"00000000000000000000000000000002", "processing"},
		{"00000000000000000000000000000003", "done"},
		{"00000000000000000000000000000004", "failed"},
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO jobs (id, status, audio, lease) VALUES ($1, $2, $3, 'L')`, row.id, row.status, audio); err != nil {
			t.Fatal(err)
		}
	}

	s := open(t, pg.DSN)
	for _, id := range []string{"00000000000000000000000000000001", "00000000000000000000000000000002"} {
		j, err := s.Get(ctx, id)
		if err != nil || j.Owner != "" || !bytes.Equal(j.Audio, audio) || j.AudioExpiresAt != nil || j.AudioRetention != 0 {
			t.Fatalf("unfinished legacy row %s: %+v %v", id, j, err)
		}
	}
	for _, id := range []string{"00000000000000000000000000000003", "00000000000000000000000000000004"} {
		if j, err := s.Get(ctx, id); err != nil || j.AudioExpiresAt == nil {
			t.Fatalf("finished legacy row %s: %+v %v, want its audio due", id, j, err)
		}
	}
	if n, err := s.PurgeExpiredAudio(ctx, 100); err != nil || n != 2 {
		t.Fatalf("first sweep purged %d (%v), want the 2 finished legacy rows", n, err)
	}
	if j, err := s.Get(ctx, "00000000000000000000000000000003"); err != nil || len(j.Audio) != 0 || j.Status != StatusDone {
		t.Fatalf("after the sweep: %+v %v", j, err)
	}
	// A legacy job still in flight finishes normally, and its audio goes
	// with the default retention.
	if err := s.Complete(ctx, "00000000000000000000000000000002", "L", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Get(ctx, "00000000000000000000000000000002"); err != nil || j.Status != StatusDone || len(j.Audio) != 0 {
		t.Fatalf("legacy job completed: %+v %v", j, err)
	}
	// Nobody owns legacy rows.
	if _, err := s.GetOwnedMeta(ctx, "anyone", "00000000000000000000000000000001"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("legacy row visible to a client: %v", err)
	}
}

// TestOwnershipAndRetention: only the owner sees or deletes a job; every
// way a job finishes deletes the audio at once with retention 0, and a
// retention keeps it until the sweep after it ran out.
func TestOwnershipAndRetention(t *testing.T) {
	pg := testenv.StartPostgres(t)
	s := open(t, pg.DSN)
	ctx := context.Background()
	audio := []byte("RIFF-new")

	id, err := s.Insert(ctx, NewJob{Owner: "alice", Audio: audio})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := s.GetOwnedMeta(ctx, "alice", id); err != nil || j.Owner != "alice" || j.Audio != nil {
		t.Fatalf("owner reads: %+v %v", j, err)
	}
	if _, err := s.GetOwnedMeta(ctx, "bob", id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client reads: %v, want ErrNotFound", err)
	}
	if err := s.DeleteOwned(ctx, "bob", id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client deletes: %v, want ErrNotFound", err)
	}
	if err := s.DeleteOwned(ctx, "alice", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("row after DELETE: %v", err)
	}
	if err := s.DeleteOwned(ctx, "alice", id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DELETE: %v, want ErrNotFound", err)
	}

	// Retention 0: done, failed under a lease, failed by the gateway or
	// the reconciler (dead-lettered) all drop the audio in the same write.
	finish := map[string]func(id string) error{
		"complete":    func(id string) error { return s.Complete(ctx, id, "L", json.RawMessage(`{"x":1}`)) },
		"fail leased": func(id string) error { return s.FailLeased(ctx, id, "L", "bad audio") },
		"fail":        func(id string) error { return s.Fail(ctx, id, "dead-lettered") },
	}
	for name, fn := range finish {
		id, err := s.Insert(ctx, NewJob{Owner: "alice", Audio: audio})
		if err == nil {
			err = s.MarkProcessing(ctx, id, 1, "L")
		}
		if err == nil {
			err = fn(id)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		j, err := s.Get(ctx, id)
		if err != nil || len(j.Audio) != 0 || j.AudioExpiresAt != nil {
			t.Errorf("%s with retention 0: audio %d bytes, expires %v (%v)", name, len(j.Audio), j.AudioExpiresAt, err)
		}
	}

	// A retention: kept after finishing, purged by the sweep once due.
	keep, err := s.Insert(ctx, NewJob{Owner: "alice", Audio: audio, AudioRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	short, err := s.Insert(ctx, NewJob{Owner: "alice", Audio: audio, AudioRetention: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{keep, short} {
		if err := s.MarkProcessing(ctx, id, 1, "L"); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, id, "L", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	j, err := s.Get(ctx, keep)
	if err != nil || !bytes.Equal(j.Audio, audio) || j.AudioRetention != time.Hour || j.AudioExpiresAt == nil ||
		j.AudioExpiresAt.Sub(j.UpdatedAt).Round(time.Second) != time.Hour {
		t.Fatalf("retained job: %+v %v", j, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := s.PurgeExpiredAudio(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("sweep purged %d", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j, err := s.Get(ctx, short); err != nil || len(j.Audio) != 0 || j.AudioExpiresAt != nil || j.Status != StatusDone {
		t.Fatalf("expired job after the sweep: %+v %v", j, err)
	}
	if j, err := s.Get(ctx, keep); err != nil || !bytes.Equal(j.Audio, audio) {
		t.Fatalf("the sweep took audio still within its retention (%v)", err)
	}
	if _, err := s.Insert(ctx, NewJob{Audio: audio, AudioRetention: -time.Second}); err == nil {
		t.Fatal("negative retention accepted")
	}
}
