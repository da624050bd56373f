package sim

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
)

// WriteJSON prints {"runs": [Result, ...]} (the first seed of each
// configuration: parameters and pipeline in effect, summaries, scale events,
// timelines), with several seeds "seeds": the statistics of every summary
// figure, and with --slo "slo": the checks.
func WriteJSON(w io.Writer, rep *Report) error {
	out := struct {
		Runs  []*Result   `json:"runs"`
		Seeds []RunStats  `json:"seeds,omitempty"`
		SLO   []SLOResult `json:"slo,omitempty"`
	}{Runs: rep.First(), SLO: rep.SLOs}
	if len(rep.Configs) > 0 && len(rep.Configs[0]) > 1 {
		for _, c := range rep.Configs {
			out.Seeds = append(out.Seeds, Stats(c))
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteCSV prints the timelines as one table: a row per run, deployment and
// sample; one column per distinct HPA metric (kube.MetricKey), empty where a
// deployment's HPA lacks it.
func WriteCSV(w io.Writer, runs []*Result) error {
	var keys []string
	col := map[string]int{}
	for _, r := range runs {
		for _, d := range r.Deployments {
			for _, m := range d.Metrics {
				if _, ok := col[m.Key]; !ok {
					col[m.Key] = len(keys)
					keys = append(keys, m.Key)
				}
			}
		}
	}
	cw := csv.NewWriter(w)
	head := append([]string{"run", "deployment", "t", "replicas", "ready", "desired", "load", "capacity", "slo", "depth"}, keys...)
	if err := cw.Write(head); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	rec := make([]string, len(head))
	for _, r := range runs {
		for _, d := range r.Deployments {
			for _, p := range d.Timeline {
				rec = rec[:10]
				rec[0], rec[1] = r.Label, d.Name
				rec[2] = strconv.FormatInt(p.T, 10)
				rec[3] = strconv.Itoa(int(p.Replicas))
				rec[4] = strconv.Itoa(int(p.Ready))
				rec[5] = strconv.Itoa(int(p.Desired))
				rec[6], rec[7], rec[8], rec[9] = f(p.Load), f(p.Capacity), f(p.SLO), f(p.Depth)
				rec = rec[:len(head)]
				for i := 10; i < len(rec); i++ {
					rec[i] = ""
				}
				for k, m := range d.Metrics {
					rec[10+col[m.Key]] = f(p.Metrics[k])
				}
				if err := cw.Write(rec); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
