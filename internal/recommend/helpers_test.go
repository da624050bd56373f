package recommend

import (
	"testing"

	"github.com/voiceassist/autoscaling/internal/kube"
	"github.com/voiceassist/autoscaling/internal/render"
)

// envSet renders one embedded environment.
func envSet(t *testing.T, env string) *kube.Set {
	t.Helper()
	src, err := render.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	set, err := src.EnvSet(env)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func findContainer(t *testing.T, r *Result, workload, container string) *Container {
	t.Helper()
	for i := range r.Containers {
		if r.Containers[i].Workload == workload && r.Containers[i].Container == container {
			return &r.Containers[i]
		}
	}
	t.Fatalf("no container %s/%s in the result", workload, container)
	return nil
}
