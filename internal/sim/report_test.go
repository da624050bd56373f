package sim

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

func TestReports(t *testing.T) {
	a := simulate(t, "prod", "spike", 1, nil)
	b := simulate(t, "staging", "spike", 1, nil)
	runs := []*Result{a, b}

	var text bytes.Buffer
	if err := WriteText(&text, &Report{Configs: [][]*Result{{a}, {b}}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Scenario spike, 1h0m0s, seed 1: prod vs staging", "peak replicas", "oracle pod-hours",
		"voiceassist-server (staging)", "req/s per pod", "queue depth per pod", "▁"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q", want)
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, &Report{Configs: [][]*Result{{a}, {b}}}); err != nil {
		t.Fatal(err)
	}
	var back struct{ Runs []*Result }
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Runs) != 2 || len(back.Runs[0].Deployments[0].Timeline) != 3600 {
		t.Fatalf("json: %v", err)
	}

	var cs bytes.Buffer
	if err := WriteCSV(&cs, runs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+4*3600 || !strings.Contains(strings.Join(rows[0], ","), "External/voiceassist_queue_depth{queue=voice-jobs}") {
		t.Errorf("csv: %d rows, header %v", len(rows), rows[0])
	}

	var png bytes.Buffer
	if err := WritePNG(&png, runs); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")) {
		t.Error("not a PNG")
	}
}

func TestSparkline(t *testing.T) {
	if got := sparkline([]float64{0, 1, 2, 4, 8}, 8); got != "▁▂▃▅█" {
		t.Errorf("got %q", got)
	}
	if got := columns(6, 3, func(i int) float64 { return float64(i) }, false); len(got) != 3 || got[2] != 5 {
		t.Errorf("columns %v", got)
	}
}
