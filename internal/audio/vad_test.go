package audio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

const boundaryTol = 0.050 // s

func checkSegments(t *testing.T, got []Segment, want []Segment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d segments %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if math.Abs(got[i].StartSeconds-want[i].StartSeconds) > boundaryTol || math.Abs(got[i].EndSeconds-want[i].EndSeconds) > boundaryTol {
			t.Errorf("segment %d = [%.3f, %.3f], want [%.3f, %.3f] ±%v s", i,
				got[i].StartSeconds, got[i].EndSeconds, want[i].StartSeconds, want[i].EndSeconds, boundaryTol)
		}
	}
}

// burstScene is a 6 s stereo 44.1 kHz scene: low noise (-60 dBFS) with
// speech-like bursts at known positions.
func burstScene(rng *rand.Rand) (*Clip, []Segment) {
	const fs = 44100
	n := 6 * fs
	at := func(s float64) int { return int(s * fs) }
	x := noise(rng, n, dbfs(-60))
	// A vowel-like modulated harmonic tone.
	addAt(x, at(0.50), voiceLike(at(0.70), fs, 140, 0.3))
	// A noise burst (like a fricative-rich syllable) ...
	addAt(x, at(1.50), ramp(noise(rng, at(0.40), 0.08), at(0.005)))
	// ... 150 ms later another vowel: merged with it (gap < 200 ms).
	addAt(x, at(2.05), voiceLike(at(0.55), fs, 210, 0.2))
	// A 40 ms click: too short, dropped.
	addAt(x, at(3.20), ramp(sine(at(0.04), fs, 800, 0.3), at(0.002)))
	// A long, quieter utterance (24 dB above the noise).
	addAt(x, at(4.00), voiceLike(at(1.50), fs, 120, dbfs(-33)))
	clip := stereo(x, fs)
	// Independent noise in the right channel.
	addAt(clip.Channels[1], 0, noise(rng, n, dbfs(-60)))
	return clip, []Segment{{0.50, 1.20}, {1.50, 2.60}, {4.00, 5.50}}
}

func TestVADBursts(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	clip, want := burstScene(rng)
	r := Analyze(clip)
	checkSegments(t, r.Voiced, want)
	var total float64
	for _, s := range r.Voiced {
		total += s.Duration()
	}
	if math.Abs(r.VoicedSeconds-total) > 1e-9 || math.Abs(r.VoicedSeconds-3.3) > 3*boundaryTol {
		t.Errorf("VoicedSeconds = %v, segments sum to %v, want about 3.3", r.VoicedSeconds, total)
	}
}

func TestVADNoSpeech(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const fs = 16000
	for _, tc := range []struct {
		name string
		x    []float64
	}{
		{"digital silence", make([]float64, 5*fs)},
		{"white noise -60 dBFS", noise(rng, 5*fs, dbfs(-60))},
		{"white noise -35 dBFS", noise(rng, 5*fs, dbfs(-35))},
		{"hum -50 dBFS", sine(5*fs, fs, 50, dbfs(-47))},
		{"silence then noise", append(make([]float64, fs), noise(rng, 4*fs, dbfs(-55))...)},
		{"tiny dither", noise(rng, 5*fs, 1e-5)},
		// In a clean recording (-90 dBFS noise) a -73 dBFS (RMS) tone is far
		// above the floor but below the -60 dBFS absolute minimum.
		{"faint tone", append(noise(rng, 2*fs, dbfs(-90)), sine(fs, fs, 300, dbfs(-70))...)},
		{"too short", sine(fs/100, fs, 200, 0.5)},
		{"empty", nil},
	} {
		if got := DetectVoice(tc.x, fs); got == nil || len(got) != 0 {
			t.Errorf("%s: got %v, want an empty non-nil slice", tc.name, got)
		}
	}
}

