package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultsValid(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadParams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := DefaultParams()
	if err := LoadParams(&p, write("ok.yaml", "gateway:\n  cpuPerRPS: 4\nworker:\n  concurrency: 4\n")); err != nil {
		t.Fatal(err)
	}
	if p.Gateway.CPUPerRPS != 4 || p.Worker.Concurrency != 4 || p.Gateway.BaseRPS != 200 {
		t.Errorf("got cpu per request %v concurrency %d base %v", p.Gateway.CPUPerRPS, p.Worker.Concurrency, p.Gateway.BaseRPS)
	}
	for _, c := range []struct{ body, want string }{
		{"gateway:\n  cpuPerRps: 1\n", "bad.yaml: gateway.cpuPerRps: unknown field"},
		{"gatway: {}\n", "bad.yaml: gatway: unknown field"},
		{"worker:\n  concurrency: two\n", "bad.yaml: worker.concurrency: string is not a valid int"},
		{"gateway:\n  baseRPS: 1\n  baseRPS: 2\n", `line 3: key "baseRPS" already set in map`},
		{"gateway: 3\n", "bad.yaml: gateway: want a mapping"},
		{"gateway:\n  baseRPS: .nan\n", "bad.yaml: gateway.baseRPS: not a finite number"},
	} {
		p := DefaultParams()
		err := LoadParams(&p, write("bad.yaml", c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.body, err, c.want)
		}
	}
}

func TestSetParam(t *testing.T) {
	p := DefaultParams()
	if err := SetParam(&p, "controller.tolerance=0.05"); err != nil {
		t.Fatal(err)
	}
	if p.Controller.Tolerance != 0.05 {
		t.Errorf("tolerance %v", p.Controller.Tolerance)
	}
	for _, c := range []struct{ in, want string }{
		{"controller.tolerence=1", "controller.tolerence: unknown field"},
		{"tolerance", "want path=value"},
		{"worker.concurrency=x", "worker.concurrency"},
		{"gateway.baseRPS=.inf", `--set gateway.baseRPS: ".inf" is not a finite number`},
	} {
		if err := SetParam(&p, c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.in, err, c.want)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	for _, c := range []struct {
		edit func(*Params)
		want string
	}{
		{func(p *Params) { p.Gateway.CPUPerRPS = 0 }, "gateway.cpuPerRPS"},
		{func(p *Params) { p.Run.CPUBurst = 1.5 }, "run.cpuBurst"},
		{func(p *Params) { p.Worker.Concurrency = 17 }, "worker.concurrency"},
		{func(p *Params) { p.Controller.SyncPeriodSeconds = -1 }, "controller.syncPeriodSeconds"},
		{func(p *Params) { p.Gateway.P95TargetMs = 10 }, "gateway.p95TargetMs"},
	} {
		p := DefaultParams()
		c.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// The defaults are the committed measured profile: it names the command and
// machine that produced it (in its profile block and its header), and
// replaces the built-in estimates it measured.
func TestDefaultsAreTheMeasuredProfile(t *testing.T) {
	p, b := DefaultParams(), builtinParams()
	if p.Profile.Source != "vactl calibrate" || !strings.Contains(p.Profile.Command, "vactl calibrate") || p.Profile.Machine == "" || p.Profile.Date == "" {
		t.Errorf("profile %+v: want source vactl calibrate with its command, machine and date", p.Profile)
	}
	for _, h := range []string{"# command: vactl calibrate", "# machine: ", "go test -tags calibrate -run TestCalibrateLocal"} {
		if !strings.Contains(string(measuredProfile), h) {
			t.Errorf("profile.yaml's header has no %q", h)
		}
	}
	if p.Gateway.CPUPerRPS == b.Gateway.CPUPerRPS || p.Worker.JobMeanSeconds == b.Worker.JobMeanSeconds || p.Worker.Concurrency == b.Worker.Concurrency {
		t.Errorf("gateway %+v worker %+v: the measured values did not replace the built-in ones", p.Gateway, p.Worker)
	}
	// DefaultParams hands out copies
	p.Gateway.CPUPerRPS = -1
	if DefaultParams().Gateway.CPUPerRPS == -1 {
		t.Error("DefaultParams returned shared state")
	}
}
