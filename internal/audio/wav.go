package audio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Limits enforced by Decode (and by EncodeWith, so that what it writes can be
// read back).
const (
	MaxChannels   = 8
	MinSampleRate = 8000
	MaxSampleRate = 192000
	// DefaultMaxSamples is the default DecodeOptions.MaxSamples: 2^27
	// samples (1 GiB of float64), e.g. 23 minutes of 48 kHz stereo.
	DefaultMaxSamples = 1 << 27
)

// Sample encodings reported in Clip.Format and accepted by EncodeOptions.
const (
	FormatPCM   = "pcm"   // linear integer PCM
	FormatFloat = "float" // IEEE 754 floating point
)

const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagExtensible = 0xFFFE

	maxFmtChunk     = 4096       // a fmt chunk is 16, 18 or 40 bytes; anything beyond this is garbage
	streamingSize   = 0xFFFFFFFF // data size written by streaming encoders that cannot seek back
	decodeBufBytes  = 64 << 10
	maxInitialAlloc = 1 << 16 // samples per channel reserved when the input length is unknown
)

// ksdataformatTail is bytes 2..15 of the KSDATAFORMAT_SUBTYPE_* GUIDs
// (xxxxxxxx-0000-0010-8000-00aa00389b71); bytes 0..1 hold the format tag.
var ksdataformatTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Clip is decoded audio.
type Clip struct {
	// SampleRate in Hz.
	SampleRate int
	// Channels holds one slice per channel, all of the same length, with
	// samples in [-1, 1].
	Channels [][]float64
	// BitsPerSample of the source encoding (the valid bits for
	// WAVE_FORMAT_EXTENSIBLE). Informational; Encode ignores it.
	BitsPerSample int
	// Format is FormatPCM or FormatFloat.
	Format string
	// ChannelMask is the WAVE_FORMAT_EXTENSIBLE speaker mask, 0 if the file
	// has none. It selects the BS.1770 channel weights.
	ChannelMask uint32
}

// NumChannels returns len(c.Channels).
func (c *Clip) NumChannels() int { return len(c.Channels) }

// Frames returns the number of samples per channel (the shortest channel's
// length if they differ).
func (c *Clip) Frames() int {
	if len(c.Channels) == 0 {
		return 0
	}
	n := len(c.Channels[0])
	for _, ch := range c.Channels[1:] {
		n = min(n, len(ch))
	}
	return n
}

// Duration returns the length in seconds, Frames()/SampleRate.
func (c *Clip) Duration() float64 {
	if c.SampleRate <= 0 {
		return 0
	}
	return float64(c.Frames()) / float64(c.SampleRate)
}

// DecodeOptions configures Decode.
type DecodeOptions struct {
	// MaxSamples bounds the decoded size, counted over all channels. Zero
	// means DefaultMaxSamples.
	MaxSamples int64
}

// Decode parses a RIFF/WAVE stream with the default options. See the package
// documentation for what is accepted. Malformed input gives a *FormatError;
// an error of r other than io.EOF is returned wrapped, as is.
func Decode(r io.Reader) (*Clip, error) { return DecodeOptions{}.Decode(r) }

// Decode parses a RIFF/WAVE stream. It stops reading after the data chunk.
func (o DecodeOptions) Decode(r io.Reader) (*Clip, error) {
	maxSamples := o.MaxSamples
	if maxSamples <= 0 {
		maxSamples = DefaultMaxSamples
	}
	d := &decoder{maxSamples: maxSamples, avail: -1}
	// Readers that know how much they hold let the decoder size its sample
	// slices up front without trusting the header.
	if l, ok := r.(interface{ Len() int }); ok {
		d.avail = int64(l.Len())
	}
	if br, ok := r.(*bufio.Reader); ok {
		d.r = br
	} else {
		d.r = bufio.NewReaderSize(r, 16<<10)
	}
	return d.decode()
}

type wavFormat struct {
	tag         int // tagPCM or tagFloat, after resolving EXTENSIBLE
	channels    int
	sampleRate  int
	blockAlign  int
	bits        int // container bits per sample
	validBits   int
	channelMask uint32
}

type decoder struct {
	r          *bufio.Reader
	off        int64 // bytes consumed so far
	avail      int64 // total input length if known, else -1
	maxSamples int64
}

