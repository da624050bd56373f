package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// gridClip returns a clip whose samples are random values exactly
// representable in the given encoding, including both extremes.
func gridClip(rng *rand.Rand, nch, frames, fs int, format string, bits int) *Clip {
	c := &Clip{SampleRate: fs, Channels: make([][]float64, nch)}
	for ch := range c.Channels {
		x := make([]float64, frames)
		for i := range x {
			switch {
			case format == FormatFloat && bits == 32:
				x[i] = float64(float32(rng.Float64()*2 - 1))
			case format == FormatFloat:
				x[i] = rng.Float64()*2 - 1
			default:
				scale := float64(int64(1) << (bits - 1))
				x[i] = float64(rng.Int64N(int64(2*scale))-int64(scale)) / scale
			}
		}
		if frames >= 2 {
			x[0] = -1
			x[1] = 1
			if format == FormatPCM {
				x[1] = 1 - 1/float64(int64(1)<<(bits-1)) // largest positive code
			}
		}
		c.Channels[ch] = x
	}
	return c
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type enc struct {
		format string
		bits   int
	}
	encs := []enc{{FormatPCM, 8}, {FormatPCM, 16}, {FormatPCM, 24}, {FormatPCM, 32}, {FormatFloat, 32}, {FormatFloat, 64}}
	for _, e := range encs {
		for _, nch := range []int{1, 2, 6} {
			for _, ext := range []bool{false, true} {
				// 1001 frames: an odd data size for 8-bit mono (pad byte).
				in := gridClip(rng, nch, 1001, 22050, e.format, e.bits)
				var buf bytes.Buffer
				if err := EncodeWith(&buf, in, EncodeOptions{Format: e.format, BitsPerSample: e.bits, Extensible: ext}); err != nil {
					t.Fatal(err)
				}
				if buf.Len()%2 != 0 {
					t.Errorf("%v/%d ch/ext=%v: file length %d is odd (missing pad byte)", e, nch, ext, buf.Len())
				}
				if got := binary.LittleEndian.Uint32(buf.Bytes()[4:]); int(got) != buf.Len()-8 {
					t.Errorf("%v/%d ch/ext=%v: RIFF size %d, file is %d bytes", e, nch, ext, got, buf.Len())
				}
				out, err := Decode(&buf)
				if err != nil {
					t.Fatalf("%v/%d ch/ext=%v: %v", e, nch, ext, err)
				}
				if out.SampleRate != 22050 || out.Format != e.format || out.BitsPerSample != e.bits || out.NumChannels() != nch || out.Frames() != 1001 {
					t.Fatalf("%v/%d ch/ext=%v: got rate %d format %s bits %d channels %d frames %d", e, nch, ext,
						out.SampleRate, out.Format, out.BitsPerSample, out.NumChannels(), out.Frames())
				}
				if ext && out.ChannelMask != defaultChannelMask(nch) {
					t.Errorf("%v/%d ch: channel mask %#x, want %#x", e, nch, out.ChannelMask, defaultChannelMask(nch))
				}
				for c := range in.Channels {
					for i, v := range in.Channels[c] {
						if out.Channels[c][i] != v {
							t.Fatalf("%v/%d ch/ext=%v: channel %d sample %d = %v, want %v", e, nch, ext, c, i, out.Channels[c][i], v)
						}
					}
				}
			}
		}
	}
}

func TestEncodeQuantizesAndClips(t *testing.T) {
	in := mono([]float64{0.5 + 0.4/32768, 1.7, -3, math.NaN(), -0.25}, 8000)
	var buf bytes.Buffer
	if err := Encode(&buf, in); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 44+10 {
		t.Fatalf("canonical 16-bit file of 5 samples is %d bytes, want 54", buf.Len())
	}
	out, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.5, 32767.0 / 32768, -1, 0, -0.25}
	for i, w := range want {
		if out.Channels[0][i] != w {
			t.Errorf("sample %d = %v, want %v", i, out.Channels[0][i], w)
		}
	}
	for _, bad := range []*Clip{
		nil,
		{SampleRate: 8000},
		{SampleRate: 7999, Channels: [][]float64{{0}}},
		{SampleRate: 8000, Channels: [][]float64{{0}, {0, 0}}},
	} {
		if err := Encode(io.Discard, bad); err == nil {
			t.Errorf("Encode(%+v) succeeded", bad)
		}
	}
	if err := EncodeWith(io.Discard, in, EncodeOptions{BitsPerSample: 12}); err == nil {
		t.Error("12-bit PCM encode succeeded")
	}
}

// chunk builds a RIFF chunk with pad byte.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WAVE"...), body...)
}

