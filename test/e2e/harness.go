//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strconv"
)

// The harness of the e2e scenarios (the *_test.go files), by concern:
//
//   - main_test.go: TestMain starts one cluster for the package (cluster,
//     node agent, metrics stack); scenario bounds one test;
//   - metrics_server.go: metrics-server, rendered and mapped from its image
//     to the locally built binary;
//   - prometheus.go: Prometheus, kubernetes-sd and the metrics provider;
//   - deploy.go: applying rendered objects in kubectl's order and waiting
//     for the rollout; installing metrics-server as the README's step 1;
//   - waits.go: eventually (poll until nil or the context ends), the
//     workload readiness waits, APIService availability;
//   - hpa_describe.go: HPA conditions and current metrics as kubectl
//     prints them, for failure messages;
//   - traffic.go: HTTP into the cluster's namespace (pod IPs), a
//     client-side Service balancer, test audio;
//   - this file: knobs and run-wide cleanup.
//
// The control plane itself is test/e2e/cluster, the kubelet stand-in
// test/e2e/nodeagent; both share test/e2e/netns and test/e2e/supervise.

// harnessCleanup runs when TestMain ends, told whether the run failed.
var harnessCleanup []func(failed bool)

// envInt reads an integer knob, def when unset.
func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return n, nil
}
