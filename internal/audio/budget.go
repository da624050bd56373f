package audio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// ErrBudgetExhausted: the memory budget cannot take the reservation now
// (retry later). ErrOverBudget: it never can (the request is larger than the
// whole budget).
var (
	ErrBudgetExhausted = errors.New("memory budget exhausted")
	ErrOverBudget      = errors.New("larger than the whole memory budget")
)

// Budget bounds the memory that concurrent requests hold for audio: upload
// buffers, decoded samples and the analysis's working copies. Each request
// takes a Reservation and grows it before it allocates.
//
// A reservation is given back only when its memory is freed, not when the
// request ends: the samples of a finished request stay on the heap until the
// garbage collector frees them, and releasing the budget earlier lets the
// next requests allocate on top of that garbage (issue 13 measured 2.1 GB of
// RSS under a 512 MiB "decode budget" that way). Done therefore hands the
// reservation to runtime.AddCleanup on the request's tracked buffers, and
// the budget returns when the collector has freed them. When the budget is
// full of such garbage, Grow starts a collection itself (one at a time)
// rather than waiting for allocation elsewhere to trigger one: with the
// budget full nothing else allocates.
type Budget struct {
	size       int64
	sem        *semaphore.Weighted
	reserved   atomic.Int64 // held by reservations, garbage included
	awaitingGC atomic.Int64 // of reserved: finished work whose memory the GC has not freed yet
	collecting atomic.Bool
}

// NewBudget returns a budget of size bytes (size > 0).
func NewBudget(size int64) *Budget {
	return &Budget{size: size, sem: semaphore.NewWeighted(size)}
}

// Size is the budget's capacity in bytes.
func (b *Budget) Size() int64 { return b.size }

// Reserved is how much is reserved now, garbage awaiting collection included.
func (b *Budget) Reserved() int64 { return b.reserved.Load() }

// AwaitingGC is the part of Reserved held by finished work until the
// garbage collector frees its memory.
func (b *Budget) AwaitingGC() int64 { return b.awaitingGC.Load() }

// Reservation is one request's share of a Budget. Grow it before
// allocating, Track what it allocated, call Done when the request no longer
// uses it. It is not safe for concurrent Grow calls.
type Reservation struct {
	b *Budget
	n int64
	// refs counts the tracked buffers not yet freed plus one for "not
	// done"; whoever drops it to zero gives the budget back.
	refs atomic.Int64
	done bool
}

// Reserve starts an empty reservation.
func (b *Budget) Reserve() *Reservation {
	r := &Reservation{b: b}
	r.refs.Store(1)
	return r
}

// Bytes is how much r holds.
func (r *Reservation) Bytes() int64 { return r.n }

// Grow adds n bytes to r. If the budget is full it waits for memory that
// finished requests hold until the garbage collector frees it (starting a
// collection), at most until ctx ends; it never waits for running requests:
// it fails with ErrBudgetExhausted at once if no garbage is pending, so an
// overloaded gateway refuses instead of queueing. Give ctx a short deadline.
func (r *Reservation) Grow(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	b := r.b
	if r.n+n > b.size {
		return fmt.Errorf("%w: %d bytes needed, budget is %d", ErrOverBudget, r.n+n, b.size)
	}
	if !b.sem.TryAcquire(n) {
		if b.awaitingGC.Load() == 0 {
			return ErrBudgetExhausted
		}
		b.collect()
		if err := b.sem.Acquire(ctx, n); err != nil {
			return fmt.Errorf("%w (waited for garbage collection: %v)", ErrBudgetExhausted, err)
		}
	}
	r.n += n
	b.reserved.Add(n)
	return nil
}

// CheckFits says whether n bytes could be reserved now, counting what
// finished requests hold until the next collection as free, without
// reserving them: nil, ErrBudgetExhausted or ErrOverBudget, as Grow would
// answer. The gateway asks it with an upload's declared length, to refuse
// at once an upload it could not hold once received.
func (b *Budget) CheckFits(n int64) error {
	switch {
	case n > b.size:
		return fmt.Errorf("%w: %d bytes declared, budget is %d", ErrOverBudget, n, b.size)
	case n > b.size-b.reserved.Load()+b.awaitingGC.Load():
		return ErrBudgetExhausted
	}
	return nil
}

// Shrink gives back n bytes that r reserved but never allocated (an
// estimate that turned out too high).
func (r *Reservation) Shrink(n int64) {
	n = min(n, r.n)
	if n <= 0 {
		return
	}
	r.n -= n
	r.b.reserved.Add(-n)
	r.b.sem.Release(n)
}