// readFull reads len(p) bytes. It returns io.EOF only if nothing was read.
func (d *decoder) readFull(p []byte) (int, error) {
	n, err := io.ReadFull(d.r, p)
	d.off += int64(n)
	return n, err
}

func (d *decoder) skip(n int64) (int64, error) {
	var done int64
	for done < n {
		step := int(min(n-done, 1<<30))
		m, err := d.r.Discard(step)
		done += int64(m)
		d.off += int64(m)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func isEOF(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }

func ioErr(what string, off int64, err error) error {
	return fmt.Errorf("wav: reading %s at offset %d: %w", what, off, err)
}

func (d *decoder) decode() (*Clip, error) {
	var hdr [12]byte
	if n, err := d.readFull(hdr[:]); err != nil {
		if isEOF(err) {
			return nil, formatErr(ErrTruncated, "RIFF header", 0, "truncated: input is %d bytes, a RIFF/WAVE header needs 12", n)
		}
		return nil, ioErr("RIFF header", 0, err)
	}
	switch magic := hdr[0:4]; string(magic) {
	case "RIFF":
	case "RIFX":
		return nil, formatErr(ErrUnsupported, "RIFF header", 0, `big-endian "RIFX" files are not supported`)
	case "RF64", "BW64":
		return nil, formatErr(ErrUnsupported, "RIFF header", 0, "%q (64-bit RIFF) files are not supported", magic)
	default:
		return nil, formatErr(ErrNotWAV, "RIFF header", 0, `bad magic %q, want "RIFF"`, magic)
	}
	if form := hdr[8:12]; string(form) != "WAVE" {
		return nil, formatErr(ErrNotWAV, "RIFF header", 0, `RIFF form type %q at offset 8, want "WAVE"`, form)
	}
	// The RIFF size field (hdr[4:8]) is ignored: streaming writers leave it 0
	// or 0xFFFFFFFF and many tools get it wrong; chunk sizes are checked
	// against the data actually present instead.

	var f *wavFormat
	var fmtOff int64
	for {
		chunkOff := d.off
		var ch [8]byte
		n, err := d.readFull(ch[:])
		if err != nil {
			if !isEOF(err) {
				return nil, ioErr("chunk header", chunkOff, err)
			}
			if n > 0 {
				return nil, formatErr(ErrTruncated, "chunk header", chunkOff, "truncated: %d of 8 bytes present", n)
			}
			if f == nil {
				return nil, formatErr(ErrMissingFmt, "end of input", chunkOff, "no fmt chunk found")
			}
			return nil, formatErr(ErrMissingData, "end of input", chunkOff, "no data chunk found (fmt chunk at offset %d)", fmtOff)
		}
		id := ch[0:4]
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch string(id) {
		case "fmt ":
			if f != nil {
				return nil, formatErr(ErrInvalidFormat, "fmt chunk", chunkOff, "duplicate fmt chunk (first at offset %d)", fmtOff)
			}
			if size > maxFmtChunk {
				return nil, formatErr(ErrInvalidFormat, "fmt chunk", chunkOff, "size %d bytes exceeds the %d-byte limit", size, maxFmtChunk)
			}
			body := make([]byte, size)
			if n, err := d.readFull(body); err != nil {
				if isEOF(err) {
					return nil, formatErr(ErrTruncated, "fmt chunk", chunkOff, "truncated: declares %d bytes, %d present", size, n)
				}
				return nil, ioErr("fmt chunk", chunkOff, err)
			}
			if f, err = parseFmt(body, chunkOff); err != nil {
				return nil, err
			}
			fmtOff = chunkOff
			if err := d.skipPad(size, "fmt chunk", chunkOff); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, formatErr(ErrMissingFmt, "data chunk", chunkOff, "data chunk before any fmt chunk")
			}
			return d.readData(f, size, chunkOff)
		default:
			name := fmt.Sprintf("chunk %q", id)
			if m, err := d.skip(size); err != nil {
				if isEOF(err) {
					return nil, formatErr(ErrTruncated, name, chunkOff, "truncated: declares %d bytes, %d present", size, m)
				}
				return nil, ioErr(name, chunkOff, err)
			}
			if err := d.skipPad(size, name, chunkOff); err != nil {
				return nil, err
			}
		}
	}
}

// skipPad consumes the pad byte that follows an odd-sized chunk. A missing
// pad byte at the very end of the input is tolerated (the next chunk-header
// read reports what is missing).
func (d *decoder) skipPad(size int64, name string, off int64) error {
	if size%2 == 0 {
		return nil
	}
	if _, err := d.skip(1); err != nil && !isEOF(err) {
		return ioErr(name+" padding", off, err)
	}
	return nil
}

func parseFmt(b []byte, off int64) (*wavFormat, error) {
	const chunk = "fmt chunk"
	if len(b) < 16 {
		return nil, formatErr(ErrInvalidFormat, chunk, off, "size %d bytes, need at least 16", len(b))
	}
	le := binary.LittleEndian
	f := &wavFormat{
		tag:        int(le.Uint16(b[0:])),
		channels:   int(le.Uint16(b[2:])),
		sampleRate: int(le.Uint32(b[4:])),
		blockAlign: int(le.Uint16(b[12:])),
		bits:       int(le.Uint16(b[14:])),
	}
	f.validBits = f.bits
	if f.tag == tagExtensible {
		if len(b) < 40 {
			return nil, formatErr(ErrInvalidFormat, chunk, off, "WAVE_FORMAT_EXTENSIBLE needs a 40-byte fmt chunk, got %d", len(b))
		}
		if cb := le.Uint16(b[16:]); cb < 22 {
			return nil, formatErr(ErrInvalidFormat, chunk, off, "WAVE_FORMAT_EXTENSIBLE extension size %d, need 22", cb)
		}
		f.validBits = int(le.Uint16(b[18:]))
		f.channelMask = le.Uint32(b[20:])
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksdataformatTail) {
			return nil, formatErr(ErrUnsupported, chunk, off, "WAVE_FORMAT_EXTENSIBLE sub-format GUID %x is not a standard KSDATAFORMAT sub-type", guid)
		}
		f.tag = int(le.Uint16(guid[0:]))
		if f.validBits == 0 {
			f.validBits = f.bits
		}
	}
	switch f.tag {
	case tagPCM:
		if f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32 {
			return nil, formatErr(ErrUnsupported, chunk, off, "%d-bit PCM (only 8, 16, 24 and 32)", f.bits)
		}
	case tagFloat:
		if f.bits != 32 && f.bits != 64 {
			return nil, formatErr(ErrUnsupported, chunk, off, "%d-bit IEEE float (only 32 and 64)", f.bits)
		}
	default:
		return nil, formatErr(ErrUnsupported, chunk, off, "unsupported format tag 0x%04x (only PCM and IEEE float)", f.tag)
	}
	if f.validBits > f.bits {
		return nil, formatErr(ErrInvalidFormat, chunk, off, "%d valid bits in a %d-bit container", f.validBits, f.bits)
	}
	if f.channels < 1 || f.channels > MaxChannels {
		return nil, formatErr(ErrInvalidFormat, chunk, off, "channel count %d (must be 1..%d)", f.channels, MaxChannels)
	}
	if f.sampleRate < MinSampleRate || f.sampleRate > MaxSampleRate {
		return nil, formatErr(ErrInvalidFormat, chunk, off, "sample rate %d Hz out of range %d..%d", f.sampleRate, MinSampleRate, MaxSampleRate)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		return nil, formatErr(ErrInvalidFormat, chunk, off, "block align %d, want %d for %d channels of %d bits", f.blockAlign, want, f.channels, f.bits)
	}
	// The byte-rate field is redundant and often wrong; it is not checked.
	return f, nil
}

