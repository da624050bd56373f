package audio

import "math"

// Resampler design; see the package documentation.
const (
	resampleZeroCrossings = 24   // sinc zero crossings on each side of the kernel centre
	resampleRolloff       = 0.9  // cut-off as a fraction of the lower Nyquist frequency
	resampleKaiserBeta    = 8.0  // ≈ 80 dB stop-band rejection
	resampleMaxPhases     = 1024 // exact polyphase table up to this many phases, interpolated beyond
)

// DownmixMono returns the average of the channels (over the shortest
// channel's length). With one channel it returns a copy.
func DownmixMono(channels [][]float64) []float64 {
	if len(channels) == 0 {
		return nil
	}
	n := len(channels[0])
	for _, ch := range channels[1:] {
		n = min(n, len(ch))
	}
	out := make([]float64, n)
	copy(out, channels[0][:n])
	if len(channels) == 1 {
		return out
	}
	for _, ch := range channels[1:] {
		for i, v := range ch[:n] {
			out[i] += v
		}
	}
	inv := 1 / float64(len(channels))
	for i := range out {
		out[i] *= inv
	}
	return out
}

// Resample converts x from sample rate from to sample rate to (Hz) with a
// band-limited windowed-sinc polyphase filter whose cut-off is 90 % of the
// lower of the two Nyquist frequencies, so downsampling is anti-aliased and
// upsampling anti-imaged. Output sample n corresponds to input time
// n·from/to (no delay); the output has ceil(len(x)·to/from) samples and
// samples outside x are taken as zero. If from == to it returns a copy; if
// either rate is not positive it returns nil.
func Resample(x []float64, from, to int) []float64 {
	return resample(x, from, to, resampleRolloff, resampleZeroCrossings)
}

// resample is Resample with a given cut-off (fraction of the lower Nyquist
// frequency) and kernel half-length in zero crossings.
func resample(x []float64, from, to int, rolloff, zeroCrossings float64) []float64 {
	if from <= 0 || to <= 0 {
		return nil
	}
	if from == to {
		return append([]float64(nil), x...)
	}
	g := gcd(from, to)
	L, M := int64(to/g), int64(from/g) // output step = M/L input samples
	nOut := int((int64(len(x))*L + M - 1) / M)
	out := make([]float64, nOut)
	if nOut == 0 {
		return out
	}

	// Kernel h(t) = fc·sinc(fc·t)·kaiser(t/hw), t in input samples, where
	// fc is the cut-off in cycles per input sample times two.
	fc := rolloff * float64(min(from, to)) / float64(from)
	hw := zeroCrossings / fc
	K := int(math.Ceil(hw)) + 1
	taps := 2 * K // input offsets d = -K+1 .. K around floor(position)

	exact := L <= resampleMaxPhases
	phases := int(L)
	if !exact {
		phases = resampleMaxPhases
	}
	// Row p holds h(p/phases - d); the interpolated table has an extra row
	// for fraction 1.
	rows := phases
	if !exact {
		rows++
	}
	table := make([]float64, rows*taps)
	i0b := besselI0(resampleKaiserBeta)
	for p := 0; p < rows; p++ {
		frac := float64(p) / float64(phases)
		row := table[p*taps : (p+1)*taps]
		var sum float64
		for j := range row {
			t := frac - float64(j-K+1)
			if math.Abs(t) >= hw {
				continue
			}
			u := t / hw
			v := fc * sinc(fc*t) * besselI0(resampleKaiserBeta*math.Sqrt(1-u*u)) / i0b
			row[j] = v
			sum += v
		}
		for j := range row { // unit DC gain for every phase
			row[j] /= sum
		}
	}

	scratch := make([]float64, taps) // zero-padded window near the ends
	for n := range out {
		num := int64(n) * M
		i := int(num / L)
		rem := num % L
		var seg []float64 // x[i-K+1 .. i+K]
		if lo, hi := i-K+1, i+K+1; lo >= 0 && hi <= len(x) {
			seg = x[lo:hi]
		} else {
			for j := range scratch {
				scratch[j] = 0
				if k := lo + j; k >= 0 && k < len(x) {
					scratch[j] = x[k]
				}
			}
			seg = scratch
		}
		if exact {
			out[n] = dot(seg, table[int(rem)*taps:int(rem+1)*taps])
			continue
		}
		fp := float64(rem) * float64(phases) / float64(L)
		p := int(fp)
		a := fp - float64(p)
		out[n] = (1-a)*dot(seg, table[p*taps:(p+1)*taps]) + a*dot(seg, table[(p+1)*taps:(p+2)*taps])
	}
	return out
}

func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 200; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
