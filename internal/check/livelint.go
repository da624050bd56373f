package check

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/lint"
)

// LiveLint is lint run over what the cluster holds (`vactl lint --live`).
type LiveLint struct {
	Report *lint.Report
	// Objects are the live objects linted, as Declared: what was set on them.
	Objects []*unstructured.Unstructured
	// Missing names the objects the inventory records (or the environment
	// renders, without an inventory) that the cluster does not have.
	Missing []string
	// FromInventory: the objects are the inventory's, not the render's.
	FromInventory bool

	input *lint.Input
}

// Workloads are the linted objects' workloads.
func (l *LiveLint) Workloads() []kube.Workload {
	s := &kube.Set{}
	for _, o := range l.input.Objects {
		s.Add(kube.Object{Obj: o.Obj, GVK: o.GVK, Ref: o.Ref})
	}
	return s.Workloads()
}

// Lint reads what vactl applied (cluster.AppliedObjects: the inventory's
// objects, or rendered's without an inventory), keeps what was set on each
// (cluster.Declared: no server defaults, no status, no replicas the HPA
// wrote), and runs the lint rules over them. bases, when given, are the
// environment's kustomize bases, so a hand edit that drops an HPA metric of
// the base is caught as offline.
func Lint(ctx context.Context, c *cluster.Client, name string, rendered []*unstructured.Unstructured, cfg lint.Config, bases ...*lint.Input) (*LiveLint, error) {
	live, missing, fromInv, err := c.AppliedObjects(ctx, cluster.AppInventory, rendered)
	if err != nil {
		return nil, err
	}
	if len(live) == 0 {
		return nil, fmt.Errorf("none of the %d objects vactl applied or environment renders is in the cluster: nothing to lint (vactl setup deploys them)", len(missing))
	}
	l := &LiveLint{Missing: missing, FromInventory: fromInv}
	for _, u := range live {
		d, err := cluster.Declared(u)
		if err != nil {
			return nil, err
		}
		l.Objects = append(l.Objects, d)
	}
	if l.input, err = lint.Live(name, l.Objects, bases...); err != nil {
		return nil, err
	}
	l.Report = lint.Lint([]*lint.Input{l.input}, cfg)
	return l, nil
}
