package audio

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func FuzzDecode(f *testing.F) {
	// Seeds: every supported encoding, plus the malformed shapes.
	c := &Clip{SampleRate: 8000, Channels: [][]float64{{0, 0.5, -1, 0.25, 1}, {0.1, -0.1, 0.2, -0.2, 0}}}
	for _, o := range []EncodeOptions{
		{BitsPerSample: 8}, {BitsPerSample: 16}, {BitsPerSample: 24}, {BitsPerSample: 32},
		{Format: FormatFloat, BitsPerSample: 32}, {Format: FormatFloat, BitsPerSample: 64},
		{BitsPerSample: 16, Extensible: true}, {Format: FormatFloat, Extensible: true},
	} {
		var buf bytes.Buffer
		if err := EncodeWith(&buf, c, o); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()-3])
	}
	f.Add([]byte(nil))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Add(riff(chunk("JUNK", []byte{1, 2, 3}), chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", pcm16(1, 2, 3))))
	f.Add(append(riff(chunk("fmt ", fmtBody(1, 2, 44100, 16))), "data\xff\xff\xff\xff\x01\x02\x03"...))
	f.Add(append(riff(chunk("fmt ", fmtBody(1, 8, 192000, 32))), "data\xf0\xff\xff\xff"...))

	f.Fuzz(func(t *testing.T, data []byte) {
		const maxSamples = 1 << 20
		clip, err := DecodeOptions{MaxSamples: maxSamples}.Decode(bytes.NewReader(data))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error from in-memory input is not a *FormatError: %v", err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d-byte input: %v", fe.Offset, len(data), err)
			}
			if clip != nil {
				t.Fatal("clip returned with an error")
			}
			return
		}
		nch := clip.NumChannels()
		if nch < 1 || nch > MaxChannels || clip.SampleRate < MinSampleRate || clip.SampleRate > MaxSampleRate {
			t.Fatalf("accepted %d channels at %d Hz", nch, clip.SampleRate)
		}
		frames := len(clip.Channels[0])
		// Allocation follows the input: every sample costs at least one
		// input byte, and so does every reserved slot.
		var reserved int
		for _, ch := range clip.Channels {
			if len(ch) != frames {
				t.Fatal("channels of different lengths")
			}
			reserved += cap(ch)
			for _, v := range ch {
				if !(v >= -1 && v <= 1) {
					t.Fatalf("sample %v outside [-1, 1]", v)
				}
			}
		}
		if frames*nch > len(data) || reserved > len(data) || frames*nch > maxSamples {
			t.Fatalf("%d frames × %d channels (%d reserved) from %d bytes", frames, nch, reserved, len(data))
		}
		// What was decoded survives a lossless re-encode.
		var buf bytes.Buffer
		if err := EncodeWith(&buf, clip, EncodeOptions{Format: FormatFloat, BitsPerSample: 64}); err != nil {
			t.Fatal(err)
		}
		again, err := Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for c := range clip.Channels {
			for i, v := range clip.Channels[c] {
				if again.Channels[c][i] != v {
					t.Fatalf("re-encode changed sample %d of channel %d", i, c)
				}
			}
		}
		// Analysis of whatever decodes must not panic or produce NaN.
		if frames <= 1<<14 {
			r := Analyze(clip)
			if math.IsNaN(r.IntegratedLUFS) || math.IsNaN(r.Peak) || r.DurationSeconds != clip.Duration() {
				t.Fatalf("Analyze: %+v", r)
			}
		}
	})
}
