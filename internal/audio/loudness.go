package audio

import "math"

// BS.1770-4 gating constants.
const (
	absoluteGateLUFS = -70.0
	relativeGateLU   = -10.0
	loudnessOffset   = -0.691 // l = -0.691 + 10·log10(Σ G_i·z_i)
	surroundWeight   = 1.41
)

// Analogue prototypes of the K-weighting filter, as in libebur128 and
// pyloudnorm; the bilinear transform of these with pre-warping yields the
// 48 kHz coefficients tabulated in BS.1770-4.
const (
	shelfF0   = 1681.974450955533
	shelfGain = 3.999843853973347 // dB
	shelfQ    = 0.7071752369554196
	shelfVb   = 0.4996667741545416 // band gain exponent: Vb = Vh^shelfVb
	rlbF0     = 38.13547087602444
	rlbQ      = 0.5003270373238773
)

// biquad is a second-order section normalised to a0 = 1:
// y[n] = b0·x[n] + b1·x[n-1] + b2·x[n-2] - a1·y[n-1] - a2·y[n-2].
type biquad struct{ b0, b1, b2, a1, a2 float64 }

// kWeighting returns the two K-weighting stages for sample rate fs.
func kWeighting(fs float64) (shelf, highpass biquad) {
	k := math.Tan(math.Pi * shelfF0 / fs)
	vh := math.Pow(10, shelfGain/20)
	vb := math.Pow(vh, shelfVb)
	a0 := 1 + k/shelfQ + k*k
	shelf = biquad{
		b0: (vh + vb*k/shelfQ + k*k) / a0,
		b1: 2 * (k*k - vh) / a0,
		b2: (vh - vb*k/shelfQ + k*k) / a0,
		a1: 2 * (k*k - 1) / a0,
		a2: (1 - k/shelfQ + k*k) / a0,
	}
	k = math.Tan(math.Pi * rlbF0 / fs)
	a0 = 1 + k/rlbQ + k*k
	// BS.1770 gives the 48 kHz high-pass with numerator (1, -2, 1), i.e.
	// with the pass-band gain a0(48 kHz) ≈ 1.005 (+0.043 dB) rather than 1.
	// Keeping that gain for every rate (instead of the rate-dependent a0(fs)
	// an unnormalised numerator would give, +0.26 dB at 8 kHz) makes the
	// filter the same analogue response at every rate and exactly the table
	// at 48 kHz.
	g := rlbA0(48000) / a0
	highpass = biquad{
		b0: g, b1: -2 * g, b2: g,
		a1: 2 * (k*k - 1) / a0,
		a2: (1 - k/rlbQ + k*k) / a0,
	}
	return shelf, highpass
}

func rlbA0(fs float64) float64 {
	k := math.Tan(math.Pi * rlbF0 / fs)
	return 1 + k/rlbQ + k*k
}

// Speaker position bits of the WAVE_FORMAT_EXTENSIBLE channel mask.
const (
	spkFrontLeft   = 0x1
	spkFrontRight  = 0x2
	spkFrontCenter = 0x4
	spkLFE         = 0x8
	spkBackLeft    = 0x10
	spkBackRight   = 0x20
	spkBackCenter  = 0x100
	spkSideLeft    = 0x200
	spkSideRight   = 0x400
)

// defaultChannelMask is the layout assumed for a channel count when the file
// carries no mask (the common WAVE defaults; 5 channels is the L R C Ls Rs
// order of EBU Tech 3341).
func defaultChannelMask(n int) uint32 {
	switch n {
	case 1:
		return spkFrontCenter
	case 2:
		return spkFrontLeft | spkFrontRight
	case 3:
		return spkFrontLeft | spkFrontRight | spkFrontCenter
	case 4:
		return spkFrontLeft | spkFrontRight | spkBackLeft | spkBackRight
	case 5:
		return spkFrontLeft | spkFrontRight | spkFrontCenter | spkBackLeft | spkBackRight
	case 6:
		return spkFrontLeft | spkFrontRight | spkFrontCenter | spkLFE | spkBackLeft | spkBackRight
	case 7:
		return spkFrontLeft | spkFrontRight | spkFrontCenter | spkLFE | spkBackCenter | spkSideLeft | spkSideRight
	case 8:
		return spkFrontLeft | spkFrontRight | spkFrontCenter | spkLFE | spkBackLeft | spkBackRight | spkSideLeft | spkSideRight
	}
	return 0
}

