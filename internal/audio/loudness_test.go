package audio

import (
	"fmt"
	"math"
	"math/cmplx"
	"testing"
)

// The 48 kHz K-weighting coefficients tabulated in ITU-R BS.1770-4
// (tables 1 and 2).
var (
	bs1770Shelf48 = biquad{b0: 1.53512485958697, b1: -2.69169618940638, b2: 1.19839281085285, a1: -1.69065929318241, a2: 0.73248077421585}
	bs1770HP48    = biquad{b0: 1, b1: -2, b2: 1, a1: -1.99004745483398, a2: 0.99007225036621}
)

func (q biquad) response(f, fs float64) complex128 {
	z := cmplx.Exp(complex(0, -2*math.Pi*f/fs)) // z^-1
	num := complex(q.b0, 0) + complex(q.b1, 0)*z + complex(q.b2, 0)*z*z
	den := 1 + complex(q.a1, 0)*z + complex(q.a2, 0)*z*z
	return num / den
}

// kGainDB is the K-weighting power gain at f in dB.
func kGainDB(shelf, hp biquad, f, fs float64) float64 {
	return 20 * math.Log10(cmplx.Abs(shelf.response(f, fs)*hp.response(f, fs)))
}

func TestKWeightingCoefficients48k(t *testing.T) {
	shelf, hp := kWeighting(48000)
	for _, c := range []struct {
		name      string
		got, want biquad
	}{{"pre-filter", shelf, bs1770Shelf48}, {"RLB high-pass", hp, bs1770HP48}} {
		g := []float64{c.got.b0, c.got.b1, c.got.b2, c.got.a1, c.got.a2}
		w := []float64{c.want.b0, c.want.b1, c.want.b2, c.want.a1, c.want.a2}
		for i := range g {
			if math.Abs(g[i]-w[i]) > 1e-8 {
				t.Errorf("%s coefficient %d = %.14f, BS.1770-4 has %.14f", c.name, i, g[i], w[i])
			}
		}
	}
}

func TestKWeightingResponseIsRateIndependent(t *testing.T) {
	// The response derived for each rate must match the 48 kHz reference
	// filter at the same physical frequencies (up to bilinear warping near
	// Nyquist, hence the limited band per rate).
	// Rates below 44.1 kHz are upsampled before filtering (kOversampling),
	// so the filter only runs at these rates.
	for _, fs := range []float64{44100, 48000, 64000, 88200, 96000, 192000} {
		shelf, hp := kWeighting(fs)
		for _, f := range []float64{20, 50, 100, 500, 1000, 1500, 2000, 3000, 5000, 8000, 12000} {
			tol := 0.02
			if f > 4000 {
				tol = 0.1 // bilinear warping towards Nyquist at 44.1 kHz
			}
			got, want := kGainDB(shelf, hp, f, fs), kGainDB(bs1770Shelf48, bs1770HP48, f, 48000)
			if math.Abs(got-want) > tol {
				t.Errorf("fs=%v f=%v Hz: gain %.3f dB, 48 kHz reference %.3f dB", fs, f, got, want)
			}
		}
	}
}

func TestLoudnessSineExact(t *testing.T) {
	// 997 Hz at -20 dBFS (amplitude 0.1) in both channels at 48 kHz: the
	// channel mean squares are 0.1²/2 each, so
	//   L = -0.691 + 10·log10(2 · 0.005 · |K(997 Hz)|²) = -20.691 + |K|² in dB
	// with |K| computed from the BS.1770-4 table, which is within a few
	// thousandths of -20.0 (that is what the -0.691 is for).
	const fs, f = 48000, 997.0
	want := -20.691 + kGainDB(bs1770Shelf48, bs1770HP48, f, fs)
	if math.Abs(want+20) > 0.01 {
		t.Fatalf("reference computation: %v", want)
	}
	x := sine(20*fs, fs, f, 0.1)
	if got := IntegratedLoudness(stereo(x, fs)); math.Abs(got-want) > 0.005 {
		t.Errorf("stereo: %.4f LUFS, want %.4f", got, want)
	}
	// Mono: one channel carries half the energy, -3.01 dB.
	if got := IntegratedLoudness(mono(x, fs)); math.Abs(got-(want-10*math.Log10(2))) > 0.005 {
		t.Errorf("mono: %.4f LUFS, want %.4f", got, want-10*math.Log10(2))
	}
}