func (d *decoder) readData(f *wavFormat, size, chunkOff int64) (*Clip, error) {
	const chunk = "data chunk"
	nch, fb := f.channels, int64(f.blockAlign)
	streaming := size == streamingSize
	if !streaming {
		if samples := size / fb * int64(nch); samples > d.maxSamples {
			return nil, formatErr(ErrTooLarge, chunk, chunkOff, "declares %d bytes (%d samples), limit is %d samples", size, samples, d.maxSamples)
		}
	}
	// Reserve what the input can possibly hold, never what the header says.
	hint := int64(maxInitialAlloc)
	if d.avail >= 0 {
		hint = max(0, d.avail-d.off) / fb
	}
	if !streaming {
		hint = min(hint, size/fb)
	}
	hint = min(hint, d.maxSamples/int64(nch))
	clip := &Clip{
		SampleRate:    f.sampleRate,
		Channels:      make([][]float64, nch),
		BitsPerSample: f.validBits,
		Format:        FormatPCM,
		ChannelMask:   f.channelMask,
	}
	if f.tag == tagFloat {
		clip.Format = FormatFloat
	}
	for c := range clip.Channels {
		clip.Channels[c] = make([]float64, 0, hint)
	}

	buf := make([]byte, decodeBufBytes/fb*fb)
	var have int64 // data bytes consumed
	for streaming || have < size {
		want := int64(len(buf))
		if !streaming {
			want = min(want, size-have)
		}
		bufOff := d.off
		n, err := d.readFull(buf[:want])
		frames := n / int(fb)
		if frames > 0 {
			if total := int64(len(clip.Channels[0])+frames) * int64(nch); total > d.maxSamples {
				return nil, formatErr(ErrTooLarge, chunk, chunkOff, "more than %d samples", d.maxSamples)
			}
			if err := decodeFrames(clip.Channels, buf[:frames*int(fb)], f, bufOff, chunkOff); err != nil {
				return nil, err
			}
		}
		have += int64(n)
		if err != nil {
			if !isEOF(err) {
				return nil, ioErr(chunk, chunkOff, err)
			}
			if streaming {
				break // a trailing partial frame is dropped
			}
			return nil, formatErr(ErrTruncated, chunk, chunkOff, "truncated: declares %d bytes of samples, input ends after %d (at offset %d)", size, have, d.off)
		}
	}
	// A partial frame at the end of a complete data chunk is ignored.
	return clip, nil
}

