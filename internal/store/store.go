// Package store keeps voice-processing jobs in PostgreSQL. The API gateway
// creates a row per upload and the worker moves it through
// queued → processing → done|failed. Redis holds only job ids; this table is
// the source of truth for a job's audio, state and result.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Job states. A row only moves forward — queued → processing → done|failed
// — and every UPDATE says which states it moves from, so a late or repeated
// write (an at-least-once redelivery, a worker that stalled past its lease)
// can never move a finished job back or finish it twice. processing →
// processing is allowed: it is a new claim of the same job.
const (
	StatusQueued     = "queued"
	StatusProcessing = "processing"
	StatusDone       = "done"
	StatusFailed     = "failed"
)

// ErrNotFound is returned when no job has the given id.
var ErrNotFound = errors.New("store: job not found")

// ErrStale is returned when a guarded transition finds the row in another
// state, or held under another lease: the job moved on (another worker
// claimed it, or it is finished) and the caller must not write it.
var ErrStale = errors.New("store: job moved on (finished, or claimed under another lease)")

// Job is one row of the jobs table.
type Job struct {
	ID       string
	Status   string // queued|processing|done|failed
	Attempts int
	Audio    []byte
	Result   json.RawMessage // nil until the job is done
	Error    string          // empty unless the job failed
	// Lease is the queue lease token of the claim that last marked the row
	// processing: Complete and FailLeased write only under it (a fencing
	// token), so a worker whose lease was lost cannot write its result.
	Lease string
	// Completions counts result writes; the guarded Complete makes it 0 or 1.
	Completions int
	// Owner is the client that created the job; only it may read or delete
	// it. Rows from before owners existed have "" and are nobody's.
	Owner string
	// AudioRetention is how long the audio is kept once the job finished
	// (0: deleted in the same write that finishes it). AudioExpiresAt is
	// when a sweep (PurgeExpiredAudio) deletes it; nil when nothing is due.
	AudioRetention time.Duration
	AudioExpiresAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Store is safe for concurrent use; it wraps a pgxpool.
type Store struct {
	pool *pgxpool.Pool
}

// migrationLockKey is the pg_advisory lock id that serializes migrations.
// Any constant works as long as every replica uses the same one; this is
// "voiceasst" in ASCII so it is recognisable in pg_locks.
const migrationLockKey int64 = 0x766f6963656173

// migrations are applied in order, each once, recorded in schema_migrations.
// Append only: never edit a migration that has shipped.
var migrations = []string{
	1: `CREATE TABLE IF NOT EXISTS jobs (
		id         text        PRIMARY KEY,
		status     text        NOT NULL CHECK (status IN ('queued','processing','done','failed')),
		attempts   integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
		audio      bytea       NOT NULL,
		result     jsonb,
		error      text        NOT NULL DEFAULT '',
		created_at timestamptz NOT NULL DEFAULT now(),
		updated_at timestamptz NOT NULL DEFAULT now()
	);
	CREATE INDEX IF NOT EXISTS jobs_status_updated_at ON jobs (status, updated_at);`,
	2: `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease text NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN IF NOT EXISTS completions integer NOT NULL DEFAULT 0;`,
	// 3: owners and audio retention. Existing rows stay valid: they get no
	// owner (visible to no client, as nobody authenticated when they were
	// made) and the default retention, 0; those already finished get their
	// audio due now, so the first sweep deletes what the old code kept for
	// ever. The defaults also keep an old replica's inserts working during a
	// rollout.
	3: `ALTER TABLE jobs ADD COLUMN IF NOT EXISTS owner text NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN IF NOT EXISTS audio_retention interval NOT NULL DEFAULT '0' CHECK (audio_retention >= '0');
	ALTER TABLE jobs ADD COLUMN IF NOT EXISTS audio_expires_at timestamptz;
	UPDATE jobs SET audio_expires_at = now() WHERE status IN ('done', 'failed') AND octet_length(audio) > 0;
	CREATE INDEX IF NOT EXISTS jobs_audio_expires_at ON jobs (audio_expires_at) WHERE audio_expires_at IS NOT NULL;`,
}

// SchemaVersion is the number of the latest migration: the version a
// database is at once Open has run.
func SchemaVersion() int { return len(migrations) - 1 }

// Open connects a pool to dsn and brings the schema up to date.
//
// Many replicas may start at once (a rollout, an HPA scale-up). Even
// CREATE TABLE IF NOT EXISTS is not safe under concurrency in PostgreSQL: two
// sessions can both see the table missing and one fails on the pg_type unique
// index. So migrations run in one transaction holding a transaction-scoped
// advisory lock (pg_advisory_xact_lock); the lock is released on commit or
// when the connection dies, so a crashed replica cannot leave it held.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("store: migrate: advisory lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store: migrate: schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: read version: %w", err)
	}
	latest := len(migrations) - 1
	if current >= latest {
		// A newer replica already migrated further; old code must keep
		// working against it (migrations are additive), so this is fine.
		return tx.Commit(ctx)
	}
	for v := current + 1; v <= latest; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			return fmt.Errorf("store: record migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}

// NewID returns 32 random hex digits (128 bits, like a UUID without dashes).
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidID reports whether id has the shape NewID produces, so callers can
// answer 404 for garbage without a database round trip.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// NewJob is what a job is created with.
type NewJob struct {
	Owner string // the client id that may read and delete it
	Audio []byte
	// AudioRetention: how long the audio is kept after the job finished;
	// 0 deletes it as the job finishes.
	AudioRetention time.Duration
}

// Create inserts a queued job holding audio, owned by nobody, with the
// default retention (tests and tools; the gateway uses Insert).
func (s *Store) Create(ctx context.Context, audio []byte) (string, error) {
	return s.Insert(ctx, NewJob{Audio: audio})
}

// Insert stores a new queued job and returns its id.
func (s *Store) Insert(ctx context.Context, j NewJob) (string, error) {
	id, err := NewID()
	if err != nil {
		return "", fmt.Errorf("store: new id: %w", err)
	}
	if j.AudioRetention < 0 {
		return "", fmt.Errorf("store: create job: negative audio retention %s", j.AudioRetention)
	}
	audio := j.Audio
	if audio == nil {
		audio = []byte{} // the column is NOT NULL; nil would be sent as NULL
	}
	if _, err := s.pool.Exec(ctx,
		`INSERT INTO jobs (id, status, audio, owner, audio_retention) VALUES ($1, $2, $3, $4, make_interval(secs => $5))`,
		id, StatusQueued, audio, j.Owner, j.AudioRetention.Seconds()); err != nil {
		return "", fmt.Errorf("store: create job: %w", err)
	}
	return id, nil
}

// Get returns the whole job, audio included.
func (s *Store) Get(ctx context.Context, id string) (*Job, error) {
	return s.get(ctx, id, true)
}

// GetMeta returns the job without its audio. Status polls are frequent and
// the audio can be megabytes, so the gateway's GET uses this.
func (s *Store) GetMeta(ctx context.Context, id string) (*Job, error) {
	return s.get(ctx, id, false)
}

// GetOwnedMeta is GetMeta for the job's owner only: a job another client
// owns is ErrNotFound, exactly like one that does not exist, so a client
// cannot even learn that an id is taken.
func (s *Store) GetOwnedMeta(ctx context.Context, owner, id string) (*Job, error) {
	return s.get(ctx, id, false, owner)
}

// get reads one row; with an owner given, only if that client owns it.
func (s *Store) get(ctx context.Context, id string, withAudio bool, owner ...string) (*Job, error) {
	audioCol := "audio"
	if !withAudio {
		audioCol = "NULL::bytea"
	}
	where, args := "id = $1", []any{id}
	if len(owner) == 1 {
		where, args = "id = $1 AND owner = $2", append(args, owner[0])
	}
	var (
		j         Job
		result    []byte
		retention float64
	)
	err := s.pool.QueryRow(ctx,
		`SELECT id, status, attempts, `+audioCol+`, result, error, lease, completions, owner,
		        extract(epoch FROM audio_retention)::float8, audio_expires_at, created_at, updated_at
		   FROM jobs WHERE `+where, args...).
		Scan(&j.ID, &j.Status, &j.Attempts, &j.Audio, &result, &j.Error, &j.Lease, &j.Completions, &j.Owner,
			&retention, &j.AudioExpiresAt, &j.CreatedAt, &j.UpdatedAt)
	j.AudioRetention = time.Duration(retention * float64(time.Second))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get job %s: %w", id, err)
	}
	if result != nil {
		j.Result = json.RawMessage(result)
	}
	return &j, nil
}

