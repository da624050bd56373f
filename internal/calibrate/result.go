package calibrate

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/sim"
)

// Result is one calibration: what was measured, where, and the simulator
// parameters it gives.
type Result struct {
	Command string                    `json:"command"`
	Machine string                    `json:"machine"`
	Date    string                    `json:"date"`
	Gateway *GatewayResult            `json:"gateway,omitempty"`
	Worker  *WorkerResult             `json:"worker,omitempty"`
	Startup map[string]*StartupResult `json:"startup,omitempty"`
	// Params are the simulator parameters: the base ones with every
	// measured value replaced.
	Params sim.Params `json:"params"`
}

// Roles name which Deployment's start-up feeds which part of the model.
type Roles struct{ Gateway, Worker string }

// Apply writes what r measured into p and fills in its profile.
func (r *Result) Apply(p sim.Params, roles Roles, notes string) sim.Params {
	var measured []string
	if g := r.Gateway; g != nil && g.CPUPerRequest > 0 {
		p.Gateway.IdleCPU = round3(g.IdleCPU)
		p.Gateway.CPUPerRPS = round3(g.CPUPerRequest)
		p.Gateway.P95TargetMs = g.P95SLOMs
		p.Gateway.BaseLatencyMs = math.Min(round3(g.BaseLatencyMs), g.P95SLOMs/2)
		p.Gateway.BaseMemoryMi = round3(g.BaseMemoryMi)
		p.Gateway.MemoryMiPerRPS = round3(g.MemoryMiPerRPS)
		measured = append(measured, "gateway: idleCPU cpuPerRPS baseLatencyMs baseMemoryMi memoryMiPerRPS")
	}
	if w := r.Worker; w != nil && w.FullSpeedSeconds > 0 {
		p.Worker.Concurrency = max(1, w.Concurrency)
		p.Worker.JobMeanSeconds = round3(w.FullSpeedSeconds)
		p.Worker.JobCV = round3(w.Service.CV)
		p.Worker.IdleCPU = round3(w.IdleCPU)
		p.Worker.CPUPerJob = round3(math.Max(1, w.CPUPerJob))
		p.Worker.BaseMemoryMi = round3(w.BaseMemoryMi)
		p.Worker.MemoryMiPerJob = round3(w.MemoryMiPerJob)
		measured = append(measured, "worker: concurrency jobMeanSeconds jobCV idleCPU cpuPerJob baseMemoryMi memoryMiPerJob")
	}
	if s := r.Startup[roles.Gateway]; s != nil {
		p.Gateway.PendingSeconds, p.Gateway.StartupSeconds = s.PendingSeconds, s.StartupSeconds
		measured = append(measured, "gateway: pendingSeconds startupSeconds")
	}
	if s := r.Startup[roles.Worker]; s != nil {
		p.Worker.PendingSeconds, p.Worker.StartupSeconds = s.PendingSeconds, s.StartupSeconds
		measured = append(measured, "worker: pendingSeconds startupSeconds")
	}
	p.Profile = sim.Profile{Source: "vactl calibrate", Command: r.Command, Machine: r.Machine, Date: r.Date,
		Notes: strings.TrimSpace(notes + " measured: " + strings.Join(measured, "; "))}
	r.Params = p
	return p
}

// round3 keeps three significant digits: the measurements are not more
// precise than that, and the file stays readable.
func round3(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	e := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*e) / e
}

// WriteProfile writes p as a parameter file for `vactl simulate --params`,
// the header lines as comments first.
func WriteProfile(w io.Writer, p sim.Params, header []string) error {
	data, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	for _, h := range header {
		for _, l := range strings.Split(h, "\n") {
			if _, err := fmt.Fprintln(w, strings.TrimRight("# "+l, " ")); err != nil {
				return err
			}
		}
	}
	_, err = w.Write(data)
	return err
}

// Machine describes where the calibration ran: host, CPU model and count,
// and the load average at the time.
func Machine() string {
	host, _ := os.Hostname()
	model := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = fmt.Sprintf(", load average %s %s %s", f[0], f[1], f[2])
		}
	}
	if model == "" {
		model = runtime.GOARCH
	}
	return fmt.Sprintf("%s: %d× %s (%s/%s)%s", host, runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, load)
}

// Now is the calibration's date, UTC to the second.
func Now() string { return time.Now().UTC().Format(time.RFC3339) }
