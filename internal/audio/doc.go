// Package audio is the voice-processing work the VoiceAssist worker performs
// on every job: it decodes an uploaded WAV file, measures its level and
// loudness, and finds the stretches that contain voice. It is pure Go and uses
// only the standard library.
//
// # Decoding (RIFF/WAVE)
//
// [Decode] reads a little-endian RIFF/WAVE stream chunk by chunk. It accepts
// integer PCM with 8 (unsigned), 16, 24 or 32 bit samples and IEEE float with
// 32 or 64 bit samples, either with a plain WAVEFORMATEX header (format tags
// 0x0001 and 0x0003) or with WAVE_FORMAT_EXTENSIBLE (0xFFFE) whose sub-format
// GUID is the standard PCM or IEEE-float KSDATAFORMAT GUID. 1 to [MaxChannels]
// channels and sample rates from [MinSampleRate] to [MaxSampleRate] Hz are
// accepted. Chunks other than "fmt " and "data" are skipped, odd-sized chunks
// are followed by their pad byte as RIFF requires, and a data chunk that
// declares more bytes than the input holds is an error (except the streaming
// marker 0xFFFFFFFF, which means "until end of input"). Samples are returned
// as float64 in [-1, 1], one slice per channel; integer samples are scaled by
// 2^(bits-1), float samples outside [-1, 1] are clipped and NaN or Inf samples
// are an error.
//
// Memory is bounded by what the input actually contains, never by what a
// header declares: sample slices grow as data arrives, unknown chunks are
// discarded without buffering, and [DecodeOptions.MaxSamples] caps the total.
//
// Every problem with the input is a [*FormatError] that names the chunk, its
// byte offset and what is wrong, for example
//
//	wav: fmt chunk at offset 12: unsupported format tag 0x0055 (only PCM and IEEE float)
//
// It matches (errors.Is) both a specific sentinel ([ErrTruncated],
// [ErrNotWAV], [ErrMissingFmt], [ErrMissingData], [ErrUnsupported],
// [ErrInvalidFormat], [ErrInvalidSample], [ErrTooLarge]) and the umbrella
// [ErrMalformed], so an HTTP handler can answer 400 (or 413 for
// [ErrTooLarge]) for bad uploads and 500 for everything else, such as an I/O
// error from the underlying reader.
//
// [Encode] writes 16-bit PCM; [EncodeWith] writes every format Decode reads.
//
// # Loudness (ITU-R BS.1770-4, EBU R128, EBU Tech 3341)
//
// [IntegratedLoudness] implements the BS.1770-4 programme-loudness measure
// that EBU R128 prescribes:
//
//  1. Each channel passes through the K-weighting filter: a high-shelf
//     "pre-filter" (about +4 dB above 2 kHz, modelling the acoustic effect of
//     the head) followed by the "RLB" high-pass (about 38 Hz, second order).
//     BS.1770 tabulates the biquad coefficients for 48 kHz only; here they are
//     derived for the actual sample rate from the analogue prototypes
//     (shelf: f0 = 1681.97 Hz, G = +4.0 dB, Q = 0.7072; high-pass:
//     f0 = 38.135 Hz, Q = 0.5003, keeping the table's +0.043 dB pass-band
//     gain) with the bilinear transform and frequency pre-warping, which
//     reproduces the tabulated 48 kHz coefficients to about 1e-9. Below
//     44.1 kHz the bilinear transform would squeeze the shelf towards Nyquist
//     (-0.2 dB at 1 kHz, +0.2 dB at 2 kHz for 8 kHz audio), so such audio is
//     first upsampled by an integer factor to 44.1..64 kHz with a wide-band
//     sinc interpolator. Tones from 100 Hz to 3 kHz then read within 0.01 dB
//     of the 48 kHz reference at every rate from 8 to 192 kHz.
//  2. The mean square of the filtered signal is taken over 400 ms gating
//     blocks that overlap by 75 % (a new block every 100 ms), and channels
//     are summed with the weights of BS.1770-4 table 3: 1.0 for left, right
//     and centre, 1.41 for the surround channels, and the LFE channel
//     excluded. The layout comes from the WAVE_FORMAT_EXTENSIBLE channel mask
//     or, without one, from the usual default order (L R C LFE Ls Rs …).
//  3. Block loudness is l = -0.691 + 10·log10(Σ G_i·z_i). Blocks at or below
//     the absolute gate of -70 LUFS are dropped; then blocks at or below the
//     relative gate (loudness of the remaining blocks minus 10 LU) are
//     dropped, and the integrated loudness is the loudness of the mean
//     energy of what is left.
//
// A signal with no block above the gates (silence, or a clip shorter than
// one 400 ms block) has loudness -Inf. [Result] marshals -Inf as JSON null.
// The implementation is checked against the synthesizable test signals of
// EBU Tech 3341 (tests 1 to 6: -23.0 ±0.1 LUFS) at several sample rates.
//
// # Resampling
//
// [Resample] is a band-limited (windowed-sinc) polyphase resampler for any
// pair of rates. The rate ratio is reduced to L/M; for L ≤ 1024 the filter is
// tabulated for each of the L phases exactly, otherwise for 1024 phases with
// linear interpolation between adjacent ones. The low-pass kernel is a sinc
// with its cut-off at 90 % of the lower Nyquist frequency, 24 zero crossings
// each side, shaped by a Kaiser window (β = 8, about 80 dB stop-band
// rejection) and normalised to unit DC gain per phase. The kernel is
// symmetric, so the output has no delay relative to the input.
//
// # Voice activity detection
//
// [DetectVoice] (applied by [Analyze] to the mono downmix resampled to
// 16 kHz) is an energy and zero-crossing detector in the style of Rabiner &
// Sambur (1975):
//
//   - 20 ms frames every 10 ms; per frame the DC-free energy in dBFS and the
//     zero-crossing rate.
//   - An adaptive noise floor: initialised at the 10th percentile of the
//     frame energies, it follows quieter frames with a time constant of
//     about 200 ms and rises at most 3 dB/s outside voice and 1 dB/s inside
//     it; frames of digital silence do not move it.
//   - Hysteresis: a segment starts on a frame 9 dB above the floor (and above
//     an absolute -60 dBFS) and continues while frames stay 5 dB above it or
//     look like fricatives (2 dB above the floor with a zero-crossing rate
//     above 0.25 and 0.15 above that of the noise). A 100 ms hangover keeps
//     short dips inside the segment (and out of the noise statistics). A
//     segment's start is extended backwards over such weak frames (up to
//     250 ms) so unvoiced onsets are kept.
//   - Segments separated by less than 200 ms are merged, then segments
//     shorter than 100 ms are dropped. Boundaries are frame centres, so they
//     are accurate to about ±15 ms for clean onsets.
//
// A sudden, sustained rise of the background noise by more than 9 dB is
// reported as voice until the floor has caught up (at 1 dB/s).
//
// # Analysis and performance
//
// [Analyze] combines the above into a [Result] (JSON field names in
// snake_case). It runs on the calling goroutine; the worker parallelises
// across jobs. BenchmarkAnalyze reports throughput in seconds of audio per
// second of CPU ("audio-s/s") next to BenchmarkDecodeOnly, the floor.
//
// References:
//
//   - ITU-R BS.1770-4 (10/2015), Algorithms to measure audio programme
//     loudness and true-peak audio level.
//   - EBU R 128 (2020), Loudness normalisation and permitted maximum level of
//     audio signals.
//   - EBU Tech 3341 (2016), Loudness Metering: 'EBU Mode' metering to
//     supplement EBU R 128 loudness normalisation.
//   - Microsoft, Multimedia Programming Interface and Data Specifications 1.0
//     (RIFF/WAVE) and WAVEFORMATEXTENSIBLE.
//   - J. O. Smith, Digital Audio Resampling Home Page (bandlimited
//     interpolation).
//   - L. R. Rabiner, M. R. Sambur, An Algorithm for Determining the Endpoints
//     of Isolated Utterances, Bell System Technical Journal 54(2), 1975.
package audio
