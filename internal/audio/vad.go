package audio

import (
	"math"
	"slices"
)

// VADSampleRate is the rate Analyze resamples to before voice detection.
const VADSampleRate = 16000

// Voice activity detector parameters; see the package documentation.
const (
	vadFrame          = 0.020 // s
	vadHop            = 0.010 // s
	vadStartMargin    = 9.0   // dB above the noise floor to start a segment
	vadContinueMargin = 5.0   // dB above the floor to continue one
	vadFricMargin     = 2.0   // dB above the floor for a high-ZCR (fricative) frame
	vadFricZCR        = 0.25  // minimum zero-crossing rate (per sample) of a fricative frame
	vadFricZCRAbove   = 0.15  // ... and by how much it must exceed the noise's
	vadAbsMin         = -60.0 // dBFS: frames quieter than this never start a segment
	vadDigitalSilence = -100.0
	vadFloorPercent   = 0.10 // initial floor: this quantile of the frame energies
	vadFloorFall      = 0.05 // per frame, towards quieter frames (τ ≈ 200 ms)
	vadRiseIdle       = 3.0  // dB/s floor rise outside segments
	vadRiseActive     = 1.0  // dB/s floor rise inside segments
	vadHangover       = 0.100
	vadBackExtend     = 0.250 // max. onset extension over weak frames
	vadMergeGap       = 0.200 // merge segments separated by less than this
	vadMinSegment     = 0.100 // then drop segments shorter than this
)

// Segment is an interval of the clip, in seconds from its start.
type Segment struct {
	StartSeconds float64 `json:"start_seconds"`
	EndSeconds   float64 `json:"end_seconds"`
}

// Duration returns EndSeconds - StartSeconds.
func (s Segment) Duration() float64 { return s.EndSeconds - s.StartSeconds }

// DetectVoice finds voiced segments in the mono signal x sampled at
// sampleRate (Analyze uses 16 kHz). It never returns nil. Boundaries are
// rounded to the millisecond.
func DetectVoice(x []float64, sampleRate int) []Segment {
	segs := []Segment{}
	if sampleRate <= 0 {
		return segs
	}
	fs := float64(sampleRate)
	frameLen := int(math.Round(vadFrame * fs))
	hop := int(math.Round(vadHop * fs))
	if frameLen < 2 || hop < 1 || len(x) < frameLen {
		return segs
	}
	nf := (len(x)-frameLen)/hop + 1

	// Per-frame DC-free energy (dBFS) and zero-crossing rate.
	energy := make([]float64, nf)
	zcr := make([]float64, nf)
	for t := range nf {
		fr := x[t*hop : t*hop+frameLen]
		var mean float64
		for _, v := range fr {
			mean += v
		}
		mean /= float64(frameLen)
		var e float64
		crossings := 0
		prev := fr[0] - mean
		for _, v := range fr {
			v -= mean
			e += v * v
			if (v < 0) != (prev < 0) {
				crossings++
			}
			prev = v
		}
		energy[t] = 10 * math.Log10(e/float64(frameLen)+1e-12)
		zcr[t] = float64(crossings) / float64(frameLen-1)
	}

	// Initial noise floor and noise ZCR from the quieter frames that are not
	// digital silence.
	var live []float64
	for _, e := range energy {
		if e > vadDigitalSilence {
			live = append(live, e)
		}
	}
	if len(live) == 0 {
		return segs
	}
	slices.Sort(live)
	floor := live[int(vadFloorPercent*float64(len(live)-1))]
	noiseZCR, cnt := 0.0, 0
	for t, e := range energy {
		if e > vadDigitalSilence && e <= floor+3 {
			noiseZCR += zcr[t]
			cnt++
		}
	}
	if cnt > 0 {
		noiseZCR /= float64(cnt)
	}

	hopSec := float64(hop) / fs
	riseIdle, riseActive := vadRiseIdle*hopSec, vadRiseActive*hopSec
	hangFrames := int(math.Round(vadHangover / hopSec))
	backFrames := int(math.Round(vadBackExtend / hopSec))

	weak := make([]bool, nf) // frames that may continue (or precede) a segment
	type span struct{ first, last int }
	var spans []span
	active := false
	var cur span
	hang := 0
	for t, e := range energy {
		fricative := e > floor+vadFricMargin && zcr[t] > max(vadFricZCR, noiseZCR+vadFricZCRAbove)
		weak[t] = e > floor+vadContinueMargin || fricative
		strong := e > floor+vadStartMargin && e > vadAbsMin
		switch {
		case !active && strong:
			active, cur, hang = true, span{t, t}, hangFrames
			// Extend the onset backwards over weak frames.
			lo := 0
			if len(spans) > 0 {
				lo = spans[len(spans)-1].last + 1
			}
			for k := t - 1; k >= max(lo, t-backFrames) && weak[k]; k-- {
				cur.first = k
			}
		case active && (strong || weak[t]):
			cur.last, hang = t, hangFrames
		case active:
			if hang--; hang <= 0 {
				spans = append(spans, cur)
				active = false
			}
		}
		// Noise floor update (digital silence carries no information).
		if e > vadDigitalSilence {
			if e < floor {
				floor += vadFloorFall * (e - floor)
			} else if active {
				floor += min(e-floor, riseActive)
			} else {
				floor += min(e-floor, riseIdle)
				noiseZCR += 0.05 * (zcr[t] - noiseZCR)
			}
		}
	}
	if active {
		spans = append(spans, cur)
	}

	// Frame centres as boundaries; the first and last frames reach the ends.
	total := float64(len(x)) / fs
	center := func(t int) float64 { return (float64(t*hop) + float64(frameLen)/2) / fs }
	for _, s := range spans {
		seg := Segment{StartSeconds: center(s.first), EndSeconds: center(s.last)}
		if s.first == 0 {
			seg.StartSeconds = 0
		}
		if s.last == nf-1 {
			seg.EndSeconds = total
		}
		if n := len(segs); n > 0 && seg.StartSeconds-segs[n-1].EndSeconds < vadMergeGap {
			segs[n-1].EndSeconds = seg.EndSeconds
			continue
		}
		segs = append(segs, seg)
	}
	out := segs[:0]
	for _, s := range segs {
		if s.Duration() >= vadMinSegment {
			s.StartSeconds = math.Round(s.StartSeconds*1000) / 1000
			s.EndSeconds = math.Round(s.EndSeconds*1000) / 1000
			out = append(out, s)
		}
	}
	return out
}
