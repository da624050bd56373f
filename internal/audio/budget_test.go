package audio

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestAnalysisBytesBoundsAllocation: what the gateway reserves for an
// analysis (AnalysisBytes) covers everything Analyze allocates, across the
// sample rates and channel counts that change its work (oversampled
// loudness below 44.1 kHz, resampling for voice detection unless 16 kHz),
// and is not wildly above it.
func TestAnalysisBytesBoundsAllocation(t *testing.T) {
	for _, tc := range []struct {
		rate, channels int
		seconds        float64
	}{
		{8000, 1, 5}, {16000, 1, 10}, {22050, 2, 5}, {44100, 2, 10}, {48000, 1, 10}, {48000, 6, 3}, {96000, 2, 2},
	} {
		n := int(tc.seconds * float64(tc.rate))
		clip := &Clip{SampleRate: tc.rate}
		for c := range tc.channels {
			clip.Channels = append(clip.Channels, sine(n, float64(tc.rate), 300+100*float64(c), 0.3))
		}
		Analyze(clip) // warm up anything lazily built once per process
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		Analyze(clip)
		runtime.ReadMemStats(&after)
		got := int64(after.TotalAlloc - before.TotalAlloc)
		est := AnalysisBytes(clip)
		t.Logf("%d Hz × %d ch, %.0f s: Analyze allocated %d bytes, AnalysisBytes %d (%.2fx of the clip's %d)",
			tc.rate, tc.channels, tc.seconds, got, est, float64(est)/float64(DecodedBytes(int64(n*tc.channels))), DecodedBytes(int64(n*tc.channels)))
		if got > est {
			t.Errorf("%d Hz × %d ch: Analyze allocated %d bytes, more than AnalysisBytes = %d", tc.rate, tc.channels, got, est)
		}
		if est > 2*got+1<<20 {
			t.Errorf("%d Hz × %d ch: AnalysisBytes = %d is more than twice the %d bytes Analyze allocated", tc.rate, tc.channels, est, got)
		}
	}
}

// TestBudgetRefusesWhenFull: a reservation that does not fit fails at once
// with ErrBudgetExhausted while the holder is still working (no queueing),
// and one larger than the whole budget with ErrOverBudget.
func TestBudgetRefusesWhenFull(t *testing.T) {
	b := NewBudget(1 << 20)
	r1 := b.Reserve()
	if err := r1.Grow(context.Background(), 768<<10); err != nil {
		t.Fatal(err)
	}
	r2 := b.Reserve()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := r2.Grow(ctx, 512<<10); !errors.Is(err, ErrBudgetExhausted) {
		t.Fatalf("Grow over a full budget: %v, want ErrBudgetExhausted", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %s: it waited instead of refusing", d)
	}
	if err := b.Reserve().Grow(ctx, 2<<20); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("Grow beyond the budget's size: %v, want ErrOverBudget", err)
	}
	r1.Shrink(512 << 10)
	if err := r2.Grow(ctx, 512<<10); err != nil {
		t.Fatalf("after Shrink: %v", err)
	}
	if got := b.Reserved(); got != 768<<10 {
		t.Errorf("Reserved = %d, want %d", got, 768<<10)
	}
	r1.Done()
	r2.Done()
	if got := b.Reserved(); got != 0 {
		t.Errorf("after Done with nothing tracked: Reserved = %d, want 0", got)
	}
}

// TestBudgetReleasedOnlyWhenFreed: Done does not give the budget back while
// the tracked samples are still reachable; once they are garbage, a Grow
// that needs the room starts a collection and gets it.
func TestBudgetReleasedOnlyWhenFreed(t *testing.T) {
	const size = 8 << 20
	b := NewBudget(size)
	r := b.Reserve()
	if err := r.Grow(context.Background(), size); err != nil {
		t.Fatal(err)
	}
	clip := &Clip{SampleRate: 16000, Channels: [][]float64{make([]float64, size/8)}}
	r.TrackSamples(clip)
	r.Done()

	// Still referenced: a collection must not release it.
	runtime.GC()
	if got := b.Reserved(); got != size {
		t.Fatalf("Reserved = %d after Done with the samples still reachable, want %d", got, size)
	}
	if got := b.AwaitingGC(); got != size {
		t.Fatalf("AwaitingGC = %d, want %d", got, size)
	}
	// Grow collects and waits for the cleanup, bounded by its context: with
	// the samples reachable the collection frees nothing.
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := b.Reserve().Grow(short, 1); !errors.Is(err, ErrBudgetExhausted) {
		t.Fatalf("Grow while the samples are reachable: %v, want ErrBudgetExhausted", err)
	}
	runtime.KeepAlive(clip)
	clip = nil

	// Garbage now: Grow collects and waits for the cleanup.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r2 := b.Reserve()
	if err := r2.Grow(ctx, size); err != nil {
		t.Fatalf("Grow after the samples became garbage: %v", err)
	}
	if got := b.AwaitingGC(); got != 0 {
		t.Errorf("AwaitingGC = %d after the collection, want 0", got)
	}
}
