package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/voiceassist/autoscaling/internal/auth"
)

// TestAPIKeyNew: the printed line is what the gateway's keys file parser
// accepts, and it accepts exactly the printed key for the client.
func TestAPIKeyNew(t *testing.T) {
	out, stderr, code := runIn(t, "", "apikey", "new", "--client", "clinic-a", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var k newAPIKey
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseKeys("printed", []byte(k.Line))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := keys.Lookup(k.Key); !ok || c != "clinic-a" || k.Hash != auth.HashKey(k.Key) || strings.Contains(k.Line, k.Key) {
		t.Fatalf("printed %+v: lookup %q %v", k, c, ok)
	}
	text, _, code := runIn(t, "", "apikey", "new", "--client", "clinic-a")
	if code != ExitOK || !strings.Contains(text, "vak_") || !strings.Contains(text, "clinic-a:") {
		t.Fatalf("text output (exit %d):\n%s", code, text)
	}
	for _, args := range [][]string{{"apikey", "new"}, {"apikey", "new", "--client", "a b"}, {"apikey", "new", "--client", "x", "-o", "csv"}} {
		if _, _, code := runIn(t, "", args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