// TestEBUTech3341 runs the synthesizable minimum-requirement test signals of
// EBU Tech 3341 (2016), table 1, at two sample rates.
func TestEBUTech3341(t *testing.T) {
	type part = [2]float64 // dBFS, seconds
	cases := []struct {
		name  string
		parts []part
		want  float64
	}{
		{"test 1: -23 dBFS", []part{{-23, 20}}, -23},
		{"test 2: -33 dBFS", []part{{-33, 20}}, -33},
		{"test 3: relative gate", []part{{-36, 10}, {-23, 60}, {-36, 10}}, -23},
		{"test 4: absolute and relative gate", []part{{-72, 10}, {-36, 10}, {-23, 60}, {-36, 10}, {-72, 10}}, -23},
		{"test 5: level changes", []part{{-26, 20}, {-20, 20.1}, {-26, 20}}, -23},
	}
	for _, fs := range []int{48000, 44100} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%d/%s", fs, tc.name), func(t *testing.T) {
				got := IntegratedLoudness(stereo(toneSections(fs, 1000, tc.parts...), fs))
				if math.Abs(got-tc.want) > 0.1 {
					t.Errorf("%.3f LUFS, want %.1f ±0.1", got, tc.want)
				}
			})
		}
		t.Run(fmt.Sprintf("%d/test 6: 5 channels", fs), func(t *testing.T) {
			// L, R at -28 dBFS, C at -24, Ls, Rs at -30 (weight 1.41).
			n := 20 * fs
			c := &Clip{SampleRate: fs, Channels: [][]float64{
				sine(n, float64(fs), 1000, dbfs(-28)),
				sine(n, float64(fs), 1000, dbfs(-28)),
				sine(n, float64(fs), 1000, dbfs(-24)),
				sine(n, float64(fs), 1000, dbfs(-30)),
				sine(n, float64(fs), 1000, dbfs(-30)),
			}}
			if got := IntegratedLoudness(c); math.Abs(got+23) > 0.1 {
				t.Errorf("%.3f LUFS, want -23.0 ±0.1", got)
			}
		})
	}
}

func TestLoudnessAcrossSampleRates(t *testing.T) {
	// A filter designed for 48 kHz only would be off by decibels at 8 or
	// 16 kHz (and by fractions at 44.1 kHz).
	for _, fs := range []int{8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000} {
		x := sine(5*fs, float64(fs), 1000, dbfs(-23))
		if got := IntegratedLoudness(stereo(x, fs)); math.Abs(got+23) > 0.1 {
			t.Errorf("%d Hz: 1 kHz at -23 dBFS measures %.3f LUFS, want -23.0 ±0.1", fs, got)
		}
		// 2 and 3 kHz sit on the shelf's slope, where a misplaced shelf shows.
		for _, f := range []float64{100, 2000, 3000} {
			want := -23 - 0.691 + kGainDB(bs1770Shelf48, bs1770HP48, f, 48000)
			x = sine(5*fs, float64(fs), f, dbfs(-23))
			if got := IntegratedLoudness(stereo(x, fs)); math.Abs(got-want) > 0.02 {
				t.Errorf("%d Hz: %v Hz at -23 dBFS measures %.3f LUFS, want %.3f", fs, f, got, want)
			}
		}
	}
}

func TestLoudnessGating(t *testing.T) {
	const fs = 48000
	tone := toneSections(fs, 1000, [2]float64{-23, 20})
	alone := IntegratedLoudness(stereo(tone, fs))
	// Digital silence around the tone: the absolute gate drops the silent
	// blocks (ungated, 30 s of which would pull the result down by 4 dB).
	// The 6 blocks straddling the edges pass the gates and cost 0.06 dB.
	padded := append(append(make([]float64, 10*fs), tone...), make([]float64, 20*fs)...)
	if got := IntegratedLoudness(stereo(padded, fs)); math.Abs(got-alone) > 0.1 {
		t.Errorf("tone with silence: %.3f LUFS, tone alone %.3f", got, alone)
	}
	// Low-level noise instead of silence is above -70 LUFS but more than
	// 10 LU below the tone: the relative gate drops it.
	quiet := toneSections(fs, 1000, [2]float64{-45, 10}, [2]float64{-23, 20}, [2]float64{-45, 20})
	if got := IntegratedLoudness(stereo(quiet, fs)); math.Abs(got-alone) > 0.1 {
		t.Errorf("tone with quiet parts: %.3f LUFS, tone alone %.3f", got, alone)
	}
	// Entirely below the absolute gate: -Inf.
	if got := IntegratedLoudness(stereo(sine(5*fs, fs, 1000, dbfs(-75)), fs)); !math.IsInf(got, -1) {
		t.Errorf("-75 dBFS tone: %v, want -Inf", got)
	}
	if got := IntegratedLoudness(stereo(make([]float64, 5*fs), fs)); !math.IsInf(got, -1) {
		t.Errorf("silence: %v, want -Inf", got)
	}
	// Shorter than one 400 ms block: -Inf; exactly one block: measured.
	if got := IntegratedLoudness(stereo(sine(fs*4/10-1, fs, 1000, 0.1), fs)); !math.IsInf(got, -1) {
		t.Errorf("399.98 ms: %v, want -Inf", got)
	}
	if got := IntegratedLoudness(stereo(sine(fs*4/10, fs, 1000, 0.1), fs)); math.Abs(got+20) > 0.3 {
		t.Errorf("400 ms: %v, want about -20", got)
	}
	if got := IntegratedLoudness(nil); !math.IsInf(got, -1) {
		t.Errorf("nil clip: %v", got)
	}
}