// channelWeights returns the BS.1770-4 weight G_i of each channel. Channels
// are assigned to the set bits of mask in increasing order (as WAVE
// specifies); channels beyond the mask get 1.0. Surrounds (±60°..120°) get
// 1.41, the LFE 0. Back channels count as surrounds unless side channels are
// also present (7.1), in which case the sides are the surrounds. Surplus
// mask bits are ignored.
func channelWeights(n int, mask uint32) []float64 {
	if mask == 0 {
		mask = defaultChannelMask(n)
	}
	hasSides := mask&(spkSideLeft|spkSideRight) != 0
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
		if mask == 0 {
			continue
		}
		bit := mask & -mask // lowest remaining speaker
		mask &^= bit
		switch {
		case bit == spkLFE:
			w[i] = 0
		case bit == spkSideLeft, bit == spkSideRight:
			w[i] = surroundWeight
		case (bit == spkBackLeft || bit == spkBackRight) && !hasSides:
			w[i] = surroundWeight
		}
	}
	return w
}

// IntegratedLoudness returns the integrated (programme) loudness of clip in
// LUFS per ITU-R BS.1770-4 / EBU R128, or -Inf if no 400 ms block passes the
// gates (silence, or a clip shorter than 400 ms).
func IntegratedLoudness(clip *Clip) float64 {
	if clip == nil || len(clip.Channels) == 0 || clip.SampleRate <= 0 {
		return math.Inf(-1)
	}
	chans, n, fs := clip.Channels, clip.Frames(), clip.SampleRate
	weights := channelWeights(len(chans), clip.ChannelMask)
	if r := kOversampling(fs); r > 1 {
		up := make([][]float64, len(chans))
		for c, x := range chans {
			if weights[c] != 0 {
				up[c] = resample(x[:n], fs, fs*r, kOversampleRolloff, kOversampleZeroCrossings)
			}
		}
		chans, n, fs = up, n*r, fs*r
	}
	return integratedLoudness(chans, n, fs, weights)
}

// Low sample rates are measured on an upsampled copy: at 8 kHz the bilinear
// transform squeezes the pre-filter's shelf towards Nyquist (-0.2 dB at
// 1 kHz, +0.2 dB at 2 kHz), at 16 kHz still by 0.05 dB. Upsampling by an
// integer factor to at least 44.1 kHz with a wide-band interpolator (flat to
// about 90 % of the original Nyquist frequency, above which content is
// attenuated) preserves the energy and lets the filter behave as at 48 kHz.
const (
	kOversampleMinRate       = 44100
	kOversampleRolloff       = 0.97
	kOversampleZeroCrossings = 32
)

// kOversampling returns the integer factor by which audio at rate fs is
// upsampled before K-weighting (1: none).
func kOversampling(fs int) int {
	if fs <= 0 || fs >= kOversampleMinRate {
		return 1
	}
	return (kOversampleMinRate + fs - 1) / fs
}

// segmentEnergies K-weights every channel and returns Σ_i G_i·Σ y_i[n]² over
// consecutive 100 ms segments (boundaries at floor(k·fs/10)), together with
// the boundaries. Incomplete trailing segments are dropped.
func segmentEnergies(chans [][]float64, n, fs int, weights []float64) (seg []float64, bounds []int) {
	nseg := 0
	for (nseg+1)*fs/10 <= n {
		nseg++
	}
	bounds = make([]int, nseg+1)
	for k := range bounds {
		bounds[k] = k * fs / 10
	}
	seg = make([]float64, nseg)
	if nseg == 0 {
		return seg, bounds
	}
	shelf, hp := kWeighting(float64(fs))
	// Channels are filtered in pairs: the recursions are latency-bound, and
	// two independent ones interleave on the CPU at almost no extra cost.
	var active []int
	for c := range chans {
		if weights[c] != 0 {
			active = append(active, c)
		}
	}
	end := bounds[nseg]
	for len(active) > 0 {
		a, b := active[0], active[0]
		active = active[1:]
		if len(active) > 0 {
			b = active[0]
			active = active[1:]
		}
		ga, gb := weights[a], weights[b]
		if a == b {
			gb = 0
		}
		xa, xb := chans[a][:end], chans[b][:end]
		var fa, fb kState
		for k := 0; k < nseg; k++ {
			lo, hi := bounds[k], bounds[k+1]
			ea, eb := kFilterPair(&shelf, &hp, &fa, &fb, xa[lo:hi], xb[lo:hi])
			seg[k] += ga*ea + gb*eb
			fa.flush()
			fb.flush()
		}
	}
	return seg, bounds
}