// collect runs one garbage collection in the background unless one started
// here is still running. The cleanups of freed buffers run after it and
// release their reservations, which wakes Grow's waiters.
func (b *Budget) collect() {
	if b.collecting.CompareAndSwap(false, true) {
		go func() {
			defer b.collecting.Store(false)
			runtime.GC()
		}()
	}
}

// Track makes r's release wait until the garbage collector has freed *p
// (call it for the buffers r's bytes were reserved for, before Done).
// Tracking the request's last-dropped buffers is enough: memory that became
// unreachable earlier (intermediate copies of the analysis) is freed by the
// same collection or an earlier one.
func Track[T any](r *Reservation, p *T) {
	if p == nil {
		return
	}
	r.refs.Add(1)
	runtime.AddCleanup(p, (*Reservation).unref, r)
}

// TrackSamples tracks every channel of clip (and clip itself).
func (r *Reservation) TrackSamples(clip *Clip) {
	if clip == nil {
		return
	}
	Track(r, clip)
	for _, ch := range clip.Channels {
		if len(ch) > 0 {
			Track(r, &ch[0])
		}
	}
}

// TrackBytes tracks the buffer behind b.
func (r *Reservation) TrackBytes(b []byte) {
	if cap(b) > 0 {
		Track(r, &b[:1][0])
	}
}

// Done says the request no longer uses r's memory. The bytes return to the
// budget once the tracked buffers are freed (at once if nothing is tracked).
// Calling Done twice is harmless.
func (r *Reservation) Done() {
	if r.done {
		return
	}
	r.done = true
	r.b.awaitingGC.Add(r.n)
	r.unref()
}

func (r *Reservation) unref() {
	if r.refs.Add(-1) == 0 {
		b := r.b
		b.awaitingGC.Add(-r.n)
		b.reserved.Add(-r.n)
		if r.n > 0 {
			b.sem.Release(r.n)
		}
	}
}

// DecodedBytes is the memory Decode allocates for a clip of samples
// samples (all channels): float64 each. Decode sizes its slices from the
// input length when its reader has a Len (bytes.Reader does), so there is no
// growth slack.
func DecodedBytes(samples int64) int64 { return samples * 8 }

// MaxDecodedBytes bounds DecodedBytes for an encoded WAV of n bytes: the
// smallest encoding is 8-bit PCM, one byte per sample.
func MaxDecodedBytes(n int64) int64 { return DecodedBytes(n) }

// AnalysisBytes bounds what Analyze allocates for clip on top of the clip
// itself, all held at once as if none were freed early (so it is safe to
// reserve): the upsampled copies the loudness meter measures at low sample
// rates, the mono downmix, its resampling to VADSampleRate, the voice
// detector's per-frame arrays and the resamplers' polyphase tables.
// TestAnalysisBytesBoundsAllocation checks it against what Analyze really
// allocates.
func AnalysisBytes(clip *Clip) int64 {
	if clip == nil || len(clip.Channels) == 0 || clip.SampleRate < MinSampleRate || clip.SampleRate > MaxSampleRate {
		return 0
	}
	n := int64(clip.Frames())
	fs := clip.SampleRate
	ch := int64(len(clip.Channels))
	var total int64
	if r := kOversampling(fs); r > 1 {
		total += ch * n * int64(r) * 8 // loudness: each channel upsampled by r
		total += resamplerBytes(fs, fs*r, kOversampleRolloff, kOversampleZeroCrossings)
	}
	n16 := n*VADSampleRate/int64(fs) + 1
	total += n * 8   // DownmixMono
	total += n16 * 8 // Resample to VADSampleRate
	if fs != VADSampleRate {
		total += resamplerBytes(fs, VADSampleRate, resampleRolloff, resampleZeroCrossings)
	}
	frames := n16/int64(vadHop*VADSampleRate) + 1
	total += frames * 4 * 8                  // voice detector: energy, zcr, flags, a sorted copy
	total += (n/int64(fs)+1)*10*2*8 + 64<<10 // loudness: 100 ms segments, 400 ms blocks; small slices
	return total
}

// resamplerBytes is what one resample call allocates besides its output:
// the polyphase table and the scratch window (see resample).
func resamplerBytes(from, to int, rolloff, zeroCrossings float64) int64 {
	g := gcd(from, to)
	rows := int64(to / g)
	if rows > resampleMaxPhases {
		rows = resampleMaxPhases + 1
	}
	fc := rolloff * float64(min(from, to)) / float64(from)
	taps := 2 * (int64(math.Ceil(zeroCrossings/fc)) + 1)
	return (rows + 1) * taps * 8
}
