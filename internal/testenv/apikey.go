package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/voiceassist/autoscaling/internal/auth"
)

// APIKey makes a new API key for client and a keys file accepting it (the
// gateway's --api-keys-file / API_KEYS_FILE), in a temporary directory.
func APIKey(t testing.TB, client string) (key, keysFile string) {
	t.Helper()
	key, line, err := auth.NewKey(client)
	if err != nil {
		t.Fatal(err)
	}
	keysFile = filepath.Join(t.TempDir(), "api-keys")
	if err := os.WriteFile(keysFile, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, keysFile
}