// MarkProcessing records that a worker holding queue lease token lease
// started attempt number attempt. It moves the row from queued or processing
// (a new claim after a lost lease) only; a done or failed row gives ErrStale.
func (s *Store) MarkProcessing(ctx context.Context, id string, attempt int, lease string) error {
	return s.update(ctx, "mark processing", id,
		`UPDATE jobs SET status = $2, attempts = $3, lease = $4, updated_at = now()
		  WHERE id = $1 AND status IN ('queued', 'processing')`,
		StatusProcessing, attempt, lease)
}

// Complete stores the result (which must be valid JSON) and marks the job
// done — only if the row is processing under lease (see Job.Lease): a worker
// whose lease another claim has replaced gets ErrStale and writes nothing, so
// a job's result is written once.
func (s *Store) Complete(ctx context.Context, id, lease string, result json.RawMessage) error {
	if !json.Valid(result) {
		return fmt.Errorf("store: complete job %s: result is not valid JSON", id)
	}
	// Sent as text and cast: jsonb parses it, and the raw bytes are kept
	// exactly as the worker produced them up to jsonb normalization.
	return s.update(ctx, "complete", id,
		`UPDATE jobs SET status = $2, result = $3::jsonb, error = '', completions = completions + 1, updated_at = now(), `+finishAudio+`
		  WHERE id = $1 AND status = 'processing' AND lease = $4`,
		StatusDone, string(result), lease)
}

