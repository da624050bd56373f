package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/meta"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/internal/fidelity"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/loadtest"
	"github.com/voiceassist/autoscaling/internal/sim"
)

// againstReport is `vactl simulate --against` in -o json|yaml.
type againstReport struct {
	Report     string               `json:"report"`
	Manifests  string               `json:"manifests"`
	Params     []string             `json:"params"`
	Phases     sim.Phases           `json:"phases"`
	PhasesFrom string               `json:"phasesFrom"`
	Seconds    int                  `json:"seconds"`
	Requests   int64                `json:"requests"`
	Jobs       int64                `json:"jobs"`
	Agree      bool                 `json:"agree"`
	HPAs       []fidelity.Agreement `json:"hpas"`
}

// runAgainst replays a loadtest report's load through the simulator with
// cfg (parameters, manifests) and compares the scale events: exit 0 when
// they agree, 1 when they do not.
func (o *simulateOptions) runAgainst(out io.Writer, cfg sim.Config, inputs []string) error {
	b, err := os.ReadFile(o.against)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--against: %w", err)}
	}
	var rep loadtest.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return &UsageError{Err: fmt.Errorf("--against %s: not a vactl loadtest -o json report: %w", o.against, err)}
	}
	run, err := fidelity.FromReport(&rep, o.against)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--against: %w", err)}
	}
	if cfg.Scenario, err = sim.ReplayScenario(run.Replay); err != nil {
		return &UsageError{Err: fmt.Errorf("--against: %w", err)}
	}
	label := o.env
	if o.filename != "" {
		cfg.Set, label = nil, o.filename
		if cfg.Set, err = readManifestFile(o.filename); err != nil {
			return &UsageError{Err: fmt.Errorf("-f: %w", err)}
		}
	}
	in, err := loadSimInput(o.dir, o.env)
	if err != nil {
		return err
	}
	if cfg.Set == nil {
		cfg.Set = in.set
	}
	cfg.Adapter, cfg.AdapterFile, cfg.Label, cfg.Seed = in.values, in.valuesFile, label, o.seed
	// A first run resolves the metrics pipeline (the scrape interval the
	// phases are taken modulo); the second runs with the measured phases.
	first, err := sim.Simulate(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	sync := cfg.Params.Controller.SyncPeriodSeconds
	ph, how := run.Phases(sync, first.Pipeline.ExporterScrape.Seconds)
	cfg.Phases = &ph
	res, err := sim.Simulate(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	as, err := fidelity.CompareAll(run, res, sync)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--against %s: %w", o.against, err)}
	}
	ar := againstReport{Report: o.against, Manifests: label, Params: inputs, Phases: ph, PhasesFrom: how,
		Seconds: len(run.Replay.Jobs), Agree: fidelity.Agree(as), HPAs: as}
	for i := range run.Replay.Jobs {
		ar.Requests += run.Replay.Requests[i]
		ar.Jobs += run.Replay.Jobs[i]
	}
	switch o.output {
	case outputJSON, outputYAML:
		j, err := json.MarshalIndent(ar, "", "  ")
		if err != nil {
			return err
		}
		if o.output == outputYAML {
			if j, err = yaml.JSONToYAML(j); err != nil {
				return err
			}
		} else {
			j = append(j, '\n')
		}
		if _, err := out.Write(j); err != nil {
			return err
		}
	default:
		w := bufio.NewWriter(out)
		fmt.Fprintf(w, "Replay of %s: %d s, %d requests, %d jobs (%s %s, %s): %s\n", o.against, ar.Seconds, ar.Requests, ar.Jobs, rep.Target, rep.Profile, rep.ProfileDetail, label)
		fmt.Fprintf(w, "  params    %s\n  phases    %s\n\n", joinInputs(inputs), how)
		if err := fidelity.WriteText(w, as); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if !ar.Agree {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

func joinInputs(in []string) string {
	var b bytes.Buffer
	for i, s := range in {
		if i > 0 {
			b.WriteString(" + ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// readManifestFile decodes a multi-document YAML file of rendered objects
// (`vactl render` output, what was applied) strictly; an error names the
// file, the document and the object.
func readManifestFile(path string) (*kube.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	s := &kube.Set{}
	for doc := 1; ; doc++ {
		b, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		if len(bytes.TrimSpace(bytes.ReplaceAll(b, []byte("---"), nil))) == 0 {
			continue
		}
		obj, gvk, err := kube.DecodeStrict(b)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		ref := gvk.Kind
		if a, err := meta.Accessor(obj); err == nil {
			ref = fmt.Sprintf("%s %s/%s", gvk.Kind, a.GetNamespace(), a.GetName())
		}
		s.Add(kube.Object{Obj: obj, GVK: gvk, Ref: ref})
	}
	if len(s.Objects) == 0 {
		return nil, fmt.Errorf("%s: no objects", path)
	}
	return s, nil
}
