package audio

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
)

// benchSeconds of 44.1 kHz stereo 16-bit audio: speech-like bursts in low
// noise, the typical upload.
const benchSeconds = 30

var benchWAV = sync.OnceValue(func() []byte {
	const fs = 44100
	rng := rand.New(rand.NewPCG(42, 42))
	n := benchSeconds * fs
	l, r := noise(rng, n, dbfs(-55)), noise(rng, n, dbfs(-55))
	for s := 0.3; s < benchSeconds-2; s += 1.7 {
		v := voiceLike(int(1.1*fs), fs, 110+40*rng.Float64(), 0.25)
		addAt(l, int(s*fs), v)
		addAt(r, int(s*fs), v)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, &Clip{SampleRate: fs, Channels: [][]float64{l, r}}); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

func reportAudioRate(b *testing.B) {
	b.ReportMetric(benchSeconds*float64(b.N)/b.Elapsed().Seconds(), "audio-s/s")
}

// BenchmarkAnalyze is the per-job work: decode the upload and analyse it.
// audio-s/s is seconds of audio processed per second of (single-core) CPU.
func BenchmarkAnalyze(b *testing.B) {
	data := benchWAV()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		clip, err := Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if r := Analyze(clip); len(r.Voiced) == 0 {
			b.Fatal("no voice found")
		}
	}
	reportAudioRate(b)
}

// BenchmarkDecodeOnly is the floor BenchmarkAnalyze is compared with.
func BenchmarkDecodeOnly(b *testing.B) {
	data := benchWAV()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	reportAudioRate(b)
}

// BenchmarkStages splits Analyze into its parts.
func BenchmarkStages(b *testing.B) {
	clip, err := Decode(bytes.NewReader(benchWAV()))
	if err != nil {
		b.Fatal(err)
	}
	mono := DownmixMono(clip.Channels)
	m16 := Resample(mono, clip.SampleRate, VADSampleRate)
	for _, s := range []struct {
		name string
		f    func()
	}{
		{"Loudness", func() { IntegratedLoudness(clip) }},
		{"DownmixResample", func() { Resample(DownmixMono(clip.Channels), clip.SampleRate, VADSampleRate) }},
		{"VAD", func() { DetectVoice(m16, VADSampleRate) }},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.f()
			}
			reportAudioRate(b)
		})
	}
}