// FailLeased marks the job failed with a human-readable reason, only if the
// row is processing under lease (the worker's permanent failure).
func (s *Store) FailLeased(ctx context.Context, id, lease, reason string) error {
	return s.update(ctx, "fail", id,
		`UPDATE jobs SET status = $2, error = $3, updated_at = now(), `+finishAudio+`
		  WHERE id = $1 AND status = 'processing' AND lease = $4`,
		StatusFailed, reason, lease)
}

// Fail marks a job that is not finished failed with a human-readable reason
// (the gateway's, when it could not queue the job it just stored).
func (s *Store) Fail(ctx context.Context, id string, reason string) error {
	return s.update(ctx, "fail", id,
		`UPDATE jobs SET status = $2, error = $3, updated_at = now(), `+finishAudio+`
		  WHERE id = $1 AND status IN ('queued', 'processing')`,
		StatusFailed, reason)
}

// finishAudio is the SET clause every move to done or failed carries: the
// row's retention decides, in the same write, whether the audio goes now
// (retention 0, the default) or when a sweep deletes it. Doing it in the
// transition itself means no worker, reaper or reconciler path can finish
// a job and forget its audio.
const finishAudio = `audio = CASE WHEN audio_retention = '0' THEN ''::bytea ELSE audio END,
	audio_expires_at = CASE WHEN audio_retention = '0' THEN NULL ELSE now() + audio_retention END`

// DeleteOwned deletes the job (its row: audio, result and all) if owner
// owns it; otherwise ErrNotFound, as for a job that does not exist. A job
// still queued or running is deleted too: its worker finds no row and
// writes nothing (internal/worker dead-letters the bare id).
func (s *Store) DeleteOwned(ctx context.Context, owner, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1 AND owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("store: delete job %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// PurgeExpiredAudio deletes the audio of up to limit finished jobs whose
// retention has run out, and returns how many it purged. Concurrent callers
// (every gateway replica sweeps) skip each other's rows.
func (s *Store) PurgeExpiredAudio(ctx context.Context, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx,
		`UPDATE jobs SET audio = ''::bytea, audio_expires_at = NULL
		  WHERE id IN (SELECT id FROM jobs WHERE audio_expires_at <= now()
		                ORDER BY audio_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`, limit)
	if err != nil {
		return 0, fmt.Errorf("store: purge expired audio: %w", err)
	}
	return tag.RowsAffected(), nil
}

// update runs a guarded UPDATE; when it matches no row it tells a missing
// job (ErrNotFound) from one in another state or lease (ErrStale).
func (s *Store) update(ctx context.Context, what, id, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("store: %s job %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var status string
	err = s.pool.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, id).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("store: %s job %s: %w", what, id, err)
	}
	return fmt.Errorf("store: %s job %s (now %s): %w", what, id, status, ErrStale)
}

// Pending is a job PostgreSQL holds as accepted and not finished.
type Pending struct {
	ID        string
	Status    string // queued or processing
	UpdatedAt time.Time
}

// ListPending returns up to limit queued or processing jobs whose row has
// not changed for at least olderThan (by PostgreSQL's clock), in
// (updated_at, id) order after the cursor after (zero: from the start).
// The reconciler pages through them with the last one as the next cursor.
func (s *Store) ListPending(ctx context.Context, olderThan time.Duration, after Pending, limit int) ([]Pending, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT id, status, updated_at FROM jobs
		  WHERE status IN ('queued', 'processing')
		    AND updated_at < now() - make_interval(secs => $1)
		    AND (updated_at, id) > ($2, $3)
		  ORDER BY updated_at, id LIMIT $4`,
		olderThan.Seconds(), after.UpdatedAt, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list pending jobs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Pending, error) {
		var p Pending
		return p, r.Scan(&p.ID, &p.Status, &p.UpdatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list pending jobs: %w", err)
	}
	return out, nil
}

// PendingSummary counts the accepted, unfinished jobs and says how long ago
// the oldest was accepted (by PostgreSQL's clock; 0 if none).
func (s *Store) PendingSummary(ctx context.Context) (n int64, oldest time.Duration, err error) {
	var secs float64
	err = s.pool.QueryRow(ctx,
		`SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		   FROM jobs WHERE status IN ('queued', 'processing')`).Scan(&n, &secs)
	if err != nil {
		return 0, 0, fmt.Errorf("store: summarize pending jobs: %w", err)
	}
	return n, time.Duration(secs * float64(time.Second)), nil
}

// Ping checks that PostgreSQL answers a query (not just that a pooled
// connection exists), for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Close closes the pool, waiting for acquired connections to be released.
func (s *Store) Close() {
	s.pool.Close()
}
