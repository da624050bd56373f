package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/voiceassist/autoscaling/internal/audio"
	"github.com/voiceassist/autoscaling/internal/store"
)

// writeTimeout bounds the create-then-enqueue sequence of one upload.
const writeTimeout = 10 * time.Second

// apiError is an error response chosen deep in a helper.
type apiError struct {
	code    int
	errCode string
	detail  string
}

func (e *apiError) write(w http.ResponseWriter) {
	if e.code == http.StatusServiceUnavailable { // lack of capacity: say when to come back
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, e.code, e.errCode, e.detail)
}

// rawAudioTypes are the Content-Types accepted for a raw WAV body. An
// absent Content-Type is accepted too: the WAV decoder, not the header,
// decides what is audio. (curl --data-binary sends
// application/x-www-form-urlencoded unless told otherwise; that gets 415 with
// a message saying what to send.)
var rawAudioTypes = map[string]bool{
	"audio/wav": true, "audio/x-wav": true, "audio/wave": true, "audio/vnd.wave": true,
	"application/octet-stream": true,
}

// readAudio returns the uploaded WAV bytes: the raw body, or the multipart
// form field "audio". Nothing beyond MaxUploadBytes is ever read, and the
// buffers grow with the bytes received, never with the declared
// Content-Length: each 64 KiB chunk is reserved in res before it is
// allocated, so slow uploads hold only what they sent and a full budget
// refuses the request (503) instead of growing the heap. A declared length
// that does not fit the free budget is refused before reading.
func (s *Server) readAudio(w http.ResponseWriter, r *http.Request, res *audio.Reservation) ([]byte, *apiError) {
	limit := s.cfg.MaxUploadBytes
	tooBig := &apiError{http.StatusRequestEntityTooLarge, "payload_too_large",
		fmt.Sprintf("request body exceeds the limit of %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, tooBig // refuse before reading a byte
	}
	// A declared length the budget could not hold now is refused before a
	// byte is read (it would be refused half-way, after its sender had spent
	// the time to send it); nothing is reserved for it, so a slow client
	// still holds only what it sent.
	if r.ContentLength > 0 {
		if aerr := s.budgetError(s.budget.CheckFits(r.ContentLength)); aerr != nil {
			return nil, aerr
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)

	ct := r.Header.Get("Content-Type")
	var (
		src       io.Reader
		mediaType string
	)
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type",
				fmt.Sprintf("cannot parse Content-Type %q: %v", ct, err)}
		}
		mediaType = mt
	}
	switch {
	case mediaType == "" || rawAudioTypes[mediaType]:
		src = body
	case mediaType == "multipart/form-data":
		r.Body = body
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, &apiError{http.StatusBadRequest, "bad_multipart", err.Error()}
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, &apiError{http.StatusBadRequest, "missing_audio",
					`multipart form has no field named "audio"`}
			}
			if err != nil {
				if isTooBig(err) {
					return nil, tooBig
				}
				return nil, &apiError{http.StatusBadRequest, "bad_multipart", err.Error()}
			}
			if part.FormName() == "audio" {
				src = part
				break
			}
			// Other fields are skipped; NextPart discards their content.
		}
	default:
		return nil, &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: send the WAV as the raw body (audio/wav) or as multipart/form-data field \"audio\"", mediaType)}
	}

	b, err := s.readBudgeted(r.Context(), src, res)
	if err != nil {
		if aerr := s.budgetError(err); aerr != nil {
			return nil, aerr
		}
		if isTooBig(err) {
			return nil, tooBig
		}
		return nil, &apiError{http.StatusBadRequest, "bad_body", "reading request body: " + err.Error()}
	}
	if len(b) == 0 {
		return nil, &apiError{http.StatusBadRequest, "empty_body", "no audio: the request body (or the \"audio\" field) is empty"}
	}
	return b, nil
}

// uploadChunk is the step in which upload buffers grow.
const uploadChunk = 64 << 10