// fmtBody builds a plain WAVEFORMATEX body.
func fmtBody(tag, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, uint16(tag))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	return le.AppendUint16(b, uint16(bits))
}

func pcm16(vals ...int16) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func TestDecodeSkipsUnknownAndPaddedChunks(t *testing.T) {
	file := riff(
		chunk("JUNK", make([]byte, 7)), // odd: pad byte follows
		chunk("fmt ", fmtBody(1, 2, 44100, 16)),
		chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00test\x00")), // odd
		chunk("data", pcm16(16384, -16384, 32767, -32768)),
		chunk("id3 ", []byte{1, 2, 3}), // after data: never read
	)
	c, err := Decode(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{0.5, 32767.0 / 32768}, {-0.5, -1}}
	for ch := range want {
		for i := range want[ch] {
			if c.Channels[ch][i] != want[ch][i] {
				t.Errorf("channel %d sample %d = %v, want %v", ch, i, c.Channels[ch][i], want[ch][i])
			}
		}
	}
	if c.SampleRate != 44100 || c.Frames() != 2 || c.Duration() != 2.0/44100 {
		t.Errorf("rate %d frames %d duration %v", c.SampleRate, c.Frames(), c.Duration())
	}
}

func TestDecodeStreamingSizeAndPartialFrame(t *testing.T) {
	// 0xFFFFFFFF data size: read to the end; the trailing odd byte (half a
	// 16-bit frame) is dropped.
	data := append(pcm16(100, 200, 300), 0x7F)
	file := riff(chunk("fmt ", fmtBody(1, 1, 16000, 16)))
	file = append(file, "data\xff\xff\xff\xff"...)
	file = append(file, data...)
	c, err := Decode(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if c.Frames() != 3 || c.Channels[0][2] != 300.0/32768 {
		t.Fatalf("got %v", c.Channels[0])
	}
	// A declared size that is not a multiple of the block alignment.
	file = riff(chunk("fmt ", fmtBody(1, 2, 16000, 16)), chunk("data", pcm16(1, 2, 3)))
	if c, err = Decode(bytes.NewReader(file)); err != nil || c.Frames() != 1 {
		t.Fatalf("partial frame: %v, %d frames", err, c.Frames())
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", pcm16(1, 2, 3, 4)))
	ext := func(mutate func(b []byte)) []byte {
		var buf bytes.Buffer
		if err := EncodeWith(&buf, mono(make([]float64, 4), 8000), EncodeOptions{Extensible: true}); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		mutate(b[20:60]) // fmt body
		return b
	}
	le := binary.LittleEndian
	fmtWith := func(mutate func(b []byte)) []byte {
		f := fmtBody(1, 1, 8000, 16)
		mutate(f)
		return riff(chunk("fmt ", f), chunk("data", pcm16(1, 2)))
	}
	cases := []struct {
		name   string
		in     []byte
		kind   error
		msg    string // exact message, or a substring if it starts with "~"
		offset int64
	}{
		{"empty", nil, ErrTruncated, "wav: RIFF header at offset 0: truncated: input is 0 bytes, a RIFF/WAVE header needs 12", 0},
		{"truncated header", []byte("RIFF\x10\x00"), ErrTruncated, "~input is 6 bytes", 0},
		{"bad RIFF magic", append([]byte("RIFR"), good[4:]...), ErrNotWAV, `wav: RIFF header at offset 0: bad magic "RIFR", want "RIFF"`, 0},
		{"ID3 tagged mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), ErrNotWAV, `~bad magic "ID3\x04"`, 0},
		{"not WAVE", append(append([]byte("RIFF\x04\x00\x00\x00"), "AVI "...), good[12:]...), ErrNotWAV, `~RIFF form type "AVI " at offset 8`, 0},
		{"big-endian RIFX", append([]byte("RIFX"), good[4:]...), ErrUnsupported, "~RIFX", 0},
		{"RF64", append([]byte("RF64"), good[4:]...), ErrUnsupported, "~64-bit RIFF", 0},
		{"missing fmt (data first)", riff(chunk("data", pcm16(1)), chunk("fmt ", fmtBody(1, 1, 8000, 16))), ErrMissingFmt, "wav: data chunk at offset 12: data chunk before any fmt chunk", 12},
		{"missing fmt (no chunks)", riff(chunk("LIST", []byte("INFO"))), ErrMissingFmt, "wav: end of input at offset 24: no fmt chunk found", 24},
		{"missing data", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("LIST", []byte("INFO"))), ErrMissingData, "wav: end of input at offset 48: no data chunk found (fmt chunk at offset 12)", 48},
		{"unsupported tag", riff(chunk("fmt ", fmtBody(0x55, 1, 8000, 16)), chunk("data", nil)), ErrUnsupported, "wav: fmt chunk at offset 12: unsupported format tag 0x0055 (only PCM and IEEE float)", 12},
		{"unsupported tag after JUNK", riff(chunk("JUNK", make([]byte, 3)), chunk("fmt ", fmtBody(2, 1, 8000, 16))), ErrUnsupported, "wav: fmt chunk at offset 24: unsupported format tag 0x0002 (only PCM and IEEE float)", 24},
		{"zero channels", fmtWith(func(b []byte) { le.PutUint16(b[2:], 0) }), ErrInvalidFormat, "wav: fmt chunk at offset 12: channel count 0 (must be 1..8)", 12},
		{"nine channels", riff(chunk("fmt ", fmtBody(1, 9, 8000, 16))), ErrInvalidFormat, "~channel count 9", 12},
		{"absurd sample rate", fmtWith(func(b []byte) { le.PutUint32(b[4:], 4_000_000) }), ErrInvalidFormat, "wav: fmt chunk at offset 12: sample rate 4000000 Hz out of range 8000..192000", 12},
		{"zero sample rate", fmtWith(func(b []byte) { le.PutUint32(b[4:], 0) }), ErrInvalidFormat, "~sample rate 0 Hz", 12},
		{"12-bit PCM", fmtWith(func(b []byte) { le.PutUint16(b[14:], 12) }), ErrUnsupported, "~12-bit PCM", 12},
		{"16-bit float", fmtWith(func(b []byte) { le.PutUint16(b[0:], 3) }), ErrUnsupported, "~16-bit IEEE float", 12},
		{"bad block align", fmtWith(func(b []byte) { le.PutUint16(b[12:], 3) }), ErrInvalidFormat, "~block align 3, want 2", 12},
		{"short fmt", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)[:14]), chunk("data", nil)), ErrInvalidFormat, "~size 14 bytes, need at least 16", 12},
		{"huge fmt", riff([]byte("fmt \x00\x00\x01\x00")), ErrInvalidFormat, "~size 65536 bytes exceeds", 12},
		{"truncated fmt", good[:30], ErrTruncated, "wav: fmt chunk at offset 12: truncated: declares 16 bytes, 10 present", 12},
		{"duplicate fmt", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("fmt ", fmtBody(1, 1, 8000, 16))), ErrInvalidFormat, "~duplicate fmt chunk (first at offset 12)", 36},
		{"truncated chunk header", good[:40], ErrTruncated, "wav: chunk header at offset 36: truncated: 4 of 8 bytes present", 36},
		{"truncated unknown chunk", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), []byte("LIST\xff\xff\xff\xffINFO")), ErrTruncated, `wav: chunk "LIST" at offset 36: truncated: declares 4294967295 bytes, 4 present`, 36},
		{"truncated data", good[:len(good)-3], ErrTruncated, "wav: data chunk at offset 36: truncated: declares 8 bytes of samples, input ends after 5 (at offset 49)", 36},
		{"extensible, unknown GUID", ext(func(b []byte) { b[30] = 0x42 }), ErrUnsupported, "~sub-format GUID", 12},
		{"extensible, MP3 sub-format", ext(func(b []byte) { le.PutUint16(b[24:], 0x55) }), ErrUnsupported, "~unsupported format tag 0x0055", 12},
		{"extensible, short cbSize", ext(func(b []byte) { le.PutUint16(b[16:], 0) }), ErrInvalidFormat, "~extension size 0", 12},
		{"extensible, valid bits > container", ext(func(b []byte) { le.PutUint16(b[18:], 20) }), ErrInvalidFormat, "~20 valid bits in a 16-bit container", 12},
		{"float NaN", riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", []byte{0, 0, 0, 0, 0, 0, 0xC0, 0x7F})),
			ErrInvalidSample, "wav: data chunk at offset 36: sample 1 of channel 0 (at offset 48) is NaN", 36},
		{"float +Inf", riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", []byte{0, 0, 0x80, 0x7F})), ErrInvalidSample, "~is +Inf", 36},
	}
	sentinels := []error{ErrTruncated, ErrNotWAV, ErrMissingFmt, ErrMissingData, ErrUnsupported, ErrInvalidFormat, ErrInvalidSample, ErrTooLarge}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, got %d channels", c.NumChannels())
			}
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrMalformed) {
				t.Errorf("error %q does not match %v and ErrMalformed", err, tc.kind)
			}
			for _, s := range sentinels {
				if s != tc.kind && errors.Is(err, s) {
					t.Errorf("error %q also matches %v", err, s)
				}
			}
			if sub, ok := strings.CutPrefix(tc.msg, "~"); ok {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			} else if err.Error() != tc.msg {
				t.Errorf("error\n  %q, want\n  %q", err, tc.msg)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset != tc.offset {
				t.Errorf("error %q: want *FormatError at offset %d", err, tc.offset)
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestDecodeReaderErrorIsNotMalformed(t *testing.T) {
	boom := errors.New("connection reset")
	good := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", pcm16(1, 2, 3, 4)))
	for _, cut := range []int{0, 12, 30, 44} {
		_, err := Decode(io.MultiReader(bytes.NewReader(good[:cut]), errReader{boom}))
		if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
			t.Errorf("cut at %d: got %v, want the reader's error and not ErrMalformed", cut, err)
		}
	}
}

// onlyReader hides Len and other methods of the wrapped reader.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestDecodeBoundedAllocation(t *testing.T) {
	hdr := func(size uint32) []byte {
		b := riff(chunk("fmt ", fmtBody(1, 8, 48000, 32)))
		b = append(b, "data"...)
		b = binary.LittleEndian.AppendUint32(b, size)
		return append(b, make([]byte, 64)...)
	}
	for _, tc := range []struct {
		name  string
		in    func() io.Reader
		limit uint64
		kind  error
	}{
		// Declared 4 GiB, 64 bytes present, limit lifted: memory follows
		// the input, not the header.
		{"bytes.Reader", func() io.Reader { return bytes.NewReader(hdr(0xFFFFFFF0)) }, 256 << 10, ErrTruncated},
		{"plain reader", func() io.Reader { return onlyReader{bytes.NewReader(hdr(0xFFFFFFF0))} }, 6 << 20, ErrTruncated},
		{"streaming size", func() io.Reader { return onlyReader{bytes.NewReader(hdr(0xFFFFFFFF))} }, 6 << 20, nil},
		{"huge unknown chunk", func() io.Reader {
			return bytes.NewReader(append(riff(), "JUNK\xff\xff\xff\xfe"...))
		}, 256 << 10, ErrTruncated},
	} {
		var err error
		n := allocated(func() { _, err = DecodeOptions{MaxSamples: 1 << 40}.Decode(tc.in()) })
		if tc.kind == nil && err != nil || tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.kind)
		}
		if n > tc.limit {
			t.Errorf("%s: allocated %d bytes, limit %d", tc.name, n, tc.limit)
		}
	}
	// With the default limit a 4 GiB declaration is refused up front.
	_, err := Decode(bytes.NewReader(hdr(0xFFFFFFF0)))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit is 134217728 samples") {
		t.Errorf("default limit: %v", err)
	}
	// ... and a streaming data chunk is cut off once it passes the limit.
	big := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)))
	big = append(append(big, "data\xff\xff\xff\xff"...), make([]byte, 2000)...)
	if _, err := (DecodeOptions{MaxSamples: 999}).Decode(bytes.NewReader(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("streaming over limit: %v", err)
	}
	if c, err := (DecodeOptions{MaxSamples: 1000}).Decode(bytes.NewReader(big)); err != nil || c.Frames() != 1000 {
		t.Errorf("streaming at limit: %v", err)
	}
}

