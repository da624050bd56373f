package audio

import (
	"encoding/json"
	"math"
)

// Result is the analysis of one clip. It is stored as JSON; PeakDBFS and
// IntegratedLUFS are -Inf for silence, which is written as JSON null (and
// read back from null as -Inf).
type Result struct {
	DurationSeconds float64 `json:"duration_seconds"`
	SampleRate      int     `json:"sample_rate"`
	Channels        int     `json:"channels"`
	// Peak is the largest absolute sample value (sample peak, not true
	// peak), in [0, 1].
	Peak float64 `json:"peak"`
	// PeakDBFS is 20·log10(Peak); -Inf (null) if Peak is 0.
	PeakDBFS float64 `json:"peak_dbfs"`
	// IntegratedLUFS is the BS.1770-4 / EBU R128 integrated loudness;
	// -Inf (null) if nothing passes the gates.
	IntegratedLUFS float64 `json:"integrated_lufs"`
	// Voiced lists the voice segments, in order; never nil.
	Voiced []Segment `json:"voiced"`
	// VoicedSeconds is the total length of Voiced.
	VoicedSeconds float64 `json:"voiced_seconds"`
}

// Analyze measures clip: duration, sample peak, integrated loudness and voice
// activity (on the mono downmix resampled to VADSampleRate). Channels of
// different lengths are truncated to the shortest. A nil clip, one without
// channels or with a sample rate outside MinSampleRate..MaxSampleRate gives
// an empty Result (levels -Inf, no segments). Analyze does not modify clip.
func Analyze(clip *Clip) Result {
	r := Result{PeakDBFS: math.Inf(-1), IntegratedLUFS: math.Inf(-1), Voiced: []Segment{}}
	if clip == nil || len(clip.Channels) == 0 || clip.SampleRate < MinSampleRate || clip.SampleRate > MaxSampleRate {
		return r
	}
	n := clip.Frames()
	r.SampleRate = clip.SampleRate
	r.Channels = len(clip.Channels)
	r.DurationSeconds = float64(n) / float64(clip.SampleRate)

	var peak float64
	for _, ch := range clip.Channels {
		for _, v := range ch[:n] {
			if a := math.Abs(v); a > peak {
				peak = a
			}
		}
	}
	r.Peak = peak
	if r.Peak > 0 {
		r.PeakDBFS = 20 * math.Log10(r.Peak)
	}
	r.IntegratedLUFS = IntegratedLoudness(clip)

	mono := DownmixMono(clip.Channels)
	r.Voiced = DetectVoice(Resample(mono, clip.SampleRate, VADSampleRate), VADSampleRate)
	for _, s := range r.Voiced {
		r.VoicedSeconds += s.Duration()
	}
	r.VoicedSeconds = math.Round(r.VoicedSeconds*1000) / 1000
	return r
}

// resultJSON mirrors Result with nullable levels.
type resultJSON struct {
	DurationSeconds float64   `json:"duration_seconds"`
	SampleRate      int       `json:"sample_rate"`
	Channels        int       `json:"channels"`
	Peak            float64   `json:"peak"`
	PeakDBFS        *float64  `json:"peak_dbfs"`
	IntegratedLUFS  *float64  `json:"integrated_lufs"`
	Voiced          []Segment `json:"voiced"`
	VoicedSeconds   float64   `json:"voiced_seconds"`
}

func finiteOrNil(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

func orNegInf(p *float64) float64 {
	if p == nil {
		return math.Inf(-1)
	}
	return *p
}

// MarshalJSON writes -Inf (and NaN) levels as null.
func (r Result) MarshalJSON() ([]byte, error) {
	v := resultJSON{
		DurationSeconds: r.DurationSeconds,
		SampleRate:      r.SampleRate,
		Channels:        r.Channels,
		Peak:            r.Peak,
		PeakDBFS:        finiteOrNil(r.PeakDBFS),
		IntegratedLUFS:  finiteOrNil(r.IntegratedLUFS),
		Voiced:          r.Voiced,
		VoicedSeconds:   r.VoicedSeconds,
	}
	if v.Voiced == nil {
		v.Voiced = []Segment{}
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads null (or absent) levels as -Inf.
func (r *Result) UnmarshalJSON(b []byte) error {
	var v resultJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Result{
		DurationSeconds: v.DurationSeconds,
		SampleRate:      v.SampleRate,
		Channels:        v.Channels,
		Peak:            v.Peak,
		PeakDBFS:        orNegInf(v.PeakDBFS),
		IntegratedLUFS:  orNegInf(v.IntegratedLUFS),
		Voiced:          v.Voiced,
		VoicedSeconds:   v.VoicedSeconds,
	}
	if r.Voiced == nil {
		r.Voiced = []Segment{}
	}
	return nil
}