// readBudgeted reads src to EOF into uploadChunk-sized chunks, each reserved
// in res before it is allocated, and returns the bytes in one slice (the
// chunks themselves when one suffices, else a copy, reserved as well: the
// decoder and the store want contiguous bytes).
func (s *Server) readBudgeted(ctx context.Context, src io.Reader, res *audio.Reservation) ([]byte, error) {
	var (
		chunks [][]byte
		total  int
	)
	grow := func(n int) error {
		gctx, cancel := context.WithTimeout(ctx, budgetWait)
		defer cancel()
		return res.Grow(gctx, int64(n))
	}
	for {
		if len(chunks) == 0 || len(chunks[len(chunks)-1]) == uploadChunk {
			if err := grow(uploadChunk); err != nil {
				return nil, err
			}
			c := make([]byte, 0, uploadChunk)
			res.TrackBytes(c)
			chunks = append(chunks, c)
		}
		last := &chunks[len(chunks)-1]
		n, err := src.Read((*last)[len(*last):uploadChunk])
		*last = (*last)[:len(*last)+n]
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	if err := grow(total); err != nil {
		return nil, err
	}
	b := make([]byte, 0, total)
	res.TrackBytes(b)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b, nil
}

// budgetError maps a failed reservation to its response (nil: not a
// budget error).
func (s *Server) budgetError(err error) *apiError {
	switch {
	case errors.Is(err, audio.ErrOverBudget):
		return &apiError{http.StatusRequestEntityTooLarge, "audio_too_large",
			"the request needs more memory than the gateway's whole audio budget (--decode-memory-bytes): " + err.Error()}
	case errors.Is(err, audio.ErrBudgetExhausted):
		s.metrics.shed.WithLabelValues("memory").Inc()
		return &apiError{http.StatusServiceUnavailable, "overloaded",
			"the gateway's audio memory is in use by other requests; nothing was accepted, retry later"}
	}
	return nil
}

func isTooBig(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// reserve grows res by n bytes, waiting at most budgetWait for memory that
// the garbage collector is about to free.
func (s *Server) reserve(ctx context.Context, res *audio.Reservation, n int64) *apiError {
	gctx, cancel := context.WithTimeout(ctx, budgetWait)
	defer cancel()
	if err := res.Grow(gctx, n); err != nil {
		return s.budgetError(err)
	}
	return nil
}

// decode validates b as a WAV the worker will be able to process and returns
// the clip, its memory reserved in res (and tracked, so the reservation
// returns only once the samples are freed).
//
// Decoding expands the upload up to 8x (a 25 MiB upload of 8-bit audio is
// 200 MiB of float64). The bound is reserved first and shrunk to what the
// clip really takes once it is decoded.
func (s *Server) decode(ctx context.Context, b []byte, res *audio.Reservation) (*audio.Clip, *apiError) {
	weight := audio.MaxDecodedBytes(int64(len(b)))
	if aerr := s.reserve(ctx, res, weight); aerr != nil {
		return nil, aerr
	}
	clip, err := audio.Decode(bytes.NewReader(b))
	if err == nil {
		samples := int64(0)
		for _, ch := range clip.Channels {
			samples += int64(cap(ch))
		}
		res.TrackSamples(clip)
		res.Shrink(weight - audio.DecodedBytes(samples))
		return clip, nil
	}
	res.Shrink(weight) // what a failed decode allocated is tiny or garbage already
	switch {
	case errors.Is(err, audio.ErrTooLarge):
		return nil, &apiError{http.StatusRequestEntityTooLarge, "audio_too_large", err.Error()}
	case errors.Is(err, audio.ErrUnsupported):
		return nil, &apiError{http.StatusUnsupportedMediaType, "unsupported_audio", err.Error()}
	case errors.Is(err, audio.ErrMalformed):
		return nil, &apiError{http.StatusBadRequest, "invalid_audio", err.Error()}
	default:
		// A bytes.Reader cannot fail, so this is a decoder bug, not the client's.
		return nil, &apiError{http.StatusInternalServerError, "internal", "decoding audio: " + err.Error()}
	}
}

// jobResponse is the JSON shape of a job. The audio is never echoed back.
type jobResponse struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Attempts  int             `json:"attempts"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
	CreatedAt *time.Time      `json:"created_at,omitempty"`
	UpdatedAt *time.Time      `json:"updated_at,omitempty"`
}

// createJob: validate, store, enqueue. The order matters: validation comes
// first so bad uploads write nothing; the row is written before the id is
// queued so a worker never claims an id it cannot find — the row in
// PostgreSQL is the record that the job was accepted. A failed enqueue marks
// deletes the row — audio and all: nothing is kept of a refused request —
// and answers 503 ("nothing was accepted"). If the gateway dies between the
// insert and the enqueue, or the delete fails too, the row stays "queued"
// and the workers' reconciler enqueues it after its grace period
// (internal/worker, reconcile.go): the job is processed even though its
// client may have seen no 202, never lost, and its audio goes when it
// finishes, by its retention.
func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	if s.deps.Jobs == nil || s.deps.Queue == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "job store or queue not configured")
		return
	}
	res := s.budget.Reserve()
	defer res.Done()
	b, aerr := s.readAudio(w, r, res)
	if aerr != nil {
		aerr.write(w)
		return
	}
	// No in-flight slot: accepting a job is validating its header and
	// two writes, and a burst of submissions is what the queue is for
	// (the audio memory budget bounds what it holds meanwhile).
	if _, aerr := s.decode(r.Context(), b, res); aerr != nil { // only validation: the worker decodes again
		aerr.write(w)
		return
	}
	reqID := RequestID(r.Context())

	// Once we start writing, finish even if the client goes away: stopping
	// between Create and Enqueue is exactly the half-written state to avoid.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	client := ClientID(r.Context())
	id, err := s.deps.Jobs.Insert(ctx, store.NewJob{Owner: client, Audio: b, AudioRetention: s.cfg.RetainAudio})
	if err != nil {
		s.log.Error("create job", "request_id", reqID, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "could not store the job; retry later")
		return
	}
	if err := s.deps.Queue.Enqueue(ctx, id); err != nil {
		s.log.Error("enqueue job; deleting it", "request_id", reqID, "job_id", id, "err", err)
		if derr := s.deps.Jobs.DeleteOwned(ctx, client, id); derr != nil {
			// Both stores are unhappy. The row stays "queued": the client
			// gets 503 and never learns the id, and the reconciler will
			// still process the job (at least once, never lost).
			s.log.Error("delete unqueued job", "request_id", reqID, "job_id", id, "err", derr)
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "queue_unavailable", "could not queue the job; nothing was accepted, retry later")
		return
	}
	s.log.Info("job queued", "request_id", reqID, "job_id", id, "bytes", len(b))
	w.Header().Set("Location", "/v1/jobs/"+id)
	writeJSON(w, http.StatusAccepted, jobResponse{ID: id, Status: store.StatusQueued})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	notFound := func() { writeError(w, http.StatusNotFound, "not_found", "no job with id "+id) }
	if !store.ValidID(id) {
		notFound() // cannot exist; spare the database
		return
	}
	if s.deps.Jobs == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "job store not configured")
		return
	}
	// Another client's job is "not found" too (404, not 403): ids must
	// not be probeable.
	j, err := s.deps.Jobs.GetOwnedMeta(r.Context(), ClientID(r.Context()), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		s.log.Error("get job", "request_id", RequestID(r.Context()), "job_id", id, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "could not read the job; retry later")
		return
	}
	w.Header().Set("Cache-Control", "no-store") // status changes; never cache
	writeJSON(w, http.StatusOK, jobResponse{
		ID: j.ID, Status: j.Status, Attempts: j.Attempts, Result: j.Result, Error: j.Error,
		CreatedAt: &j.CreatedAt, UpdatedAt: &j.UpdatedAt,
	})
}

// deleteJob deletes the client's job: its row, so its audio and its result.
// 204 when deleted; 404 for a job that does not exist or is another
// client's.
func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		writeError(w, http.StatusNotFound, "not_found", "no job with id "+id)
		return
	}
	if s.deps.Jobs == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "job store not configured")
		return
	}
	client := ClientID(r.Context())
	err := s.deps.Jobs.DeleteOwned(r.Context(), client, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no job with id "+id)
	case err != nil:
		s.log.Error("delete job", "request_id", RequestID(r.Context()), "job_id", id, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "could not delete the job; retry later")
	default:
		s.log.Info("job deleted", "request_id", RequestID(r.Context()), "job_id", id, "client", client)
		w.WriteHeader(http.StatusNoContent)
	}
}

// analyze runs the worker's analysis synchronously on the gateway. It is
// bounded by MaxAnalyzeDuration of audio so one request cannot hold a core
// for long; longer recordings belong in POST /v1/jobs.
func (s *Server) analyze(w http.ResponseWriter, r *http.Request) {
	res := s.budget.Reserve()
	defer res.Done() // after the response: the budget returns once the GC frees the samples
	b, aerr := s.readAudio(w, r, res)
	if aerr != nil {
		aerr.write(w)
		return
	}
	done, ok := s.startWork(w)
	if !ok {
		return
	}
	defer done()
	clip, aerr := s.decode(r.Context(), b, res)
	if aerr != nil {
		aerr.write(w)
		return
	}
	if d := time.Duration(clip.Duration() * float64(time.Second)); d > s.cfg.MaxAnalyzeDuration {
		writeError(w, http.StatusRequestEntityTooLarge, "audio_too_long",
			fmt.Sprintf("clip is %.2f s; /v1/analyze takes at most %s, submit longer audio to POST /v1/jobs",
				d.Seconds(), s.cfg.MaxAnalyzeDuration))
		return
	}
	if aerr := s.reserve(r.Context(), res, audio.AnalysisBytes(clip)); aerr != nil {
		aerr.write(w)
		return
	}
	writeJSON(w, http.StatusOK, audio.Analyze(clip))
}
