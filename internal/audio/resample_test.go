package audio

import (
	"math"
	"testing"
)

// middle returns x without the first and last `edge` samples.
func middle(x []float64, edge int) []float64 { return x[edge : len(x)-edge] }

func TestResampleKeepsToneFrequencyAndAmplitude(t *testing.T) {
	for _, tc := range []struct {
		from, to int
		f        float64
	}{
		{44100, 16000, 1000}, // polyphase, 160 phases
		{48000, 16000, 1000}, // integer decimation
		{8000, 16000, 1000},  // upsampling
		{22050, 16000, 440},
		{44101, 16000, 1000}, // L = 16000 > 1024: interpolated phase table
		{44100, 16000, 100},
		{44100, 16000, 3000},
		{44100, 16000, 6000}, // near the pass-band edge (7.2 kHz cut-off)
		{16000, 44100, 1000},
	} {
		const amp = 0.5
		x := sine(3*tc.from, float64(tc.from), tc.f, amp)
		y := Resample(x, tc.from, tc.to)
		if want := (len(x)*tc.to + tc.from - 1) / tc.from; len(y) != want {
			t.Errorf("%d→%d: %d samples, want %d", tc.from, tc.to, len(y), want)
		}
		mid := middle(y, tc.to/2) // 2 s, away from the edges
		// Linear interpolation of the crossings is coarse at 2.7 samples
		// per cycle (6 kHz at 16 kHz), hence the looser bound there.
		if f := zeroCrossingFreq(mid, float64(tc.to)); math.Abs(f-tc.f) > 0.01 && (tc.f <= 3000 || math.Abs(f-tc.f) > 0.05) {
			t.Errorf("%d→%d, %v Hz: frequency after resampling %.4f Hz", tc.from, tc.to, tc.f, f)
		}
		a := goertzelAmp(mid, float64(tc.to), tc.f)
		if d := db(a / amp); math.Abs(d) > 0.5 || (tc.f <= 3000 && math.Abs(d) > 0.01) {
			t.Errorf("%d→%d, %v Hz: amplitude changed by %.4f dB", tc.from, tc.to, tc.f, d)
		}
	}
}

func TestResampleAntiAliasing(t *testing.T) {
	for _, tc := range []struct {
		from, to int
		f        float64
	}{
		{48000, 16000, 10000}, // would alias to 6 kHz
		{48000, 16000, 8500},
		{48000, 16000, 20000},
		{44100, 16000, 9000},
		{44100, 16000, 15000},
		{44101, 16000, 10000},
		{192000, 16000, 30000},
	} {
		x := sine(2*tc.from, float64(tc.from), tc.f, 1)
		y := middle(Resample(x, tc.from, tc.to), tc.to/4)
		if d := db(math.Sqrt2 * rms(y)); d > -40 {
			t.Errorf("%d→%d: %v Hz tone attenuated only %.1f dB", tc.from, tc.to, tc.f, -d)
		}
	}
	// Upsampling must not create images: 1 kHz from 8 kHz has its image at
	// 7 kHz in a naive (zero-order / zero-stuffing) upsampler.
	y := middle(Resample(sine(2*8000, 8000, 1000, 1), 8000, 16000), 4000)
	if d := db(goertzelAmp(y, 16000, 7000)); d > -40 {
		t.Errorf("8→16 kHz: image at 7 kHz is %.1f dB", d)
	}
}

func TestResampleEdgeCases(t *testing.T) {
	x := []float64{1, 2, 3}
	y := Resample(x, 16000, 16000)
	y[0] = 9
	if x[0] != 1 || len(y) != 3 {
		t.Error("same-rate Resample must return a copy")
	}
	if Resample(x, 0, 16000) != nil || Resample(x, 16000, -1) != nil {
		t.Error("non-positive rates must give nil")
	}
	if got := Resample(nil, 44100, 16000); len(got) != 0 {
		t.Errorf("empty input gave %d samples", len(got))
	}
	// DC passes with unit gain at every phase.
	dc := make([]float64, 44100)
	for i := range dc {
		dc[i] = 0.25
	}
	for _, v := range middle(Resample(dc, 44100, 16000), 100) {
		if math.Abs(v-0.25) > 1e-9 {
			t.Fatalf("DC 0.25 became %v", v)
		}
	}
}

func TestDownmixMono(t *testing.T) {
	got := DownmixMono([][]float64{{1, 0.5, 0.25}, {0, -0.5}})
	if len(got) != 2 || got[0] != 0.5 || got[1] != 0 {
		t.Errorf("got %v, want [0.5 0]", got)
	}
	in := []float64{0.1, 0.2}
	got = DownmixMono([][]float64{in})
	got[0] = 1
	if in[0] != 0.1 {
		t.Error("single channel must be copied")
	}
	if DownmixMono(nil) != nil {
		t.Error("no channels must give nil")
	}
}