func TestDecodeLargeFileAcrossBuffers(t *testing.T) {
	// More than one 64 KiB read buffer, 24-bit stereo, via a plain reader.
	rng := rand.New(rand.NewPCG(3, 4))
	in := gridClip(rng, 2, 50_000, 48000, FormatPCM, 24)
	var buf bytes.Buffer
	if err := EncodeWith(&buf, in, EncodeOptions{BitsPerSample: 24}); err != nil {
		t.Fatal(err)
	}
	out, err := Decode(onlyReader{&buf})
	if err != nil {
		t.Fatal(err)
	}
	for c := range in.Channels {
		for i, v := range in.Channels[c] {
			if out.Channels[c][i] != v {
				t.Fatalf("channel %d sample %d = %v, want %v", c, i, out.Channels[c][i], v)
			}
		}
	}
}

func TestDecodeFloatClips(t *testing.T) {
	le := binary.LittleEndian
	var data []byte
	for _, v := range []float32{1.5, -2, 0.25} {
		data = le.AppendUint32(data, math.Float32bits(v))
	}
	c, err := Decode(bytes.NewReader(riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", data))))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Channels[0]; got[0] != 1 || got[1] != -1 || got[2] != 0.25 {
		t.Errorf("got %v, want [1 -1 0.25]", got)
	}
}
