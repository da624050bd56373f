package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// EncodeOptions selects the sample encoding EncodeWith writes.
type EncodeOptions struct {
	// Format is FormatPCM (the default when empty) or FormatFloat.
	Format string
	// BitsPerSample: 8, 16, 24 or 32 for PCM (default 16); 32 or 64 for
	// float (default 32).
	BitsPerSample int
	// Extensible writes a WAVE_FORMAT_EXTENSIBLE fmt chunk (with the clip's
	// ChannelMask, or the default mask for its channel count).
	Extensible bool
}

// Encode writes clip as a canonical 16-bit PCM WAV file.
func Encode(w io.Writer, clip *Clip) error { return EncodeWith(w, clip, EncodeOptions{}) }

// EncodeWith writes clip as a WAV file in the requested encoding. Samples are
// clipped to [-1, 1] (NaN is written as 0) and integer formats are rounded to
// the nearest step of 2^-(bits-1), so Decode(EncodeWith(x)) returns x exactly
// whenever x is already on that grid. Float files get a fact chunk.
func EncodeWith(w io.Writer, clip *Clip, o EncodeOptions) error {
	if clip == nil {
		return errors.New("wav: encode: nil clip")
	}
	nch := len(clip.Channels)
	if nch < 1 || nch > MaxChannels {
		return fmt.Errorf("wav: encode: %d channels (must be 1..%d)", nch, MaxChannels)
	}
	if clip.SampleRate < MinSampleRate || clip.SampleRate > MaxSampleRate {
		return fmt.Errorf("wav: encode: sample rate %d Hz out of range %d..%d", clip.SampleRate, MinSampleRate, MaxSampleRate)
	}
	frames := len(clip.Channels[0])
	for c, ch := range clip.Channels {
		if len(ch) != frames {
			return fmt.Errorf("wav: encode: channel %d has %d samples, channel 0 has %d", c, len(ch), frames)
		}
	}
	format, bits := o.Format, o.BitsPerSample
	tag := tagPCM
	switch format {
	case "", FormatPCM:
		format = FormatPCM
		if bits == 0 {
			bits = 16
		}
		if bits != 8 && bits != 16 && bits != 24 && bits != 32 {
			return fmt.Errorf("wav: encode: %d-bit PCM is not supported", bits)
		}
	case FormatFloat:
		tag = tagFloat
		if bits == 0 {
			bits = 32
		}
		if bits != 32 && bits != 64 {
			return fmt.Errorf("wav: encode: %d-bit float is not supported", bits)
		}
	default:
		return fmt.Errorf("wav: encode: unknown format %q", format)
	}
	blockAlign := nch * bits / 8
	dataSize := int64(frames) * int64(blockAlign)
	pad := dataSize & 1

	le := binary.LittleEndian
	var fmtBody []byte
	switch {
	case o.Extensible:
		fmtBody = make([]byte, 40)
		le.PutUint16(fmtBody[0:], tagExtensible)
		le.PutUint16(fmtBody[16:], 22)
		le.PutUint16(fmtBody[18:], uint16(bits))
		mask := clip.ChannelMask
		if mask == 0 {
			mask = defaultChannelMask(nch)
		}
		le.PutUint32(fmtBody[20:], mask)
		le.PutUint16(fmtBody[24:], uint16(tag))
		copy(fmtBody[26:], ksdataformatTail)
	case tag == tagFloat:
		fmtBody = make([]byte, 18) // cbSize = 0
		le.PutUint16(fmtBody[0:], uint16(tag))
	default:
		fmtBody = make([]byte, 16)
		le.PutUint16(fmtBody[0:], uint16(tag))
	}
	le.PutUint16(fmtBody[2:], uint16(nch))
	le.PutUint32(fmtBody[4:], uint32(clip.SampleRate))
	le.PutUint32(fmtBody[8:], uint32(clip.SampleRate*blockAlign))
	le.PutUint16(fmtBody[12:], uint16(blockAlign))
	le.PutUint16(fmtBody[14:], uint16(bits))

	hdr := make([]byte, 0, 12+8+len(fmtBody)+12+8)
	hdr = append(hdr, "RIFF\x00\x00\x00\x00WAVE"...)
	hdr = append(hdr, "fmt "...)
	hdr = le.AppendUint32(hdr, uint32(len(fmtBody)))
	hdr = append(hdr, fmtBody...)
	if tag != tagPCM {
		hdr = append(hdr, "fact"...)
		hdr = le.AppendUint32(hdr, 4)
		hdr = le.AppendUint32(hdr, uint32(frames))
	}
	hdr = append(hdr, "data"...)
	hdr = le.AppendUint32(hdr, uint32(dataSize))
	riffSize := int64(len(hdr)) - 8 + dataSize + pad
	if riffSize > math.MaxUint32 {
		return fmt.Errorf("wav: encode: %d bytes of samples do not fit a RIFF file", dataSize)
	}
	le.PutUint32(hdr[4:], uint32(riffSize))
	if _, err := w.Write(hdr); err != nil {
		return err
	}

	buf := make([]byte, 0, decodeBufBytes/blockAlign*blockAlign)
	for i := 0; i < frames; i++ {
		for c := 0; c < nch; c++ {
			buf = appendSample(buf, clip.Channels[c][i], format, bits)
		}
		if len(buf) == cap(buf) {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if pad != 0 {
		buf = append(buf, 0)
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func appendSample(b []byte, v float64, format string, bits int) []byte {
	if math.IsNaN(v) {
		v = 0
	}
	v = max(-1, min(1, v))
	le := binary.LittleEndian
	if format == FormatFloat {
		if bits == 32 {
			return le.AppendUint32(b, math.Float32bits(float32(v)))
		}
		return le.AppendUint64(b, math.Float64bits(v))
	}
	scale := float64(int64(1) << (bits - 1))
	q := int64(max(-scale, min(scale-1, math.Round(v*scale))))
	switch bits {
	case 8:
		return append(b, byte(q+128))
	case 16:
		return le.AppendUint16(b, uint16(q))
	case 24:
		return append(b, byte(q), byte(q>>8), byte(q>>16))
	default:
		return le.AppendUint32(b, uint32(q))
	}
}