// decodeFrames converts whole frames from b and appends them to out.
func decodeFrames(out [][]float64, b []byte, f *wavFormat, bufOff, chunkOff int64) error {
	nch := len(out)
	frames := len(b) / f.blockAlign
	base := len(out[0])
	for c := range out {
		out[c] = slices.Grow(out[c], frames)[:base+frames]
	}
	le := binary.LittleEndian
	p := 0
	switch {
	case f.tag == tagPCM && f.bits == 8:
		for i := base; i < base+frames; i++ {
			for c := 0; c < nch; c++ {
				out[c][i] = float64(int(b[p])-128) * (1.0 / 128)
				p++
			}
		}
	case f.tag == tagPCM && f.bits == 16:
		for i := base; i < base+frames; i++ {
			for c := 0; c < nch; c++ {
				out[c][i] = float64(int16(le.Uint16(b[p:]))) * (1.0 / 32768)
				p += 2
			}
		}
	case f.tag == tagPCM && f.bits == 24:
		for i := base; i < base+frames; i++ {
			for c := 0; c < nch; c++ {
				v := int32(uint32(b[p])<<8|uint32(b[p+1])<<16|uint32(b[p+2])<<24) >> 8
				out[c][i] = float64(v) * (1.0 / (1 << 23))
				p += 3
			}
		}
	case f.tag == tagPCM && f.bits == 32:
		for i := base; i < base+frames; i++ {
			for c := 0; c < nch; c++ {
				out[c][i] = float64(int32(le.Uint32(b[p:]))) * (1.0 / (1 << 31))
				p += 4
			}
		}
	case f.tag == tagFloat:
		size := f.bits / 8
		for i := base; i < base+frames; i++ {
			for c := 0; c < nch; c++ {
				var v float64
				if size == 4 {
					v = float64(math.Float32frombits(le.Uint32(b[p:])))
				} else {
					v = math.Float64frombits(le.Uint64(b[p:]))
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return formatErr(ErrInvalidSample, "data chunk", chunkOff, "sample %d of channel %d (at offset %d) is %v", i, c, bufOff+int64(p), v)
				}
				out[c][i] = max(-1, min(1, v))
				p += size
			}
		}
	default:
		return errors.New("audio: internal error: unhandled sample format")
	}
	return nil
}