func TestChannelWeights(t *testing.T) {
	for _, tc := range []struct {
		n    int
		mask uint32
		want []float64
	}{
		{1, 0, []float64{1}},
		{2, 0, []float64{1, 1}},
		{5, 0, []float64{1, 1, 1, 1.41, 1.41}},
		{6, 0, []float64{1, 1, 1, 0, 1.41, 1.41}},                   // 5.1
		{8, 0, []float64{1, 1, 1, 0, 1, 1, 1.41, 1.41}},             // 7.1: backs are rear, sides surround
		{6, 0x60F, []float64{1, 1, 1, 0, 1.41, 1.41}},               // 5.1 (side)
		{3, spkFrontCenter | spkLFE, []float64{1, 0, 1}},            // mask shorter than channel count
		{4, 0, []float64{1, 1, 1.41, 1.41}},                         // quad
		{2, spkFrontLeft | spkFrontRight | spkLFE, []float64{1, 1}}, // surplus bits ignored
	} {
		got := channelWeights(tc.n, tc.mask)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("channelWeights(%d, %#x) = %v, want %v", tc.n, tc.mask, got, tc.want)
		}
	}
	// End to end: in 5.1 a loud LFE alone is not loudness.
	n := 48000 * 2
	lfe := &Clip{SampleRate: 48000, Channels: make([][]float64, 6)}
	for c := range lfe.Channels {
		lfe.Channels[c] = make([]float64, n)
	}
	lfe.Channels[3] = sine(n, 48000, 60, 0.5)
	if got := IntegratedLoudness(lfe); !math.IsInf(got, -1) {
		t.Errorf("LFE only: %v LUFS, want -Inf", got)
	}
}

func TestGatedLoudnessBlocks(t *testing.T) {
	e := func(lufs float64) float64 { return math.Pow(10, (lufs+0.691)/10) }
	blocks := func(parts ...[2]float64) []float64 { // (LUFS, count)
		var z []float64
		for _, p := range parts {
			for range int(p[1]) {
				z = append(z, e(p[0]))
			}
		}
		return z
	}
	for _, tc := range []struct {
		name string
		z    []float64
		want float64
	}{
		{"single level", blocks([2]float64{-23, 10}), -23},
		// The relative gate (mean of the blocks above -70, minus 10 LU) is
		// at -36 here: the -40 blocks are dropped.
		{"relative gate", blocks([2]float64{-23, 100}, [2]float64{-40, 100}), -23},
		// Lots of -80 LUFS blocks must not pull the relative gate down: the
		// absolute gate removes them before it is computed (otherwise the
		// gate would sit near -53 and let the -40 blocks in: -25.9).
		{"absolute gate before relative", blocks([2]float64{-23, 100}, [2]float64{-40, 100}, [2]float64{-80, 100000}), -23},
		{"just above the absolute gate", blocks([2]float64{-69.9, 10}), -69.9},
		{"below the absolute gate", blocks([2]float64{-70.01, 10}), math.Inf(-1)},
		{"silence", make([]float64, 10), math.Inf(-1)},
		{"no blocks", nil, math.Inf(-1)},
		// Blocks between the gates count: mean energy, not mean loudness.
		{"energy mean", blocks([2]float64{-20, 1}, [2]float64{-26, 1}), -20 + 10*math.Log10((1+math.Pow(10, -0.6))/2)},
	} {
		got := gatedLoudness(tc.z)
		if math.IsInf(tc.want, -1) != math.IsInf(got, -1) || !math.IsInf(got, -1) && math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v LUFS, want %v", tc.name, got, tc.want)
		}
	}
}
