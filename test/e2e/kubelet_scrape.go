//go:build e2e

package e2e

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/voiceassist/autoscaling/test/e2e/nodeagent"
)

// withKubeletJob adds to a Prometheus configuration the job
// kube-prometheus-stack's kubelet ServiceMonitor makes for cAdvisor: the
// node's /metrics/cadvisor over HTTPS (the node agent's self-signed
// certificate, not verified), honouring the series' own namespace, pod and
// container labels, with job="kubelet" and metrics_path as the stack sets
// them. So the monitoring component's throttling and memory alerts have
// their series here as on a real cluster (the agent serves what cAdvisor
// would: docs/node-agent.md).
func withKubeletJob(cfg []byte) ([]byte, error) {
	var c map[string]any
	if err := yaml.Unmarshal(cfg, &c); err != nil {
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	jobs, _ := c["scrape_configs"].([]any)
	c["scrape_configs"] = append(jobs, map[string]any{
		"job_name":     "kubelet-cadvisor",
		"scheme":       "https",
		"metrics_path": "/metrics/cadvisor",
		"honor_labels": true,
		"tls_config":   map[string]any{"insecure_skip_verify": true},
		"static_configs": []any{map[string]any{
			"targets": []any{nodeagent.NodeIP + ":10250"},
			"labels":  map[string]any{"job": "kubelet", "metrics_path": "/metrics/cadvisor", "node": "va-node-1"},
		}},
	})
	return yaml.Marshal(c)
}