// kState is the state of the two transposed-direct-form-II K-weighting
// stages.
type kState struct{ s1, s2, t1, t2 float64 }

// flush zeroes state that has decayed towards the denormal range (long
// digital silence), which would make the filter slow on x86.
func (s *kState) flush() {
	if math.Abs(s.s1)+math.Abs(s.s2)+math.Abs(s.t1)+math.Abs(s.t2) < 1e-200 {
		*s = kState{}
	}
}

// kFilterPair K-weights xa and xb (of equal length) and returns the sums of
// the squared outputs.
func kFilterPair(shelf, hp *biquad, fa, fb *kState, xa, xb []float64) (ea, eb float64) {
	sb0, sb1, sb2, sa1, sa2 := shelf.b0, shelf.b1, shelf.b2, shelf.a1, shelf.a2
	hb0, hb1, hb2, ha1, ha2 := hp.b0, hp.b1, hp.b2, hp.a1, hp.a2
	as1, as2, at1, at2 := fa.s1, fa.s2, fa.t1, fa.t2
	bs1, bs2, bt1, bt2 := fb.s1, fb.s2, fb.t1, fb.t2
	xb = xb[:len(xa)]
	for i, va := range xa {
		vb := xb[i]
		ya := sb0*va + as1
		yb := sb0*vb + bs1
		as1 = sb1*va - sa1*ya + as2
		bs1 = sb1*vb - sa1*yb + bs2
		as2 = sb2*va - sa2*ya
		bs2 = sb2*vb - sa2*yb
		za := hb0*ya + at1
		zb := hb0*yb + bt1
		at1 = hb1*ya - ha1*za + at2
		bt1 = hb1*yb - ha1*zb + bt2
		at2 = hb2*ya - ha2*za
		bt2 = hb2*yb - ha2*zb
		ea += za * za
		eb += zb * zb
	}
	*fa = kState{as1, as2, at1, at2}
	*fb = kState{bs1, bs2, bt1, bt2}
	return ea, eb
}

func integratedLoudness(chans [][]float64, n, fs int, weights []float64) float64 {
	seg, bounds := segmentEnergies(chans, n, fs, weights)
	// 400 ms blocks = 4 consecutive segments, one block per 100 ms.
	nblk := len(seg) - 3
	if nblk <= 0 {
		return math.Inf(-1)
	}
	z := make([]float64, nblk)
	for j := range z {
		z[j] = (seg[j] + seg[j+1] + seg[j+2] + seg[j+3]) / float64(bounds[j+4]-bounds[j])
	}
	return gatedLoudness(z)
}

// gatedLoudness applies the BS.1770-4 gates to the weighted block energies
// z_j = Σ G_i·z_ij and returns the integrated loudness.
func gatedLoudness(z []float64) float64 {
	// Gates compared in the energy domain: l > Γ ⇔ z > 10^((Γ+0.691)/10).
	absGate := math.Pow(10, (absoluteGateLUFS-loudnessOffset)/10)
	mean := func(gate float64) (float64, int) {
		var sum float64
		var cnt int
		for _, v := range z {
			if v > gate {
				sum += v
				cnt++
			}
		}
		if cnt == 0 {
			return 0, 0
		}
		return sum / float64(cnt), cnt
	}
	m, cnt := mean(absGate)
	if cnt == 0 {
		return math.Inf(-1)
	}
	relGate := max(absGate, m*math.Pow(10, relativeGateLU/10))
	m, cnt = mean(relGate)
	if cnt == 0 {
		return math.Inf(-1)
	}
	return loudnessOffset + 10*math.Log10(m)
}
