package loadtest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/voiceassist/autoscaling/internal/audio"
)

// Clip is one generated upload and how often it is sent.
type Clip struct {
	Length time.Duration
	Weight int
	WAV    []byte
}

// ParseMix reads a mix of clip lengths with weights, "4s" or
// "1s=3,4s=1,20s=1" (weights default to 1), and generates each WAV at
// sampleRate Hz, mono 16-bit PCM.
func ParseMix(spec string, sampleRate int) ([]Clip, error) {
	if sampleRate < audio.MinSampleRate || sampleRate > audio.MaxSampleRate {
		return nil, fmt.Errorf("--sample-rate %d: want %d to %d Hz", sampleRate, audio.MinSampleRate, audio.MaxSampleRate)
	}
	var clips []Clip
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		l, w, hasW := strings.Cut(part, "=")
		d, err := time.ParseDuration(strings.TrimSpace(l))
		if err != nil || d < 100*time.Millisecond || d > 10*time.Minute {
			return nil, fmt.Errorf("--mix %q: clip length %q: want a duration from 100ms to 10m, e.g. 4s", spec, l)
		}
		weight := 1
		if hasW {
			n, err := strconv.Atoi(strings.TrimSpace(w))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--mix %q: weight %q of %s: want a whole number 1 or more", spec, w, l)
			}
			weight = n
		}
		wav, err := SpeechWAV(d, sampleRate)
		if err != nil {
			return nil, err
		}
		clips = append(clips, Clip{Length: d, Weight: weight, WAV: wav})
	}
	if len(clips) == 0 {
		return nil, fmt.Errorf("--mix %q: no clip lengths (want e.g. 4s or 1s=3,4s=1)", spec)
	}
	return clips, nil
}

// SpeechWAV is d of mono 16-bit PCM at rate Hz: speech-like harmonic
// "words" (1.1 s every 1.7 s, amplitude-modulated at a syllabic rate) in
// low noise, so that voice detection and loudness do their full work, as
// in the audio benchmarks.
func SpeechWAV(d time.Duration, rate int) ([]byte, error) {
	n := int(d.Seconds() * float64(rate))
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	x := make([]float64, n)
	const f0 = 140.0
	for i := range x {
		t := float64(i) / float64(rate)
		x[i] = 0.002 * (rng.Float64()*2 - 1)
		if math.Mod(t, 1.7) < 1.1 {
			env := 0.7 + 0.3*math.Sin(2*math.Pi*4*t) // ~4 syllables/s
			x[i] += 0.25 * env * (math.Sin(2*math.Pi*f0*t) + 0.5*math.Sin(2*math.Pi*2*f0*t) + 0.25*math.Sin(2*math.Pi*3*f0*t))
		}
	}
	var buf bytes.Buffer
	if err := audio.Encode(&buf, &audio.Clip{SampleRate: rate, Channels: [][]float64{x}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// picker deals the clips in proportion to their weights, round-robin over
// a fixed deck so that every run sends the same sequence.
type picker struct {
	deck []int
}

func newPicker(clips []Clip) *picker {
	p := &picker{}
	for i, c := range clips {
		for k := 0; k < c.Weight; k++ {
			p.deck = append(p.deck, i)
		}
	}
	return p
}

func (p *picker) pick(seq uint64) int { return p.deck[seq%uint64(len(p.deck))] }

// MixString is the mix as --mix spells it.
func MixString(clips []Clip) string {
	var parts []string
	for _, c := range clips {
		parts = append(parts, fmt.Sprintf("%s=%d", c.Length, c.Weight))
	}
	return strings.Join(parts, ",")
}
