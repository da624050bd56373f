package doctor

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A /metrics/cadvisor text as the kubelet serves it (cAdvisor's names; the
// pod-level cgroup with container="" and another namespace are ignored).
const cadvisorText = `# HELP container_cpu_cfs_periods_total Number of elapsed enforcement period intervals.
# TYPE container_cpu_cfs_periods_total counter
container_cpu_cfs_periods_total{container="server",namespace="voiceassist",pod="gw-1"} 1000
container_cpu_cfs_periods_total{container="server",namespace="voiceassist",pod="gw-2"} 1000
container_cpu_cfs_periods_total{container="",namespace="voiceassist",pod="gw-1"} 1000
container_cpu_cfs_periods_total{container="server",namespace="other",pod="gw-1"} 1000
container_cpu_cfs_periods_total{container="worker",namespace="voiceassist",pod="wk-1"} 50
# HELP container_cpu_cfs_throttled_periods_total Number of throttled period intervals.
# TYPE container_cpu_cfs_throttled_periods_total counter
container_cpu_cfs_throttled_periods_total{container="server",namespace="voiceassist",pod="gw-1"} 400
container_cpu_cfs_throttled_periods_total{container="server",namespace="voiceassist",pod="gw-2"} 250
container_cpu_cfs_throttled_periods_total{container="",namespace="voiceassist",pod="gw-1"} 999
container_cpu_cfs_throttled_periods_total{container="worker",namespace="voiceassist",pod="wk-1"} 50
# HELP container_cpu_cfs_throttled_seconds_total Total time duration the container has been throttled.
# TYPE container_cpu_cfs_throttled_seconds_total counter
container_cpu_cfs_throttled_seconds_total{container="server",namespace="voiceassist",pod="gw-1"} 12.5
`

func TestParseThrottling(t *testing.T) {
	got := map[string]map[string]CFSThrottling{}
	if err := parseThrottling([]byte(cadvisorText), ns, got); err != nil {
		t.Fatal(err)
	}
	if g := got["gw-1"]["server"]; g != (CFSThrottling{Periods: 1000, ThrottledPeriods: 400, ThrottledSeconds: 12.5}) {
		t.Errorf("gw-1/server = %+v", g)
	}
	if _, ok := got["gw-1"][""]; ok {
		t.Error("the pod-level cgroup (container=\"\") was kept")
	}
	if len(got) != 3 {
		t.Errorf("pods %v, want gw-1, gw-2, wk-1 of %s only", got, ns)
	}
	if err := parseThrottling([]byte("not{ metrics"), ns, got); err == nil {
		t.Error("a malformed text parsed")
	}
}

func TestCheckThrottling(t *testing.T) {
	q := resource.MustParse
	pod := func(name string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{NodeName: "node-1",
			Containers: []corev1.Container{{Name: "server", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q("500m")},
			}}, {Name: "worker"}}}}
	}
	s := &Snapshot{Namespace: ns, Pods: []corev1.Pod{pod("gw-1"), pod("gw-2"), pod("wk-1")},
		Throttling: map[string]map[string]CFSThrottling{}, LimitRanges: []corev1.LimitRange{{
			ObjectMeta: metav1.ObjectMeta{Name: "limits"},
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
				MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: q("4")}}}},
		}},
		PodUsage: map[string]map[string]corev1.ResourceList{"gw-1": {"server": {corev1.ResourceCPU: q("490m")}}},
	}
	if err := parseThrottling([]byte(cadvisorText), ns, s.Throttling); err != nil {
		t.Fatal(err)
	}
	fs := checkThrottling(s)
	// gw-1: 40 % throttled; gw-2: 25 %, not over; wk-1: 50 periods, too few.
	if len(fs) != 1 || fs[0].Object != "Pod voiceassist/gw-1" {
		t.Fatalf("findings %+v, want one for gw-1", fs)
	}
	all := strings.Join(append(append([]string{fs[0].Message, fs[0].Fix}, fs[0].Evidence...), fs[0].Confirm...), "\n")
	for _, want := range []string{
		"CPU-throttled in 40 %", "500m CPU limit",
		"throttled in 400 of 1000 CFS periods (40 %), held back 12.5 s",
		"cpu request 250m, limit 500m", "cpu use now 490m (98 % of the limit)",
		"allows a limit up to 1", "kubectl get --raw /api/v1/nodes/node-1/proxy/metrics/cadvisor",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("finding lacks %q:\n%s", want, all)
		}
	}

	s.ThrottlingErr = errTest("nodes \"node-1\" is forbidden")
	fs = checkThrottling(s)
	if len(fs) != 2 || fs[0].Severity != Info || !strings.Contains(fs[0].Evidence[0], "forbidden") {
		t.Errorf("an unreadable cadvisor endpoint: %+v, want an info saying so first", fs)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