func TestVADAdaptiveNoiseFloor(t *testing.T) {
	// Noise rising steadily from -65 to -50 dBFS over 10 s, with bursts 20 dB
	// above the local noise.
	rng := rand.New(rand.NewPCG(9, 9))
	const fs = 16000
	n := 10 * fs
	x := noise(rng, n, 1)
	for i := range x {
		x[i] *= dbfs(-65 + 15*float64(i)/float64(n))
	}
	want := []Segment{{1, 1.8}, {4, 4.6}, {7, 8}, {9, 9.5}}
	for _, s := range want {
		i := int(s.StartSeconds * fs)
		level := -65 + 15*s.StartSeconds/10 + 20
		addAt(x, i, voiceLike(int(s.Duration()*fs), fs, 150, dbfs(level)))
	}
	checkSegments(t, DetectVoice(x, fs), want)
}

func TestVADFricativeOnset(t *testing.T) {
	// A hiss (high-passed noise, high zero-crossing rate) as loud as the
	// low-frequency background (+3 dB together) starts a vowel: too weak for
	// the energy thresholds, it is kept by the zero-crossing rule.
	rng := rand.New(rand.NewPCG(10, 10))
	const fs = 16000
	n := 4 * fs
	// Rumble: white noise through two one-pole low-passes (≈ 570 Hz), zero
	// crossing rate ≈ 0.07 per sample.
	bg := noise(rng, n, 1)
	for range 2 {
		var acc float64
		for i, v := range bg {
			acc = 0.8*acc + 0.2*v
			bg[i] = acc
		}
	}
	scale := dbfs(-55) / rms(bg)
	for i := range bg {
		bg[i] *= scale
	}
	hiss := noise(rng, int(0.15*fs), 1)
	for i := len(hiss) - 1; i > 0; i-- { // first difference: high-pass
		hiss[i] -= hiss[i-1]
	}
	hs := dbfs(-55) / rms(hiss)
	for i := range hiss {
		hiss[i] *= hs
	}
	addAt(bg, int(1.0*fs), ramp(hiss, 40))
	addAt(bg, int(1.15*fs), voiceLike(int(0.6*fs), fs, 130, 0.2))
	checkSegments(t, DetectVoice(bg, fs), []Segment{{1.0, 1.75}})

	// Without the vowel the hiss alone is not voice.
	bg2 := noise(rng, n, 0)
	copy(bg2, bg)
	addAt(bg2, int(1.15*fs), voiceLike(int(0.6*fs), fs, 130, -0.2)) // cancel it
	if got := DetectVoice(bg2, fs); len(got) != 0 {
		t.Errorf("hiss alone: %v", got)
	}
}

func TestVADMergeAndDrop(t *testing.T) {
	const fs = 16000
	rng := rand.New(rand.NewPCG(11, 11))
	for _, tc := range []struct {
		gap   float64
		merge bool
	}{{0.12, true}, {0.18, true}, {0.30, false}, {0.50, false}} {
		t.Run(fmt.Sprint(tc.gap), func(t *testing.T) {
			x := noise(rng, 3*fs, dbfs(-60))
			addAt(x, fs/2, voiceLike(fs/2, fs, 150, 0.2))
			second := 1 + tc.gap
			addAt(x, int(second*fs), voiceLike(fs/2, fs, 150, 0.2))
			want := []Segment{{0.5, 1}, {second, second + 0.5}}
			if tc.merge {
				want = []Segment{{0.5, second + 0.5}}
			}
			checkSegments(t, DetectVoice(x, fs), want)
		})
	}
	// Bursts shorter than 100 ms vanish, 150 ms ones stay.
	x := noise(rng, 3*fs, dbfs(-60))
	addAt(x, fs/2, ramp(sine(fs*6/100, fs, 300, 0.3), 20))
	addAt(x, 2*fs, ramp(sine(fs*15/100, fs, 300, 0.3), 20))
	checkSegments(t, DetectVoice(x, fs), []Segment{{2, 2.15}})
}

func TestVADVoiceFromStart(t *testing.T) {
	const fs = 16000
	x := voiceLike(2*fs, fs, 150, 0.3)
	x = append(x, noise(rand.New(rand.NewPCG(12, 12)), fs, dbfs(-60))...)
	checkSegments(t, DetectVoice(x, fs), []Segment{{0, 2}})
}
