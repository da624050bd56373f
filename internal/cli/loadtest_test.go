package cli

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/voiceassist/autoscaling/internal/cluster"
	"github.com/voiceassist/autoscaling/internal/server"
	"github.com/voiceassist/autoscaling/internal/testenv"
)

func TestLoadtestUsageErrors(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(trace, []byte("time,rps\n0,1\n5,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"api", "--url", "http://127.0.0.1:1", "--profile", "sine"}, `--profile "sine"`},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--burst", "5"}, "--burst"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--api-key-file", "/nonexistent/key"}, "--api-key-file"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--trace", trace, "--profile", "spike"}, "--trace and --profile"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--trace", trace}, `bad.csv:3: rps "x"`},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--slo", "p99=soon"}, `--slo "p99=soon"`},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--cooldown", "later"}, "--cooldown"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--rate", "0"}, "--rate 0"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--mix", "4s=0"}, "--mix"},
		{[]string{"api", "--url", "ftp://x"}, "--url"},
		{[]string{"api", "--watch=false"}, "--watch=false needs --url"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--disrupt", "evict-one"}, "--disrupt needs a cluster"},
		{[]string{"worker", "--url", "http://127.0.0.1:1", "-o", "csv"}, `-o "csv"`},
		{[]string{"nosuch"}, "unknown command"},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--env", "prood"}, `--env "prood": want one of dev, staging, prod`},
		{[]string{"api", "--url", "http://127.0.0.1:1", "--png", filepath.Join(t.TempDir(), "no", "such", "dir", "x.png")}, "--png: open"},
	} {
		_, stderr, code := runIn(t, "", append([]string{"loadtest"}, c.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("vactl loadtest %s: exit %d, stderr %q; want exit 2 naming %s", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// TestLoadtestURL runs the command against a real gateway: the Markdown
// report and the PNG are written, the exit code follows the verdict.
func TestLoadtestURL(t *testing.T) {
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	key, keys := testenv.APIKey(t, "vactl-loadtest")
	// Enough analysis slots that a slow (-race, loaded) machine queues
	// rather than sheds: this test is about the report, not the limits.
	gw := testenv.StartService(t, server.Command, map[string]string{"DATABASE_URL": pg.DSN, "REDIS_ADDR": rd.Addr, "API_KEYS_FILE": keys, "MAX_IN_FLIGHT": "64"})
	gw.WaitReady(t, 30*time.Second)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(t.TempDir(), "run.png")
	out, stderr, code := runIn(t, "", "loadtest", "api", "--url", gw.URL, "--api-key-file", keyFile, "--rate", "10", "--duration", "3s", "--mix", "1s", "--sample-rate", "8000",
		"--slo", "p99=5s", "-o", "markdown", "--png", pngPath)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"## vactl loadtest api: constant; 3s", "**Verdict: pass**", "ok (100.0%); offered 10.0/s", "| p99<=5s |"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "    2s load     api  10.0/s→") {
		t.Errorf("no per-second progress on stderr:\n%s", stderr)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("--png: %v", err)
	}
	// an SLO the run cannot meet: exit 1, the report still written (the
	// key from the environment this time)
	t.Setenv("VOICEASSIST_API_KEY", key)
	out, _, code = runIn(t, "", "loadtest", "api", "--url", gw.URL, "--rate", "5", "--duration", "1s", "--mix", "1s", "--slo", "p50=1us")
	if code != ExitFailure || !strings.Contains(out, "verdict: fail") || !strings.Contains(out, "SLO p50<=1µs missed") {
		t.Errorf("unmeetable SLO: exit %d\n%s", code, out)
	}
}

// TestLoadtestNamespaceForbidden: a user bound to a Role in the namespace
// alone is Forbidden to get the cluster-scoped Namespace; the load test
// still runs (client-go's fake clientset: the e2e cluster runs as admin).
func TestLoadtestNamespaceForbidden(t *testing.T) {
	kube := fake.NewClientset()
	kube.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, cluster.Namespace, nil)
	})
	c := &cluster.Client{Kube: kube, Host: "https://fake.invalid"}
	var errOut strings.Builder
	if err := probeNamespace(context.Background(), c, cluster.Namespace, &errOut); err != nil {
		t.Fatalf("probeNamespace: %v (Forbidden must not stop the load test)", err)
	}
	if !strings.Contains(errOut.String(), "recording the verdict on the namespace may fail") {
		t.Errorf("stderr %q: want the warning about the record", errOut.String())
	}
	kube.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewUnauthorized("expired")
	})
	if err := probeNamespace(context.Background(), c, cluster.Namespace, &errOut); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Unauthorized: %v, want the explained 401", err)
	}
}
