package audio

import (
	"errors"
	"fmt"
)

// ErrMalformed matches every error Decode returns because of the content of
// its input (as opposed to an I/O error of the reader). errors.Is(err,
// ErrMalformed) is the test for "answer 400 Bad Request".
var ErrMalformed = errors.New("wav: malformed input")

// Specific kinds of malformed input. Each *FormatError matches exactly one of
// them and ErrMalformed.
var (
	// ErrTruncated: the input ends inside the RIFF header, a chunk header or
	// a chunk (including a data chunk shorter than it declares).
	ErrTruncated = errors.New("wav: truncated input")
	// ErrNotWAV: the input is not a little-endian RIFF file of form WAVE.
	ErrNotWAV = errors.New("wav: not a RIFF/WAVE file")
	// ErrMissingFmt: there is no fmt chunk before the data chunk.
	ErrMissingFmt = errors.New("wav: missing fmt chunk")
	// ErrMissingData: the input ends without a data chunk.
	ErrMissingData = errors.New("wav: missing data chunk")
	// ErrUnsupported: a valid but unsupported encoding (format tag,
	// sub-format GUID, bit depth, RIFX/RF64 container).
	ErrUnsupported = errors.New("wav: unsupported format")
	// ErrInvalidFormat: fmt chunk values that are inconsistent or out of
	// range (channel count, sample rate, block alignment, chunk size).
	ErrInvalidFormat = errors.New("wav: invalid format")
	// ErrInvalidSample: a float sample is NaN or infinite.
	ErrInvalidSample = errors.New("wav: invalid sample value")
	// ErrTooLarge: the data exceeds DecodeOptions.MaxSamples. HTTP handlers
	// may prefer 413 for it; it still matches ErrMalformed.
	ErrTooLarge = errors.New("wav: data too large")
)

// FormatError describes malformed input: which chunk, at which byte offset,
// and what is wrong. Its message reads
//
//	wav: <Chunk> at offset <Offset>: <Detail>
type FormatError struct {
	Chunk  string // what was being parsed: "RIFF header", "fmt chunk", "data chunk", `chunk "LIST"`, ...
	Offset int64  // byte offset of that chunk (of its header) in the input
	Kind   error  // one of the sentinel errors ErrTruncated ... ErrTooLarge
	Detail string // human-readable description
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("wav: %s at offset %d: %s", e.Chunk, e.Offset, e.Detail)
}

// Unwrap makes errors.Is match both the specific Kind and ErrMalformed.
func (e *FormatError) Unwrap() []error { return []error{e.Kind, ErrMalformed} }

func formatErr(kind error, chunk string, off int64, format string, args ...any) error {
	return &FormatError{Chunk: chunk, Offset: off, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
