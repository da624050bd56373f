package audio

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
)

// Test-signal helpers.

// dbfs converts a level in dBFS to a linear amplitude.
func dbfs(db float64) float64 { return math.Pow(10, db/20) }

// sine returns n samples of amp·sin(2πf·i/fs).
func sine(n int, fs, f, amp float64) []float64 {
	x := make([]float64, n)
	w := 2 * math.Pi * f / fs
	for i := range x {
		x[i] = amp * math.Sin(w*float64(i))
	}
	return x
}

// toneSections concatenates 1 kHz sine sections of the given (dBFS, seconds)
// pairs with continuous phase, as the EBU Tech 3341 test signals do.
func toneSections(fs int, freq float64, parts ...[2]float64) []float64 {
	var x []float64
	w := 2 * math.Pi * freq / float64(fs)
	i := 0
	for _, p := range parts {
		amp := dbfs(p[0])
		n := int(math.Round(p[1] * float64(fs)))
		for k := 0; k < n; k++ {
			x = append(x, amp*math.Sin(w*float64(i)))
			i++
		}
	}
	return x
}

func stereo(x []float64, fs int) *Clip {
	return &Clip{SampleRate: fs, Channels: [][]float64{x, append([]float64(nil), x...)}}
}

func mono(x []float64, fs int) *Clip {
	return &Clip{SampleRate: fs, Channels: [][]float64{x}}
}

// noise returns n Gaussian samples with standard deviation sigma.
func noise(rng *rand.Rand, n int, sigma float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = sigma * rng.NormFloat64()
	}
	return x
}

// addAt adds y into x starting at sample i (clipped to x).
func addAt(x []float64, i int, y []float64) {
	for k, v := range y {
		if i+k >= 0 && i+k < len(x) {
			x[i+k] += v
		}
	}
}

// ramp applies raised-cosine fades of d samples to both ends of x.
func ramp(x []float64, d int) []float64 {
	for k := 0; k < d && k < len(x); k++ {
		g := 0.5 - 0.5*math.Cos(math.Pi*float64(k)/float64(d))
		x[k] *= g
		x[len(x)-1-k] *= g
	}
	return x
}

// voiceLike returns a harmonic "vowel" with fundamental f0 whose amplitude is
// modulated at a syllabic rate (depth 0.6), with 5 ms fades.
func voiceLike(n int, fs, f0, amp float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		t := float64(i) / fs
		var v float64
		for h := 1; h <= 6; h++ {
			v += math.Sin(2*math.Pi*f0*float64(h)*t+float64(h)) / float64(h)
		}
		env := 1 - 0.6*(0.5-0.5*math.Cos(2*math.Pi*4.5*t))
		x[i] = amp * 0.5 * env * v
	}
	return ramp(x, int(0.005*fs))
}

// goertzelAmp returns the amplitude of the frequency-f component of x.
func goertzelAmp(x []float64, fs, f float64) float64 {
	var s complex128
	w := 2 * math.Pi * f / fs
	for i, v := range x {
		s += complex(v, 0) * cmplx.Exp(complex(0, -w*float64(i)))
	}
	return 2 * cmplx.Abs(s) / float64(len(x))
}

// zeroCrossingFreq estimates the frequency of a sinusoid from its
// interpolated zero crossings.
func zeroCrossingFreq(x []float64, fs float64) float64 {
	var first, last float64
	n := 0
	for i := 1; i < len(x); i++ {
		if (x[i-1] < 0) != (x[i] < 0) {
			t := float64(i-1) + x[i-1]/(x[i-1]-x[i])
			if n == 0 {
				first = t
			}
			last = t
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) / 2 / ((last - first) / fs)
}

func rms(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}

func db(ratio float64) float64 { return 20 * math.Log10(ratio) }
