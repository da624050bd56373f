package audio

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestAnalyzePeakAndDurationExact(t *testing.T) {
	const fs = 44100
	n := 3*fs + 7
	l := sine(n, fs, 440, 0.5)
	r := sine(n, fs, 440, 0.25)
	r[12345] = -0.75 // the peak, negative and in the right channel
	// Through a 16-bit file: 0.75 and 0.5 are exact 16-bit codes.
	var buf bytes.Buffer
	if err := Encode(&buf, &Clip{SampleRate: fs, Channels: [][]float64{l, r}}); err != nil {
		t.Fatal(err)
	}
	clip, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	res := Analyze(clip)
	if res.Peak != 0.75 || res.PeakDBFS != 20*math.Log10(0.75) {
		t.Errorf("peak %v (%v dBFS), want 0.75 (%v dBFS)", res.Peak, res.PeakDBFS, 20*math.Log10(0.75))
	}
	if want := float64(n) / fs; res.DurationSeconds != want {
		t.Errorf("duration %v, want %v", res.DurationSeconds, want)
	}
	if res.SampleRate != fs || res.Channels != 2 {
		t.Errorf("rate %d channels %d", res.SampleRate, res.Channels)
	}
	// A full-scale negative sample is a 0 dBFS peak.
	res = Analyze(mono([]float64{0, -1, 0.5}, 8000))
	if res.Peak != 1 || res.PeakDBFS != 0 {
		t.Errorf("full scale: peak %v, %v dBFS", res.Peak, res.PeakDBFS)
	}
}

func TestAnalyzeLoudnessMatchesIntegratedLoudness(t *testing.T) {
	c := stereo(toneSections(48000, 1000, [2]float64{-23, 5}), 48000)
	if got := Analyze(c).IntegratedLUFS; math.Abs(got+23) > 0.1 {
		t.Errorf("Analyze integrated loudness %v, want -23", got)
	}
}

func TestAnalyzeSilenceAndInvalid(t *testing.T) {
	res := Analyze(stereo(make([]float64, 16000), 16000))
	if res.Peak != 0 || !math.IsInf(res.PeakDBFS, -1) || !math.IsInf(res.IntegratedLUFS, -1) || len(res.Voiced) != 0 || res.Voiced == nil || res.VoicedSeconds != 0 {
		t.Errorf("silence: %+v", res)
	}
	if res.DurationSeconds != 1 {
		t.Errorf("silence duration %v", res.DurationSeconds)
	}
	for _, c := range []*Clip{nil, {SampleRate: 16000}, {SampleRate: 100, Channels: [][]float64{{1}}}} {
		res := Analyze(c)
		if res.DurationSeconds != 0 || !math.IsInf(res.IntegratedLUFS, -1) || res.Voiced == nil {
			t.Errorf("Analyze(%+v) = %+v", c, res)
		}
	}
}

func TestResultJSON(t *testing.T) {
	res := Result{
		DurationSeconds: 2.5, SampleRate: 16000, Channels: 1,
		Peak: 0.5, PeakDBFS: -6.02, IntegratedLUFS: -23.1,
		Voiced:        []Segment{{StartSeconds: 0.25, EndSeconds: 1.5}},
		VoicedSeconds: 1.25,
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"duration_seconds":2.5,"sample_rate":16000,"channels":1,"peak":0.5,"peak_dbfs":-6.02,"integrated_lufs":-23.1,"voiced":[{"start_seconds":0.25,"end_seconds":1.5}],"voiced_seconds":1.25}`
	if string(b) != want {
		t.Errorf("JSON\n  %s\nwant\n  %s", b, want)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, res) {
		t.Errorf("round trip: %+v, %v", back, err)
	}

	// Silence: -Inf is not JSON; it is written as null and read back.
	silent := Analyze(mono(make([]float64, 8000), 8000))
	b, err = json.Marshal(&silent)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"peak_dbfs":null`) || !strings.Contains(string(b), `"integrated_lufs":null`) || !strings.Contains(string(b), `"voiced":[]`) {
		t.Errorf("silence JSON %s", b)
	}
	back = Result{}
	if err := json.Unmarshal(b, &back); err != nil || !math.IsInf(back.PeakDBFS, -1) || !math.IsInf(back.IntegratedLUFS, -1) || back.Voiced == nil {
		t.Errorf("silence round trip: %+v, %v", back, err)
	}
	// A zero Result (nil Voiced) still writes an array.
	if b, _ := json.Marshal(Result{}); !strings.Contains(string(b), `"voiced":[]`) {
		t.Errorf("zero Result JSON %s", b)
	}
}
